"""A burst of concurrent requests must not exhaust the backend's Redis connections.

1,000 sensors reconnecting at once (a backend restart) each ask the cache before their long-poll parks. redis-py's
default pool raises "Too many connections" past 100 concurrent commands, which the cache took for Redis being down:
the whole instance went into degraded mode (no shared cache, per-process rate limits) for every request.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from service_helpers import REDIS_URL, drop_redis_prefix, require_redis

pytestmark = pytest.mark.redis


def test_a_burst_of_concurrent_cache_reads_waits_for_connections_instead_of_degrading() -> None:
    require_redis()
    from techcare_backend.core.cache import make_cache

    prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
    cache = make_cache(REDIS_URL, prefix)
    try:
        cache.set_json("burst", {"ok": True}, 60)

        async def burst() -> list[object]:
            return await asyncio.gather(*(cache.aget_json("burst") for _ in range(400)))

        results = asyncio.run(burst())
        assert results == [{"ok": True}] * 400
        assert cache._available(), "the burst sent the cache into degraded mode"
    finally:
        cache.close()
        drop_redis_prefix(prefix)
