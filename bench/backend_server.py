"""The backend app plus bare FastAPI endpoints for benchmarks (``uvicorn backend_server:app --app-dir bench``).

Settings come from the environment (DATABASE_URL, REDIS_URL, the secrets); rate limits are lifted so the load
generator is not throttled. ``/bench/bare`` (async) and ``/bench/bare-sync`` (threadpool, like the API's own
handlers) return ``{}`` and ignore the body: the baseline measured in the same run on the same server.
"""

from __future__ import annotations

from fastapi import Request
from techcare_backend.core.config import load_backend_settings
from techcare_backend.main import create_app

# no metrics maintenance pass in the background: ingest is measured on its own, comparable with earlier runs (the
# pass's cost is bench/metrics_scale_bench.py's; all samples here carry one time stamp, so a pass would re-roll one
# huge hour per host every 5 minutes)
settings = load_backend_settings(rate_limit_ip_per_minute=10**9, rate_limit_key_per_minute=10**9,
                                 metrics_maintenance_seconds=0)
app = create_app(settings, server=True)


@app.post("/bench/bare")
async def bare(request: Request) -> dict:
    await request.body()
    return {}


@app.post("/bench/bare-sync")
def bare_sync() -> dict:
    return {}
