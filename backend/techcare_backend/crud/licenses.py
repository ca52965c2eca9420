"""Licenses, their machines and events. The edition tables (machines and monthly repairs per edition, what each
edition includes) are the client's, imported from :mod:`techcare.editions`, so server and client cannot drift."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from techcare.editions import EDITIONS, ENTITLEMENTS, MAX_MACHINES
from techcare.i18n import tr

from ..core.errors import ApiError
from ..core.security import generate_license_key, hash_license_key, parse_license_key
from ..models import License, LicenseEvent, Machine, utcnow
from ..schemas import LicenseCreate, LicensePublic
from ._common import snapshot
from .audit import add_audit, get_or_create_organisation

LICENSE_FIELDS = ("id", "edition", "organisation_id", "status", "expires_at", "max_machines", "max_transfers",
                  "transfers_used", "auto_activate")


def check_max_machines(edition: str, max_machines: int | None, lang: str | None = None) -> int | None:
    cap = MAX_MACHINES[edition]
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


def add_license_event(session: Session, *, license_id: str, type: str, actor: str,
                      data: dict[str, Any] | None = None) -> None:
    session.add(LicenseEvent(license_id=license_id, type=type, actor=actor, data=data or {}))


def create_license(session: Session, *, data: LicenseCreate, secret: bytes, actor: str, default_transfers: int,
                   ip: str | None = None, lang: str | None = None) -> tuple[License, str]:
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
    best = max(editions, key=EDITIONS.index)
    return {"edition": best, "entitlements": license_entitlements(best)}
