"""Database operations. Every function is keyword-only and takes the session first; routes stay thin.

Everything a tenant can read or write is filtered by ``organisation_id`` here, so tenant isolation does not
depend on each route remembering it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from techcare.features import ENTITLEMENTS, PRO_MAX_SYSTEMS
from techcare.i18n import tr

from .core.errors import ApiError
from .core.security import generate_api_key, generate_license_key, hash_api_key
from .models import (
    ApiKey,
    AuditLog,
    Case,
    CaseStat,
    Host,
    License,
    LicenseEvent,
    Machine,
    MetricSample,
    Organisation,
    Technician,
    utcnow,
)
from .schemas import (
    AlertPublic,
    CaseHit,
    HostPublic,
    LicenseCreate,
    LicensePublic,
    MetricSampleCreate,
)

EDITION_ORDER = ("community", "pro", "pro_business", "enterprise")
# Limits per edition (documented in backend/README section of the main README):
# Community: 1 machine, 10 repair steps per month (techcare.features); Pro: up to PRO_MAX_SYSTEMS machines,
# unlimited repairs; Pro Business / Enterprise: unlimited systems (max_machines as issued, null = unlimited).
EDITION_MAX_MACHINES: dict[str, int | None] = {"community": 1, "pro": PRO_MAX_SYSTEMS, "pro_business": None,
                                               "enterprise": None}
EDITION_MONTHLY_REPAIRS: dict[str, int | None] = {"community": 10, "pro": None, "pro_business": None,
                                                  "enterprise": None}


def _insert(session: Session, model: Any) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(model)


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    out = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


LICENSE_FIELDS = ("id", "edition", "organisation_id", "status", "expires_at", "max_machines", "max_transfers",
                  "transfers_used", "auto_activate")


# ---- audit -----------------------------------------------------------------------------------------------
def add_audit(session: Session, *, organisation_id: str | None, actor: str, action: str, target_type: str,
              target_id: str | None, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
              ip: str | None = None) -> None:
    session.add(AuditLog(organisation_id=organisation_id, actor=actor, action=action, target_type=target_type,
                         target_id=target_id, before=before, after=after, ip=ip))


def list_audit(session: Session, *, organisation_id: str | None, limit: int = 100) -> Sequence[AuditLog]:
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if organisation_id is not None:
        stmt = stmt.where(AuditLog.organisation_id == organisation_id)
    return session.scalars(stmt).all()


# ---- organisations -----------------------------------------------------------------------------------------
def get_or_create_organisation(session: Session, *, name_or_id: str) -> tuple[Organisation, bool]:
    org = session.get(Organisation, name_or_id) or session.scalar(
        select(Organisation).where(Organisation.name == name_or_id))
    if org is not None:
        return org, False
    org = Organisation(name=name_or_id)
    session.add(org)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # created concurrently
        found = session.scalar(select(Organisation).where(Organisation.name == name_or_id))
        assert found is not None
        return found, False
    return org, True


def list_organisations(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.created_at)).all()


# ---- licenses ----------------------------------------------------------------------------------------------
def check_max_machines(edition: str, max_machines: int | None, lang: str | None = None) -> int | None:
    cap = EDITION_MAX_MACHINES[edition]
    if cap is None:
        return max_machines
    if max_machines is not None and max_machines > cap:
        raise ApiError(422, "VALIDATION_ERROR", tr(
            "max_machines={n} ist für {e} zu hoch. Erlaubt: 1 bis {cap} (unbegrenzt ab Pro Business).",
            "max_machines={n} is too high for {e}. Allowed: 1 to {cap} (unlimited from Pro Business).", lang,
            n=max_machines, e=edition, cap=cap))
    return max_machines if max_machines is not None else cap


def license_entitlements(edition: str) -> list[str]:
    return list(ENTITLEMENTS[edition])


def license_limits(edition: str, max_machines: int | None) -> dict[str, Any]:
    return {"max_machines": max_machines, "monthly_repairs": EDITION_MONTHLY_REPAIRS[edition]}


def add_license_event(session: Session, *, license_id: str, type: str, actor: str,
                      data: dict[str, Any] | None = None) -> None:
    session.add(LicenseEvent(license_id=license_id, type=type, actor=actor, data=data or {}))


def create_license(session: Session, *, data: LicenseCreate, secret: bytes, actor: str, default_transfers: int,
                   ip: str | None = None, lang: str | None = None) -> tuple[License, str]:
    from .core.security import hash_license_key, parse_license_key

    max_machines = check_max_machines(data.edition, data.max_machines, lang)
    if data.expires_at is not None and data.expires_at <= utcnow():  # valid as a date, but already past
        raise ApiError(409, "EXPIRES_IN_PAST", tr(
            "expires_at {t} liegt in der Vergangenheit: eine Lizenz kann nicht bereits abgelaufen ausgestellt "
            "werden. Erlaubt: ein künftiger Zeitpunkt oder null (läuft nie ab).",
            "expires_at {t} is in the past: a license cannot be issued already expired. Allowed: a time in the "
            "future, or null (never expires).", lang, t=data.expires_at.isoformat()))
    org, created = get_or_create_organisation(session, name_or_id=data.organisation)
    if created:
        add_audit(session, organisation_id=org.id, actor=actor, action="organisation.create",
                  target_type="organisation", target_id=org.id, after={"name": org.name}, ip=ip)
    key = generate_license_key(data.edition, secret)
    parsed = parse_license_key(key, secret)
    assert parsed is not None
    lic = License(organisation_id=org.id, edition=data.edition, key_hash=hash_license_key(parsed, secret),
                  key_hint=parsed.random_part[-4:], status="active", expires_at=data.expires_at,
                  max_machines=max_machines, auto_activate=data.auto_activate,
                  max_transfers=default_transfers if data.max_transfers is None else data.max_transfers,
                  transfers_used=0)
    session.add(lic)
    session.flush()
    after = snapshot(lic, LICENSE_FIELDS)
    add_license_event(session, license_id=lic.id, type="license.issued", actor=actor, data=after)
    add_audit(session, organisation_id=org.id, actor=actor, action="license.issue", target_type="license",
              target_id=lic.id, after=after, ip=ip)
    return lic, key


def license_public(session: Session, *, lic: License) -> LicensePublic:
    active = session.scalar(select(func.count()).select_from(Machine).where(
        Machine.license_id == lic.id, Machine.active.is_(True))) or 0
    return LicensePublic.model_validate(lic).model_copy(
        update={"active_machines": active, "entitlements": license_entitlements(lic.edition)})


def list_licenses(session: Session, *, organisation_id: str | None = None) -> Sequence[License]:
    stmt = select(License).order_by(License.created_at)
    if organisation_id:
        stmt = stmt.where(License.organisation_id == organisation_id)
    return session.scalars(stmt).all()


def get_license(session: Session, *, license_id: str, lang: str | None = None, for_update: bool = False) -> License:
    stmt = select(License).where(License.id == license_id)
    if for_update:
        stmt = stmt.with_for_update()
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: a no-op write takes the database write lock now, before the seat count is
            # read, so parallel activations cannot overbook (PostgreSQL uses SELECT ... FOR UPDATE).
            session.execute(text("UPDATE licenses SET updated_at = updated_at WHERE id = :id"), {"id": license_id})
    lic = session.scalar(stmt)
    if lic is None:
        raise ApiError(404, "NOT_FOUND", tr("Lizenz {id} gibt es nicht.", "License {id} does not exist.", lang,
                                            id=license_id))
    return lic


_TRANSITIONS = {"suspend": ({"active"}, "suspended"), "reinstate": ({"suspended"}, "active"),
                "revoke": ({"active", "suspended"}, "revoked")}


def change_license_status(session: Session, *, license_id: str, action: str, actor: str, ip: str | None = None,
                          lang: str | None = None) -> License:
    lic = get_license(session, license_id=license_id, lang=lang, for_update=True)
    allowed_from, target = _TRANSITIONS[action]
    if lic.status not in allowed_from:
        raise ApiError(409, "INVALID_TRANSITION", tr(
            "Eine Lizenz im Status {s} kann nicht '{a}' werden. Erlaubt aus: {ok}.",
            "A license in status {s} cannot be '{a}'. Allowed from: {ok}.", lang,
            s=lic.status, a=action, ok=", ".join(sorted(allowed_from))))
    before = snapshot(lic, LICENSE_FIELDS)
    lic.status = target
    lic.updated_at = utcnow()
    session.flush()
    after = snapshot(lic, LICENSE_FIELDS)
    add_license_event(session, license_id=lic.id, type=f"license.{action}", actor=actor,
                      data={"from": before["status"], "to": target})
    add_audit(session, organisation_id=lic.organisation_id, actor=actor, action=f"license.{action}",
              target_type="license", target_id=lic.id, before=before, after=after, ip=ip)
    return lic


def extend_license(session: Session, *, license_id: str, expires_at: datetime | None, actor: str,
                   ip: str | None = None, lang: str | None = None) -> License:
    lic = get_license(session, license_id=license_id, lang=lang, for_update=True)
    if lic.status == "revoked":
        raise ApiError(409, "INVALID_TRANSITION", tr("Eine widerrufene Lizenz kann nicht verlängert werden.",
                                                     "A revoked license cannot be extended.", lang))
    before = snapshot(lic, LICENSE_FIELDS)
    lic.expires_at = expires_at
    lic.updated_at = utcnow()
    session.flush()
    after = snapshot(lic, LICENSE_FIELDS)
    add_license_event(session, license_id=lic.id, type="license.extend", actor=actor,
                      data={"from": before["expires_at"], "to": after["expires_at"]})
    add_audit(session, organisation_id=lic.organisation_id, actor=actor, action="license.extend",
              target_type="license", target_id=lic.id, before=before, after=after, ip=ip)
    return lic


def license_events(session: Session, *, license_id: str) -> Sequence[LicenseEvent]:
    return session.scalars(select(LicenseEvent).where(LicenseEvent.license_id == license_id)
                           .order_by(LicenseEvent.id)).all()


def license_state(session: Session, *, key_hash: str) -> dict[str, Any] | None:
    """What validation needs, as plain JSON (cached by the caller)."""
    lic = session.scalar(select(License).where(License.key_hash == key_hash))
    if lic is None:
        return None
    fingerprints = session.scalars(select(Machine.fingerprint).where(Machine.license_id == lic.id,
                                                                     Machine.active.is_(True))).all()
    return {"id": lic.id, "organisation_id": lic.organisation_id, "edition": lic.edition, "status": lic.status,
            "expires_at": lic.expires_at.timestamp() if lic.expires_at else None,
            "max_machines": lic.max_machines, "auto_activate": lic.auto_activate,
            "fingerprints": sorted(fingerprints)}


def activate_machine(session: Session, *, license_id: str, fingerprint: str, hostname: str | None, actor: str,
                     lang: str | None = None) -> tuple[str, Machine | None]:
    """Activate ``fingerprint``; idempotent. Returns (code, machine); code ACTIVATED, ALREADY_ACTIVE or
    TOO_MANY_MACHINES. The license row is locked so parallel activations cannot overbook seats."""
    lic = get_license(session, license_id=license_id, lang=lang, for_update=True)
    machine = session.scalar(select(Machine).where(Machine.license_id == lic.id, Machine.fingerprint == fingerprint))
    if machine is not None and machine.active:
        if hostname and machine.hostname != hostname:
            machine.hostname = hostname
        return "ALREADY_ACTIVE", machine
    if lic.max_machines is not None:
        active = session.scalar(select(func.count()).select_from(Machine).where(
            Machine.license_id == lic.id, Machine.active.is_(True))) or 0
        if active >= lic.max_machines:
            return "TOO_MANY_MACHINES", None
    if machine is None:
        machine = Machine(license_id=lic.id, fingerprint=fingerprint, hostname=hostname, active=True)
        session.add(machine)
    else:
        machine.active, machine.deactivated_at, machine.activated_at = True, None, utcnow()
        machine.hostname = hostname or machine.hostname
    session.flush()
    add_license_event(session, license_id=lic.id, type="machine.activated", actor=actor,
                      data={"fingerprint": fingerprint, "hostname": hostname, "machine_id": machine.id})
    return "ACTIVATED", machine


def deactivate_machine(session: Session, *, license_id: str, fingerprint: str, actor: str,
                       lang: str | None = None) -> tuple[str, Machine | None, int]:
    lic = get_license(session, license_id=license_id, lang=lang, for_update=True)
    machine = session.scalar(select(Machine).where(Machine.license_id == lic.id, Machine.fingerprint == fingerprint))
    if machine is None or not machine.active:
        return "NOT_ACTIVE", machine, max(0, lic.max_transfers - lic.transfers_used)
    if lic.transfers_used >= lic.max_transfers:
        raise ApiError(409, "TRANSFER_LIMIT", tr(
            "Die Lizenz hat alle {n} Übertragungen verbraucht; bitte den Support kontaktieren.",
            "The license has used all {n} transfers; please contact support.", lang, n=lic.max_transfers))
    machine.active, machine.deactivated_at = False, utcnow()
    lic.transfers_used += 1
    lic.updated_at = utcnow()
    session.flush()
    add_license_event(session, license_id=lic.id, type="machine.deactivated", actor=actor,
                      data={"fingerprint": fingerprint, "machine_id": machine.id,
                            "transfers_used": lic.transfers_used})
    return "DEACTIVATED", machine, lic.max_transfers - lic.transfers_used


def organisation_entitlements(session: Session, *, organisation_id: str) -> dict[str, Any]:
    """The best currently valid license of the organisation: ``{"edition", "entitlements"}``."""
    now = utcnow()
    rows = session.execute(select(License.edition, License.expires_at).where(
        License.organisation_id == organisation_id, License.status == "active")).all()
    editions = [e for e, exp in rows if exp is None or exp > now]
    if not editions:
        return {"edition": None, "entitlements": []}
    best = max(editions, key=EDITION_ORDER.index)
    return {"edition": best, "entitlements": license_entitlements(best)}


# ---- technicians and API keys ------------------------------------------------------------------------------
def create_api_key(session: Session, *, organisation_id: str, name: str, role: str,
                   technician_name: str | None, actor: str, ip: str | None = None) -> tuple[ApiKey, str]:
    technician_id = None
    if role in ("admin", "technician"):
        tech_name = technician_name or name
        tech = session.scalar(select(Technician).where(Technician.organisation_id == organisation_id,
                                                       Technician.name == tech_name))
        if tech is None:
            tech = Technician(organisation_id=organisation_id, name=tech_name, role=role)
            session.add(tech)
            session.flush()
            add_audit(session, organisation_id=organisation_id, actor=actor, action="technician.create",
                      target_type="technician", target_id=tech.id, after={"name": tech_name, "role": role}, ip=ip)
        elif tech.role != role:
            before = {"name": tech.name, "role": tech.role}
            tech.role = role
            add_audit(session, organisation_id=organisation_id, actor=actor, action="technician.role",
                      target_type="technician", target_id=tech.id, before=before,
                      after={"name": tech.name, "role": role}, ip=ip)
        technician_id = tech.id
    parts = generate_api_key()
    row = ApiKey(organisation_id=organisation_id, technician_id=technician_id, role=role, name=name,
                 key_hash=parts.digest, prefix=parts.prefix)
    session.add(row)
    session.flush()
    add_audit(session, organisation_id=organisation_id, actor=actor, action="api_key.create", target_type="api_key",
              target_id=row.id, after={"name": name, "role": role, "prefix": parts.prefix,
                                       "technician_id": technician_id}, ip=ip)
    return row, parts.key


def principal_for_key(session: Session, *, key: str) -> dict[str, Any] | None:
    row = session.execute(
        select(ApiKey, Technician.name).outerjoin(Technician, Technician.id == ApiKey.technician_id)
        .where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))).first()
    if row is None:
        return None
    api_key, tech_name = row
    return {"key_id": api_key.id, "organisation_id": api_key.organisation_id, "role": api_key.role,
            "name": api_key.name, "technician_id": api_key.technician_id, "technician": tech_name,
            "key_hash": api_key.key_hash}


def list_api_keys(session: Session, *, organisation_id: str) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).where(ApiKey.organisation_id == organisation_id)
                           .order_by(ApiKey.created_at)).all()


def list_technicians(session: Session, *, organisation_id: str) -> Sequence[Technician]:
    return session.scalars(select(Technician).where(Technician.organisation_id == organisation_id)
                           .order_by(Technician.name)).all()


def revoke_api_key(session: Session, *, organisation_id: str, key_id: str, actor: str, ip: str | None = None,
                   lang: str | None = None) -> ApiKey:
    row = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.organisation_id == organisation_id))
    if row is None:  # another organisation's key looks exactly like a missing one
        raise ApiError(404, "NOT_FOUND", tr("API-Schlüssel {id} gibt es nicht.", "API key {id} does not exist.",
                                            lang, id=key_id))
    if row.revoked_at is None:
        before = {"revoked_at": None}
        row.revoked_at = utcnow()
        add_audit(session, organisation_id=organisation_id, actor=actor, action="api_key.revoke",
                  target_type="api_key", target_id=row.id, before=before,
                  after={"revoked_at": row.revoked_at.isoformat()}, ip=ip)
    return row


# ---- metrics -----------------------------------------------------------------------------------------------
def _summary(sample: MetricSampleCreate) -> dict[str, Any]:
    return {
        "cpu_percent": sample.cpu_percent,
        "ram_percent": sample.ram_percent,
        "disk_max_percent": max((d.percent for d in sample.disks), default=None),
        "firewall": sample.services.firewall,
        "antivirus": sample.services.antivirus,
        "smart_failing": any(s.health == "failing" for s in sample.smart),
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
# serialisation; PostgreSQL parses it once, no per-value parameter encoding in Python). ``ON CONFLICT DO NOTHING
# RETURNING`` tells which samples were new; of those, the newest per host (ties: the later one in the input) updates
# the host row, in (organisation, hostname) order so concurrent statements cannot deadlock. The host's summary
# values are taken from the payload as ``_summary`` does for SQLite.
PG_INGEST = (
    "WITH input AS (SELECT e->>'o' AS organisation_id, e->'p' AS payload, ord "
    "FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS x(e, ord)), "
    "rows AS (SELECT organisation_id, payload->>'sample_id' AS sample_id, payload->>'hostname' AS hostname, "
    "payload->>'os' AS os, (payload->>'timestamp')::timestamptz AS ts, payload, ord FROM input), "
    "ins AS (INSERT INTO metric_samples (organisation_id, sample_id, hostname, os, ts, received_at, payload) "
    "SELECT organisation_id, sample_id, hostname, os, ts, %(now)s, payload FROM rows "
    "ON CONFLICT (organisation_id, sample_id) DO NOTHING RETURNING organisation_id, sample_id), "
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


def pg_ingest_params(rows: Sequence[tuple[str, str]], now: datetime) -> dict[str, Any]:
    """The parameters of :data:`PG_INGEST` for ``rows`` of ``(organisation_id, payload_json)`` (the payload: the
    validated sample's ``model_dump_json()``); the caller leaves out repeated ``(organisation_id, sample_id)``
    pairs (the first one counts)."""
    orgs: dict[str, str] = {}
    parts = []
    for org, payload in rows:
        quoted = orgs.get(org)
        if quoted is None:
            quoted = orgs[org] = json.dumps(org)
        parts.append(f'{{"o":{quoted},"p":{payload}}}')
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
            rows.append((organisation_id, s.model_dump_json()))
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

    ``INSERT ... ON CONFLICT (organisation_id, sample_id) DO NOTHING RETURNING sample_id`` makes concurrent
    re-sends safe; the host rows are upserted with the values of the newest sample (an older sample arriving late
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
    rows = [{"organisation_id": organisation_id, "sample_id": s.sample_id, "hostname": s.hostname, "os": s.os,
             "ts": s.timestamp, "received_at": now, "payload": p} for s, p in zip(samples, payloads)]
    if len(rows) == 1:
        inserted = set(conn.execute(sample_stmt, rows[0]).scalars().all())
    else:
        inserted = set(conn.execute(sample_stmt, rows).scalars().all())
    statuses, newest = _classify(samples, payloads, inserted)
    if newest:
        host_rows = [{"organisation_id": organisation_id, "hostname": h, "os": s.os, "last_seen": now,
                      "last_sample_at": s.timestamp, "last": p, **_summary(s)}
                     for h, (s, p) in sorted(newest.items())]
        conn.execute(host_stmt, host_rows[0] if len(host_rows) == 1 else host_rows)
    return statuses


def _host_public(host: Host, last_seen: datetime, overdue_after: int, now: datetime) -> HostPublic:
    last = host.last or {}
    return HostPublic(hostname=host.hostname, os=host.os, last_seen=last_seen, last_sample_at=host.last_sample_at,
                      status="overdue" if (now - last_seen).total_seconds() > overdue_after else "online",
                      cpu_percent=host.cpu_percent, ram_percent=host.ram_percent,
                      disk_max_percent=host.disk_max_percent, firewall=host.firewall, antivirus=host.antivirus,
                      smart_failing=host.smart_failing, pending_updates=host.pending_updates,
                      pending_reboot=last.get("pending_reboot"), agent_version=last.get("agent_version"))


def list_hosts(session: Session, *, organisation_id: str, overdue_after: int,
               cached_seen: dict[str, float] | None = None, now: datetime | None = None) -> list[HostPublic]:
    now = now or utcnow()
    hosts = session.scalars(select(Host).where(Host.organisation_id == organisation_id).order_by(Host.hostname)).all()
    out = []
    for host in hosts:
        seen = host.last_seen
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


def host_exists(session: Session, *, organisation_id: str, hostname: str) -> bool:
    return session.get(Host, (organisation_id, hostname)) is not None


# The antivirus rule of the client's diagnosis (``techcare.diagnosis``), for the states a sample carries: products
# found but none enabled -> critical everywhere; no product at all -> critical on Windows and macOS, only an info on
# Linux (where none is the norm; the diagnosis does not raise it either). "on"/"unknown" raise nothing.
ANTIVIRUS_ALERTS: dict[str, tuple[str, str, str, str]] = {
    "off": ("antivirus_off", "critical", "Virenschutz ist aus", "Antivirus is off"),
    "none": ("antivirus_missing", "critical", "Kein Virenschutz gefunden", "No antivirus found"),
}
ANTIVIRUS_INFO_ONLY = {("linux", "none")}


def antivirus_alert(os_name: str, antivirus: str) -> tuple[str, str, str, str] | None:
    """``(rule, severity, German, English)`` of a host's antivirus state, or ``None`` (no alert)."""
    if (os_name, antivirus) in ANTIVIRUS_INFO_ONLY:
        return None
    return ANTIVIRUS_ALERTS.get(antivirus)


def alerts(hosts: Sequence[HostPublic], *, disk_warning: float, disk_critical: float,
           lang: str | None = None) -> list[AlertPublic]:
    """The alert rules: disk warning/critical, SMART failing, firewall or antivirus off, host overdue."""
    out: list[AlertPublic] = []
    for h in hosts:
        if h.disk_max_percent is not None and h.disk_max_percent >= disk_warning:
            critical = h.disk_max_percent >= disk_critical
            out.append(AlertPublic(hostname=h.hostname, rule="disk_critical" if critical else "disk_warning",
                                   severity="critical" if critical else "warning", value=h.disk_max_percent,
                                   since=h.last_sample_at, message=tr(
                                       "Datenträger zu {p:.0f} % belegt", "Disk {p:.0f} % full", lang,
                                       p=h.disk_max_percent)))
        if h.smart_failing:
            out.append(AlertPublic(hostname=h.hostname, rule="smart_failing", severity="critical",
                                   since=h.last_sample_at, value="failing", message=tr(
                                       "SMART meldet einen ausfallenden Datenträger",
                                       "SMART reports a failing disk", lang)))
        if h.firewall == "off":
            out.append(AlertPublic(hostname=h.hostname, rule="firewall_off", severity="critical", value="off",
                                   since=h.last_sample_at, message=tr("Firewall ist aus", "Firewall is off", lang)))
        av = antivirus_alert(h.os, h.antivirus)
        if av is not None:
            rule, severity, de, en = av
            out.append(AlertPublic(hostname=h.hostname, rule=rule, severity=severity, value=h.antivirus,
                                   since=h.last_sample_at, message=tr(de, en, lang)))
        if h.status == "overdue":
            out.append(AlertPublic(hostname=h.hostname, rule="host_overdue", severity="warning",
                                   since=h.last_seen, value=h.last_seen.isoformat(), message=tr(
                                       "Keine Messwerte seit {t}", "No samples since {t}", lang,
                                       t=h.last_seen.isoformat(timespec="seconds"))))
    order = {"critical": 0, "warning": 1}
    return sorted(out, key=lambda a: (order[a.severity], a.hostname, a.rule))


# ---- cases (shared learning database) ----------------------------------------------------------------------
_WORD = re.compile(r"\w+", re.UNICODE)
# Snowball's German and English stop words (the common part; PostgreSQL drops the same words).
STOP_DE = set("""aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
anderm andern anderr anders auch auf aus bei bin bis bist da damit dann der den des dem die das dass daß du er
ihn ihm es ist ich ihr im in ins ja jede jedem jeden jeder jedes kein keine keinem keinen keiner keines mit mich
mir mein meine nach nicht noch nun nur ob oder ohne sehr sein seine sich sie sind so soll über um und uns unter
vom von vor war waren was weil wenn wer wie wieder wir wird wo zu zum zur zwar zwischen ein eine einem einen
einer eines hat hatte hab habe haben doch durch für gegen man muss manche""".split())
STOP_EN = set("""a an and are as at be been but by can did do does for from had has have he her his how i if in
into is it its me my no not of on or our she so than that the their them then there these they this those to
too was we were what when where which while who why will with you your""".split())
_stemmers: dict[str, Any] = {}


def _stem(word: str, lang: str) -> str:
    stemmer = _stemmers.get(lang)
    if stemmer is None:
        import snowballstemmer

        stemmer = _stemmers[lang] = snowballstemmer.stemmer("german" if lang == "de" else "english")
    return stemmer.stemWord(word)


def words(text_value: str, limit: int | None = None) -> list[str]:
    found = [w.lower() for w in _WORD.findall(text_value) if len(w) <= 60]
    return found[:limit] if limit else found


def term_groups(text_value: str, limit: int | None = None) -> list[set[str]]:
    """Per word (stop words dropped), the German and English stems it may match."""
    groups = []
    for w in words(text_value, limit):
        stems = set()
        if w not in STOP_DE:
            stems.add(_stem(w, "de"))
        if w not in STOP_EN:
            stems.add(_stem(w, "en"))
        if stems:
            groups.append(stems)
    return groups


def search_terms(symptom: str, findings: list[Any]) -> str:
    findings_text = " ".join(str(f) for f in findings)[:20000]
    terms = {t for g in term_groups(symptom + " " + findings_text) for t in g}
    return " ".join(sorted(terms))


ACTIONS_KEY_LENGTH = 1000  # cases.actions_key, case_stats.actions_key


def actions_key(actions: Iterable[str]) -> str:
    """The set of repair actions as one key (sorted, comma-separated); a set too long for the column is keyed by
    the SHA-256 of that text instead (50 actions of 100 characters would not fit)."""
    key = ",".join(sorted(set(actions)))
    if len(key) <= ACTIONS_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def case_by_client_id(session: Session, *, organisation_id: str, case_id: str) -> Case | None:
    return session.scalar(select(Case).where(Case.organisation_id == organisation_id, Case.case_id == case_id))


def create_case(session: Session, *, organisation_id: str, data: Any, technician: str | None) -> tuple[Case, bool]:
    """Store a case; returns ``(case, created)``. A ``case_id`` already stored for the organisation (a re-send,
    also a concurrent one) returns the stored case and counts nothing twice in the success statistics."""
    case_id = getattr(data, "case_id", None)
    if case_id is not None:
        if session.get_bind().dialect.name == "sqlite":
            # Take SQLite's write lock before reading (a read transaction that later writes fails with "database
            # is locked" when another writer committed in between; busy_timeout only covers a fresh write lock).
            session.execute(text("UPDATE case_stats SET successes = successes WHERE organisation_id = :org "
                                 "AND actions_key = ''"), {"org": organisation_id})
        existing = case_by_client_id(session, organisation_id=organisation_id, case_id=case_id)
        if existing is not None:
            return existing, False
    key = actions_key(data.actions)
    row = Case(organisation_id=organisation_id, case_id=case_id, symptom=data.symptom, language=data.language,
               os=data.os, findings=data.findings, actions=list(data.actions), actions_key=key, outcome=data.outcome,
               technician=data.technician or technician,
               search_terms=(search_terms(data.symptom, data.findings)
                             if session.get_bind().dialect.name == "sqlite" else None))
    if case_id is None:
        session.add(row)
    else:
        try:
            with session.begin_nested():  # the savepoint begins before the row is added (begin_nested flushes)
                session.add(row)
                session.flush()
        except IntegrityError:  # the same case_id was stored concurrently
            found = case_by_client_id(session, organisation_id=organisation_id, case_id=case_id)
            if found is None:
                raise
            return found, False
    ins = _insert(session, CaseStat).values(organisation_id=organisation_id, actions_key=key,
                                            successes=int(data.outcome == "success"),
                                            failures=int(data.outcome == "failure"))
    table = CaseStat.__table__
    session.execute(ins.on_conflict_do_update(
        index_elements=["organisation_id", "actions_key"],
        set_={"successes": table.c.successes + ins.excluded.successes,
              "failures": table.c.failures + ins.excluded.failures}))
    session.flush()
    return row, True


def get_case(session: Session, *, organisation_id: str, case_id: int) -> Case | None:
    return session.scalar(select(Case).where(Case.id == case_id, Case.organisation_id == organisation_id))


def _fts_query(groups: list[set[str]], joiner: str) -> str:
    return f" {joiner} ".join("(" + " OR ".join(f'"{t}"' for t in sorted(g)) + ")" for g in groups)


def _pg_query(ws: list[str], joiner: str) -> str:
    return f" {joiner} ".join(ws)


# Bounded work per query on millions of cases (PostgreSQL): the GIN scan hands over at most ~SEARCH_GIN_LIMIT
# matches (``gin_fuzzy_search_limit``: a random subset once a query matches more, instead of a bitmap of every
# match), of which at most SEARCH_CANDIDATES are ranked. A query with fewer matches is exact.
SEARCH_CANDIDATES = 500
SEARCH_GIN_LIMIT = 5000
CASE_COLUMNS = "c.id, c.case_id, c.symptom, c.language, c.os, c.findings, c.actions, c.actions_key, c.outcome, " \
               "c.technician, c.created_at"


def search_cases(session: Session, *, organisation_id: str, q: str, os_name: str | None, limit: int) -> list[CaseHit]:
    """Full-text search (German + English stemming), ranked by relevance and by how often the repair worked.

    All words must match first; when nothing matches, any word may. The best ``5 * limit`` by text relevance
    are re-ranked with the success rate of their set of repair actions (Laplace-smoothed).
    """
    pool = min(max(limit * 5, 20), 250)
    dialect = session.get_bind().dialect.name
    rows: list[Any] = []
    if dialect == "postgresql":
        ws = [w for w in words(q, 20)]
        session.execute(text(f"SET LOCAL gin_fuzzy_search_limit = {int(SEARCH_GIN_LIMIT)}"))
        for joiner in ("&", "|"):
            if not ws:
                break
            # Ranking every match of a very common word costs a heap fetch per match; at most SEARCH_CANDIDATES
            # matches (from the GIN bitmap) are ranked, which bounds the latency on millions of cases.
            sql = (f"SELECT {CASE_COLUMNS}, ts_rank_cd(c.search_vector, qq.query) AS relevance "
                   "FROM (SELECT to_tsquery('german', :qd) || to_tsquery('english', :qd) AS query) qq, "
                   "LATERAL (SELECT * FROM cases WHERE organisation_id = :org AND search_vector @@ qq.query "
                   + ("AND os = :os " if os_name else "") + "LIMIT :cap) c ORDER BY relevance DESC LIMIT :pool")
            rows = session.execute(text(sql), {"qd": _pg_query(ws, joiner), "org": organisation_id,
                                               "os": os_name, "pool": pool, "cap": SEARCH_CANDIDATES}).mappings().all()
            if rows:
                break
    else:
        groups = term_groups(q, 20)
        for joiner in ("AND", "OR"):
            if not groups:
                break
            sql = (f"SELECT {CASE_COLUMNS}, -bm25(cases_fts) AS relevance FROM cases_fts "
                   "JOIN cases c ON c.id = cases_fts.rowid WHERE cases_fts MATCH :m AND c.organisation_id = :org "
                   + ("AND c.os = :os " if os_name else "") + "ORDER BY bm25(cases_fts) LIMIT :pool")
            rows = session.execute(text(sql), {"m": _fts_query(groups, joiner), "org": organisation_id,
                                               "os": os_name, "pool": pool}).mappings().all()
            if rows:
                break
    if not rows:
        return []
    keys = {r["actions_key"] for r in rows}
    stats = {s.actions_key: (s.successes, s.failures) for s in session.scalars(
        select(CaseStat).where(CaseStat.organisation_id == organisation_id, CaseStat.actions_key.in_(keys)))}
    top = max(float(r["relevance"]) for r in rows) or 1.0
    hits = []
    for r in rows:
        ok, bad = stats.get(r["actions_key"], (0, 0))
        smoothed = (ok + 1) / (ok + bad + 2)
        relevance = float(r["relevance"]) / top
        findings, actions = r["findings"], r["actions"]
        if isinstance(findings, str):
            import json

            findings, actions = json.loads(findings), json.loads(actions)
        created = r["created_at"]
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        hits.append(CaseHit(id=r["id"], case_id=r["case_id"], symptom=r["symptom"], language=r["language"], os=r["os"], findings=findings,
                            actions=actions, outcome=r["outcome"], technician=r["technician"], created_at=created,
                            relevance=round(relevance, 4), success_rate=round(ok / (ok + bad), 4) if ok + bad else 0.0,
                            times_tried=ok + bad, score=round(relevance * (0.5 + smoothed), 4)))
    hits.sort(key=lambda h: (-h.score, -h.id))
    return hits[:limit]
