"""Metrics ingestion on PostgreSQL: what concurrent requests send is written together (group commit).

A sample request used to be one statement and one commit (one WAL flush) of its own; at a few thousand samples per
second that is most of the database's work. :class:`IngestWriter` queues the samples of all requests of a process
and writes whatever is queued in one statement (:data:`crud.PG_INGEST`) on a dedicated connection: while one
statement runs, the next requests gather (a second statement starts only when 200 samples or more wait, e.g. big
batches). A quiet server therefore writes each sample at once (no timer, no added latency) and a busy one writes
several to hundreds of samples per statement. Every request is answered only after its statement committed, with
its own ``created`` / ``duplicate`` per sample. Last-seen times go to Redis gathered over 100 ms (one HSET per
organisation); the host rows in PostgreSQL get theirs in the statement itself.

The statement is idempotent (``ON CONFLICT DO NOTHING``), so a statement that failed because its connection died
(PostgreSQL restarted) is retried once on a fresh connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from .. import crud
from ..models import utcnow

log = logging.getLogger("techcare_backend.ingest")

__all__ = ["IngestWriter", "writer_for"]


class IngestWriter:
    CONNECTIONS = 2  # statements in flight at most
    SECOND_AFTER = 200  # queued samples that justify a second statement while one runs
    MAX_SAMPLES = 2000  # samples per statement
    SEEN_DELAY = 0.1  # last-seen updates gathered for one Redis write

    def __init__(self, conninfo: str, cache: Any) -> None:
        self.conninfo = conninfo
        self.cache = cache
        self._idle: list[Any] = []
        self._pending: list[tuple[str, Sequence[Any], Sequence[str], asyncio.Future[list[str]]]] = []
        self._in_flight = 0
        self._queued = 0
        self._seen: dict[str, dict[str, float]] = {}
        self._seen_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.statements = 0  # statements written so far, and the samples they carried
        self.samples = 0

    async def write(self, organisation_id: str, samples: Sequence[Any], payloads: Sequence[str]) -> list[str]:
        """Store ``samples`` (validated models; ``payloads`` their JSON) and return ``created`` / ``duplicate`` per
        sample, once committed."""
        if self._closed:
            raise RuntimeError("ingest writer is closed")
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._pending.append((organisation_id, samples, payloads, future))
        self._queued += len(samples)
        self._kick()
        return await future

    def _kick(self) -> None:
        """Start a statement when none runs, or a second one when enough samples wait (one statement at a time
        gathers the most samples per commit; a second keeps big batches from queueing behind each other)."""
        while self._pending and (self._in_flight == 0 or (
                self._in_flight < self.CONNECTIONS and self._queued >= self.SECOND_AFTER)):
            take, count = 0, 0
            while take < len(self._pending) and (take == 0 or count + len(self._pending[take][1]) <= self.MAX_SAMPLES):
                count += len(self._pending[take][1])
                take += 1
            items, self._pending = self._pending[:take], self._pending[take:]
            self._queued -= count
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._flush(items))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, items: list[tuple[str, Sequence[Any], Sequence[str], asyncio.Future[list[str]]]]) -> None:
        try:
            now = utcnow()
            first: dict[tuple[str, str], tuple[int, int]] = {}
            rows = []
            for n, (org, samples, payloads, _) in enumerate(items):
                for i, (sample, payload) in enumerate(zip(samples, payloads)):
                    key = (org, sample.sample_id)
                    if key not in first:  # a repeated id counts once: the first occurrence
                        first[key] = (n, i)
                        rows.append((org, sample, payload))
            inserted = await self._execute(crud.pg_ingest_params(rows, now))
            self.statements += 1
            self.samples += len(rows)
        except BaseException as exc:
            for *_, future in items:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._in_flight -= 1
            self._kick()
        seen: dict[str, dict[str, float]] = {}
        stamp = now.timestamp()
        for n, (org, samples, _, future) in enumerate(items):
            statuses = []
            for i, sample in enumerate(samples):
                created = (org, sample.sample_id) in inserted and first[(org, sample.sample_id)] == (n, i)
                statuses.append("created" if created else "duplicate")
                if created:
                    seen.setdefault(org, {})[sample.hostname] = stamp
            if not future.done():
                future.set_result(statuses)
        for org, hosts in seen.items():
            self._seen.setdefault(org, {}).update(hosts)
        if seen and self._seen_task is None and not self._closed:
            self._seen_task = asyncio.get_running_loop().create_task(self._write_seen(self.SEEN_DELAY))

    async def _write_seen(self, delay: float) -> None:
        """Last-seen of hosts to Redis: one HSET per organisation for everything of the last ``delay`` seconds
        (the host rows in PostgreSQL already carry it; Redis serves the fleet view across instances)."""
        try:
            await asyncio.sleep(delay)
        finally:
            self._seen_task = None
            seen, self._seen = self._seen, {}
            for org, hosts in seen.items():
                await self.cache.aset_last_seen(org, hosts)

    async def _execute(self, params: dict[str, Any]) -> set[tuple[str, str]]:
        import psycopg

        for attempt in (1, 2):
            conn = self._idle.pop() if self._idle else await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True)
            try:
                async with conn.cursor(binary=True) as cur:
                    await cur.execute(crud.PG_INGEST, params, prepare=True)
                    rows = await cur.fetchall()
            except psycopg.OperationalError:
                if not conn.closed:
                    await conn.close()
                if attempt == 2:
                    raise
                # a connection that died (PostgreSQL restarted): every idle one is as stale
                stale, self._idle = self._idle, []
                for other in stale:
                    await other.close()
                continue
            except BaseException:
                if conn.closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await conn.close()
                else:
                    self._idle.append(conn)
                raise
            if self._closed:
                await conn.close()
            else:
                self._idle.append(conn)
            return {(org, sid) for org, sid in rows}
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        """Write what is queued, then close the connections (app shutdown)."""
        while self._pending or self._tasks:
            self._kick()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._closed = True
        if self._seen_task is not None:
            self._seen_task.cancel()  # writes what it gathered (its ``finally``)
            await asyncio.gather(self._seen_task, return_exceptions=True)
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


def conninfo_for(engine: Any) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL engine (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def writer_for(ctx: Any) -> IngestWriter:
    """The writer of the running event loop (a test client's new loop gets its own)."""
    loop = asyncio.get_running_loop()
    writers: dict[Any, IngestWriter] = ctx.__dict__.setdefault("ingest_writers", {})
    writer = writers.get(loop)
    if writer is None:
        for old in [lp for lp in writers if lp.is_closed()]:
            del writers[old]
        writer = writers[loop] = IngestWriter(conninfo_for(ctx.engine), ctx.cache)
    return writer


async def close_writers(ctx: Any) -> None:
    """Close the writer of the running loop (app shutdown); writers of closed loops are dropped."""
    writers: dict[Any, IngestWriter] = ctx.__dict__.get("ingest_writers", {})
    loop = asyncio.get_running_loop()
    writer = writers.pop(loop, None)
    if writer is not None:
        await writer.close()
    for old in [lp for lp in writers if lp.is_closed()]:
        del writers[old]

