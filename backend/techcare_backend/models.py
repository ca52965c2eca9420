"""Database tables (SQLAlchemy 2.0). The same models run on PostgreSQL and on the embedded SQLite default.

Dialect-specific parts live in the migration: the ``tsvector`` column + GIN index of ``cases`` on PostgreSQL, the
FTS5 index on SQLite, and the triggers that make ``license_events`` and ``audit_log`` append-only.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["ApiKey", "AuditLog", "Base", "Case", "CaseStat", "Host", "HostSensorKey", "HostTag", "Job", "JobTarget",
           "License", "LicenseEvent", "Machine", "MetricRollup", "MetricSample", "MetricsMaintenance", "Organisation",
           "Schedule", "ScheduleOccurrence", "SessionRevocation", "Technician", "new_id", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in Python on every database (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


JsonType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class License(Base):
    __tablename__ = "licenses"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    edition: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_hint: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | suspended | revoked
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    max_machines: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_transfers: Mapped[int] = mapped_column(Integer, default=3)
    transfers_used: Mapped[int] = mapped_column(Integer, default=0)
    auto_activate: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LicenseEvent(Base):
    """Append-only history of every change to a license (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "license_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Machine(Base):
    __tablename__ = "machines"
    __table_args__ = (UniqueConstraint("license_id", "fingerprint", name="uq_machines_license_fingerprint"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    license_id: Mapped[str] = mapped_column(ForeignKey("licenses.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    hostname: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Technician(Base):
    __tablename__ = "technicians"
    __table_args__ = (UniqueConstraint("organisation_id", "name", name="uq_technicians_org_name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # admin | technician
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    technician_id: Mapped[str | None] = mapped_column(ForeignKey("technicians.id"), nullable=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | technician | sensor
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditLog(Base):
    """Who did what, with the state before and after (append-only)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str | None] = mapped_column(String(36), index=True, nullable=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MetricSample(Base):
    """Raw samples. On PostgreSQL partitioned by day on ``ts`` (migration 0008; a unique key there includes ``ts``,
    primary key ``(id, ts)``); on SQLite one table with the keys below. Kept ``METRICS_RETENTION_DAYS``."""

    __tablename__ = "metric_samples"
    __table_args__ = (UniqueConstraint("organisation_id", "sample_id", name="uq_metric_samples_org_sample"),
                      Index("ix_metric_samples_org_host_ts", "organisation_id", "hostname", "ts"),
                      Index("ix_metric_samples_received", "received_at"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    sample_id: Mapped[str] = mapped_column(String(64))
    hostname: Mapped[str] = mapped_column(String(255))
    os: Mapped[str] = mapped_column(String(10))
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # written at ingest from the payload (migration 0009): what rollups and raw history points read; NULL
    # ``cpu_percent`` marks a sample stored before 0009, whose numbers are read from the payload
    cpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    ram_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    swap_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_max_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    smart_rank: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)  # 0 passed .. 3 failing


class MetricRollup(Base):
    """Aggregates per host, metric and hour (``resolution="hour"``) or UTC day (``"day"``): min/avg/max of CPU, RAM,
    swap and the fullest disk (``*_n``: how many samples had the value, the weight for merging averages), the worst
    SMART health of the period. Built from raw samples by the maintenance pass; kept
    ``METRICS_ROLLUP_RETENTION_DAYS``."""

    __tablename__ = "metric_rollups"
    __table_args__ = (Index("ix_metric_rollups_bucket", "resolution", "bucket"),)
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    resolution: Mapped[str] = mapped_column(String(4), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    cpu_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_avg: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    ram_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    ram_avg: Mapped[float | None] = mapped_column(Float, nullable=True)
    ram_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    swap_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    swap_avg: Mapped[float | None] = mapped_column(Float, nullable=True)
    swap_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_avg: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    cpu_n: Mapped[int] = mapped_column(Integer, default=0)
    ram_n: Mapped[int] = mapped_column(Integer, default=0)
    swap_n: Mapped[int] = mapped_column(Integer, default=0)
    disk_n: Mapped[int] = mapped_column(Integer, default=0)
    smart_worst: Mapped[str | None] = mapped_column(String(10), nullable=True)
    smart_failing: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MetricsMaintenance(Base):
    """The maintenance pass's bookkeeping: ``rollup_watermark`` (samples received up to then are rolled up),
    ``last_pass`` (when a pass last finished, with its summary in ``detail``)."""

    __tablename__ = "metrics_maintenance"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)


class Host(Base):
    """The fleet: one row per (organisation, hostname) with the values of its newest sample."""

    __tablename__ = "hosts"
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    os: Mapped[str] = mapped_column(String(10))
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime())  # server time of the last received sample
    last_sample_at: Mapped[datetime] = mapped_column(UTCDateTime())  # timestamp of the newest sample
    cpu_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    ram_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    disk_max_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    firewall: Mapped[str] = mapped_column(String(10), default="unknown")
    antivirus: Mapped[str] = mapped_column(String(10), default="unknown")
    smart_failing: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_updates: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # IANA zone the sensor reports (0006); schedules run in it. NULL: not reported yet (schedules use UTC)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_org_os", "organisation_id", "os"),
                      Index("ux_cases_org_case_id", "organisation_id", "case_id", unique=True))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # client-generated, unique per org
    symptom: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    os: Mapped[str] = mapped_column(String(10))
    findings: Mapped[list[Any]] = mapped_column(JsonType)
    actions: Mapped[list[str]] = mapped_column(JsonType)
    actions_key: Mapped[str] = mapped_column(String(1000))
    outcome: Mapped[str] = mapped_column(String(10))
    technician: Mapped[str | None] = mapped_column(String(200), nullable=True)
    search_terms: Mapped[str | None] = mapped_column(Text, nullable=True)  # stemmed de+en terms (SQLite FTS5)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseStat(Base):
    """How often a set of repair actions worked, per organisation (kept current on every new case)."""

    __tablename__ = "case_stats"
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    actions_key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ChangelogEntry(Base):
    """One uploaded entry of a technician's repair changelog (a session's JSON lines); idempotent per entry."""

    __tablename__ = "changelog_entries"
    __table_args__ = (UniqueConstraint("organisation_id", "session", "entry_hash",
                                       name="uq_changelog_entries_org_session_hash"),
                      Index("ix_changelog_entries_org_ts", "organisation_id", "ts"),
                      Index("ix_changelog_entries_org_job", "organisation_id", "job_id"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    session: Mapped[str] = mapped_column(String(80))
    entry_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical JSON of the entry
    seq: Mapped[int] = mapped_column(Integer)  # position in the uploaded session file
    ts: Mapped[datetime] = mapped_column(UTCDateTime())
    event: Mapped[str] = mapped_column(String(40))
    action: Mapped[str | None] = mapped_column(String(120), nullable=True)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    technician: Mapped[str | None] = mapped_column(String(200), nullable=True)
    uploaded_by: Mapped[str] = mapped_column(String(36))  # API key id
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)  # remote job (0004)
    entry: Mapped[dict[str, Any]] = mapped_column(JsonType)


# ---- remote jobs (docs/remote-jobs.md; migration 0004) ----------------------------------------------------------
class Job(Base):
    """A signed remote job. ``envelope`` is the JSON text of the envelope exactly as accepted and is served to the
    hosts unchanged (never re-serialised); the other columns are read out of its payload for routing and lists."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_org_created", "organisation_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # payload.job_id (32 hex)
    organisation_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(10))  # diagnose | repair | rollback
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))  # technician (or key) name of the API key that sent it
    created_by_key: Mapped[str] = mapped_column(String(36))  # API key id
    signer: Mapped[str] = mapped_column(String(200))  # payload.signer (display only)
    key_id: Mapped[str] = mapped_column(String(16))  # envelope.key_id
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    expires: Mapped[datetime] = mapped_column(UTCDateTime())
    host_count: Mapped[int] = mapped_column(Integer)
    envelope: Mapped[str] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


class JobTarget(Base):
    """One host of a job: queued -> delivered -> running -> succeeded | failed | rolled_back | refused | expired |
    cancelled."""

    __tablename__ = "job_targets"
    __table_args__ = (Index("ix_job_targets_org_host_status", "organisation_id", "hostname", "status"),)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE", name="fk_job_targets_job"),
                                        primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    steps: Mapped[list[Any] | None] = mapped_column(JsonType, nullable=True)
    diagnosis: Mapped[dict[str, Any] | None] = mapped_column(JsonType, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# ---- dashboard logouts (migration 0005) ----------------------------------------------------------------------
class SessionRevocation(Base):
    """A logged-out dashboard session (``sid`` of its cookie), kept until the cookie would have expired. Every
    dashboard request checks it in the database (with the key), so a logout holds on every instance, with or
    without Redis."""

    __tablename__ = "dashboard_session_revocations"
    __table_args__ = (Index("ix_dashboard_session_revocations_expires", "expires_at"),)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(36))
    key_id: Mapped[str] = mapped_column(String(36))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---- groups and maintenance schedules (docs/remote-jobs.md §5; migration 0006) --------------------------------
class HostTag(Base):
    """A host's tag (``kunde:baeckerei-mueller``). ``source``: ``technician`` (set through the API or the dashboard)
    or ``sensor`` (reported in the host's samples, ``SENSOR_TAGS``; replaced when the sensor reports others). A
    technician's tag is never removed by a sensor. Tags only route and filter; they never authorise anything."""

    __tablename__ = "host_tags"
    __table_args__ = (Index("ix_host_tags_org_tag", "organisation_id", "tag"),)
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag: Mapped[str] = mapped_column(String(127), primary_key=True)
    source: Mapped[str] = mapped_column(String(12), default="technician")  # technician | sensor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200), default="")


class Schedule(Base):
    """A signed maintenance schedule. ``envelope`` is its JSON text exactly as accepted (served to the hosts
    unchanged, like :class:`Job`); the other columns are read out of the payload for routing and lists. A newer
    revision replaces the envelope (the hosts refuse a lower revision than one they saw)."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_org_tag", "organisation_id", "tag"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # payload.schedule_id
    organisation_id: Mapped[str] = mapped_column(String(36))
    revision: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    tag: Mapped[str | None] = mapped_column(String(127), nullable=True)
    hosts: Mapped[list[str]] = mapped_column(JsonType)
    platforms: Mapped[list[str]] = mapped_column(JsonType)  # the variants' platforms
    rrule: Mapped[str] = mapped_column(String(500))
    dtstart: Mapped[str] = mapped_column(String(19))  # naive local YYYY-MM-DDTHH:MM:SS
    window_minutes: Mapped[int] = mapped_column(Integer)
    catch_up: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_high_risk: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_reboot: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    signer: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(16))
    envelope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    paused_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ScheduleOccurrence(Base):
    """One occurrence of a schedule on one host, keyed by its local start (``YYYY-MM-DDTHH:MM`` in the host's
    zone). The row is the claim: it is inserted once (``ON CONFLICT DO NOTHING``) when the occurrence is handed to
    the host, or as ``missed`` when its window passed without that. ``delivered -> running -> ran | failed |
    skipped``; ``missed`` (reason ``not_fetched`` or ``no_report``) may still be replaced by a late report."""

    __tablename__ = "schedule_occurrences"
    __table_args__ = (UniqueConstraint("schedule_id", "hostname", "occurrence", name="uq_schedule_occurrences"),
                      Index("ix_schedule_occurrences_org_host", "organisation_id", "hostname", "planned_utc"),
                      Index("ix_schedule_occurrences_org_planned", "organisation_id", "planned_utc"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE",
                                                        name="fk_schedule_occurrences_schedule"))
    organisation_id: Mapped[str] = mapped_column(String(36))
    hostname: Mapped[str] = mapped_column(String(255))
    occurrence: Mapped[str] = mapped_column(String(16))  # local start YYYY-MM-DDTHH:MM
    timezone: Mapped[str] = mapped_column(String(64))  # the zone it was computed in
    revision: Mapped[int] = mapped_column(Integer)  # the schedule's revision when the row was written
    planned_utc: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(12))  # delivered | running | ran | failed | skipped | missed
    reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    steps: Mapped[list[Any] | None] = mapped_column(JsonType, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# ---- which sensor key serves which host (docs/remote-jobs.md §3; migration 0007) -----------------------------
class HostSensorKey(Base):
    """The sensor key that serves a host's remote jobs: bound by the first job fetch, report or job-linked changelog
    upload for the host (or by an admin creating the key with ``hostname``, then ``pinned``: that key serves only
    this host). Afterwards only this key may fetch and report for the host; a binding to a revoked key no longer
    counts (the next key to ask takes the host over: rotation and recovery)."""

    __tablename__ = "host_sensor_keys"
    __table_args__ = (Index("ix_host_sensor_keys_key", "key_id"),)
    organisation_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(36))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
