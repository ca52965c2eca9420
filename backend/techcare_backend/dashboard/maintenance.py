"""Dashboard pages of maintenance schedules and tags (``docs/remote-jobs.md`` §5): the Wartung/Maintenance page
(schedules, each host's next occurrence in its own local time, outcomes), a schedule's page (every host's
occurrences, pause/resume), the monthly report download, and adding/removing a host's tags on its page. Writes use
the session's CSRF token and are audited like the API's."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from techcare.i18n import tr

from .. import crud_reports, crud_schedules, crud_tags
from ..api.deps import client_ip
from . import session as sessions
from .routes import (
    REFRESH_SECONDS,
    DashSessionDep,
    SECURITY_HEADERS,
    _ctx,
    _form,
    _lang,
    _render,
    _same_origin,
    _tag,
    _tag_names,
    router,
)

MONTH = re.compile(r"^2[0-9]{3}-(0[1-9]|1[0-2])$")
SCHEDULE_ID = re.compile(r"^[0-9a-f]{32}$")
RECENT_DAYS = 35
AHEAD_DAYS = 14


def _actor(sess: sessions.DashSession) -> str:
    return f"dashboard:key:{sess.key_id} ({sess.role}: {sess.name})"


def _entitled(request: Request, sess: sessions.DashSession) -> bool:
    """Schedules are a Pro Business feature (``unlimited_systems``), as in the API."""
    from ..api.deps import org_entitlements

    return "unlimited_systems" in org_entitlements(_ctx(request), sess.organisation_id)["entitlements"]


def _csrf_ok(request: Request, sess: sessions.DashSession, form: dict[str, str]) -> bool:
    key = sessions.signing_key(_ctx(request).settings)
    return _same_origin(request) and hmac.compare_digest(str(form.get("csrf") or ""), sessions.csrf_token(key, sess))


def _not_entitled(request: Request, sess: sessions.DashSession) -> HTMLResponse:
    lang = _lang(request)
    return _render(request, "error.html", http_status=403, sess=sess, nav="maintenance", message=tr(
        "Wartungspläne gibt es ab der Edition Pro Business.", "Maintenance schedules need the Pro Business edition "
        "or higher.", lang))


@router.get("/maintenance", response_class=HTMLResponse)
def maintenance(request: Request, sess: DashSessionDep) -> Response:
    """The organisation's schedules with each host's next occurrence (local time) and recent outcomes."""
    if not _entitled(request, sess):
        return _not_entitled(request, sess)
    ctx = _ctx(request)
    tag = _tag(request)
    now = datetime.now(UTC)
    with ctx.sessionmaker() as db:
        items = crud_schedules.list_schedules(db, organisation_id=sess.organisation_id, now=now, tag=tag)
        recent = {}
        for item in items:
            schedule = crud_schedules.get_schedule(db, organisation_id=sess.organisation_id,
                                                   schedule_id=item["schedule_id"])
            occs = crud_schedules.list_occurrences(db, schedule, now=now, since=now - timedelta(days=RECENT_DAYS),
                                                   until=now + timedelta(minutes=1))
            latest: dict[str, dict[str, Any]] = {}
            for occ in occs:  # sorted by time: the last one per host wins
                latest[occ["host"]] = occ
            recent[item["schedule_id"]] = latest
        tags = _tag_names(db, sess.organisation_id)
        db.commit()  # missed occurrences recorded
    return _render(request, "maintenance.html", sess=sess, schedules=items, recent=recent, tag=tag, tags=tags,
                   month=now.strftime("%Y-%m"), refresh=REFRESH_SECONDS, nav="maintenance")


@router.get("/maintenance/report")
def report_download(request: Request, sess: DashSessionDep) -> Response:
    """The monthly maintenance report of a tag as Markdown or HTML (rendered by ``techcare.fleet.report``)."""
    if not _entitled(request, sess):
        return _not_entitled(request, sess)
    lang = _lang(request)
    ctx = _ctx(request)
    params = request.query_params
    month = params.get("month") or datetime.now(UTC).strftime("%Y-%m")
    fmt = params.get("format") or "html"
    if not MONTH.fullmatch(month) or fmt not in ("html", "md"):
        return _render(request, "error.html", http_status=422, sess=sess, nav="maintenance", message=tr(
            "Monat als JJJJ-MM und Format html oder md angeben.", "Give the month as YYYY-MM and the format as html "
            "or md.", lang))
    try:
        from techcare.fleet.report import render_report
    except ImportError:
        return _render(request, "error.html", http_status=503, sess=sess, nav="maintenance", message=tr(
            "Die Berichtsausgabe (techcare.fleet.report) ist in dieser Installation nicht vorhanden; die Daten gibt "
            "es als JSON: GET /api/reports/maintenance.", "Report rendering (techcare.fleet.report) is not part of "
            "this installation; the data is available as JSON: GET /api/reports/maintenance.", lang))
    tag = _tag(request)
    now = datetime.now(UTC)
    with ctx.sessionmaker() as db:
        data = crud_reports.maintenance_report(db, organisation_id=sess.organisation_id, month=month, tag=tag,
                                               now=now, lang=lang, disk_warning=ctx.settings.disk_warning_percent,
                                               disk_critical=ctx.settings.disk_critical_percent,
                                               overdue_after=ctx.settings.host_overdue_seconds)
        db.commit()
    markdown, html = render_report(data, lang)
    name = f"wartung-{(tag or 'alle').replace(':', '-')}-{month}" if lang == "de" else \
        f"maintenance-{(tag or 'all').replace(':', '-')}-{month}"
    body, media = (html, "text/html; charset=utf-8") if fmt == "html" else (markdown, "text/markdown; charset=utf-8")
    return Response(body, media_type=media, headers={
        **SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@router.get("/maintenance/{schedule_id}", response_class=HTMLResponse)
def schedule_page(request: Request, schedule_id: str, sess: DashSessionDep) -> Response:
    """One schedule: its signed settings and every host's occurrences with outcome, in the host's local time."""
    if not _entitled(request, sess):
        return _not_entitled(request, sess)
    ctx = _ctx(request)
    lang = _lang(request)
    now = datetime.now(UTC)
    host = (request.query_params.get("host") or "").strip()[:255] or None
    with ctx.sessionmaker() as db:
        schedule = crud_schedules.get_schedule(db, organisation_id=sess.organisation_id,
                                               schedule_id=schedule_id) if SCHEDULE_ID.fullmatch(schedule_id) else None
        if schedule is None:  # also for schedules of other organisations: nothing reveals that they exist
            return _render(request, "error.html", http_status=404, sess=sess, nav="maintenance", message=tr(
                "Wartungsplan {s} ist in Ihrer Organisation unbekannt.", "Schedule {s} is unknown in your "
                "organisation.", lang, s=schedule_id[:64]))
        if host is not None and host not in schedule.hosts:
            host = None
        item = crud_schedules.schedule_public(db, schedule, now=now)
        occs = crud_schedules.list_occurrences(db, schedule, now=now, since=now - timedelta(days=RECENT_DAYS),
                                               until=now + timedelta(days=AHEAD_DAYS), host=host)
        db.commit()
    notice = {"paused": tr("Pausiert: es werden keine Termine mehr übergeben.", "Paused: no occurrences are handed "
                           "out.", lang),
              "resumed": tr("Fortgesetzt: Termine werden ab dem aktuellen wieder übergeben.", "Resumed: occurrences "
                            "are handed out again from the current one.", lang),
              "state": tr("Der Plan war schon in diesem Zustand.", "The schedule was in that state already.", lang)
              }.get(request.query_params.get("msg") or "")
    return _render(request, "schedule.html", sess=sess, schedule=item, occurrences=occs[::-1], host=host or "",
                   notice=notice, refresh=REFRESH_SECONDS, nav="maintenance")


async def _change(request: Request, schedule_id: str, action: str, sess: sessions.DashSession) -> Response:
    ctx = _ctx(request)
    lang = _lang(request)
    form = await _form(request)
    if not _csrf_ok(request, sess, form):
        return _render(request, "error.html", http_status=403, sess=sess, nav="maintenance", message=tr(
            "Abgelehnt: ungültiges Formular-Token. Bitte die Seite neu laden.",
            "Refused: invalid form token. Please reload the page.", lang))
    if not await run_in_threadpool(_entitled, request, sess):
        return _not_entitled(request, sess)

    def run() -> str:
        with ctx.sessionmaker() as db:
            try:
                crud_schedules.set_state(db, organisation_id=sess.organisation_id, schedule_id=schedule_id,
                                         action=action, actor=_actor(sess), by=sess.name, now=datetime.now(UTC),
                                         ip=client_ip(request, ctx))
            except crud_schedules.ScheduleNotFound:
                return "missing"
            except crud_schedules.ScheduleConflict:
                return "state"
            db.commit()
        return "paused" if action == "pause" else "resumed"

    outcome = await run_in_threadpool(run)
    if outcome == "missing":
        return _render(request, "error.html", http_status=404, sess=sess, nav="maintenance", message=tr(
            "Wartungsplan {s} ist in Ihrer Organisation unbekannt.", "Schedule {s} is unknown in your organisation.",
            lang, s=schedule_id[:64]))
    crud_schedules.due_index(request.app.state).invalidate(sess.organisation_id)
    return RedirectResponse(f"/dashboard/maintenance/{quote(schedule_id, safe='')}?msg={outcome}", status_code=303,
                            headers={"Cache-Control": "no-store"})


@router.post("/maintenance/{schedule_id}/pause")
async def pause(request: Request, schedule_id: str, sess: DashSessionDep) -> Response:
    return await _change(request, schedule_id, "pause", sess)


@router.post("/maintenance/{schedule_id}/resume")
async def resume(request: Request, schedule_id: str, sess: DashSessionDep) -> Response:
    return await _change(request, schedule_id, "resume", sess)


@router.post("/hosts/{hostname}/tags")
async def host_tags(request: Request, hostname: str, sess: DashSessionDep) -> Response:
    """The host page's tag forms: ``action`` add or remove, ``tag``."""
    ctx = _ctx(request)
    lang = _lang(request)
    form = await _form(request)
    if not _csrf_ok(request, sess, form):
        return _render(request, "error.html", http_status=403, sess=sess, nav="fleet", message=tr(
            "Abgelehnt: ungültiges Formular-Token. Bitte die Seite neu laden.",
            "Refused: invalid form token. Please reload the page.", lang))
    tag = str(form.get("tag") or "").strip().lower()
    action = form.get("action")
    if not crud_tags.valid_tag(tag) or action not in ("add", "remove"):
        return _render(request, "error.html", http_status=422, sess=sess, nav="fleet", message=tr(
            "Ungültiges Tag {t!r}: kleine Buchstaben, Ziffern, _ . - und höchstens ein „:“ (z.B. "
            "kunde:baeckerei-mueller).", "Invalid tag {t!r}: lowercase letters, digits, _ . - and at most one ':' "
            "(e.g. kunde:baeckerei-mueller).", lang, t=tag[:130]))

    def run() -> str:
        with ctx.sessionmaker() as db:
            try:
                if action == "add":
                    crud_tags.add_tags(db, organisation_id=sess.organisation_id, tag=tag, hosts=[hostname],
                                       actor=_actor(sess), by=sess.name, now=datetime.now(UTC),
                                       ip=client_ip(request, ctx))
                else:
                    crud_tags.remove_tags(db, organisation_id=sess.organisation_id, tag=tag, hosts=[hostname],
                                          actor=_actor(sess), now=datetime.now(UTC), ip=client_ip(request, ctx))
            except crud_tags.TagError as exc:
                return exc.what
            db.commit()
        return "ok"

    outcome = await run_in_threadpool(run)
    if outcome == "unknown_hosts":
        return _render(request, "error.html", http_status=404, sess=sess, nav="fleet", message=tr(
            "Host {h} ist in Ihrer Organisation unbekannt.", "Host {h} is unknown in your organisation.", lang,
            h=hostname[:255]))
    target = f"/dashboard/hosts/{quote(hostname, safe='')}" + (f"?tagmsg={outcome}" if outcome != "ok" else "")
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
