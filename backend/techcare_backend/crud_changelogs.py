"""Storage of repair changelogs uploaded by technicians (``POST /api/changelogs``) and their read side.

A changelog is the JSON-lines file of one repair session (``techcare.repairs``): append-only, so re-uploading
the file after new entries (an undo, say) must store only the new ones. Every entry is identified by the
SHA-256 of its canonical JSON within (organisation, session); inserting an entry that exists is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import ChangelogEntry

__all__ = ["entry_hash", "list_sessions", "session_entries", "store_entries"]


def entry_hash(entry: dict[str, Any]) -> str:
    canonical = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_ts(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _job_id(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value) \
        else None


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def store_entries(session: Session, *, organisation_id: str, run_session: str, entries: Sequence[dict[str, Any]],
                  uploaded_by: str, job_id: str | None = None) -> list[str]:
    """Store the (already validated) entries; returns ``created`` or ``duplicate`` per entry, in order. ``job_id``
    links them to a remote job (an entry's own 32-hex ``job_id`` field does too)."""
    hashes = [entry_hash(e) for e in entries]
    existing = set(session.scalars(select(ChangelogEntry.entry_hash).where(
        ChangelogEntry.organisation_id == organisation_id, ChangelogEntry.session == run_session,
        ChangelogEntry.entry_hash.in_(set(hashes)))).all()) if hashes else set()
    statuses: list[str] = []
    seen: set[str] = set()
    for seq, (entry, digest) in enumerate(zip(entries, hashes)):
        if digest in existing or digest in seen:
            statuses.append("duplicate")
            continue
        seen.add(digest)
        step = entry.get("step")
        session.add(ChangelogEntry(
            organisation_id=organisation_id, session=run_session, entry_hash=digest, seq=seq,
            ts=parse_ts(entry.get("ts")), event=str(entry["event"])[:40], action=_text(entry.get("action_id", entry.get("action")), 120),
            step=step if isinstance(step, int) and not isinstance(step, bool) and abs(step) < 2**31 else None,
            host=_text(entry.get("host"), 255), technician=_text(entry.get("technician"), 200),
            uploaded_by=uploaded_by, entry=entry, job_id=job_id or _job_id(entry.get("job_id"))))
        statuses.append("created")
    session.flush()
    return statuses


def list_sessions(session: Session, *, organisation_id: str, limit: int = 50) -> list[dict[str, Any]]:
    """The organisation's most recent repair sessions, newest first, with a summary of their entries."""
    rows = session.execute(
        select(ChangelogEntry.session, func.min(ChangelogEntry.ts), func.max(ChangelogEntry.ts),
               func.count(ChangelogEntry.id), func.max(ChangelogEntry.host), func.max(ChangelogEntry.technician))
        .where(ChangelogEntry.organisation_id == organisation_id)
        .group_by(ChangelogEntry.session).order_by(func.max(ChangelogEntry.ts).desc()).limit(limit)).all()
    if not rows:
        return []
    names = [r[0] for r in rows]
    events: dict[str, dict[str, Any]] = {n: {"actions": [], "events": {}, "dry_run": False} for n in names}
    for name, event, action, entry in session.execute(
            select(ChangelogEntry.session, ChangelogEntry.event, ChangelogEntry.action, ChangelogEntry.entry)
            .where(ChangelogEntry.organisation_id == organisation_id, ChangelogEntry.session.in_(names))
            .order_by(ChangelogEntry.session, ChangelogEntry.seq)).all():
        info = events[name]
        info["events"][event] = info["events"].get(event, 0) + 1
        if event == "run" and isinstance(entry, dict) and entry.get("dry_run"):
            info["dry_run"] = True
        if action and event in ("finished", "failed", "dry_run", "skipped") and action not in info["actions"]:
            info["actions"].append(action)
    out = []
    for name, first, last, count, host, technician in rows:
        info = events[name]
        counts = info["events"]
        if info["dry_run"]:
            status = "dry_run"
        elif counts.get("undo_failed"):
            status = "failed"
        elif counts.get("undone"):  # undone later (a rollback), also after a failed step: the machine is back
            status = "rolled_back"
        elif counts.get("failed"):
            status = "failed"
        else:
            status = "completed" if counts.get("finished") else "incomplete"
        out.append({"session": name, "started": _aware(first), "last": _aware(last), "entries": count,
                    "host": host, "technician": technician, "actions": info["actions"], "events": counts,
                    "status": status})
    return out


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def session_entries(session: Session, *, organisation_id: str, run_session: str) -> list[dict[str, Any]]:
    """All entries of one session of the organisation, in the order they were written."""
    return list(session.scalars(select(ChangelogEntry.entry).where(
        ChangelogEntry.organisation_id == organisation_id, ChangelogEntry.session == run_session)
        .order_by(ChangelogEntry.ts, ChangelogEntry.seq)).all())
