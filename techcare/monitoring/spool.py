"""Store-and-forward spool for sensor samples: SQLite in WAL mode, ``synchronous=FULL``.

Invariants:
- a sample is committed here (durably) before any attempt to send it;
- it is deleted only after the server acknowledged it (``created`` or ``duplicate``), by ``sample_id``;
- so a crash, a kill -9, a network or server outage loses nothing, and the server's de-duplication on
  ``sample_id`` makes a resend after a lost acknowledgement harmless (nothing is stored twice);
- the spool is bounded (``max_samples``, default 30 days of samples at the configured interval); past the bound
  the oldest samples are dropped and the count is carried in the ``dropped_samples`` field of the next sample
  added, in the same transaction, so the report itself cannot be lost;
- samples of a send in progress (:meth:`Spool.sending`, the sender thread) are never dropped: the server may store
  them, and a sample both delivered and reported as dropped would be counted twice. While a send is on the wire
  the bound drops the oldest samples *not* being sent (the spool holds at most ``max_samples + 1``); when the send
  ends the bound is restored at once, the count reported on the newest queued sample. So every sample taken is
  exactly one of: delivered, still queued, rejected, or counted in a ``dropped_samples`` field;
- a sample the server rejects as invalid (``error`` in a batch answer) is moved to ``rejected`` (kept locally for
  the technician) instead of blocking the queue forever.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_RETENTION_SECONDS", "Spool", "default_max_samples"]

DEFAULT_RETENTION_SECONDS = 30 * 86400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL UNIQUE,
    created   REAL NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    payload   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    sample_id TEXT PRIMARY KEY,
    rejected  REAL NOT NULL,
    error     TEXT NOT NULL,
    payload   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


def default_max_samples(interval: float, retention_seconds: float = DEFAULT_RETENTION_SECONDS) -> int:
    """How many samples make ``retention_seconds`` (30 days) at ``interval`` seconds."""
    return max(1, int(retention_seconds // max(1.0, float(interval))))


class Spool:
    """The durable queue. Safe to use from several threads of one process and from several processes."""

    def __init__(self, path: str | Path, *, max_samples: int = default_max_samples(300)) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        self.path = Path(path)
        if str(path) != ":memory:":   # ":memory:" is a throw-away spool (dry runs)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_samples = int(max_samples)
        self._lock = threading.RLock()
        self._in_flight: dict[str, int] = {}   # sample_id -> number of sends in progress (this process)
        self._conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing ----------------------------------------------------------------------------------------
    def _meta(self, key: str) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, key: str, value: int) -> None:
        self._conn.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                           (key, int(value)))

    def add(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Commit ``sample`` (must carry ``sample_id``). Returns the sample as stored (with ``dropped_samples``).

        Drops the oldest samples when the bound is reached (not those of a send in progress); their number (plus
        any drop counts they carried) is reported in the ``dropped_samples`` of this sample.
        """
        sample_id = sample.get("sample_id")
        if not isinstance(sample_id, str) or not sample_id:
            raise ValueError("a sample needs a non-empty string sample_id")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                count = self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
                dropped_now, rows_dropped = self._drop_oldest(count + 1 - self.max_samples)
                pending = self._meta("dropped_pending") + dropped_now
                stored = dict(sample)
                stored["dropped_samples"] = int(stored.get("dropped_samples") or 0) + pending
                self._conn.execute("INSERT INTO samples(sample_id, created, payload) VALUES(?, ?, ?)",
                                   (sample_id, time.time(), json.dumps(stored, separators=(",", ":"))))
                self._set_meta("dropped_pending", 0)
                self._set_meta("dropped_total", self._meta("dropped_total") + rows_dropped)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return stored

    def _drop_oldest(self, over: int) -> tuple[int, int]:
        """Delete up to ``over`` of the oldest samples that are not being sent (inside a transaction).

        Returns ``(reported, rows)``: the samples to report as dropped (each victim plus the drop count it carried,
        which would be lost with it) and the rows deleted."""
        if over <= 0:
            return 0, 0
        reported = rows = 0
        candidates = self._conn.execute("SELECT seq, sample_id, payload FROM samples ORDER BY seq LIMIT ?",
                                        (over + len(self._in_flight),)).fetchall()
        for seq, sample_id, payload in candidates:
            if rows >= over:
                break
            if sample_id in self._in_flight:   # on the wire: the server may store it, so it is not lost
                continue
            carried = 0
            try:
                carried = int(json.loads(payload).get("dropped_samples") or 0)
            except (ValueError, AttributeError, TypeError):
                pass
            reported += 1 + carried
            rows += 1
            self._conn.execute("DELETE FROM samples WHERE seq = ?", (seq,))
        return reported, rows

    def _restore_bound(self) -> None:
        """Drop what a finished send left over the bound; report the count on the newest queued sample that is
        not being sent (in the same transaction), or on the next sample added when there is none."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            count = self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            reported, rows = self._drop_oldest(count - self.max_samples)
            if rows:
                newest = self._conn.execute("SELECT seq, sample_id, payload FROM samples ORDER BY seq DESC LIMIT ?",
                                            (len(self._in_flight) + 1,)).fetchall()
                target = next((row for row in newest if row[1] not in self._in_flight), None)
                if target is None:
                    self._set_meta("dropped_pending", self._meta("dropped_pending") + reported)
                else:
                    sample = json.loads(target[2])
                    sample["dropped_samples"] = int(sample.get("dropped_samples") or 0) + reported
                    self._conn.execute("UPDATE samples SET payload = ? WHERE seq = ?",
                                       (json.dumps(sample, separators=(",", ":")), target[0]))
                self._set_meta("dropped_total", self._meta("dropped_total") + rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def sending(self, limit: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """The oldest unacknowledged samples (like :meth:`pending`) for one send: while the block runs they are
        in flight and the bound never drops them. ``ack`` (or ``reject``) inside the block what the server
        answered; on leaving, the bound is restored (what it drops is reported, never lost)."""
        with self._lock:
            batch = self.pending(limit)
            ids = [sample["sample_id"] for sample in batch]
            for sample_id in ids:
                self._in_flight[sample_id] = self._in_flight.get(sample_id, 0) + 1
        try:
            yield batch
        finally:
            with self._lock:
                for sample_id in ids:
                    left = self._in_flight.pop(sample_id, 1) - 1
                    if left > 0:
                        self._in_flight[sample_id] = left
                self._restore_bound()

    def ack(self, sample_ids: Iterable[str]) -> int:
        """Delete acknowledged samples. Returns how many were removed."""
        ids = list(sample_ids)
        if not ids:
            return 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    cur = self._conn.execute(
                        f"DELETE FROM samples WHERE sample_id IN ({','.join('?' * len(chunk))})", chunk)
                    removed += cur.rowcount
                self._set_meta("acked_total", self._meta("acked_total") + removed)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return removed

    def reject(self, sample_id: str, error: str) -> None:
        """Move a sample the server refused as invalid out of the queue (kept in ``rejected``)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT payload FROM samples WHERE sample_id = ?", (sample_id,)).fetchone()
                if row is not None:
                    self._conn.execute("INSERT OR REPLACE INTO rejected(sample_id, rejected, error, payload) "
                                       "VALUES(?, ?, ?, ?)", (sample_id, time.time(), error[:1000], row[0]))
                    self._conn.execute("DELETE FROM samples WHERE sample_id = ?", (sample_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def mark_attempt(self, sample_ids: Iterable[str]) -> None:
        ids = list(sample_ids)
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                self._conn.execute(f"UPDATE samples SET attempts = attempts + 1 WHERE sample_id IN "
                                   f"({','.join('?' * len(chunk))})", chunk)

    # ---- reading ----------------------------------------------------------------------------------------
    def pending(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The oldest unacknowledged samples, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT payload FROM samples ORDER BY seq LIMIT ?", (int(limit),)).fetchall()
        return [json.loads(row[0]) for row in rows]

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def stats(self) -> dict[str, Any]:
        with self._lock:
            count, oldest = self._conn.execute("SELECT COUNT(*), MIN(created) FROM samples").fetchone()
            rejected = self._conn.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
            return {"pending": int(count), "oldest_created": oldest, "rejected": int(rejected),
                    "dropped_total": self._meta("dropped_total"), "acked_total": self._meta("acked_total"),
                    "dropped_pending": self._meta("dropped_pending"), "max_samples": self.max_samples,
                    "path": str(self.path)}

    def rejected(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT sample_id, rejected, error, payload FROM rejected ORDER BY rejected").fetchall()
        return [{"sample_id": r[0], "rejected": r[1], "error": r[2], "payload": json.loads(r[3])} for r in rows]
