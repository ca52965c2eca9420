"""Cache, rate limiting and host last-seen: Redis in production, in-process on the embedded default.

Every key carries the configurable prefix (``REDIS_PREFIX``), so several deployments or test runs can share one
Redis. When Redis fails the API keeps serving: reads miss, writes are skipped, rate limiting falls back to a
per-process limiter, the failure is logged (at most every 30 s) and ``/api/health`` reports ``cache: degraded``.
After a failure Redis is not asked again for 2 seconds, so an outage does not add a timeout to every request.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from typing import Any

log = logging.getLogger("techcare_backend.cache")

__all__ = ["Cache", "MemoryCache", "RedisCache", "make_cache"]


class Cache:
    """The interface; :class:`MemoryCache` and :class:`RedisCache` implement it."""

    backend = "none"

    def get_json(self, key: str) -> Any | None: ...
    def set_json(self, key: str, value: Any, ttl: int) -> None: ...
    def delete(self, *keys: str) -> None: ...
    def rate_limit(self, bucket: str, limit: int, window: int = 60) -> tuple[bool, int]: ...
    def set_last_seen(self, org_id: str, hosts: dict[str, float]) -> None: ...
    def get_last_seen(self, org_id: str) -> dict[str, float]: ...
    def status(self) -> str: ...
    def close(self) -> None: ...

    async def aget_json(self, key: str) -> Any | None:
        return self.get_json(key)

    async def aset_json(self, key: str, value: Any, ttl: int) -> None:
        self.set_json(key, value, ttl)

    async def aset_last_seen(self, org_id: str, hosts: dict[str, float]) -> None:
        self.set_last_seen(org_id, hosts)

    async def validate_prefetch(self, limits: list[tuple[str, int]], key: str | None,
                                window: int = 60) -> tuple[list[tuple[bool, int]], Any | None]:
        """Count ``limits`` ([(bucket, limit)]) and read ``key`` in one round trip (the hot path of validate)."""
        raise NotImplementedError


def _sliding(prev: int, cur: int, window: int, now: float) -> tuple[float, int]:
    elapsed = now % window
    estimate = prev * (1 - elapsed / window) + cur
    return estimate, max(1, math.ceil(window - elapsed))


class MemoryCache(Cache):
    backend = "memory"

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, Any]] = {}
        self._counters: dict[str, int] = {}
        self._seen: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def get_json(self, key: str) -> Any | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._data[key]
                return None
            return json.loads(item[1])

    def set_json(self, key: str, value: Any, ttl: int) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._data) > 100_000:
                now = time.monotonic()
                self._data = {k: v for k, v in self._data.items() if v[0] >= now}
            self._data[key] = (time.monotonic() + ttl, json.dumps(value))

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def rate_limit(self, bucket: str, limit: int, window: int = 60) -> tuple[bool, int]:
        now = time.time()
        slot = int(now // window)
        with self._lock:
            if len(self._counters) > 200_000:
                self._counters = {k: v for k, v in self._counters.items() if int(k.rsplit("|", 1)[1]) >= slot - 1}
            cur_key, prev_key = f"{bucket}|{slot}", f"{bucket}|{slot - 1}"
            cur = self._counters.get(cur_key, 0) + 1
            self._counters[cur_key] = cur  # refused attempts count too (as INCR does on Redis)
            estimate, retry = _sliding(self._counters.get(prev_key, 0), cur, window, now)
            return (True, 0) if estimate <= limit else (False, retry)

    def set_last_seen(self, org_id: str, hosts: dict[str, float]) -> None:
        with self._lock:
            seen = self._seen.setdefault(org_id, {})
            for hostname, ts in hosts.items():
                seen[hostname] = max(ts, seen.get(hostname, 0.0))

    def get_last_seen(self, org_id: str) -> dict[str, float]:
        with self._lock:
            return dict(self._seen.get(org_id, {}))

    def status(self) -> str:
        return "ok"

    def close(self) -> None:
        pass

    async def validate_prefetch(self, limits: list[tuple[str, int]], key: str | None,
                                window: int = 60) -> tuple[list[tuple[bool, int]], Any | None]:
        return [self.rate_limit(b, lim, window) for b, lim in limits], (self.get_json(key) if key else None)


class RedisCache(Cache):
    backend = "redis"
    RETRY_AFTER_FAILURE = 2.0

    def __init__(self, url: str, prefix: str = "techcare:") -> None:
        import redis

        self._redis_errors = (redis.RedisError, OSError)
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5,
                                           health_check_interval=30)
        self._aio: tuple[Any, Any] | None = None
        self.prefix = prefix
        self.fallback = MemoryCache()
        self._down_until = 0.0
        self._last_log = 0.0

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.RETRY_AFTER_FAILURE
        if time.monotonic() - self._last_log > 30:
            self._last_log = time.monotonic()
            log.warning("Redis unavailable (%s): serving degraded (no shared cache, per-process rate limits)", exc)

    def get_json(self, key: str) -> Any | None:
        if not self._available():
            return None
        try:
            raw = self.client.get(self._k(key))
        except self._redis_errors as exc:
            self._failed(exc)
            return None
        return None if raw is None else json.loads(raw)

    def set_json(self, key: str, value: Any, ttl: int) -> None:
        if ttl <= 0 or not self._available():
            return
        try:
            self.client.set(self._k(key), json.dumps(value), ex=ttl)
        except self._redis_errors as exc:
            self._failed(exc)

    def delete(self, *keys: str) -> None:
        if not keys:
            return
        # Invalidation must not be skipped silently: always try, even right after a failure.
        try:
            self.client.delete(*(self._k(k) for k in keys))
        except self._redis_errors as exc:
            self._failed(exc)

    def rate_limit(self, bucket: str, limit: int, window: int = 60) -> tuple[bool, int]:
        if not self._available():
            return self.fallback.rate_limit(bucket, limit, window)
        now = time.time()
        slot = int(now // window)
        cur_key, prev_key = self._k(f"rl:{bucket}:{slot}"), self._k(f"rl:{bucket}:{slot - 1}")
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(cur_key)
            pipe.expire(cur_key, 2 * window)
            pipe.get(prev_key)
            cur, _, prev = pipe.execute()
        except self._redis_errors as exc:
            self._failed(exc)
            return self.fallback.rate_limit(bucket, limit, window)
        estimate, retry = _sliding(int(prev or 0), int(cur), window, now)
        return (estimate <= limit), (0 if estimate <= limit else retry)

    def set_last_seen(self, org_id: str, hosts: dict[str, float]) -> None:
        """One HSET for all hosts of a request (a batch of 1,000 samples is one round trip, not 1,000)."""
        if not hosts:
            return
        self.fallback.set_last_seen(org_id, hosts)
        if not self._available():
            return
        try:
            self.client.hset(self._k(f"seen:{org_id}"), mapping={h: repr(ts) for h, ts in hosts.items()})
        except self._redis_errors as exc:
            self._failed(exc)

    def get_last_seen(self, org_id: str) -> dict[str, float]:
        if not self._available():
            return self.fallback.get_last_seen(org_id)
        try:
            raw = self.client.hgetall(self._k(f"seen:{org_id}"))
        except self._redis_errors as exc:
            self._failed(exc)
            return self.fallback.get_last_seen(org_id)
        return {k.decode(): float(v) for k, v in raw.items()}

    def status(self) -> str:
        try:
            self.client.ping()
        except self._redis_errors as exc:
            self._failed(exc)
            return "degraded"
        self._down_until = 0.0
        return "ok"

    def close(self) -> None:
        try:
            self.client.close()
        except self._redis_errors:  # pragma: no cover
            pass

    def _async_client(self) -> Any:
        """A redis.asyncio client bound to the running event loop (a new loop gets a new client)."""
        import asyncio

        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio[0] is not loop:
            self._aio = (loop, aioredis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5))
        return self._aio[1]

    async def aget_json(self, key: str) -> Any | None:
        if not self._available():
            return None
        try:
            raw = await self._async_client().get(self._k(key))
        except self._redis_errors as exc:
            self._failed(exc)
            return None
        return None if raw is None else json.loads(raw)

    async def aset_json(self, key: str, value: Any, ttl: int) -> None:
        if ttl <= 0 or not self._available():
            return
        try:
            await self._async_client().set(self._k(key), json.dumps(value), ex=ttl)
        except self._redis_errors as exc:
            self._failed(exc)

    async def aset_last_seen(self, org_id: str, hosts: dict[str, float]) -> None:
        if not hosts:
            return
        self.fallback.set_last_seen(org_id, hosts)
        if not self._available():
            return
        try:
            await self._async_client().hset(self._k(f"seen:{org_id}"), mapping={h: repr(ts) for h, ts in hosts.items()})
        except self._redis_errors as exc:
            self._failed(exc)

    async def validate_prefetch(self, limits: list[tuple[str, int]], key: str | None,
                                window: int = 60) -> tuple[list[tuple[bool, int]], Any | None]:
        if not self._available():
            return await self.fallback.validate_prefetch(limits, None, window)
        now = time.time()
        slot = int(now // window)
        try:
            pipe = self._async_client().pipeline(transaction=False)
            for bucket, _ in limits:
                cur_key = self._k(f"rl:{bucket}:{slot}")
                pipe.incr(cur_key)
                pipe.expire(cur_key, 2 * window)
                pipe.get(self._k(f"rl:{bucket}:{slot - 1}"))
            if key:
                pipe.get(self._k(key))
            out = await pipe.execute()
        except self._redis_errors as exc:
            self._failed(exc)
            return await self.fallback.validate_prefetch(limits, None, window)
        results = []
        for i, (_, limit) in enumerate(limits):
            cur, _, prev = out[3 * i: 3 * i + 3]
            estimate, retry = _sliding(int(prev or 0), int(cur), window, now)
            results.append((estimate <= limit, 0 if estimate <= limit else retry))
        cached = json.loads(out[-1]) if key and out[-1] is not None else None
        return results, cached


def make_cache(redis_url: str | None, prefix: str) -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()
