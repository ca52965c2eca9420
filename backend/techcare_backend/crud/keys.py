"""Technicians and API keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from techcare.i18n import tr

from ..core.errors import ApiError
from ..core.security import generate_api_key, hash_api_key
from ..models import ApiKey, Technician, utcnow
from .audit import add_audit


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
