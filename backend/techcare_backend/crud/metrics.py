"""Metric samples: ingestion (the hot path), the hosts' current values, a host's history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..core.metrics_maintenance import METRICS, SMART_RANK, raw_cutoff
from ..models import Host, MetricRollup, MetricSample, utcnow
from ..schemas import HostPublic, MetricSampleCreate


SAMPLE_VALUE_COLUMNS = ("cpu_percent", "ram_percent", "swap_percent", "disk_max_percent", "smart_rank")


def sample_values(sample: MetricSampleCreate) -> tuple[float, float, float | None, float | None, int | None]:
    """The numbers a rollup and a raw history point need (``SAMPLE_VALUE_COLUMNS``), stored beside the payload so
    neither reads the JSON: CPU, RAM, swap, the fullest disk, the worst SMART health as a rank (``SMART_RANK``;
    None without SMART data)."""
    ranks = [SMART_RANK[s.health] for s in sample.smart]
    return (sample.cpu_percent, sample.ram_percent, sample.swap_percent,
            max((d.percent for d in sample.disks), default=None), max(ranks) if ranks else None)


def _summary(sample: MetricSampleCreate, values: tuple[Any, ...] | None = None) -> dict[str, Any]:
    """The host row's values of its newest sample; ``values``: the sample's :func:`sample_values` if known."""
    values = values or sample_values(sample)
    return {
        "cpu_percent": sample.cpu_percent,
        "ram_percent": sample.ram_percent,
        "disk_max_percent": values[3],
        "firewall": sample.services.firewall,
        "antivirus": sample.services.antivirus,
        "smart_failing": values[4] == SMART_RANK["failing"],
        "pending_updates": sample.pending_updates.count if sample.pending_updates else None,
    }


_INGEST_STATEMENTS: dict[str, tuple[Any, Any]] = {}
_HOST_VALUE_COLUMNS = ("os", "last_sample_at", "last", "cpu_percent", "ram_percent", "disk_max_percent", "firewall",
                       "antivirus", "smart_failing", "pending_updates")


def _ingest_statements(dialect: str) -> tuple[Any, Any]:
    """The two Core statements of ingestion, built once per dialect (building them costs more than running them)."""
    cached = _INGEST_STATEMENTS.get(dialect)
    if cached is not None:
        return cached
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    samples_t = MetricSample.__table__
    sample_stmt = (insert_fn(samples_t)
                   .on_conflict_do_nothing(index_elements=[samples_t.c.organisation_id, samples_t.c.sample_id])
                   .returning(samples_t.c.sample_id))
    hosts_t = Host.__table__
    ins = insert_fn(hosts_t)
    newer = hosts_t.c.last_sample_at <= ins.excluded.last_sample_at
    update: dict[str, Any] = {"last_seen": ins.excluded.last_seen}
    for col in _HOST_VALUE_COLUMNS:
        update[col] = sql_case((newer, ins.excluded[col]), else_=hosts_t.c[col])
    host_stmt = ins.on_conflict_do_update(index_elements=[hosts_t.c.organisation_id, hosts_t.c.hostname],
                                          set_=update)
    _INGEST_STATEMENTS[dialect] = (sample_stmt, host_stmt)
    return sample_stmt, host_stmt


# PostgreSQL: one statement for any number of samples of any organisations (single requests are written together
# by ``core.ingest.IngestWriter``; a batch is one call). The samples arrive as ONE parameter, a JSON array of
# ``{"o": organisation_id, "p": payload}`` built by joining the payloads' JSON (the validated samples' own
# serialisation; PostgreSQL parses it once, no per-value parameter encoding in Python), and ``"v"``: the numbers of
# ``SAMPLE_VALUE_COLUMNS`` (``sample_values``) for the sample's columns. ``ON CONFLICT DO NOTHING
# RETURNING`` tells which samples were new; of those, the newest per host (ties: the later one in the input) updates
# the host row, in (organisation, hostname) order so concurrent statements cannot deadlock. The host's summary
# values are taken from the payload as ``_summary`` does for SQLite.
PG_INGEST = (
    "WITH input AS (SELECT e->>'o' AS organisation_id, e->'p' AS payload, e->'v' AS v, ord "
    "FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS x(e, ord)), "
    "rows AS (SELECT organisation_id, payload->>'sample_id' AS sample_id, payload->>'hostname' AS hostname, "
    "payload->>'os' AS os, (payload->>'timestamp')::timestamptz AS ts, payload, v, ord FROM input), "
    "ins AS (INSERT INTO metric_samples (organisation_id, sample_id, hostname, os, ts, received_at, payload, "
    + ", ".join(SAMPLE_VALUE_COLUMNS) + ") "
    "SELECT organisation_id, sample_id, hostname, os, ts, %(now)s, payload, (v->>0)::float8, (v->>1)::float8, "
    "(v->>2)::float8, (v->>3)::float8, (v->>4)::int2 FROM rows "
    "ON CONFLICT (organisation_id, sample_id, ts) DO NOTHING RETURNING organisation_id, sample_id), "
    "newest AS (SELECT DISTINCT ON (r.organisation_id, r.hostname) r.* FROM rows r "
    "JOIN ins ON ins.organisation_id = r.organisation_id AND ins.sample_id = r.sample_id "
    "ORDER BY r.organisation_id, r.hostname, r.ts DESC, r.ord DESC), "
    "up AS (INSERT INTO hosts (organisation_id, hostname, os, last_seen, last_sample_at, last, cpu_percent, "
    "ram_percent, disk_max_percent, firewall, antivirus, smart_failing, pending_updates) "
    "SELECT organisation_id, hostname, os, %(now)s, ts, payload, (payload->>'cpu_percent')::float8, "
    "(payload->>'ram_percent')::float8, "
    "(SELECT max((d->>'percent')::float8) FROM jsonb_array_elements(payload->'disks') d), "
    "payload->'services'->>'firewall', payload->'services'->>'antivirus', "
    "EXISTS (SELECT 1 FROM jsonb_array_elements(payload->'smart') s WHERE s->>'health' = 'failing'), "
    "(payload->'pending_updates'->>'count')::int4 "
    "FROM newest ORDER BY organisation_id, hostname "
    "ON CONFLICT (organisation_id, hostname) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
    + ", ".join(f"{c} = CASE WHEN hosts.last_sample_at <= EXCLUDED.last_sample_at THEN EXCLUDED.{c} "
                f"ELSE hosts.{c} END" for c in _HOST_VALUE_COLUMNS)
    + ") SELECT organisation_id, sample_id FROM ins")


def _json_number(value: float | int | None) -> str:
    return "null" if value is None else repr(value)


def pg_ingest_params(rows: Sequence[tuple[str, MetricSampleCreate, str]], now: datetime) -> dict[str, Any]:
    """The parameters of :data:`PG_INGEST` for ``rows`` of ``(organisation_id, sample, payload_json)`` (the payload:
    the validated sample's ``model_dump_json()``); the caller leaves out repeated ``(organisation_id, sample_id)``
    pairs (the first one counts)."""
    orgs: dict[str, str] = {}
    parts = []
    for org, sample, payload in rows:
        quoted = orgs.get(org)
        if quoted is None:
            quoted = orgs[org] = json.dumps(org)
        values = ",".join(map(_json_number, sample_values(sample)))
        parts.append(f'{{"o":{quoted},"v":[{values}],"p":{payload}}}')
    return {"rows": "[" + ",".join(parts) + "]", "now": now}


def ingest_samples_pg(raw: Any, *, organisation_id: str, samples: Sequence[Any],
                      now: datetime | None = None) -> list[str]:
    """PostgreSQL ingestion on a raw psycopg connection (the caller commits); same semantics as
    :func:`ingest_samples`, with the statement of the hot path (:data:`PG_INGEST`)."""
    if not samples:
        return []
    first: dict[str, int] = {}
    rows = []
    for i, s in enumerate(samples):
        if s.sample_id not in first:
            first[s.sample_id] = i
            rows.append((organisation_id, s, s.model_dump_json()))
    with raw.cursor(binary=True) as cur:
        cur.execute(PG_INGEST, pg_ingest_params(rows, now or utcnow()))
        inserted = {sid for _, sid in cur.fetchall()}
    return ["created" if s.sample_id in inserted and first[s.sample_id] == i else "duplicate"
            for i, s in enumerate(samples)]


def _classify(samples: Sequence[MetricSampleCreate], payloads: Sequence[Any], inserted: set[str]
              ) -> tuple[list[str], dict[str, tuple[MetricSampleCreate, Any]]]:
    """Per input sample ``created``/``duplicate`` (the first of repeated ids in one batch counts as created), and
    per host the newest created sample with its payload (the host row gets its values)."""
    remaining = set(inserted)
    statuses: list[str] = []
    newest: dict[str, tuple[MetricSampleCreate, Any]] = {}
    for s, p in zip(samples, payloads):
        if s.sample_id in remaining:
            remaining.discard(s.sample_id)
            statuses.append("created")
            best = newest.get(s.hostname)
            if best is None or s.timestamp >= best[0].timestamp:
                newest[s.hostname] = (s, p)
        else:
            statuses.append("duplicate")
    return statuses, newest


def ingest_samples(session: Session, *, organisation_id: str, samples: Sequence[MetricSampleCreate],
                   now: datetime | None = None) -> list[str]:
    """Insert samples idempotently; returns, per input sample, ``created`` or ``duplicate``.

    ``INSERT ... ON CONFLICT ... DO NOTHING RETURNING sample_id`` makes concurrent
    re-sends safe (the key: ``(organisation_id, sample_id)`` on SQLite; on PostgreSQL, whose partitioned table
    needs the partition key in every unique key, ``(organisation_id, sample_id, ts)``: a re-sent copy carries the
    same time stamp); the host rows are upserted with the values of the newest sample (an older sample arriving late
    only moves ``last_seen``). Hosts are upserted in name order, so concurrent batches cannot deadlock.
    """
    if not samples:
        return []
    now = now or utcnow()
    conn = session.connection()
    if conn.dialect.name == "postgresql":  # the same code as the routes' hot path, in the session's transaction
        return ingest_samples_pg(conn.connection.driver_connection, organisation_id=organisation_id,
                                 samples=samples, now=now)
    sample_stmt, host_stmt = _ingest_statements(conn.dialect.name)
    payloads = [s.model_dump(mode="json") for s in samples]
    values = {s.sample_id: sample_values(s) for s in samples}
    rows = [{"organisation_id": organisation_id, "sample_id": s.sample_id, "hostname": s.hostname, "os": s.os,
             "ts": s.timestamp, "received_at": now, "payload": p,
             **dict(zip(SAMPLE_VALUE_COLUMNS, values[s.sample_id]))} for s, p in zip(samples, payloads)]
    if len(rows) == 1:
        inserted = set(conn.execute(sample_stmt, rows[0]).scalars().all())
    else:
        inserted = set(conn.execute(sample_stmt, rows).scalars().all())
    statuses, newest = _classify(samples, payloads, inserted)
    if newest:
        host_rows = [{"organisation_id": organisation_id, "hostname": h, "os": s.os, "last_seen": now,
                      "last_sample_at": s.timestamp, "last": p, **_summary(s, values[s.sample_id])}
                     for h, (s, p) in sorted(newest.items())]
        conn.execute(host_stmt, host_rows[0] if len(host_rows) == 1 else host_rows)
    return statuses


_LIST_COLUMNS = (Host.hostname, Host.os, Host.last_seen, Host.last_sample_at, Host.cpu_percent, Host.ram_percent,
                 Host.disk_max_percent, Host.firewall, Host.antivirus, Host.smart_failing, Host.pending_updates,
                 Host.last["pending_reboot"].label("pending_reboot"), Host.last["agent_version"].label("agent_version"))


def _host_public(host: Any, last_seen: datetime, overdue_after: int, now: datetime) -> HostPublic:
    return HostPublic(hostname=host.hostname, os=host.os, last_seen=last_seen, last_sample_at=host.last_sample_at,
                      status="overdue" if (now - last_seen).total_seconds() > overdue_after else "online",
                      cpu_percent=host.cpu_percent, ram_percent=host.ram_percent,
                      disk_max_percent=host.disk_max_percent, firewall=host.firewall, antivirus=host.antivirus,
                      smart_failing=host.smart_failing, pending_updates=host.pending_updates,
                      pending_reboot=host.pending_reboot, agent_version=host.agent_version)


def list_hosts(session: Session, *, organisation_id: str, overdue_after: int,
               cached_seen: dict[str, float] | None = None, now: datetime | None = None) -> list[HostPublic]:
    """The organisation's hosts by name, with their newest values. Only the columns the answer shows are read (two
    fields of the last sample's JSON, not all of it: 5,000 hosts in ~120 ms instead of ~700 ms, bench/README.md)."""
    now = now or utcnow()
    rows = session.execute(select(*_LIST_COLUMNS).where(Host.organisation_id == organisation_id)
                           .order_by(Host.hostname)).all()
    out = []
    for host in rows:
        seen = _utc(host.last_seen)
        if cached_seen and host.hostname in cached_seen:
            seen = max(seen, datetime.fromtimestamp(cached_seen[host.hostname], timezone.utc))
        out.append(_host_public(host, seen, overdue_after, now))
    return out


def host_metrics(session: Session, *, organisation_id: str, hostname: str, since: datetime | None,
                 until: datetime | None, limit: int) -> list[dict[str, Any]]:
    stmt = select(MetricSample.payload).where(MetricSample.organisation_id == organisation_id,
                                              MetricSample.hostname == hostname)
    if since is not None:
        stmt = stmt.where(MetricSample.ts >= since)
    if until is not None:
        stmt = stmt.where(MetricSample.ts <= until)
    return list(session.scalars(stmt.order_by(MetricSample.ts.desc()).limit(limit)).all())[::-1]


# ---- history: raw samples or rollups, by the range asked ----------------------------------------------------------
RESOLUTIONS = ("raw", "hour", "day")
RAW_MAX_SPAN = timedelta(days=2)  # up to this, and within raw retention: every sample
HOUR_MAX_SPAN = timedelta(days=31)  # up to this: hourly rollups (744 points at most); beyond: daily
HISTORY_MAX_POINTS = 50_000  # rollups: 5.7 years of hours
HISTORY_MAX_RAW = 10_000  # raw samples (as /metrics' largest limit): the newest ones of the range


def choose_resolution(since: datetime, until: datetime, *, now: datetime, retention_days: int) -> str:
    """``raw`` for a short range that raw retention still covers, ``hour`` up to 31 days, ``day`` beyond."""
    span = until - since
    if span <= RAW_MAX_SPAN and since >= raw_cutoff(now, retention_days):
        return "raw"
    return "hour" if span <= HOUR_MAX_SPAN else "day"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


_SMART_ORDER = {"passed": 0, "unknown": 1, "warning": 2, "failing": 3}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


_RANK_STATE = {rank: state for state, rank in SMART_RANK.items()}


def raw_point(ts: datetime, cpu: Any, ram: Any, swap: Any, disks: Any, smart: Any) -> dict[str, Any]:
    """One sample as a history point (min = avg = max), from its payload's parts."""
    percents = [v for v in (_num(d.get("percent")) for d in disks or [] if isinstance(d, dict)) if v is not None]
    ranked = [h for h in (s.get("health") for s in smart or [] if isinstance(s, dict)) if h in _SMART_ORDER]
    return _point(ts, _num(cpu), _num(ram), _num(swap), max(percents) if percents else None,
                  max(ranked, key=_SMART_ORDER.__getitem__) if ranked else None)


def _point(ts: datetime, cpu: float | None, ram: float | None, swap: float | None, disk: float | None,
           smart_worst: str | None) -> dict[str, Any]:
    point: dict[str, Any] = {"t": _utc(ts), "samples": 1}
    for m, v in (("cpu", cpu), ("ram", ram), ("swap", swap), ("disk", disk)):
        point[m] = {"min": v, "avg": v, "max": v}
    point["smart_worst"] = smart_worst
    return point


_PAYLOAD_PARTS = ("cpu_percent", "ram_percent", "swap_percent", "disks", "smart")


def _raw_points(session: Session, organisation_id: str, hostname: str, since: datetime,
                until: datetime) -> list[dict[str, Any]]:
    """The newest ``HISTORY_MAX_RAW`` samples of the range as points, oldest first: their value columns (on
    PostgreSQL an index-only scan: migration 0009's index includes them), and for samples stored before 0009
    (``cpu_percent`` NULL) the parts of their payload, read by id."""
    rows = session.execute(
        select(MetricSample.id, MetricSample.ts, *[getattr(MetricSample, c) for c in SAMPLE_VALUE_COLUMNS])
        .where(MetricSample.organisation_id == organisation_id, MetricSample.hostname == hostname,
               MetricSample.ts >= since, MetricSample.ts <= until)
        .order_by(MetricSample.ts.desc()).limit(HISTORY_MAX_RAW)).all()[::-1]
    old_ids = [r[0] for r in rows if r[2] is None]
    old: dict[int, Any] = {}
    p = MetricSample.payload
    for i in range(0, len(old_ids), 500):
        old.update((r[0], r[1:]) for r in session.execute(
            select(MetricSample.id, *[p[k] for k in _PAYLOAD_PARTS])
            .where(MetricSample.organisation_id == organisation_id, MetricSample.hostname == hostname,
                   MetricSample.ts >= since, MetricSample.ts <= until, MetricSample.id.in_(old_ids[i:i + 500]))))
    return [raw_point(ts, *old[row_id]) if cpu is None and row_id in old else
            _point(ts, cpu, ram, swap, disk, _RANK_STATE.get(rank))
            for row_id, ts, cpu, ram, swap, disk, rank in rows]


_ROLLUP_READ = [MetricRollup.bucket, MetricRollup.samples,
                *[getattr(MetricRollup, f"{m}_{a}") for m in METRICS for a in ("min", "avg", "max")],
                MetricRollup.smart_worst]


def rollup_point(row: Any) -> dict[str, Any]:
    """A rollup row (``_ROLLUP_READ`` columns) as a history point."""
    point: dict[str, Any] = {"t": _utc(row[0]), "samples": row[1]}
    for i, m in enumerate(METRICS):
        point[m] = {"min": row[2 + 3 * i], "avg": row[3 + 3 * i], "max": row[4 + 3 * i]}
    point["smart_worst"] = row[-1]
    return point


def host_history(session: Session, *, organisation_id: str, hostname: str, since: datetime, until: datetime,
                 retention_days: int, resolution: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """A host's history between ``since`` and ``until`` at the resolution the range calls for (or the one asked):
    ``{"resolution", "since", "until", "points": [{"t", "samples", "cpu": {"min", "avg", "max"}, "ram", "swap",
    "disk", "smart_worst"}]}``, oldest first. ``raw`` points are single samples (only the payload's parts a point
    needs are read: its value columns, the payload only for samples stored before those existed); ``hour``/``day``
    points are the rollups whose bucket starts in the range."""
    now = now or utcnow()
    chosen = resolution or choose_resolution(since, until, now=now, retention_days=retention_days)
    if chosen == "raw":
        points = _raw_points(session, organisation_id, hostname, since, until)
    else:
        found = session.execute(
            select(*_ROLLUP_READ).where(
                MetricRollup.organisation_id == organisation_id, MetricRollup.hostname == hostname,
                MetricRollup.resolution == chosen, MetricRollup.bucket >= since, MetricRollup.bucket <= until)
            .order_by(MetricRollup.bucket.desc()).limit(HISTORY_MAX_POINTS)).all()[::-1]
        points = [rollup_point(r) for r in found]
    return {"hostname": hostname, "resolution": chosen, "since": since, "until": until, "points": points}


def host_exists(session: Session, *, organisation_id: str, hostname: str) -> bool:
    return session.get(Host, (organisation_id, hostname)) is not None
