"""A burst of concurrent requests must not exhaust the backend's Redis connections.

1,000 sensors reconnecting at once (a backend restart) each ask the cache before their long-poll parks. redis-py's
default pool raises "Too many connections" past 100 concurrent commands, which the cache took for Redis being down:
the whole instance went into degraded mode (no shared cache, per-process rate limits) for every request.

The burst runs with generous connect/answer timeouts: on a CPU-starved machine (CI's other worker, five busy loops)
opening 64 connections at once took longer than the production 0.5 s, which is a real timeout and degrades by
design; what is tested here is the pool, not the machine's speed.
"""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
from service_helpers import REDIS_URL, drop_redis_prefix, require_redis

pytestmark = pytest.mark.redis


def test_a_burst_of_concurrent_cache_reads_waits_for_connections_instead_of_degrading() -> None:
    require_redis()
    from techcare_backend.core.cache import make_cache

    prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
    cache = make_cache(REDIS_URL, prefix)
    cache.TIMEOUT = cache.ASYNC_POOL_WAIT = 10.0
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


def test_a_request_that_finds_every_connection_busy_is_a_miss_not_an_outage() -> None:
    """The pool wait expiring means this instance is busy, not that Redis is down: that one read misses (the caller
    loads from the database), the instance stays on the shared cache."""
    require_redis()
    from techcare_backend.core.cache import make_cache

    prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
    cache = make_cache(REDIS_URL, prefix)
    cache.ASYNC_POOL_SIZE = 1
    cache.ASYNC_POOL_WAIT = 0.05
    try:
        cache.set_json("busy", {"ok": True}, 60)

        async def scenario() -> tuple[object, object, object]:
            pool = cache._async_client().connection_pool
            held = await pool.get_connection()  # the only connection, taken by "another request"
            try:
                while_busy = await cache.aget_json("busy")
                await cache.aset_json("other", {"v": 1}, 60)  # skipped quietly, no outage either
            finally:
                await pool.release(held)
            return while_busy, await cache.aget_json("busy"), await cache.aget_json("other")

        while_busy, after, other = asyncio.run(scenario())
        assert while_busy is None
        assert cache._available(), "a busy pool sent the cache into degraded mode"
        assert after == {"ok": True}
        assert other is None
    finally:
        cache.close()
        drop_redis_prefix(prefix)


def test_a_redis_that_does_not_answer_still_degrades_the_instance() -> None:
    """The other side of the line drawn above: a connect that fails is an outage (asked again after 2 s)."""
    from techcare_backend.core.cache import make_cache

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = make_cache(f"redis://127.0.0.1:{port}/0", "techcare-test-down:")
    try:
        assert asyncio.run(cache.aget_json("x")) is None
        assert not cache._available()
    finally:
        cache.close()
