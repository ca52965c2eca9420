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
  exactly one of: delivered, still queued, rejected, quarantined, or counted in a ``dropped_samples`` field;
- a sample the server acknowledged whose deletion failed (disk full, read-only) is delivered: the next write that
  works (an ack, a sample added, the bound restored after a send when it would drop) deletes it first and counts
  it as acknowledged, so the bound never drops it and reports it as dropped as well;
- a sample the server rejects as invalid (``error`` in a batch answer) is moved to ``rejected`` (kept locally for
  the technician) instead of blocking the queue forever;
- every record carries a checksum of its payload (SHA-256, first 128 bits). A record that cannot be read (not
  UTF-8, not JSON, not a sample, checksum mismatch: a torn page, a flipped bit) is moved to ``quarantine`` (kept
  as raw bytes, with the reason, counted in ``quarantined_total``) and never sent: a wrong value is worse than a
  missing one. Everything else is sent. Records of the first format (no checksum) are checked once on open and
  get their checksum then;
- a failed send writes nothing (the cost of an outage is the new samples, not a rewrite of every waiting one),
  and the write-ahead file is truncated once the queue is delivered (``journal_size_limit`` bounds it meanwhile);
- a damaged database file (``database disk image is malformed``, ``file is not a database``) is moved aside as
  ``<name>.damaged-<UTC time>`` (kept for the technician) and every record that can still be read is carried
  into a fresh spool, through the same checks (only with ``repair=True``, the sensor that holds the instance lock;
  ``techcare doctor`` opens with ``repair=False`` and only reports);
- every database or file error leaves as :class:`SpoolError`, which names the file, what happened and what to do;
  a rollback that fails after an error never hides that error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ..errors import TechCareError
from ..i18n import tr

__all__ = ["DEFAULT_RETENTION_SECONDS", "Spool", "SpoolError", "default_max_samples", "record_checksum"]

log = logging.getLogger("techcare.sensor.spool")

DEFAULT_RETENTION_SECONDS = 30 * 86400
#: the write-ahead file is truncated to at most this many bytes after each checkpoint
WAL_SIZE_LIMIT = 1 << 20
#: format version in ``PRAGMA user_version``: 0 = first format (no checksums), 2 = checksums + quarantine
FORMAT_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL UNIQUE,
    created   REAL NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 0,
    payload   TEXT NOT NULL,
    checksum  TEXT
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
CREATE TABLE IF NOT EXISTS quarantine (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id   TEXT,
    quarantined REAL NOT NULL,
    reason      TEXT NOT NULL,
    payload     BLOB
);
"""

_T = TypeVar("_T")


def default_max_samples(interval: float, retention_seconds: float = DEFAULT_RETENTION_SECONDS) -> int:
    """How many samples make ``retention_seconds`` (30 days) at ``interval`` seconds."""
    return max(1, int(retention_seconds // max(1.0, float(interval))))


def record_checksum(payload: str | bytes) -> str:
    """The checksum stored with each record: the first 128 bits of SHA-256 of the payload's UTF-8 bytes, hex."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return hashlib.sha256(data).hexdigest()[:32]


class SpoolError(TechCareError):
    """The spool file cannot be opened, read or written. ``kind``: ``corrupt`` (damaged database), ``full`` (disk
    full), ``readonly``, ``unavailable`` (missing, a directory, no permission, locked) or ``io``."""

    exit_code = 2

    def __init__(self, message: str, *, kind: str, path: Path | str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.path = str(path)


def _kind(exc: BaseException) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return "corrupt"
    if name.startswith("SQLITE_FULL") or "disk is full" in text or getattr(exc, "errno", None) == 28:
        return "full"
    if name.startswith("SQLITE_READONLY") or "readonly" in text or getattr(exc, "errno", None) == 30:
        return "readonly"
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_BUSY", "SQLITE_LOCKED")) \
            or isinstance(exc, (IsADirectoryError, PermissionError, FileNotFoundError, NotADirectoryError)) \
            or "unable to open" in text:
        return "unavailable"
    return "io"


def spool_error(exc: BaseException, path: Path | str, action: str) -> SpoolError:
    """A :class:`SpoolError` for a database or file error while ``action`` (a short verb phrase, both languages
    separated by ``|``): names the file, what happened and what to do."""
    kind = _kind(exc)
    if kind == "unavailable" and _read_only_file(Path(path)):
        kind = "readonly"
    de_action, _, en_action = action.partition("|")
    fix = {
        "corrupt": ("Die Datei ist beschädigt. Der Sensor legt sie beim nächsten Start beiseite (.damaged-…) und "
                    "übernimmt alle noch lesbaren Messungen in einen neuen Zwischenspeicher.",
                    "The file is damaged. On its next start the sensor moves it aside (.damaged-…) and carries "
                    "every sample that can still be read into a new spool."),
        "full": ("Der Datenträger ist voll: Platz schaffen (z. B. Temp-Dateien löschen); bis dahin hält der Sensor "
                 "neue Messungen im Speicher und sendet sie.",
                 "The disk is full: free some space (e.g. delete temporary files); until then the sensor keeps new "
                 "samples in memory and sends them."),
        "readonly": ("Die Datei oder der Datenträger ist schreibgeschützt: Schreibrechte für das Sensor-Konto "
                     "herstellen (Dateirechte, Mount-Optionen).",
                     "The file or the disk is read-only: give the sensor's account write access (file permissions, "
                     "mount options)."),
        "unavailable": ("Der Pfad muss eine schreibbare Datei sein (kein Ordner); Rechte und TECHCARE_HOME prüfen.",
                        "The path must be a writable file (not a directory); check the permissions and "
                        "TECHCARE_HOME."),
        "io": ("Datenträger prüfen (Ereignisanzeige/dmesg); der Sensor versucht es weiter.",
               "Check the disk (event log/dmesg); the sensor keeps trying."),
    }[kind]
    detail = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return SpoolError(tr("Sensor-Zwischenspeicher {p}: {a} fehlgeschlagen ({e}).",
                         "Sensor spool {p}: {a} failed ({e}).", p=path, a=tr(de_action, en_action or de_action),
                         e=detail),
                      kind=kind, path=path, hint=tr(*fix))


def _read_only_file(path: Path) -> bool:
    """An existing file on a read-only file system, or one this process may not write."""
    try:
        if not path.is_file():
            return False
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY) if hasattr(os, "statvfs") else \
            not os.access(path, os.W_OK)
    except OSError:
        return False


def _decode(payload: bytes | None, checksum: str | None, sample_id: Any) -> tuple[dict[str, Any] | None, str]:
    """The sample of a stored record, or ``(None, reason)`` when it cannot be trusted."""
    if payload is None:
        return None, "empty record"
    if checksum is not None and record_checksum(payload) != checksum:
        return None, "checksum mismatch"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    try:
        sample = json.loads(text)
    except ValueError:
        return None, "not JSON"
    if not isinstance(sample, dict) or sample.get("sample_id") != sample_id:
        return None, "not a sample of this record"
    return sample, ""


def _damaged_name(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    return candidate


class Spool:
    """The durable queue. Safe to use from several threads of one process and from several processes.

    ``repair=True`` (the sensor): a damaged file is moved aside and salvaged on open, unreadable records are
    quarantined when met. ``repair=False`` (``techcare doctor``): nothing is moved; damage raises
    :class:`SpoolError` (``kind="corrupt"``) and :meth:`scan` counts unreadable records.
    """

    def __init__(self, path: str | Path, *, max_samples: int = default_max_samples(300), repair: bool = True) -> None:
        if max_samples < 1:
            raise ValueError("max_samples must be at least 1")
        self.path = Path(path)
        self._memory = str(path) == ":memory:"   # a throw-away spool (dry runs, the sensor's fallback)
        self.max_samples = int(max_samples)
        self.repair = repair
        self._lock = threading.RLock()
        self._in_flight: dict[str, int] = {}   # sample_id -> number of sends in progress (this process)
        #: what happened on open: ``{"damaged_file": path, "salvaged": n}`` after a salvage, else empty
        self.recovered: dict[str, Any] = {}
        self._conn: sqlite3.Connection | None = None
        #: True when the file could only be opened for reading (read-only file or disk): what it holds is still
        #: sent, new samples cannot be added
        self.read_only = False
        #: ids the server acknowledged that could not be deleted (read-only, disk full): never sent again by this
        #: process, deleted with the next ack that works
        self._unsaved_acks: set[str] = set()
        try:
            self._conn = self._open()
        except SpoolError as exc:
            if exc.kind == "corrupt" and repair and not self._memory:
                self._conn = self._salvage()
            elif exc.kind in ("readonly", "unavailable") and not self._memory and self.path.is_file():
                self._conn = self._open_read_only(exc)
            else:
                raise

    def _open_read_only(self, error: SpoolError) -> sqlite3.Connection:
        """The spool cannot be written: read what it holds (``mode=ro``; ``immutable`` when not even the WAL
        index can be made, i.e. the disk is read-only and nobody can change the file either)."""
        for query in ("mode=ro", "immutable=1"):
            try:
                conn = sqlite3.connect(f"file:{self.path}?{query}", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=30.0)
            except sqlite3.Error:
                continue
            try:
                columns = {row[1] for row in conn.execute("PRAGMA table_info(samples)")}
            except sqlite3.Error:
                conn.close()
                continue
            if not columns:
                conn.close()
                break
            self._legacy = "checksum" not in columns
            self.read_only = True
            log.error("%s", f"{error.message} {error.hint or ''}".strip())
            log.warning("%s", tr("Sensor-Zwischenspeicher {p} wird nur gelesen: die wartenden Messungen werden "
                                 "gesendet, neue bleiben im Speicher, bis die Datei wieder beschreibbar ist.",
                                 "Sensor spool {p} is read only: the waiting samples are sent, new ones stay in "
                                 "memory until the file is writable again.", p=self.path))
            return conn
        raise error

    # ---- opening ----------------------------------------------------------------------------------------
    def _connect(self, path: Path | str) -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            if not self._memory:
                if self.path.is_dir():
                    raise IsADirectoryError(21, os.strerror(21), str(self.path))
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect(self.path)
        except (sqlite3.Error, OSError) as exc:
            raise spool_error(exc, self.path, "Öffnen|opening") from exc
        try:
            if not self._memory:
                check = conn.execute("PRAGMA quick_check(1)").fetchone()
                if not check or check[0] != "ok":
                    raise sqlite3.DatabaseError(f"database disk image is malformed ({check[0] if check else '-'})")
            conn.executescript(_SCHEMA)
            self._conn = conn
            if conn.execute("PRAGMA user_version").fetchone()[0] < FORMAT_VERSION:
                self._migrate()
        except (sqlite3.Error, OSError) as exc:
            conn.close()
            self._conn = None
            raise spool_error(exc, self.path, "Öffnen|opening") from exc
        return conn

    def _migrate(self) -> None:
        """First format -> checksums: add the column, check each old record once, quarantine what fails."""
        conn = self._db()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(samples)")}
        if not self.repair:   # doctor: reads the old format as it is (no checksum), changes nothing
            self._legacy = "checksum" not in columns
            return
        with self._tx():
            if "checksum" not in columns:
                conn.execute("ALTER TABLE samples ADD COLUMN checksum TEXT")
            rows = conn.execute("SELECT seq, sample_id, CAST(payload AS BLOB) FROM samples "
                                "WHERE checksum IS NULL").fetchall()
            bad = []
            for seq, sample_id, payload in rows:
                sample, reason = _decode(payload, None, sample_id)
                if sample is None:
                    bad.append((seq, sample_id, payload, reason))
                else:
                    conn.execute("UPDATE samples SET checksum = ? WHERE seq = ?", (record_checksum(payload), seq))
            self._quarantine_rows(bad)
            conn.execute(f"PRAGMA user_version={FORMAT_VERSION}")

    _legacy = False

    def _salvage(self) -> sqlite3.Connection:
        """Move the damaged file aside and carry every readable record into a fresh spool."""
        damaged = _damaged_name(self.path)
        try:
            for suffix in ("", "-wal", "-shm"):
                source = Path(f"{self.path}{suffix}")
                if source.exists():
                    os.replace(source, f"{damaged}{suffix}")
        except OSError as exc:
            raise spool_error(exc, self.path, "Beiseitelegen der beschädigten Datei|moving the damaged file aside") \
                from exc
        conn = self._open()
        self._conn = conn
        rows, lost, counters = self._read_damaged(damaged)
        if lost is None or not counters:
            known = self._last_known()   # the counters as last written next to the file (close, delivery)
            if known:
                counters = counters or {k: v for k, v in known.items() if k != "waiting"}
                if lost is None and "waiting" in known:
                    lost = max(0, known["waiting"] - len(rows))
        salvaged = 0
        with self._tx():
            bad = []
            for sample_id, created, payload, checksum in rows:
                sample, reason = _decode(payload, checksum, sample_id)
                if sample is None:
                    bad.append((None, sample_id, payload, reason))
                    continue
                with suppress(sqlite3.IntegrityError):
                    conn.execute("INSERT INTO samples(sample_id, created, payload, checksum) VALUES(?, ?, ?, ?)",
                                 (sample_id, created if isinstance(created, (int, float)) else time.time(),
                                  payload.decode("utf-8"), record_checksum(payload)))
                    salvaged += 1
            # the damaged file's counters go on (acknowledged, dropped, ... and drop counts not yet reported);
            # the *_base keys hold what did not happen in this file, so its own numbers can be told apart later
            for key in ("acked_total", "dropped_total", "quarantined_total", "unreadable_total", "damaged_files",
                        "dropped_pending", "unknown_losses"):
                self._set_meta(key, self._meta(key) + counters.get(key, 0))
            for key in ("acked", "dropped", "quarantined"):
                self._set_meta(f"{key}_base", self._meta(f"{key}_base") + counters.get(f"{key}_total", 0))
            self._set_meta("quarantined_base", self._meta("quarantined_base") + len(bad))
            self._quarantine_rows(bad)
            self._set_meta("damaged_files", self._meta("damaged_files") + 1)
            if lost is None:   # not even an estimate: said so, kept in the counters (doctor shows it)
                self._set_meta("unknown_losses", self._meta("unknown_losses") + 1)
            else:   # the unreadable ones are reported to the backend like samples the bound dropped (next sample)
                self._set_meta("dropped_pending", self._meta("dropped_pending") + lost)
                self._set_meta("unreadable_total", self._meta("unreadable_total") + lost)
        self.recovered = {"damaged_file": str(damaged), "salvaged": salvaged, "quarantined": len(bad),
                          "unreadable": lost}
        self._save_counters()
        if lost is None:
            log.error("%s", tr("Sensor-Zwischenspeicher {p} war beschädigt: beiseitegelegt als {d}; {n} Messungen "
                               "übernommen, {q} in Quarantäne; wie viele wartende Messungen verloren sind, ist "
                               "unbekannt (die Datei verrät es nicht mehr; sie bleibt zur Prüfung liegen).",
                               "Sensor spool {p} was damaged: moved aside as {d}; {n} samples carried over, {q} "
                               "quarantined; how many waiting samples are lost is unknown (the file no longer "
                               "tells; it is kept for inspection).", p=self.path, d=damaged, n=salvaged, q=len(bad)))
        else:
            log.error("%s", tr("Sensor-Zwischenspeicher {p} war beschädigt: beiseitegelegt als {d}; {n} Messungen "
                               "übernommen, {q} in Quarantäne, {u} unlesbar (als verworfen gemeldet).",
                               "Sensor spool {p} was damaged: moved aside as {d}; {n} samples carried over, {q} "
                               "quarantined, {u} unreadable (reported as dropped).", p=self.path, d=damaged,
                               n=salvaged, q=len(bad), u=lost))
        return conn

    def _counters_file(self) -> Path:
        return self.path.with_name(f"{self.path.name}.counters")

    _COUNTERS = ("acked_total", "dropped_total", "quarantined_total", "unreadable_total", "damaged_files",
                 "dropped_pending", "unknown_losses", "acked_base", "dropped_base", "quarantined_base")

    def _save_counters(self) -> None:
        """Keep the counters and the number of waiting samples next to the spool (``<name>.counters``), so a file
        damaged beyond reading still tells roughly how many samples it held. Best effort: never an error."""
        if self._memory or self.read_only or not self.repair or self._conn is None:   # doctor writes nothing
            return
        with suppress(sqlite3.Error, OSError, ValueError):
            from .._fs import atomic_write
            known = {key: self._meta(key) for key in self._COUNTERS}
            known["waiting"] = int(self._conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0])
            atomic_write(self._counters_file(), json.dumps(known), mode=0o600)

    def _last_known(self) -> dict[str, int]:
        """The counters last saved by :meth:`_save_counters` (empty when missing or not readable)."""
        with suppress(OSError, ValueError, TypeError, AttributeError):
            data = json.loads(self._counters_file().read_text(encoding="utf-8"))
            return {k: int(v) for k, v in data.items()
                    if (k in self._COUNTERS or k == "waiting") and isinstance(v, int) and v >= 0}
        return {}

    def _read_damaged(self, damaged: Path) -> tuple[list[tuple[Any, Any, bytes | None, str | None]], int | None,
                                                    dict[str, int]]:
        """Every record of the damaged file that SQLite can still return (row by row, skipping broken parts), how
        many waiting samples could not be read (``None``: cannot even be estimated) and its counters (``meta``)."""
        rows: list[tuple[Any, Any, bytes | None, str | None]] = []
        counters: dict[str, int] = {}
        try:
            old = sqlite3.connect(f"file:{damaged}?mode=ro", uri=True, isolation_level=None)
        except sqlite3.Error:
            return rows, None, counters   # nothing readable: how many were in it is not known (the file is kept)
        seqs: list[int] = []
        try:
            try:
                columns = {row[1] for row in old.execute("PRAGMA table_info(samples)")}
                checksum = "checksum" if "checksum" in columns else "NULL"
                query = (f"SELECT seq, sample_id, created, CAST(payload AS BLOB), {checksum} FROM samples "
                         "WHERE seq > ? ORDER BY seq LIMIT 1")
                last, skip, misses = 0, 1, 0
                while misses < 64:
                    try:
                        row = old.execute(query, (last,)).fetchone()
                    except (sqlite3.Error, OverflowError):   # the jumps may pass SQLite's last number (2^63 - 1)
                        misses += 1
                        last += skip           # jump over the broken part, further each time it is still broken
                        skip *= 2
                        continue
                    if row is None:
                        break
                    misses, skip = 0, 1
                    last = int(row[0])
                    seqs.append(last)
                    rows.append((row[1], row[2], row[3], row[4]))
            except sqlite3.Error:
                pass   # the table itself cannot be read: the numbers below may still tell how many were waiting
            top: int | None = None
            with suppress(sqlite3.Error, TypeError, ValueError):
                found = old.execute("SELECT seq FROM sqlite_sequence WHERE name = 'samples'").fetchone()
                top = int(found[0]) if found is not None else 0
            with suppress(sqlite3.Error, TypeError, ValueError):
                counters = {str(k): int(v) for k, v in old.execute("SELECT key, value FROM meta")}
            rejected: int | None = None
            with suppress(sqlite3.Error, TypeError, ValueError):
                rejected = int(old.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])
        finally:
            old.close()
        if top is not None and rejected is not None and counters:
            # every sequence number handed out in this file is a sample that was acknowledged, dropped by the
            # bound, rejected, quarantined, read now, or lost (counters of earlier files are the *_base keys)
            gone = sum(counters.get(f"{key}_total", 0) - counters.get(f"{key}_base", 0)
                       for key in ("acked", "dropped", "quarantined"))
            return rows, max(0, top - gone - rejected - len(rows)), counters
        if seqs:
            # without the counters: the gaps between what was read, and after it up to the last number handed out
            # (acknowledged samples go oldest first; a sample the server rejected also leaves one: at most)
            lost = sum(b - a - 1 for a, b in zip(seqs, seqs[1:]))
            if top is not None and top > seqs[-1]:
                lost += top - seqs[-1]
            return rows, lost, counters
        return rows, (0 if top == 0 else None), counters

    # ---- plumbing ---------------------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SpoolError(tr("Sensor-Zwischenspeicher {p} ist geschlossen.", "Sensor spool {p} is closed.",
                                p=self.path), kind="unavailable", path=self.path)
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One write transaction. A rollback that fails (SQLite may have rolled back already, e.g. on a full
        disk) is noted on the real error instead of replacing it."""
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as rollback:
                    exc.add_note(f"rollback also failed: {rollback}")
            raise

    def _guard(self, action: str, work: Callable[[], _T]) -> _T:
        """Run ``work`` under the lock; database and file errors leave as :class:`SpoolError` (a duplicate
        ``sample_id`` stays an ``IntegrityError``: that is a caller's bug, not a spool problem)."""
        with self._lock:
            try:
                return work()
            except sqlite3.IntegrityError:
                raise
            except (sqlite3.Error, OSError) as exc:
                raise spool_error(exc, self.path, action) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._save_counters()
                with suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self, key: str) -> int:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, key: str, value: int) -> None:
        self._db().execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                           "excluded.value", (key, int(value)))

    def _quarantine_rows(self, rows: list[tuple[int | None, Any, bytes | None, str]]) -> None:
        """Move records that cannot be trusted to ``quarantine`` (inside a transaction) and say so."""
        conn = self._db()
        for seq, sample_id, payload, reason in rows:
            conn.execute("INSERT INTO quarantine(sample_id, quarantined, reason, payload) VALUES(?, ?, ?, ?)",
                         (sample_id if isinstance(sample_id, str) else repr(sample_id), time.time(), reason,
                          payload))
            if seq is not None:
                conn.execute("DELETE FROM samples WHERE seq = ?", (seq,))
            log.warning("%s", tr("Messung {s} im Zwischenspeicher {p} ist unlesbar ({r}): in Quarantäne gelegt, "
                                 "wird nicht gesendet.",
                                 "sample {s} in the spool {p} cannot be read ({r}): quarantined, not sent.",
                                 s=sample_id, p=self.path, r=reason))
        if rows:
            self._set_meta("quarantined_total", self._meta("quarantined_total") + len(rows))

    # ---- writing ----------------------------------------------------------------------------------------
    def add(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Commit ``sample`` (must carry ``sample_id``). Returns the sample as stored (with ``dropped_samples``).

        Drops the oldest samples when the bound is reached (not those of a send in progress); their number (plus
        any drop counts they carried) is reported in the ``dropped_samples`` of this sample.
        """
        sample_id = sample.get("sample_id")
        if not isinstance(sample_id, str) or not sample_id:
            raise ValueError("a sample needs a non-empty string sample_id")

        def work() -> dict[str, Any]:
            conn = self._db()
            with self._tx():
                delivered = self._delete_unsaved_acks()   # delivered, not dropped: never counted twice
                count = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
                dropped_now, rows_dropped = self._drop_oldest(count + 1 - self.max_samples)
                pending = self._meta("dropped_pending") + dropped_now
                stored = dict(sample)
                stored["dropped_samples"] = int(stored.get("dropped_samples") or 0) + pending
                payload = json.dumps(stored, separators=(",", ":"))
                conn.execute("INSERT INTO samples(sample_id, created, payload, checksum) VALUES(?, ?, ?, ?)",
                             (sample_id, time.time(), payload, record_checksum(payload)))
                self._set_meta("dropped_pending", 0)
                self._set_meta("dropped_total", self._meta("dropped_total") + rows_dropped)
            self._unsaved_acks.difference_update(delivered)
            return stored

        return self._guard("Speichern einer Messung|storing a sample", work)

    def _delete_unsaved_acks(self) -> list[str]:
        """Delete (inside a transaction) the samples the server acknowledged whose deletion failed earlier, counted
        as acknowledged. Returns their ids, to forget once the transaction committed. Run before the bound counts,
        so it never drops a delivered sample (that one would be counted both delivered and dropped)."""
        ids = list(self._unsaved_acks)
        if not ids:
            return ids
        conn = self._db()
        removed = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            removed += conn.execute(f"DELETE FROM samples WHERE sample_id IN ({','.join('?' * len(chunk))})",
                                    chunk).rowcount
        if removed:
            self._set_meta("acked_total", self._meta("acked_total") + removed)
        return ids

    def _drop_oldest(self, over: int) -> tuple[int, int]:
        """Delete up to ``over`` of the oldest samples that are not being sent (inside a transaction).

        Returns ``(reported, rows)``: the samples to report as dropped (each victim plus the drop count it carried,
        which would be lost with it) and the rows deleted."""
        if over <= 0:
            return 0, 0
        conn = self._db()
        reported = rows = 0
        candidates = conn.execute("SELECT seq, sample_id, CAST(payload AS BLOB), checksum FROM samples ORDER BY seq "
                                  "LIMIT ?", (over + len(self._in_flight),)).fetchall()
        for seq, sample_id, payload, checksum in candidates:
            if rows >= over:
                break
            if sample_id in self._in_flight:   # on the wire: the server may store it, so it is not lost
                continue
            sample, _ = _decode(payload, checksum, sample_id)
            carried = 0
            with suppress(ValueError, TypeError):
                carried = int((sample or {}).get("dropped_samples") or 0)
            reported += 1 + max(0, carried)
            rows += 1
            conn.execute("DELETE FROM samples WHERE seq = ?", (seq,))
        return reported, rows

    def _restore_bound(self) -> None:
        """Drop what a finished send left over the bound; report the count on the newest queued sample that is
        not being sent (in the same transaction), or on the next sample added when there is none."""
        conn = self._db()
        delivered: list[str] = []
        with self._tx():
            count = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            if count > self.max_samples and self._unsaved_acks:   # acknowledged, not yet deleted: never dropped
                delivered = self._delete_unsaved_acks()
                count = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            reported, rows = self._drop_oldest(count - self.max_samples)
            if rows:
                newest = conn.execute("SELECT seq, sample_id, CAST(payload AS BLOB), checksum FROM samples "
                                      "ORDER BY seq DESC LIMIT ?", (len(self._in_flight) + 1,)).fetchall()
                target = next((row for row in newest if row[1] not in self._in_flight), None)
                sample = _decode(target[2], target[3], target[1])[0] if target is not None else None
                if sample is None:   # none, or an unreadable one: the next sample added carries the count
                    self._set_meta("dropped_pending", self._meta("dropped_pending") + reported)
                else:
                    sample["dropped_samples"] = int(sample.get("dropped_samples") or 0) + reported
                    payload = json.dumps(sample, separators=(",", ":"))
                    conn.execute("UPDATE samples SET payload = ?, checksum = ? WHERE seq = ?",
                                 (payload, record_checksum(payload), target[0]))
                self._set_meta("dropped_total", self._meta("dropped_total") + rows)
        self._unsaved_acks.difference_update(delivered)

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
                try:
                    self._guard("Einhalten der Obergrenze|keeping the bound", self._restore_bound)
                except SpoolError as exc:   # the next send restores it; the send's own outcome stays the news
                    log.warning("%s", exc.message)

    def ack(self, sample_ids: Iterable[str]) -> int:
        """Delete acknowledged samples. Returns how many were removed. Once the queue is empty the write-ahead
        file is truncated (it never keeps the size of the last outage)."""
        ids = list(sample_ids)
        if not ids:
            return 0
        retry = [i for i in self._unsaved_acks if i not in ids]

        def work() -> int:
            conn = self._db()
            ids.extend(retry)
            with self._tx():
                removed = 0
                for start in range(0, len(ids), 500):
                    chunk = ids[start:start + 500]
                    cur = conn.execute(f"DELETE FROM samples WHERE sample_id IN ({','.join('?' * len(chunk))})",
                                       chunk)
                    removed += cur.rowcount
                self._set_meta("acked_total", self._meta("acked_total") + removed)
            if not self._memory and conn.execute("SELECT 1 FROM samples LIMIT 1").fetchone() is None:
                with suppress(sqlite3.Error):   # another reader may hold the WAL: the next empty queue truncates
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return removed

        try:
            removed = self._guard("Löschen gesendeter Messungen|removing delivered samples", work)
        except SpoolError:
            self._unsaved_acks.update(ids)
            raise
        self._unsaved_acks.difference_update(ids)
        with self._lock:
            self._save_counters()
        return removed

    def reject(self, sample_id: str, error: str) -> None:
        """Move a sample the server refused as invalid out of the queue (kept in ``rejected``)."""

        def work() -> None:
            conn = self._db()
            with self._tx():
                row = conn.execute("SELECT payload FROM samples WHERE sample_id = ?", (sample_id,)).fetchone()
                if row is not None:
                    conn.execute("INSERT OR REPLACE INTO rejected(sample_id, rejected, error, payload) "
                                 "VALUES(?, ?, ?, ?)", (sample_id, time.time(), error[:1000], row[0]))
                    conn.execute("DELETE FROM samples WHERE sample_id = ?", (sample_id,))

        self._guard("Beiseitelegen einer abgelehnten Messung|setting a rejected sample aside", work)

    # ---- reading ----------------------------------------------------------------------------------------
    def pending(self, limit: int = 1000) -> list[dict[str, Any]]:
        """The oldest unacknowledged samples, oldest first. Records that cannot be trusted are quarantined on
        the way (``repair=True``) or skipped (``repair=False``); they are never returned."""

        def work() -> list[dict[str, Any]]:
            conn = self._db()
            checksum = "NULL" if self._legacy else "checksum"
            good: list[dict[str, Any]] = []
            after = 0
            while len(good) < limit:
                rows = conn.execute(f"SELECT seq, sample_id, CAST(payload AS BLOB), {checksum} FROM samples "
                                    "WHERE seq > ? ORDER BY seq LIMIT ?", (after, int(limit) - len(good))).fetchall()
                if not rows:
                    break
                bad = []
                for seq, sample_id, payload, check in rows:
                    if sample_id in self._unsaved_acks:
                        continue
                    sample, reason = _decode(payload, check, sample_id)
                    if sample is None:
                        bad.append((seq, sample_id, payload, reason))
                    else:
                        good.append(sample)
                after = rows[-1][0]
                if bad and self.repair and not self.read_only:
                    try:
                        with self._tx():
                            self._quarantine_rows(bad)
                    except sqlite3.Error as exc:   # e.g. a read-only spool: still skipped, still never sent
                        log.warning("%s", spool_error(exc, self.path, "Quarantäne|quarantine").message)
            return good

        return self._guard("Lesen der wartenden Messungen|reading the waiting samples", work)

    def scan(self) -> dict[str, int]:
        """Count the waiting records and those that cannot be trusted (read only: nothing is moved)."""

        def work() -> dict[str, int]:
            checksum = "NULL" if self._legacy else "checksum"
            total = bad = 0
            for _seq, sample_id, payload, check in self._db().execute(
                    f"SELECT seq, sample_id, CAST(payload AS BLOB), {checksum} FROM samples"):
                total += 1
                bad += _decode(payload, check, sample_id)[0] is None
            return {"records": total, "unreadable": bad}

        return self._guard("Prüfen der Messungen|checking the samples", work)

    def __len__(self) -> int:
        """The samples still to deliver (acknowledged ones this process could not delete do not count)."""
        count = self._guard("Zählen|counting",
                            lambda: int(self._db().execute("SELECT COUNT(*) FROM samples").fetchone()[0]))
        return max(0, count - len(self._unsaved_acks))

    def stats(self) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            conn = self._db()
            count, oldest = conn.execute("SELECT COUNT(*), MIN(created) FROM samples").fetchone()
            rejected = conn.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
            quarantined = conn.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
            return {"pending": int(count), "oldest_created": oldest, "rejected": int(rejected),
                    "quarantined": int(quarantined), "quarantined_total": self._meta("quarantined_total"),
                    "damaged_files": self._meta("damaged_files"), "unreadable_total": self._meta("unreadable_total"),
                    "unknown_losses": self._meta("unknown_losses"), "read_only": self.read_only,
                    "dropped_total": self._meta("dropped_total"), "acked_total": self._meta("acked_total"),
                    "dropped_pending": self._meta("dropped_pending"), "max_samples": self.max_samples,
                    "path": str(self.path)}

        return self._guard("Lesen des Status|reading the status", work)

    def rejected(self) -> list[dict[str, Any]]:
        def work() -> list[dict[str, Any]]:
            rows = self._db().execute("SELECT sample_id, rejected, error, payload FROM rejected "
                                      "ORDER BY rejected").fetchall()
            return [{"sample_id": r[0], "rejected": r[1], "error": r[2], "payload": json.loads(r[3])} for r in rows]

        return self._guard("Lesen der abgelehnten Messungen|reading the rejected samples", work)

    def quarantined(self) -> list[dict[str, Any]]:
        """The records set aside as unreadable: ``sample_id``, ``quarantined`` (time), ``reason``, ``payload``
        (the raw bytes as stored)."""
        def work() -> list[dict[str, Any]]:
            rows = self._db().execute("SELECT sample_id, quarantined, reason, payload FROM quarantine "
                                      "ORDER BY seq").fetchall()
            return [{"sample_id": r[0], "quarantined": r[1], "reason": r[2], "payload": r[3]} for r in rows]

        return self._guard("Lesen der Quarantäne|reading the quarantine", work)
