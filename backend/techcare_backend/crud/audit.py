"""The audit log and organisations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..models import AuditLog, Organisation


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
