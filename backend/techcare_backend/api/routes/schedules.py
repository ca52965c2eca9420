"""Maintenance schedules (``docs/remote-jobs.md`` §5): technicians store signed schedules, pause, resume and delete
them and follow every host's occurrences; sensors report on the occurrences they were handed (the hand-out itself
rides on ``GET /api/sensor/jobs``, see ``routes/jobs.py``); the monthly maintenance report's data.

Technician routes need an admin or technician key and Pro Business or higher (``unlimited_systems``, as remote
jobs); the sensor route a sensor key of the same organisation.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy.exc
from fastapi import APIRouter, Depends, Path, Query, Request

from techcare.i18n import tr

from ... import crud_reports, crud_schedules, crud_tags
from ...core.errors import ApiError
from ...crud_jobs import JobInvalid
from ...schemas import ErrorPublic
from ...schemas_schedules import (
    OccurrenceList,
    OccurrenceReport,
    OccurrenceReported,
    ScheduleCreate,
    ScheduleList,
    SchedulePublic,
)
from ..deps import CtxDep, LangDep, Principal, SessionDep, check_host, client_ip
from .jobs import MAX_RESULT_BYTES, JobSensorDep, TechnicianDep

router = APIRouter(tags=["schedules"])
IdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="schedule_id: 32 hex digits")]
OccurrencePath = Annotated[str, Path(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}$",
                                     description="local start YYYY-MM-DDTHH:MM in the host's zone")]
TagQuery = Annotated[str | None, Query(pattern=crud_tags.TAG_PATTERN, max_length=127,
                                       description="only schedules of this tag or naming a host with it")]
ERRORS = {401: {"model": ErrorPublic}, 403: {"model": ErrorPublic}}
MAX_RANGE = timedelta(days=400)


def _now() -> datetime:
    return datetime.now(UTC)


def _not_found(schedule_id: str, lang: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", tr("Wartungsplan {s} gibt es in Ihrer Organisation nicht.",
                                         "Schedule {s} does not exist in your organisation.", lang, s=schedule_id))


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# ---- technicians ------------------------------------------------------------------------------------------------
@router.post("/api/schedules", response_model=SchedulePublic, status_code=201,
             responses={**ERRORS, 404: {"model": ErrorPublic, "description": "hosts the organisation never saw"},
                        409: {"model": ErrorPublic, "description": "revision not above the stored one "
                              "(SCHEDULE_REVISION), id taken (SCHEDULE_EXISTS); the timing cannot work: rrule/dtstart "
                              "not evaluable or occurrences closer than the window (SCHEDULE_RECURRENCE), validity "
                              "ended, backwards, over 400 days or without an occurrence (SCHEDULE_VALIDITY)"},
                        422: {"model": ErrorPublic, "description": "malformed envelope or payload"}})
def create_schedule(body: ScheduleCreate, principal: TechnicianDep, session: SessionDep, ctx: CtxDep,
                    lang: LangDep, request: Request) -> dict[str, Any]:
    """Store a signed schedule, or a newer revision of it (201 either way). The envelope is kept as it is and
    handed to each host at its occurrences; the hosts verify the signature."""
    now = _now()
    try:
        route = crud_schedules.route_fields(body.envelope)
        schedule, _, parsed = crud_schedules.create_schedule(
            session, organisation_id=principal.organisation_id, envelope=body.envelope,
            created_by=principal.technician or principal.name, actor=principal.actor, now=now,
            ip=client_ip(request, ctx))
        public = crud_schedules.schedule_public(session, schedule, now=now)
        session.commit()
    except crud_schedules.ScheduleValidity as exc:
        raise ApiError(409, exc.code, tr(exc.de, exc.en, lang, **exc.fmt)) from None
    except JobInvalid as exc:
        raise ApiError(422, "INVALID_SCHEDULE", tr(exc.de, exc.en, lang, **exc.fmt)) from None
    except crud_schedules.ScheduleNotFound as exc:
        raise ApiError(404, "UNKNOWN_HOSTS", tr(
            "Diese Rechner haben Ihrer Organisation nie Messwerte gesendet: {h}.",
            "These hosts never sent a sample to your organisation: {h}.", lang,
            h=", ".join(exc.names[:20]))) from None
    except crud_schedules.ScheduleConflict as exc:
        if exc.what == "revision":
            raise ApiError(409, "SCHEDULE_REVISION", tr(
                "Wartungsplan {s} hat schon Revision {r}; eine Änderung braucht eine höhere Revision.",
                "Schedule {s} is at revision {r} already; a change needs a higher revision.", lang,
                s=route.schedule_id, r=exc.detail)) from None
        raise ApiError(409, "SCHEDULE_EXISTS", tr(
            "Die schedule_id {s} ist vergeben (oder gelöscht); ein neuer Plan braucht eine neue.",
            "The schedule_id {s} is taken (or deleted); a new schedule needs a new one.", lang,
            s=route.schedule_id)) from None
    except sqlalchemy.exc.IntegrityError:  # the same schedule sent twice at the same moment
        session.rollback()
        raise ApiError(409, "SCHEDULE_REVISION", tr("Wartungsplan {s} wurde gleichzeitig gespeichert.",
                                                    "Schedule {s} was stored at the same moment.", lang,
                                                    s=route.schedule_id)) from None
    crud_schedules.due_index(request.app.state).invalidate(principal.organisation_id)
    ctx.cache.wake_jobs(principal.organisation_id, parsed.hosts)  # sensors waiting in a long-poll ask again
    return public


@router.get("/api/schedules", response_model=ScheduleList, responses=ERRORS)
def list_schedules(principal: TechnicianDep, session: SessionDep, tag: TagQuery = None,
                   host: Annotated[str | None, Query(min_length=1, max_length=255)] = None) -> dict[str, Any]:
    """The organisation's schedules with each host's next occurrence (in its own zone)."""
    return {"schedules": crud_schedules.list_schedules(session, organisation_id=principal.organisation_id,
                                                       now=_now(), tag=tag, host=host)}


@router.get("/api/schedules/{schedule_id}", response_model=SchedulePublic,
            responses={**ERRORS, 404: {"model": ErrorPublic}})
def get_schedule(schedule_id: IdPath, principal: TechnicianDep, session: SessionDep, lang: LangDep
                 ) -> dict[str, Any]:
    schedule = crud_schedules.get_schedule(session, organisation_id=principal.organisation_id,
                                           schedule_id=schedule_id)
    if schedule is None:
        raise _not_found(schedule_id, lang)
    return crud_schedules.schedule_public(session, schedule, now=_now())


def _change(action: str, schedule_id: str, principal: Principal, session: Any, ctx: Any, lang: str,
            request: Request) -> dict[str, Any]:
    now = _now()
    try:
        schedule = crud_schedules.set_state(session, organisation_id=principal.organisation_id,
                                            schedule_id=schedule_id, action=action, actor=principal.actor,
                                            by=principal.technician or principal.name, now=now,
                                            ip=client_ip(request, ctx))
        public = crud_schedules.schedule_public(session, schedule, now=now)
        session.commit()
    except crud_schedules.ScheduleNotFound:
        raise _not_found(schedule_id, lang) from None
    except crud_schedules.ScheduleConflict as exc:
        raise ApiError(409, "SCHEDULE_STATE", tr(
            "Wartungsplan {s} ist schon {st}.", "Schedule {s} is {st} already.", lang, s=schedule_id,
            st=tr("pausiert", "paused", lang) if exc.detail == "paused" else tr("aktiv", "active", lang))) from None
    crud_schedules.due_index(request.app.state).invalidate(principal.organisation_id)
    return public


@router.post("/api/schedules/{schedule_id}/pause", response_model=SchedulePublic,
             responses={**ERRORS, 404: {"model": ErrorPublic}, 409: {"model": ErrorPublic}})
def pause(schedule_id: IdPath, principal: TechnicianDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
          request: Request) -> dict[str, Any]:
    """Stop handing out occurrences (no signature needed: it only stops work). Nothing is recorded as missed
    while paused."""
    return _change("pause", schedule_id, principal, session, ctx, lang, request)


@router.post("/api/schedules/{schedule_id}/resume", response_model=SchedulePublic,
             responses={**ERRORS, 404: {"model": ErrorPublic}, 409: {"model": ErrorPublic}})
def resume(schedule_id: IdPath, principal: TechnicianDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
           request: Request) -> dict[str, Any]:
    """Hand out occurrences again, from the current one on."""
    return _change("resume", schedule_id, principal, session, ctx, lang, request)


@router.delete("/api/schedules/{schedule_id}", response_model=SchedulePublic,
               responses={**ERRORS, 404: {"model": ErrorPublic}})
def delete(schedule_id: IdPath, principal: TechnicianDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
           request: Request) -> dict[str, Any]:
    """Delete the schedule: nothing more is handed out; its recorded occurrences stay for the reports."""
    return _change("delete", schedule_id, principal, session, ctx, lang, request)


@router.get("/api/schedules/{schedule_id}/occurrences", response_model=OccurrenceList,
            responses={**ERRORS, 404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}})
def occurrences(schedule_id: IdPath, principal: TechnicianDep, session: SessionDep, lang: LangDep,
                since: Annotated[datetime | None, Query(description="ISO 8601, naive = UTC; default 30 days ago")]
                = None,
                until: Annotated[datetime | None, Query(description="ISO 8601, naive = UTC; default 14 days ahead")]
                = None,
                host: Annotated[str | None, Query(min_length=1, max_length=255)] = None) -> dict[str, Any]:
    """Per host and occurrence: planned local and UTC time, status ``pending | delivered | running | ran | failed
    | skipped | missed``, reason, steps, changelog links. A window that passed without a hand-out or a report is
    recorded as ``missed`` here."""
    now = _now()
    schedule = crud_schedules.get_schedule(session, organisation_id=principal.organisation_id,
                                           schedule_id=schedule_id, include_deleted=True)
    if schedule is None:
        raise _not_found(schedule_id, lang)
    if host is not None and host not in schedule.hosts:
        raise ApiError(404, "NOT_FOUND", tr("Wartungsplan {s} nennt den Rechner {h} nicht.",
                                            "Schedule {s} does not name host {h}.", lang, s=schedule_id, h=host))
    since, until = _utc(since) or now - timedelta(days=30), _utc(until) or now + timedelta(days=14)
    if until <= since or until - since > MAX_RANGE:
        raise ApiError(422, "VALIDATION_ERROR", tr(
            "since muss vor until liegen, höchstens 400 Tage auseinander.",
            "since must be before until, at most 400 days apart.", lang))
    items = crud_schedules.list_occurrences(session, schedule, now=now, since=since, until=until, host=host)
    session.commit()  # missed occurrences recorded
    return {"schedule_id": schedule_id, "since": since, "until": until, "occurrences": items}


# ---- sensors ----------------------------------------------------------------------------------------------------
@router.post("/api/sensor/schedules/{schedule_id}/occurrences/{occurrence}/report",
             response_model=OccurrenceReported,
             responses={**ERRORS, 404: {"model": ErrorPublic, "description": "not handed to this host"},
                        409: {"model": ErrorPublic, "description": "the occurrence is final already"},
                        422: {"model": ErrorPublic}})
def report(schedule_id: IdPath, occurrence: OccurrencePath, body: OccurrenceReport, principal: JobSensorDep,
           session: SessionDep, lang: LangDep, ctx: CtxDep, request: Request) -> OccurrenceReported:
    """Progress (``running`` with the steps so far) or the result of an occurrence on ``host``: ``ran``,
    ``failed`` or ``skipped`` (refused by the host, with its reason). Final states are final (409 after); a late
    report replaces ``missed``."""
    if len(json.dumps(body.steps or [], default=str)) > MAX_RESULT_BYTES:
        raise ApiError(422, "VALIDATION_ERROR", tr("steps ist größer als {m} Bytes.",
                                                   "steps is larger than {m} bytes.", lang, m=MAX_RESULT_BYTES))
    # only the sensor key serving the host (403 HOST_BOUND; docs/remote-jobs.md §3 "Sensor keys and hosts")
    check_host(ctx, principal, [body.host], lang, what="occurrence report", ip=client_ip(request, ctx))
    try:
        row = crud_schedules.record_report(session, organisation_id=principal.organisation_id,
                                           schedule_id=schedule_id, occurrence=occurrence, hostname=body.host,
                                           status=body.status, reason=body.reason, message=body.message,
                                           steps=body.steps, now=_now())
        answer = OccurrenceReported(status=row.status)
        session.commit()
    except crud_schedules.ScheduleNotFound:
        raise ApiError(404, "NOT_FOUND", tr(
            "Termin {o} von Wartungsplan {s} wurde {h} nicht übergeben.",
            "Occurrence {o} of schedule {s} was not handed to {h}.", lang, o=occurrence, s=schedule_id,
            h=body.host)) from None
    except crud_schedules.ScheduleConflict as exc:
        raise ApiError(409, "OCCURRENCE_FINAL", tr(
            "Termin {o} ist auf {h} schon abgeschlossen ({st}).", "Occurrence {o} is already final on {h} ({st}).",
            lang, o=occurrence, h=body.host, st=exc.detail)) from None
    return answer


# ---- the monthly report -----------------------------------------------------------------------------------------
MONTH = re.compile(r"^2[0-9]{3}-(0[1-9]|1[0-2])$")  # the years 2000 to 2999


@router.get("/api/reports/maintenance", responses={**ERRORS, 422: {"model": ErrorPublic}})
def maintenance_report(principal: TechnicianDep, session: SessionDep, ctx: CtxDep, lang: LangDep,
                       tag: TagQuery = None,
                       month: Annotated[str | None, Query(pattern=MONTH.pattern,
                                                          description="YYYY-MM, 2000-01 to 2999-12 (default: this month)")] = None
                       ) -> dict[str, Any]:
    """The data of the monthly maintenance report (``docs/remote-jobs.md`` §5): the hosts (of ``tag``), every
    occurrence of the month with its outcome and steps, and the open findings of each host's newest diagnosis and
    sample. ``techcare.fleet`` renders it."""
    now = _now()
    data = crud_reports.maintenance_report(session, organisation_id=principal.organisation_id,
                                           month=month or now.strftime("%Y-%m"), tag=tag, now=now, lang=lang,
                                           disk_warning=ctx.settings.disk_warning_percent,
                                           disk_critical=ctx.settings.disk_critical_percent,
                                           overdue_after=ctx.settings.host_overdue_seconds)
    session.commit()  # missed occurrences recorded
    return data
