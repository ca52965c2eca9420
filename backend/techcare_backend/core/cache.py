"""Cache, rate limiting and host last-seen: Redis in production, in-process on the embedded default.

Every key carries the configurable prefix (``REDIS_PREFIX``), so several deployments or test runs can share one
Redis. When Redis fails the API keeps serving: reads miss, writes are skipped, rate limiting falls back to a
per-process limiter, the failure is logged (at most every 30 s) and ``/api/health`` reports ``cache: degraded``.
After a failure Redis is not asked again for 2 seconds, so an outage does not add a timeout to every request.

Hot paths ask Redis nothing per request (a redis.asyncio round trip costs ~100 us of CPU, more than the rest of a
request):

* **Cached entries** (principal of an API key, organisation entitlements, license state) are read through
  :meth:`Cache.get_or_load` / :meth:`Cache.aget_or_load`. :class:`RedisCache` keeps a copy in process memory while
  it is subscribed to the invalidation channel (``<prefix>invalidate``); :meth:`Cache.delete` deletes in Redis and
  publishes the keys, so every instance drops its copy within milliseconds of an admin change. Without a working
  subscription (Redis down, reconnecting) the process copy is not used and is cleared, since messages may have been
  missed. A load that raced with an invalidation is not stored (generation check).
* **Rate limits** count in process memory at once and are summed in Redis by a background thread every ~50 ms
  (``INCRBY`` per touched window, which also returns the total of all instances). A limit therefore holds exactly
  within one instance and across instances with a lag of one sync interval; when Redis is down each instance keeps
  limiting on its own counts (and sends them once Redis is back).

**Job wake-ups** (remote jobs): :meth:`Cache.wake_jobs` tells the listeners registered with :meth:`Cache.on_jobs`
that jobs for some hosts were queued or cancelled, in this process at once and, with Redis, in every other instance
through the channel ``<prefix>jobs`` (the same subscription as the invalidations), so a sensor's long-poll held by
another instance ends within milliseconds. Listeners are called from any thread and must not block.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
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

    def rate_limits(self, limits: list[tuple[str, int]], window: int = 60) -> tuple[bool, int]:
        """Count one request in every ``(bucket, limit)`` (all of them, also when one refuses); ``(ok, retry
        after)`` with the longest wait of the refusing ones."""
        results = [self.rate_limit(bucket, limit, window) for bucket, limit in limits]
        refused = [retry for ok, retry in results if not ok]
        return (False, max(refused)) if refused else (True, 0)
    def set_last_seen(self, org_id: str, hosts: dict[str, float]) -> None: ...

    _job_listeners: tuple[Callable[[str, list[str]], None], ...] = ()

    def on_jobs(self, callback: Callable[[str, list[str]], None]) -> None:
        """Call ``callback(organisation_id, hostnames)`` whenever jobs for those hosts change (see the module doc)."""
        self._job_listeners = (*self._job_listeners, callback)

    def wake_jobs(self, organisation_id: str, hostnames: list[str]) -> None:
        """Wake the sensors of ``hostnames`` waiting for jobs, in every instance."""
        self._notify_jobs(organisation_id, hostnames)

    def _notify_jobs(self, organisation_id: str, hostnames: list[str]) -> None:
        for callback in self._job_listeners:
            try:
                callback(organisation_id, hostnames)
            except Exception:  # noqa: BLE001 - a listener's failure must not fail the request that woke it
                log.exception("job wake-up listener failed")

    def get_last_seen(self, org_id: str) -> dict[str, float]: ...
    def status(self) -> str: ...
    def close(self) -> None: ...

    async def aget_json(self, key: str) -> Any | None:
        return self.get_json(key)

    async def aset_json(self, key: str, value: Any, ttl: int) -> None:
        self.set_json(key, value, ttl)

    async def aset_last_seen(self, org_id: str, hosts: dict[str, float]) -> None:
        self.set_last_seen(org_id, hosts)

    def flush(self) -> None:
        """Send what is only counted locally so far (rate-limit counts) to the shared store now."""

    def get_or_load(self, key: str, loader: Callable[[], Any], ttl: int) -> Any:
        """The cached value of ``key``, else ``loader()`` (stored for ``ttl`` seconds; ``None`` is not stored).
        Values are shared: callers must not modify them."""
        value = self.get_json(key)
        if value is None:
            value = loader()
            if value is not None:
                self.set_json(key, value, ttl)
        return value

    async def aget_or_load(self, key: str, loader: Callable[[], Any], ttl: int) -> Any:
        """:meth:`get_or_load` for the event loop: ``loader`` (blocking, e.g. a database query) runs in the thread
        pool."""
        from starlette.concurrency import run_in_threadpool

        value = await self.aget_json(key)
        if value is None:
            value = await run_in_threadpool(loader)
            if value is not None:
                await self.aset_json(key, value, ttl)
        return value


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


class _SharedCounters:
    """Rate-limit windows counted in process memory and summed in Redis in the background (see the module doc).

    Per Redis key (one per bucket and window): ``[pending, in_flight, total, expires_at]`` — hits not yet sent, hits
    being sent, the all-instance total Redis last answered (which includes what this process sent), and when the
    window stops mattering.
    """

    SYNC_DELAY = 0.05

    def __init__(self, cache: RedisCache) -> None:
        self.cache = cache
        self.entries: dict[str, list[float]] = {}
        self.dirty: set[str] = set()
        self.unknown: set[str] = set()  # previous windows this process never counted: their total is read once
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()  # of the running thread; each thread gets its own
        self.thread: threading.Thread | None = None

    def hit(self, limits: list[tuple[str, int]], window: int) -> tuple[bool, int]:
        """Count one request in each ``(bucket, limit)``; ``(ok, retry after)`` as :meth:`Cache.rate_limits`."""
        now = time.time()
        slot = int(now // window)
        prefix = self.cache.prefix
        ok, wait = True, 0
        with self.lock:
            for bucket, limit in limits:
                cur_key = f"{prefix}rl:{bucket}:{slot}"
                cur = self.entries.get(cur_key)
                if cur is None:
                    cur = self.entries[cur_key] = [0, 0, 0, now + 2 * window]
                cur[0] += 1  # refused attempts count too (as INCR does)
                self.dirty.add(cur_key)
                prev_key = f"{prefix}rl:{bucket}:{slot - 1}"
                prev = self.entries.get(prev_key)
                if prev is None:
                    prev = self.entries[prev_key] = [0, 0, 0, now + window]
                    self.unknown.add(prev_key)
                estimate, retry = _sliding(int(prev[0] + prev[1] + prev[2]), int(cur[0] + cur[1] + cur[2]), window,
                                           now)
                if estimate > limit:
                    ok, wait = False, max(wait, retry)
        if self.thread is None:
            self._start()
        if not self.wake.is_set():
            self.wake.set()
        return ok, wait

    def _start(self) -> None:
        with self.lock:
            if self.thread is None:
                self.stopping = threading.Event()
                self.thread = threading.Thread(target=self._run, args=(self.stopping,), name="techcare-rate-sync",
                                               daemon=True)
                self.thread.start()

    def _run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            self.wake.wait()
            if stopping.is_set():
                break
            time.sleep(self.SYNC_DELAY)  # gather the hits of the next few milliseconds into one round trip
            self.wake.clear()
            self.sync()

    def sync(self) -> None:
        if not self.cache._available():
            return  # counted locally meanwhile; sent once Redis answers again
        with self.lock:
            now = time.time()
            for key in [k for k, e in self.entries.items() if e[3] < now and k not in self.dirty]:
                del self.entries[key]
            sending = []
            for key in self.dirty:
                entry = self.entries[key]
                entry[1] += entry[0]
                sending.append((key, int(entry[1]), max(1, int(entry[3] - now))))
                entry[0] = 0
            self.dirty.clear()
            reading = [k for k in self.unknown if k in self.entries]
            self.unknown.clear()
        if not sending and not reading:
            return
        try:
            pipe = self.cache.client.pipeline(transaction=False)
            for key, count, ttl in sending:
                pipe.incrby(key, count)
                pipe.expire(key, ttl)
            for key in reading:
                pipe.get(key)
            out = pipe.execute()
        except self.cache._redis_errors as exc:
            self.cache._failed(exc)
            with self.lock:  # nothing is lost: the counts go out with the next sync
                for key, count, _ in sending:
                    entry = self.entries.get(key)
                    if entry is not None:
                        entry[0] += entry[1]
                        entry[1] = 0
                        self.dirty.add(key)
                self.unknown.update(reading)
            return
        with self.lock:
            for i, (key, count, _) in enumerate(sending):
                entry = self.entries.get(key)
                if entry is not None:  # Redis's total includes what was just sent
                    entry[1] -= count
                    entry[2] = int(out[2 * i])
            for key, raw in zip(reading, out[2 * len(sending):]):
                entry = self.entries.get(key)
                if entry is not None and raw is not None:
                    entry[2] = max(entry[2], int(raw))

    def stop(self) -> None:
        """Send what is pending and stop the thread; a later hit starts a new one (an app can be started again
        after a shutdown)."""
        with self.lock:
            thread, self.thread = self.thread, None
            self.stopping.set()
        self.wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
        self.sync()


class _Invalidations:
    """A background thread subscribed to ``<prefix>invalidate``: drops the process copies of the keys other
    instances (and this one) publish. While the subscription is not confirmed the process copy is off and empty."""

    RECONNECT_DELAY = 1.0

    def __init__(self, cache: RedisCache) -> None:
        self.cache = cache
        self.channel = cache._k("invalidate")
        self.jobs_channel = cache._k("jobs")
        # shown by CLIENT LIST (names may not contain spaces)
        self.client_name = "techcare-invalidations:" + "".join(c for c in cache.prefix if c.isprintable()
                                                               and not c.isspace())
        self.stopping = threading.Event()  # of the running thread; each thread gets its own
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def start(self) -> None:
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.stopping = threading.Event()
                    self.thread = threading.Thread(target=self._run, args=(self.stopping,),
                                                   name="techcare-invalidations", daemon=True)
                    self.thread.start()

    def _run(self, stopping: threading.Event) -> None:
        import redis

        while not stopping.is_set():
            client = redis.Redis.from_url(self.cache.url, socket_connect_timeout=0.5, socket_timeout=5,
                                          health_check_interval=2, client_name=self.client_name)
            pubsub = client.pubsub()
            try:
                pubsub.subscribe(self.channel, self.jobs_channel)
                jobs_channel = self.jobs_channel.encode()
                while not stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.cache._local_on()
                    elif message["type"] == "message" and message["channel"] == jobs_channel:
                        sender, organisation_id, hostnames = json.loads(message["data"])
                        if sender != self.cache.instance:  # this instance woke its own waiters at once
                            self.cache._notify_jobs(organisation_id, hostnames)
                    elif message["type"] == "message":
                        self.cache._local_drop(json.loads(message["data"]))
            except (redis.RedisError, OSError, ValueError) as exc:
                if not stopping.is_set():
                    self.cache._local_off()
                    log.debug("invalidation subscription lost (%s); process copies off until it is back", exc)
                    stopping.wait(self.RECONNECT_DELAY)
            finally:
                if not stopping.is_set():  # a stopped thread leaves the state to stop() and its successor
                    self.cache._local_off()
                try:
                    pubsub.close()
                    client.close()
                except (redis.RedisError, OSError):  # pragma: no cover
                    pass

    def stop(self) -> None:
        """Stop the thread; a later use starts a new one (an app can be started again after a shutdown)."""
        with self.lock:
            thread, self.thread = self.thread, None
            self.stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3)
        self.cache._local_off()


class RedisCache(Cache):
    backend = "redis"
    RETRY_AFTER_FAILURE = 2.0
    TIMEOUT = 0.5  # seconds for a connect and for an answer; an outage costs at most this once per RETRY_AFTER_FAILURE
    ASYNC_POOL_SIZE = 64  # redis.asyncio connections per event loop
    ASYNC_POOL_WAIT = 0.5  # seconds a request waits for one of them before it is answered as a miss

    def __init__(self, url: str, prefix: str = "techcare:") -> None:
        import redis

        self._redis_errors = (redis.RedisError, OSError)
        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=self.TIMEOUT, socket_connect_timeout=self.TIMEOUT,
                                           health_check_interval=30)
        self._aio: tuple[Any, Any] | None = None
        self.prefix = prefix
        self.fallback = MemoryCache()
        self._down_until = 0.0
        self._last_log = 0.0
        # process copies of cached entries: key -> (expires at (monotonic), value); see the module doc
        self._local: dict[str, tuple[float, Any]] = {}
        self._local_ok = False
        self._generation = 0
        self._invalidations = _Invalidations(self)
        self._counters = _SharedCounters(self)
        self.instance = uuid.uuid4().hex  # tells this instance's own job wake-ups apart on the channel

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.RETRY_AFTER_FAILURE
        self._local_off()  # invalidations may not reach this process now
        if time.monotonic() - self._last_log > 30:
            self._last_log = time.monotonic()
            log.warning("Redis unavailable (%s): serving degraded (no shared cache, per-process rate limits)", exc)

    # ---- process copies ---------------------------------------------------------------------------------------
    def _local_on(self) -> None:
        self._generation += 1
        self._local.clear()  # whatever was published while unsubscribed is unknown
        self._local_ok = True

    def _local_off(self) -> None:
        self._local_ok = False
        self._generation += 1
        self._local.clear()

    def _local_drop(self, keys: list[str]) -> None:
        self._generation += 1
        for key in keys:
            self._local.pop(key, None)

    def _local_get(self, key: str) -> Any | None:
        self._invalidations.start()
        if not self._local_ok:
            return None
        item = self._local.get(key)
        if item is None:
            return None
        if item[0] < time.monotonic():
            self._local.pop(key, None)
            return None
        return item[1]

    def _local_put(self, key: str, value: Any, ttl: int, generation: int) -> None:
        if ttl <= 0 or not self._local_ok or generation != self._generation:
            return
        if len(self._local) > 100_000:
            self._local.clear()
        self._local[key] = (time.monotonic() + ttl, value)

    def get_or_load(self, key: str, loader: Callable[[], Any], ttl: int) -> Any:
        value = self._local_get(key)
        if value is not None:
            return value
        generation = self._generation
        value = self.get_json(key)
        if value is None:
            value = loader()
            if value is None or generation != self._generation:
                return value  # raced with an invalidation: answer, but keep nothing
            self.set_json(key, value, ttl)
        self._local_put(key, value, ttl, generation)
        return value

    async def aget_or_load(self, key: str, loader: Callable[[], Any], ttl: int) -> Any:
        from starlette.concurrency import run_in_threadpool

        value = self._local_get(key)
        if value is not None:
            return value
        generation = self._generation
        value = await self.aget_json(key)
        if value is None:
            value = await run_in_threadpool(loader)
            if value is None or generation != self._generation:
                return value
            await self.aset_json(key, value, ttl)
        self._local_put(key, value, ttl, generation)
        return value

    # ---- plain entries ----------------------------------------------------------------------------------------
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
        """Delete in Redis and tell every instance (this one at once) to drop its copy."""
        if not keys:
            return
        self._local_drop(list(keys))
        # Invalidation must not be skipped silently: always try, even right after a failure.
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(*(self._k(k) for k in keys))
            pipe.publish(self._invalidations.channel, json.dumps(list(keys)))
            pipe.execute()
        except self._redis_errors as exc:
            self._failed(exc)

    def rate_limit(self, bucket: str, limit: int, window: int = 60) -> tuple[bool, int]:
        """Counted at once in this process, summed over all instances in Redis (see the module doc); never
        blocks on Redis."""
        return self._counters.hit([(bucket, limit)], window)

    def rate_limits(self, limits: list[tuple[str, int]], window: int = 60) -> tuple[bool, int]:
        return self._counters.hit(limits, window)

    def flush(self) -> None:
        self._counters.sync()

    def on_jobs(self, callback: Callable[[str, list[str]], None]) -> None:
        super().on_jobs(callback)
        self._invalidations.start()  # the subscription carries the other instances' wake-ups

    def wake_jobs(self, organisation_id: str, hostnames: list[str]) -> None:
        """Wake here at once, then publish to the other instances (a Redis failure only delays their sensors
        until their next poll)."""
        self._notify_jobs(organisation_id, hostnames)
        try:
            self.client.publish(self._invalidations.jobs_channel,
                                json.dumps([self.instance, organisation_id, hostnames]))
        except self._redis_errors as exc:
            self._failed(exc)

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
        self._counters.stop()
        self._invalidations.stop()
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
            # A blocking pool: a burst of requests (1,000 sensors reconnecting after a restart) waits up to
            # ASYNC_POOL_WAIT for one of the connections instead of failing with "Too many connections" (redis-py's
            # default pool of 100 raises) and sending the whole instance into degraded mode; a wait that still
            # expires is a miss for that request, not an outage (see _async_failed).
            pool = aioredis.BlockingConnectionPool.from_url(self.url, max_connections=self.ASYNC_POOL_SIZE,
                                                            timeout=self.ASYNC_POOL_WAIT, socket_timeout=self.TIMEOUT,
                                                            socket_connect_timeout=self.TIMEOUT)
            self._aio = (loop, aioredis.Redis(connection_pool=pool))
        return self._aio[1]

    def _async_failed(self, exc: BaseException) -> None:
        """A redis.asyncio error: every connection busy past ASYNC_POOL_WAIT (redis-py raises ConnectionError from
        the expired wait) only makes this request miss; anything else is Redis failing (:meth:`_failed`)."""
        import redis

        if (isinstance(exc, redis.ConnectionError) and isinstance(exc.__cause__, TimeoutError)
                and "No connection available" in str(exc)):
            log.debug("every Redis connection busy for %.1f s: answered as a cache miss", self.ASYNC_POOL_WAIT)
            return
        self._failed(exc)

    async def aget_json(self, key: str) -> Any | None:
        if not self._available():
            return None
        try:
            raw = await self._async_client().get(self._k(key))
        except self._redis_errors as exc:
            self._async_failed(exc)
            return None
        return None if raw is None else json.loads(raw)

    async def aset_json(self, key: str, value: Any, ttl: int) -> None:
        if ttl <= 0 or not self._available():
            return
        try:
            await self._async_client().set(self._k(key), json.dumps(value), ex=ttl)
        except self._redis_errors as exc:
            self._async_failed(exc)

    async def aset_last_seen(self, org_id: str, hosts: dict[str, float]) -> None:
        if not hosts:
            return
        self.fallback.set_last_seen(org_id, hosts)
        if not self._available():
            return
        try:
            await self._async_client().hset(self._k(f"seen:{org_id}"), mapping={h: repr(ts) for h, ts in hosts.items()})
        except self._redis_errors as exc:
            self._async_failed(exc)


def make_cache(redis_url: str | None, prefix: str) -> Cache:
    return RedisCache(redis_url, prefix) if redis_url else MemoryCache()
