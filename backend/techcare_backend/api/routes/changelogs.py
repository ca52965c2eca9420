"""Repair changelogs: a technician uploads the JSON-lines entries of a repair session (idempotent per entry)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, field_validator

from techcare.i18n import tr

from ... import crud_bindings, crud_changelogs, crud_jobs, crud_schedules
from ...core.errors import ApiError
from ...schemas import DATETIME_RANGE, ErrorPublic, Strict
from ..deps import CtxDep, HumanDep, LangDep, PrincipalDep, check_host, client_ip

router = APIRouter(prefix="/api/changelogs", tags=["changelogs"])

# The session id format of techcare.repairs (20260101T120000Z-<plan>-<random>).
SESSION_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6,16}-[0-9a-f]{4,8}$")
MAX_ENTRIES = 1000
MAX_ENTRY_BYTES = 64_000


class ChangelogUpload(Strict):
    session: Annotated[str, Field(max_length=80, description="session id, e.g. 20260101T120000Z-1a2b3c4d-9f8e",
                                  json_schema_extra={"pattern": SESSION_PATTERN.pattern})]
    entries: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_ENTRIES, json_schema_extra={
        "items": {"type": "object", "required": ["event", "ts"], "properties": {
            "event": {"type": "string", "minLength": 1},
            "ts": {"type": "string", "format": "date-time"}},
            "additionalProperties": True,
            "description": f"a changelog line (JSON), at most {MAX_ENTRY_BYTES} bytes; its 'session', if any, "
                           "must be the upload's"}})]
    job_id: Annotated[str | None, Field(pattern=r"^[0-9a-f]{32}$", description=(
        "the remote job these entries belong to (32 hex); a sensor key may upload only with it or with "
        "schedule_id and occurrence"))] = None
    schedule_id: Annotated[str | None, Field(pattern=r"^[0-9a-f]{32}$", description=(
        "the maintenance schedule whose occurrence ran these steps (with occurrence)"))] = None
    occurrence: Annotated[str | None, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$", description=(
        "the occurrence's local start YYYY-MM-DDTHH:MM (with schedule_id)"))] = None

    @field_validator("session")
    @classmethod
    def _session(cls, value: str) -> str:
        if not SESSION_PATTERN.fullmatch(value):
            raise ValueError("session must look like 20260101T120000Z-<plan hex>-<random hex>")
        return value

    @field_validator("entries")
    @classmethod
    def _entries(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, entry in enumerate(value):
            if not isinstance(entry.get("event"), str) or not entry["event"]:
                raise ValueError(f"entry {i}: 'event' (string) is required")
            try:
                ts = crud_changelogs.parse_ts(entry.get("ts"))
            except OverflowError:
                raise ValueError(f"entry {i}: 'ts' is out of range once converted to UTC; allowed: "
                                 f"{DATETIME_RANGE}") from None
            if ts is None:
                raise ValueError(f"entry {i}: 'ts' must be an ISO 8601 timestamp")
            if len(crud_changelogs.json.dumps(entry, default=str)) > MAX_ENTRY_BYTES:
                raise ValueError(f"entry {i}: larger than {MAX_ENTRY_BYTES} bytes")
        return value


class ChangelogUploaded(BaseModel):
    session: str
    created: int
    duplicates: int


@router.post("", response_model=ChangelogUploaded, responses={404: {"model": ErrorPublic,
                                                                   "description": "no remote job with this job_id"}})
def upload(body: ChangelogUpload, principal: PrincipalDep, ctx: CtxDep, lang: LangDep,
           request: Request) -> ChangelogUploaded:
    """Store a repair session's changelog entries for the caller's organisation. Re-uploading is safe: entries
    already stored (same session, same content) are counted as ``duplicates``. With ``job_id`` the entries are
    linked to that remote job of the organisation (404 if there is none); a sensor key uploads only so, and only
    for a job or occurrence of the host it serves (403 ``HOST_BOUND``, ``docs/remote-jobs.md`` §3)."""
    occurrence = (body.schedule_id, body.occurrence) if body.schedule_id and body.occurrence else None
    if principal.role == "sensor" and body.job_id is None and occurrence is None:
        raise ApiError(403, "FORBIDDEN", tr("Sensor-Schlüssel laden nur Protokolle von Fernaufträgen (job_id) oder "
                                            "Wartungsterminen (schedule_id, occurrence) hoch.",
                                            "Sensor keys upload only the changelogs of remote jobs (job_id) or of "
                                            "maintenance occurrences (schedule_id, occurrence).", lang))
    for i, entry in enumerate(body.entries):
        if entry.get("session") not in (None, body.session):
            raise ApiError(422, "VALIDATION_ERROR", tr(
                "Eintrag {i} gehört zur Sitzung {o}, nicht zu {s}.", "Entry {i} belongs to session {o}, not {s}.",
                lang, i=i, o=entry.get("session"), s=body.session))
    with ctx.sessionmaker() as session:
        if body.job_id is not None and not crud_jobs.job_exists(session, organisation_id=principal.organisation_id,
                                                                job_id=body.job_id):
            raise ApiError(404, "NOT_FOUND", tr("Auftrag {j} gibt es in Ihrer Organisation nicht.",
                                                "Job {j} does not exist in your organisation.", lang, j=body.job_id))
        if occurrence is not None and not crud_schedules.occurrence_handed_out(
                session, organisation_id=principal.organisation_id, schedule_id=occurrence[0],
                occurrence=occurrence[1]):
            raise ApiError(404, "NOT_FOUND", tr("Termin {o} des Wartungsplans {s} wurde in Ihrer Organisation nicht "
                                                "ausgegeben.", "Occurrence {o} of schedule {s} was not handed out in "
                                                "your organisation.", lang, o=occurrence[1], s=occurrence[0]))
        if principal.role == "sensor":  # the job's or occurrence's hosts: the key must serve one of them
            hosts = crud_bindings.job_hosts(session, organisation_id=principal.organisation_id, job_id=body.job_id) \
                if body.job_id is not None else crud_bindings.occurrence_hosts(
                    session, organisation_id=principal.organisation_id, schedule_id=occurrence[0],  # type: ignore
                    occurrence=occurrence[1])  # type: ignore[index]
            check_host(ctx, principal, hosts, lang, what="changelog", ip=client_ip(request, ctx))
        statuses = crud_changelogs.store_entries(session, organisation_id=principal.organisation_id,
                                                 run_session=body.session, entries=body.entries,
                                                 uploaded_by=principal.key_id, job_id=body.job_id)
        session.commit()
    return ChangelogUploaded(session=body.session, created=statuses.count("created"),
                             duplicates=statuses.count("duplicate"))


@router.get("")
def sessions(principal: HumanDep, ctx: CtxDep,
             limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """The organisation's most recent repair sessions (newest first) with status and actions."""
    with ctx.sessionmaker() as session:
        return crud_changelogs.list_sessions(session, organisation_id=principal.organisation_id, limit=limit)


@router.get("/{run_session}", responses={404: {"model": ErrorPublic}})
def entries(run_session: str, principal: HumanDep, ctx: CtxDep, lang: LangDep) -> list[dict[str, Any]]:
    """All entries of one session of the caller's organisation."""
    with ctx.sessionmaker() as session:
        rows = crud_changelogs.session_entries(session, organisation_id=principal.organisation_id,
                                               run_session=run_session)
    if not rows:
        raise ApiError(404, "NOT_FOUND", tr("Sitzung {s} ist unbekannt.", "Session {s} is unknown.", lang,
                                            s=run_session))
    return rows
