from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ... import __version__
from ...core.db import ping
from ...schemas import HealthPublic
from ..deps import CtxDep

router = APIRouter(tags=["health"])


@router.get("/api/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
def health(ctx: CtxDep) -> JSONResponse:
    """Database and cache reachability. 503 when the database is unreachable; a cache outage is ``degraded``."""
    database = "ok" if ping(ctx.engine) else "error"
    cache = ctx.cache.status()
    body = HealthPublic(status="ok" if database == "ok" and cache == "ok" else "degraded", database=database,
                        cache=cache, cache_backend=ctx.cache.backend, version=__version__, ts=int(time.time()))
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)
