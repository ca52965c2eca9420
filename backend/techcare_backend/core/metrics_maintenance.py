"""The metrics maintenance pass: day partitions ahead, hourly and daily rollups, retention.

One pass (``techcare-backend maintenance``, or the server every ``METRICS_MAINTENANCE_SECONDS``):

1. **Rollups**, incrementally: the (host, hour) buckets that received samples since the last pass (``received_at``
   after the watermark; a BRIN index on PostgreSQL) are recomputed from their raw samples, then the days of the
   hours that changed from the hourly rows. Recomputing whole buckets makes a pass idempotent and takes late
   samples (a sensor's spool after an outage) into account. Buckets older than raw retention are only inserted,
   never overwritten: their raw samples may be gone. An unchanged rollup is not written again. Samples dated more
   than ``FUTURE_DAYS`` ahead (a wrong clock) stay raw and are never rolled up.
   On PostgreSQL a day with most of its hours touched (after hours without maintenance) is read in one scan,
   possibly on several cores, instead of hour by hour (:func:`_hour_rows`); new values are compared with the
   stored ones first and only the changed rows updated or inserted (an upsert would lock, and log, every row).
2. **Partitions** (PostgreSQL): one per UTC day, ``PARTITIONS_AHEAD`` days ahead. Rows that landed in the
   ``DEFAULT`` partition (a day not created yet, or a far-off time stamp) move into their day's partition when it
   is created.
3. **Retention**: raw samples before ``day_floor(now) - METRICS_RETENTION_DAYS`` (whole UTC days) are dropped: on
   PostgreSQL by dropping the day partitions (plus the few such rows in the default partition), on SQLite by
   ``DELETE``; rollups before ``day_floor(now) - METRICS_ROLLUP_RETENTION_DAYS`` by ``DELETE``. A deleted raw
   row was received before the rollup watermark, so a late sample is rolled up first (a late sample for a day
   whose partition is already gone lands in the default partition and is kept the same way).

Only one instance works at a time: a PostgreSQL session advisory lock (``pg_try_advisory_lock``; a second
instance skips the pass and says so), on SQLite a process-wide lock. Each step commits on its own, so DDL locks
are held for milliseconds, with ``lock_timeout`` as a bound: an expired partition is detached (the parent locked
for that catalog change) before it is dropped (unlinking its files, seconds at fleet scale, locks only itself).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from techcare.i18n import tr

__all__ = ["ADVISORY_KEY", "PARTITIONS_AHEAD", "MaintenanceReport", "day_floor", "raw_cutoff", "rollup_cutoff",
           "run_maintenance"]

log = logging.getLogger("techcare_backend.maintenance")

ADVISORY_KEY = 72210418  # pg_try_advisory_lock key of the maintenance pass (migrations use 72210412)
PARTITIONS_AHEAD = 7  # days of partitions created ahead of now
PARTITION_DAYS = 1  # the width of a partition; see docs/architecture-notes.md ("daily, measured against weekly")
FUTURE_DAYS = 2  # samples dated beyond the day after tomorrow (UTC) are not rolled up
SETTLE_SECONDS = 60  # rollups take samples received until now - SETTLE (a write still in flight commits later)
LOCK_TIMEOUT = "5s"
_SQLITE_LOCK = threading.Lock()
_PARTITION = re.compile(r"^metric_samples_p(\d{8})$")
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
SMART_RANK = {"passed": 0, "unknown": 1, "warning": 2, "failing": 3}


def day_floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def raw_cutoff(now: datetime, days: int) -> datetime:
    """Raw samples before this are expired: the start of the UTC day ``days`` days ago."""
    return day_floor(now) - timedelta(days=days)


def rollup_cutoff(now: datetime, days: int) -> datetime:
    return day_floor(now) - timedelta(days=days)


@dataclass
class MaintenanceReport:
    ran: bool
    dialect: str
    skipped: str | None = None  # "locked": another instance holds the lock; "busy": another pass in this process
    hours: int = 0
    days: int = 0
    day_scans: int = 0  # days whose touched hours were found by scanning the whole day (PostgreSQL)
    partitions_created: list[str] = field(default_factory=list)
    partitions_dropped: list[str] = field(default_factory=list)
    rows_moved: int = 0
    raw_deleted: int = 0
    rollups_deleted: int = 0
    seconds: float = 0.0
    watermark: datetime | None = None
    started: float = field(default_factory=time.perf_counter, repr=False)
    phases: dict[str, float] = field(default_factory=lambda: {"rollups": 0.0, "partitions": 0.0, "retention": 0.0})

    def as_dict(self) -> dict[str, Any]:
        return {"ran": self.ran, "skipped": self.skipped, "hours": self.hours, "days": self.days,
                "day_scans": self.day_scans,
                "partitions_created": self.partitions_created, "partitions_dropped": self.partitions_dropped,
                "rows_moved": self.rows_moved, "raw_deleted": self.raw_deleted,
                "rollups_deleted": self.rollups_deleted, "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()},
                "watermark": self.watermark.isoformat() if self.watermark else None}

    def summary(self, lang: str | None = None) -> str:
        if not self.ran:
            if self.skipped == "locked":
                return tr("Wartung übersprungen: eine andere Instanz führt sie gerade aus.",
                          "Maintenance skipped: another instance is running it right now.", lang)
            return tr("Wartung übersprungen: ein anderer Lauf ist in diesem Prozess im Gange.",
                      "Maintenance skipped: another pass is running in this process.", lang)
        return tr(
            "Wartung fertig in {s:.2f} s: {h} Stunden- und {d} Tages-Rollups berechnet, {pc} Partitionen angelegt, "
            "{pd} gelöscht, {m} Messwerte einsortiert, {rd} Rohwerte und {od} Rollups nach Aufbewahrungsfrist "
            "gelöscht.",
            "Maintenance done in {s:.2f} s: {h} hourly and {d} daily rollups computed, {pc} partitions created, "
            "{pd} dropped, {m} samples moved into their partition, {rd} raw samples and {od} rollups past "
            "retention deleted.", lang, s=self.seconds, h=self.hours, d=self.days, pc=len(self.partitions_created),
            pd=len(self.partitions_dropped), m=self.rows_moved, rd=self.raw_deleted, od=self.rollups_deleted)


# ---- SQL per dialect -------------------------------------------------------------------------------------------
INLINE_ELEMENTS = 4


def _pg_array_max(key: str, field: str, value: str) -> str:
    """The largest ``value`` of ``field`` over the elements of the payload's array ``key``: ``GREATEST`` over the
    first few elements, each read by one path lookup (``#>>``; most PCs have one to four disks, and a subquery per
    sample, or ``->`` copying the array for each element, costs more than the rest of the row), a subquery over all
    elements for longer arrays. ``value`` has ``{e}`` for the element's field as text."""
    inline = ", ".join(value.format(e=f"s.payload #>> '{{{key},{i},{field}}}'") for i in range(INLINE_ELEMENTS))
    full = f"(SELECT max({value.format(e=f'x->>{chr(39)}{field}{chr(39)}')}) FROM jsonb_array_elements(s.payload->'{key}') x)"
    return (f"(CASE WHEN jsonb_array_length(s.payload->'{key}') <= {INLINE_ELEMENTS} THEN GREATEST({inline}) "
            f"ELSE {full} END)")


_VALUE_COLUMNS = {"cpu": "cpu_percent", "ram": "ram_percent", "swap": "swap_percent", "disk": "disk_max_percent",
                  "smart": "smart_rank"}


def _payload_values(dialect: str) -> dict[str, str]:
    """The rollup's per-sample numbers read out of the payload: for samples stored before migration 0009, which
    have no value columns (their ``cpu_percent`` column is NULL)."""
    if dialect == "postgresql":
        return {
            "cpu": "(s.payload->>'cpu_percent')::float8",
            "ram": "(s.payload->>'ram_percent')::float8",
            "swap": "(s.payload->>'swap_percent')::float8",
            "disk": _pg_array_max("disks", "percent", "({e})::float8"),
            "smart": _pg_array_max("smart", "health", "CASE {e} WHEN 'failing' THEN 3 WHEN 'warning' THEN 2 "
                                   "WHEN 'unknown' THEN 1 WHEN 'passed' THEN 0 END"),
        }
    return {
        "cpu": "json_extract(s.payload, '$.cpu_percent')",
        "ram": "json_extract(s.payload, '$.ram_percent')",
        "swap": "json_extract(s.payload, '$.swap_percent')",
        "disk": "(SELECT max(json_extract(d.value, '$.percent')) FROM json_each(s.payload, '$.disks') d)",
        "smart": "(SELECT max(CASE json_extract(x.value, '$.health') WHEN 'failing' THEN 3 WHEN 'warning' THEN 2 "
                 "WHEN 'unknown' THEN 1 WHEN 'passed' THEN 0 END) FROM json_each(s.payload, '$.smart') x)",
    }


def _values(dialect: str) -> dict[str, str]:
    """SQL expressions over a raw sample row ``s``: the metrics a rollup aggregates (the sample's value columns,
    written at ingest), and the hour bucket."""
    values = {m: f"s.{col}" for m, col in _VALUE_COLUMNS.items()}
    if dialect == "postgresql":
        # date_bin counts whole hours/days from a UTC midnight: integer arithmetic, the same buckets as date_trunc in
        # UTC at a fifth of its cost (date_trunc converts each time stamp to a calendar in a zone and back: ~1 us a
        # sample, most of finding a whole day's touched hours)
        return {
            **values,
            "hour": f"date_bin('1 hour', s.ts, {_ORIGIN})",
            "hour_end": "t.bucket + interval '1 hour'",
            "day": f"date_bin('1 day', h.bucket, {_ORIGIN})",
            "day_end": "t.bucket + interval '1 day'",
        }
    return {  # SQLite stores times as 'YYYY-MM-DD HH:MM:SS.ffffff' text (UTC)
        **values,
        "hour": "strftime('%Y-%m-%d %H:00:00', s.ts) || '.000000'",
        "hour_end": "strftime('%Y-%m-%d %H:00:00', t.bucket, '+1 hour') || '.000000'",
        "day": "strftime('%Y-%m-%d 00:00:00', h.bucket) || '.000000'",
        "day_end": "strftime('%Y-%m-%d 00:00:00', t.bucket, '+1 day') || '.000000'",
    }


METRICS = ("cpu", "ram", "swap", "disk")
_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"  # date_bin's origin: a UTC midnight (PostgreSQL 14 or newer)
_RANK_TO_STATE = "CASE {r} WHEN 3 THEN 'failing' WHEN 2 THEN 'warning' WHEN 1 THEN 'unknown' WHEN 0 THEN 'passed' END"
_STATE_TO_RANK = ("CASE {s} WHEN 'failing' THEN 3 WHEN 'warning' THEN 2 WHEN 'unknown' THEN 1 WHEN 'passed' THEN 0 "
                  "END")
_ROLLUP_COLUMNS = ("organisation_id, hostname, resolution, bucket, samples, "
                   + ", ".join(f"{m}_min, {m}_avg, {m}_max, {m}_n" for m in METRICS)
                   + ", smart_worst, smart_failing, updated_at")
_VALUE_FIELDS = (["samples"] + [f"{m}_{a}" for m in METRICS for a in ("min", "avg", "max", "n")]
                 + ["smart_worst", "smart_failing"])
_UPDATE_SET = ", ".join(f"{c} = excluded.{c}" for c in [*_VALUE_FIELDS, "updated_at"])


def _differs(old: str, new: str) -> str:
    """SQL: the rollup values of row ``old`` differ from those of ``new``. A recomputed rollup equal to the stored
    one is not written again (no new row version, no WAL), so re-rolling hours that did not change costs reads
    only. Averages count as equal within a relative 1e-9: summing the same samples in another order (another plan,
    parallel workers) moves an average by a few ulps, not by anything a chart or an alert could show."""
    exact = [c for c in _VALUE_FIELDS if not c.endswith("_avg")]
    near = " AND ".join(
        f"(({old}.{c} IS NULL AND {new}.{c} IS NULL) OR abs({old}.{c} - {new}.{c}) <= 1e-9 * "
        f"(1 + abs({old}.{c})))" for c in _VALUE_FIELDS if c.endswith("_avg"))
    return (f"(({', '.join(f'{old}.{c}' for c in exact)}) IS DISTINCT FROM "
            f"({', '.join(f'{new}.{c}' for c in exact)}) OR NOT ({near}))")


_CHANGED = _differs("metric_rollups", "excluded")


def _time(dialect: str, moment: datetime) -> Any:
    """A bind value for a time column: aware UTC for PostgreSQL, SQLite's stored text form otherwise."""
    moment = moment.astimezone(UTC)
    if dialect == "postgresql":
        return moment
    return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _hour_rows(dialect: str, *, day_scan: bool, payload_rows: bool) -> str:
    """The samples of one UTC day (``:lo`` to ``:hi``; the bounds prune the scan to that day's partition) to roll up,
    one row each: ``organisation_id, hostname, bucket, cpu, ram, swap, disk, smart`` (and ``received_at`` for a day
    scan).

    * **Touched hours** (``day_scan`` false): each hour in ``touched_hours`` is read back through the host-and-time
      index by its time range (on PostgreSQL an index-only scan: the index includes the value columns, migration
      0009; the hour comes from the range, no per-sample bucket arithmetic).
    * **Day scan** (PostgreSQL): one scan of the whole day, bucketed by ``date_bin``; the aggregate keeps the
      touched hours (:func:`_hour_values_sql`). When most of a day's hours are touched (a pass after hours without
      maintenance), reading each of ~100,000 hours back costs about twice a scan of the day, which can also run on
      several cores.

    Samples stored before 0009 (``cpu_percent`` NULL, found by a partial index) have their numbers read from the
    payload in a second branch, added only when the day has such samples (``payload_rows``): the branch costs a
    projection of every row of the first one."""
    v, old = _values(dialect), _payload_values(dialect)
    branches = []
    for values, which in ((v, "IS NOT NULL"), (old, "IS NULL")):
        if which == "IS NULL" and not payload_rows:
            continue
        per_sample = ", ".join(f"{values[m]} AS {m}" for m in (*METRICS, "smart"))
        if day_scan:
            branches.append(f"SELECT s.organisation_id, s.hostname, {v['hour']} AS bucket, {per_sample}, "
                            f"s.received_at FROM metric_samples s "
                            f"WHERE s.ts >= :lo AND s.ts < :hi AND s.cpu_percent {which}")
            continue
        # a bucket is an hour's start, so the time range alone is the hour; SQLite compares time texts and checks
        # the hour as well
        same_hour = "" if dialect == "postgresql" else f"AND {v['hour']} = t.bucket "
        branches.append(
            f"SELECT t.organisation_id, t.hostname, t.bucket, {per_sample} "
            "FROM touched_hours t JOIN metric_samples s ON s.organisation_id = t.organisation_id "
            f"AND s.hostname = t.hostname {same_hour}"
            f"AND s.ts >= t.bucket AND s.ts < {v['hour_end']} "
            f"WHERE t.bucket >= :lo AND t.bucket < :hi AND s.ts >= :lo AND s.ts < :hi AND s.cpu_percent {which}")
    return " UNION ALL ".join(branches)


_HOUR_AGGREGATES = ("count(*) AS samples, "
                    + ", ".join(f"min({m}) AS {m}_min, avg({m}) AS {m}_avg, max({m}) AS {m}_max, count({m}) AS {m}_n"
                                for m in METRICS)
                    + f", {_RANK_TO_STATE.format(r='max(smart)')} AS smart_worst, "
                    "coalesce(max(smart), -1) = 3 AS smart_failing")


def _hour_values_sql(dialect: str, *, day_scan: bool, payload_rows: bool, received: str = "") -> str:
    """The rollup values (``organisation_id, hostname, bucket`` and :data:`_VALUE_FIELDS`) of one day's touched
    hours (see :func:`_hour_rows`); a day scan keeps the hours with a sample received in this pass's window
    (``received``, over ``per.received_at``): the touched hours."""
    having = f" HAVING bool_or({received})" if day_scan else ""
    return (f"SELECT organisation_id, hostname, bucket, {_HOUR_AGGREGATES} "
            f"FROM ({_hour_rows(dialect, day_scan=day_scan, payload_rows=payload_rows)}) per "
            f"WHERE true GROUP BY organisation_id, hostname, bucket{having}")


def _hourly_upsert_sql(source: str) -> str:
    """SQLite: upsert the hourly rollups of ``source``; buckets before raw retention are only inserted (their
    samples may be gone), an unchanged rollup is not written."""
    return (f"INSERT INTO metric_rollups ({_ROLLUP_COLUMNS}) "
            f"SELECT organisation_id, hostname, 'hour', bucket, {', '.join(_VALUE_FIELDS)}, :now "
            f"FROM ({source}) a WHERE true ON CONFLICT (organisation_id, hostname, resolution, bucket) "
            f"DO UPDATE SET {_UPDATE_SET} WHERE metric_rollups.bucket >= :raw_cutoff AND {_CHANGED}")


_NEW_HOURS = ("samples bigint, " + ", ".join(f"{m}_min float8, {m}_avg float8, {m}_max float8, {m}_n bigint"
                                            for m in METRICS) + ", smart_worst text, smart_failing boolean")
_SAME_HOUR = ("r.organisation_id = a.organisation_id AND r.hostname = a.hostname AND r.resolution = 'hour' "
              "AND r.bucket = a.bucket AND r.bucket >= :blo AND r.bucket < :bhi")
# PostgreSQL writes the new hours in three plain statements instead of INSERT ... ON CONFLICT DO UPDATE: that locks
# every conflicting row, a WAL record each even when its values did not change (110,000 records for a re-rolled day)
_PG_CHANGED_HOURS = (
    "CREATE TEMP TABLE changed_hours ON COMMIT DROP AS SELECT a.*, r.bucket IS NOT NULL AS present "
    f"FROM new_hours a LEFT JOIN metric_rollups r ON {_SAME_HOUR} "
    f"WHERE r.bucket IS NULL OR (r.bucket >= :raw_cutoff AND {_differs('r', 'a')})")
_PG_UPDATE_HOURS = (
    f"UPDATE metric_rollups r SET {', '.join(f'{c} = a.{c}' for c in _VALUE_FIELDS)}, updated_at = :now "
    f"FROM changed_hours a WHERE a.present AND {_SAME_HOUR}")
_PG_INSERT_HOURS = (
    f"INSERT INTO metric_rollups ({_ROLLUP_COLUMNS}) "
    f"SELECT organisation_id, hostname, 'hour', bucket, {', '.join(_VALUE_FIELDS)}, :now "
    "FROM changed_hours WHERE NOT present ORDER BY organisation_id, hostname, bucket")  # in key order: 1/3 faster


def _daily_sql(dialect: str) -> str:
    """The daily rollups of ``touched_days`` from their hourly rows, upserted (an unchanged one is not written).
    On PostgreSQL the hours are read per touched day (``LATERAL``: an index range each); a hash join over every
    stored hourly rollup looked cheaper to the planner for a few thousand touched days and took seconds."""
    v = _values(dialect)
    aggs = ", ".join(f"min(h.{m}_min), sum(h.{m}_avg * h.{m}_n) / nullif(sum(h.{m}_n), 0), max(h.{m}_max), "
                     f"sum(h.{m}_n)" for m in METRICS)
    rank = f"max({_STATE_TO_RANK.format(s='h.smart_worst')})"
    select = f"sum(h.samples), {aggs}, {_RANK_TO_STATE.format(r=rank)}, coalesce({rank}, -1) = 3"
    hours = ("metric_rollups h WHERE h.organisation_id = t.organisation_id AND h.hostname = t.hostname "
             f"AND h.resolution = 'hour' AND h.bucket >= t.bucket AND h.bucket < {v['day_end']}")
    if dialect == "postgresql":
        names = ", ".join(_VALUE_FIELDS)
        source = (f"SELECT t.organisation_id, t.hostname, 'day', t.bucket, d.*, :now FROM touched_days t "
                  f"CROSS JOIN LATERAL (SELECT {select} FROM {hours} OFFSET 0) d ({names}) WHERE d.samples > 0")
    else:
        source = (f"SELECT t.organisation_id, t.hostname, 'day', t.bucket, {select}, :now FROM touched_days t "
                  f"JOIN {hours.replace(' WHERE ', ' ON ', 1)} GROUP BY t.organisation_id, t.hostname, t.bucket")
    return (f"INSERT INTO metric_rollups ({_ROLLUP_COLUMNS}) {source} "
            "ON CONFLICT (organisation_id, hostname, resolution, bucket) "
            f"DO UPDATE SET {_UPDATE_SET} WHERE {_CHANGED}")


# ---- rollups ---------------------------------------------------------------------------------------------------
DAY_SCAN_RATIO = 30  # reading one touched hour back through the index costs about as much as scanning 30 samples
DAY_SCAN_WINDOW = timedelta(hours=12)  # a day with this much of it inside the pass's window is scanned whole


def _day_scan(conn: Connection, day: datetime, touched: int, layout: list[tuple[str, datetime, datetime]]) -> bool:
    """Whether to roll up ``day`` by scanning it whole (PostgreSQL): when its ``touched`` hours, each read back at
    ~DAY_SCAN_RATIO samples' cost, cost more than a scan of the day's samples. Those are estimated from the
    partition's statistics (``reltuples``, kept by autovacuum); a partition never analysed, or the default one,
    counts as small (hours read back)."""
    for name, lo, hi in layout:
        if lo <= day < hi:
            rows = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:n)"),
                                {"n": f'"{name}"'}).scalar()
            if rows is None or rows <= 0:
                return False
            per_day = rows / max(1.0, (hi - lo) / timedelta(days=1))
            return touched * DAY_SCAN_RATIO >= per_day
    return False


def _window_days(since: datetime | None, upto: datetime, rollup_from: datetime, future: datetime) -> list[datetime]:
    """The UTC days that lie mostly (DAY_SCAN_WINDOW) inside the pass's window ``(since, upto]``: after hours
    without maintenance nearly every hour of such a day is touched, so it is scanned whole without looking for its
    touched hours first (that look would read the day once more). Contiguous, oldest first."""
    if since is None:
        return []
    out = []
    day = max(day_floor(since), rollup_from)
    while day < min(upto, future):
        inside = min(upto, day + timedelta(days=1)) - max(since, day)
        if inside >= DAY_SCAN_WINDOW:
            out.append(day)
        day += timedelta(days=1)
    return out


def _watermark(conn: Connection) -> datetime | None:
    row = conn.execute(text("SELECT value FROM metrics_maintenance WHERE name = 'rollup_watermark'")).first()
    if row is None or row[0] is None:
        return None
    value = row[0]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _set_state(conn: Connection, name: str, value: datetime, detail: Any = None) -> None:
    dialect = conn.dialect.name
    params = {"n": name, "v": _time(dialect, value), "d": None if detail is None else json.dumps(detail)}
    cast = "CAST(:d AS jsonb)" if dialect == "postgresql" else ":d"
    conn.execute(text(f"INSERT INTO metrics_maintenance (name, value, detail) VALUES (:n, :v, {cast}) "
                      "ON CONFLICT (name) DO UPDATE SET value = excluded.value, detail = excluded.detail"), params)


def _as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_TEMP_TABLES = ("touched_hours", "touched_days", "new_hours", "changed_hours", "day_hours")


def _rollups(conn: Connection, report: MaintenanceReport, now: datetime, raw_from: datetime,
             rollup_from: datetime, day_scan: bool | None = None) -> None:
    dialect = conn.dialect.name
    pg = dialect == "postgresql"
    v = _values(dialect)
    since = _watermark(conn)
    upto = now - timedelta(seconds=SETTLE_SECONDS)
    if since is not None and since >= upto:
        report.watermark = since
        return
    future = day_floor(now) + timedelta(days=FUTURE_DAYS)
    if pg:
        # a whole day's samples (1.44 million at 5,000 hosts) are grouped in memory, not in temporary files; one
        # pass runs at a time (the advisory lock), so this is one bounded allocation
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        # JIT compiling these statements cost 0.5-1.8 s each and saves nothing on index-only scans and aggregates
        conn.execute(text("SET LOCAL jit = off"))
    for name in _TEMP_TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))

    def received(alias: str) -> str:  # a sample received in this pass's window
        return f"{alias}.received_at <= :upto" + ("" if since is None else f" AND {alias}.received_at > :since")

    params = {"upto": _time(dialect, upto), "since": _time(dialect, since) if since else None,
              "now": _time(dialect, now), "raw_cutoff": _time(dialect, raw_from),
              "rollup_from": _time(dialect, rollup_from), "future": _time(dialect, future)}
    whole = _window_days(since, upto, rollup_from, future) if pg and day_scan is not False else []
    # a time stamp more than FUTURE_DAYS ahead is a wrong clock, not a measurement: kept raw, never rolled up (a
    # sample dated 9999-12-31 stopped every later pass: its day's end is past datetime's range)
    touched = (f"SELECT DISTINCT s.organisation_id, s.hostname, {v['hour']} AS bucket FROM metric_samples s "
               f"WHERE {received('s')} AND s.ts >= :rollup_from AND s.ts < :future")
    columns = "organisation_id varchar(36), hostname varchar(255), bucket " + ("timestamptz" if pg else "text")
    if pg:
        if whole:
            touched += " AND (s.ts < :whole_lo OR s.ts >= :whole_hi)"
            params.update(whole_lo=whole[0], whole_hi=whole[-1] + timedelta(days=1))
        conn.execute(text(f"CREATE TEMP TABLE touched_hours ON COMMIT DROP AS {touched}"), params)
        conn.execute(text("ANALYZE touched_hours"))  # a temporary table has no statistics otherwise
        # each touched hour is read once: caching sample rows (Memoize) only costs copies
        conn.execute(text("SET LOCAL enable_memoize = off"))
        conn.execute(text(f"CREATE TEMP TABLE touched_days ({columns}) ON COMMIT DROP"))
        conn.execute(text(f"CREATE TEMP TABLE new_hours ({columns}, {_NEW_HOURS}) ON COMMIT DROP"))
        layout = partitions(conn)
    else:
        for name in ("touched_hours", "touched_days"):
            conn.execute(text(f"CREATE TEMP TABLE {name} ({columns})"))
        conn.execute(text(f"INSERT INTO touched_hours {touched}"), params)
        layout = []
    found = conn.execute(text(f"SELECT {v['day'].replace('h.', '')}, count(*) FROM touched_hours GROUP BY 1")).all()
    plan = {_as_utc(day): (pg and (day_scan if day_scan is not None else _day_scan(conn, _as_utc(day), n, layout)))
            for day, n in found}
    plan.update({day: True for day in whole})
    for lo in sorted(plan):
        day_params = {**params, "lo": _time(dialect, lo), "hi": _time(dialect, lo + timedelta(days=1))}
        payload_rows = bool(conn.execute(text("SELECT EXISTS (SELECT 1 FROM metric_samples WHERE cpu_percent IS NULL "
                                              "AND ts >= :lo AND ts < :hi)"), day_params).scalar())
        source = _hour_values_sql(dialect, day_scan=plan[lo], payload_rows=payload_rows, received=received("per"))
        if not pg:
            report.hours += conn.execute(text(_hourly_upsert_sql(source)), day_params).rowcount
        elif plan[lo]:
            report.day_scans += 1
            # grouped into a table of its own first: CREATE TABLE AS may scan on several cores, INSERT ... SELECT not
            conn.execute(text(f"CREATE TEMP TABLE day_hours ON COMMIT DROP AS {source}"), day_params)
            conn.execute(text("INSERT INTO new_hours SELECT * FROM day_hours"))
            conn.execute(text("DROP TABLE day_hours"))
        else:
            conn.execute(text(f"INSERT INTO new_hours {source}"), day_params)
    if pg and plan:
        bounds = {**params, "blo": min(plan), "bhi": max(plan) + timedelta(days=1)}
        conn.execute(text(_PG_CHANGED_HOURS), bounds)
        conn.execute(text(_PG_UPDATE_HOURS), bounds)
        conn.execute(text(_PG_INSERT_HOURS), bounds)
        report.hours = conn.execute(text("SELECT count(*) FROM changed_hours")).scalar_one()
    # the days whose hours changed get their daily rollup again (SQLite: every touched day)
    changed = "changed_hours" if pg and plan else "touched_hours"
    conn.execute(text(f"INSERT INTO touched_days SELECT DISTINCT h.organisation_id, h.hostname, {v['day']} "
                      f"FROM {changed} h"))
    if pg:
        conn.execute(text("ANALYZE touched_days"))
    report.days = conn.execute(text(_daily_sql(dialect)), {"now": _time(dialect, now)}).rowcount
    if not pg:
        conn.execute(text("DROP TABLE touched_hours"))
        conn.execute(text("DROP TABLE touched_days"))
    _set_state(conn, "rollup_watermark", upto)
    report.watermark = upto


# ---- partitions (PostgreSQL) -----------------------------------------------------------------------------------
def partitions(conn: Connection) -> list[tuple[str, datetime, datetime]]:
    """``(name, from, to)`` of the day partitions of ``metric_samples``, oldest first (the default one left out)."""
    conn.execute(text("SET LOCAL timezone = 'UTC'"))
    rows = conn.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'metric_samples'::regclass")).all()
    out = []
    for name, bound in rows:
        m = _BOUND.search(bound or "")
        if m is None:  # DEFAULT
            continue
        lo, hi = (datetime.fromisoformat(x).astimezone(UTC) for x in m.groups())
        out.append((name, lo, hi))
    return sorted(out, key=lambda p: p[1])


def partition_name(start: datetime) -> str:
    return f"metric_samples_p{start:%Y%m%d}"


def _period_start(moment: datetime, width_days: int) -> datetime:
    day = day_floor(moment)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + timedelta(days=((day - epoch).days // width_days) * width_days)


def create_partition(conn: Connection, start: datetime, end: datetime) -> int:
    """Create the partition ``[start, end)``; rows of that range waiting in the default partition move into it.
    Returns how many moved."""
    name = partition_name(start)
    params = {"lo": start, "hi": end}
    waiting = conn.execute(text("SELECT count(*) FROM metric_samples_default WHERE ts >= :lo AND ts < :hi"),
                           params).scalar_one()
    if waiting:
        conn.execute(text("CREATE TEMP TABLE moving ON COMMIT DROP AS SELECT * FROM metric_samples_default "
                          "WHERE ts >= :lo AND ts < :hi"), params)
        conn.execute(text("DELETE FROM metric_samples_default WHERE ts >= :lo AND ts < :hi"), params)
    conn.execute(text(f'CREATE TABLE "{name}" PARTITION OF metric_samples FOR VALUES FROM '
                      f"('{start.isoformat()}') TO ('{end.isoformat()}')"))
    if waiting:
        conn.execute(text("INSERT INTO metric_samples SELECT * FROM moving"))
        conn.execute(text("DROP TABLE moving"))
    return int(waiting)


def _ensure_partitions(engine_conn: Connection, report: MaintenanceReport, now: datetime, raw_from: datetime,
                       width_days: int) -> None:
    with engine_conn.begin():
        existing = partitions(engine_conn)
        # days within raw retention whose samples wait in the default partition (stored before their day had one)
        waiting = engine_conn.execute(text(
            "SELECT DISTINCT date_trunc('day', ts AT TIME ZONE 'UTC') FROM metric_samples_default "
            "WHERE ts >= :lo AND ts < :hi"), {"lo": raw_from, "hi": now + timedelta(days=366)}).scalars().all()
    covered = [(lo, hi) for _, lo, hi in existing]
    end = day_floor(now) + timedelta(days=PARTITIONS_AHEAD + 1)
    starts = {_period_start(d.replace(tzinfo=UTC), width_days) for d in waiting}
    start = _period_start(day_floor(now) - timedelta(days=1), width_days)
    while start < end:
        starts.add(start)
        start += timedelta(days=width_days)
    for start in sorted(starts):
        stop = start + timedelta(days=width_days)
        if not any(lo < stop and start < hi for lo, hi in covered):
            with engine_conn.begin():
                engine_conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                report.rows_moved += create_partition(engine_conn, start, stop)
            report.partitions_created.append(partition_name(start))
            covered.append((start, stop))


EXPIRED_PREFIX = "metric_samples_expired_"  # a detached expired partition, dropped in the step after


def _expired_tables(conn: Connection) -> list[str]:
    """Detached expired partitions still waiting to be dropped (left by a pass that stopped between the steps)."""
    return list(conn.execute(text(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND NOT c.relispartition "
        "AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
        "AND c.relname LIKE :pattern ORDER BY c.relname"), {"pattern": EXPIRED_PREFIX.replace("_", "\\_") + "%"})
        .scalars())


def _drop_partitions(engine_conn: Connection, report: MaintenanceReport, raw_from: datetime) -> None:
    """Drop the partitions that end before ``raw_from``: each is detached first (the parent is locked for that
    catalog change only) and renamed ``metric_samples_expired_*``, then dropped in a transaction of its own.
    Dropping unlinks a day's files (gigabytes at fleet scale: a second or more) and releases its locks only after
    that; done while still attached, ingest and history reads of every day would wait behind it."""
    with engine_conn.begin():
        existing = partitions(engine_conn)
        leftovers = _expired_tables(engine_conn)  # the previous pass stopped after detaching them
    expired = [("metric_samples_" + name.removeprefix(EXPIRED_PREFIX), name) for name in leftovers]
    expired += [(name, EXPIRED_PREFIX + name.removeprefix("metric_samples_")) for name, _lo, hi in existing
                if hi <= raw_from]
    for name, detached in expired:
        if detached not in leftovers:
            with engine_conn.begin():
                engine_conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                engine_conn.execute(text(f'ALTER TABLE metric_samples DETACH PARTITION "{name}"'))
                engine_conn.execute(text(f'ALTER TABLE "{name}" RENAME TO "{detached}"'))
        with engine_conn.begin():
            engine_conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            engine_conn.execute(text(f'DROP TABLE IF EXISTS "{detached}"'))
        report.partitions_dropped.append(name)
    with engine_conn.begin():  # odd time stamps kept in the default partition; late ones once rolled up
        report.raw_deleted += engine_conn.execute(
            text("DELETE FROM metric_samples_default WHERE ts < :cut AND received_at <= :rolled"),
            {"cut": raw_from, "rolled": report.watermark or raw_from}).rowcount


# ---- the pass --------------------------------------------------------------------------------------------------
def _pass(conn: Connection, report: MaintenanceReport, now: datetime, retention_days: int,
          rollup_retention_days: int, width_days: int, day_scan: bool | None) -> None:
    dialect = conn.dialect.name
    raw_from, rollup_from = raw_cutoff(now, retention_days), rollup_cutoff(now, rollup_retention_days)
    mark = time.perf_counter()
    with conn.begin():
        _rollups(conn, report, now, raw_from, rollup_from, day_scan)
    report.phases["rollups"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if dialect == "postgresql":
        _ensure_partitions(conn, report, now, raw_from, width_days)
        report.phases["partitions"] = time.perf_counter() - mark
        mark = time.perf_counter()
        _drop_partitions(conn, report, raw_from)
    else:
        with conn.begin():
            # a late sample (a spool sent after a long outage) is deleted only once a pass has rolled it up
            report.raw_deleted += conn.execute(
                text("DELETE FROM metric_samples WHERE ts < :cut AND received_at <= :rolled"),
                {"cut": _time(dialect, raw_from), "rolled": _time(dialect, report.watermark or raw_from)}).rowcount
    with conn.begin():
        if dialect == "postgresql":  # a year of rollups makes this a statement JIT compiles: ~0.1 s for nothing
            conn.execute(text("SET LOCAL jit = off"))
        # by resolution, so the (resolution, bucket) index finds them instead of a scan of every rollup
        report.rollups_deleted = conn.execute(text("DELETE FROM metric_rollups WHERE resolution IN ('hour', 'day') "
                                                   "AND bucket < :cut"), {"cut": _time(dialect, rollup_from)}).rowcount
        report.phases["retention"] += time.perf_counter() - mark
        report.ran = True
        report.seconds = time.perf_counter() - report.started
        _set_state(conn, "last_pass", now, report.as_dict())


def run_maintenance(engine: Engine, *, retention_days: int, rollup_retention_days: int,
                    now: datetime | None = None, width_days: int = PARTITION_DAYS,
                    after_lock: Callable[[], None] | None = None, day_scan: bool | None = None) -> MaintenanceReport:
    """One maintenance pass over ``engine``'s database; see the module text. ``after_lock`` runs once the lock is
    held (tests use it to start a second instance meanwhile); ``day_scan`` forces how PostgreSQL reads a day's
    touched hours (see :func:`_hour_rows`; default: by the estimated cost)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    report = MaintenanceReport(ran=False, dialect=engine.dialect.name)
    if report.dialect == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar_one()
            conn.commit()
            if not got:
                report.skipped = "locked"
                return report
            try:
                if after_lock:
                    after_lock()
                _pass(conn, report, now, retention_days, rollup_retention_days, width_days, day_scan)
            finally:
                conn.rollback()
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                conn.commit()
    else:
        if not _SQLITE_LOCK.acquire(blocking=False):
            report.skipped = "busy"
            return report
        try:
            if after_lock:
                after_lock()
            with engine.connect() as conn:
                _pass(conn, report, now, retention_days, rollup_retention_days, width_days, day_scan)
        finally:
            _SQLITE_LOCK.release()
    report.ran = True
    report.seconds = time.perf_counter() - report.started
    log.debug("%s", report.summary("en"))
    return report
