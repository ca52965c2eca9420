"""Dashboard routes. Every data page needs a valid session cookie; without it a browser is sent to the login
page (303) and nothing of the organisation is rendered."""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from techcare.i18n import tr

from .. import crud, crud_changelogs, crud_jobs, crud_tags
from ..api.deps import AppContext, client_ip, org_entitlements
from ..core.security import hash_api_key
from . import alerts as alert_rules
from . import queries
from . import session as sessions

log = logging.getLogger("techcare_backend.dashboard")
HERE = Path(__file__).resolve().parent
router = APIRouter(prefix="/dashboard", include_in_schema=False)
static_app = StaticFiles(directory=HERE / "static")
REFRESH_SECONDS = 30
PER_PAGE_CHOICES = (50, 100, 250, 500)
LOGIN_ATTEMPTS_PER_MINUTE = 20
MAX_ALERTS_SHOWN = 1000
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _fmt_pct(value: Any) -> str:
    return "–" if value is None else f"{float(value):.0f} %"


def _fmt_dt(value: Any) -> str:
    if not isinstance(value, datetime):
        return "–" if value in (None, "") else str(value)
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_OS_NAMES = {"windows": "Windows", "linux": "Linux", "darwin": "macOS"}


def _fmt_os(value: Any) -> str:
    """An OS id as people say it (``darwin`` -> macOS); unknown values as they were sent."""
    return "–" if value in (None, "") else _OS_NAMES.get(str(value), str(value))


env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(("html",)),
                  trim_blocks=True, lstrip_blocks=True)
env.filters["pct"] = _fmt_pct
env.filters["dt"] = _fmt_dt
env.filters["os"] = _fmt_os


def _ctx(request: Request) -> AppContext:
    return request.app.state.ctx


def _lang(request: Request) -> str:
    chosen = request.query_params.get("lang") or request.cookies.get("tc_lang")
    if chosen in ("de", "en"):
        return chosen
    return "en" if request.headers.get("accept-language", "").strip().lower().startswith("en") else "de"


def _render(request: Request, template: str, http_status: int = 200, sess: sessions.DashSession | None = None,
            **values: Any) -> HTMLResponse:
    lang = _lang(request)
    ctx = _ctx(request)
    key = sessions.signing_key(ctx.settings)
    html = env.get_template(template).render(
        lang=lang, t=lambda de, en, **fmt: tr(de, en, lang, **fmt), sess=sess, request=request,
        csrf=sessions.csrf_token(key, sess) if sess else "", path=request.url.path, **values)
    response = HTMLResponse(html, status_code=http_status, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in ("de", "en"):
        response.set_cookie("tc_lang", lang, max_age=365 * 86400, path="/dashboard", samesite="strict",
                            httponly=True, secure=request.url.scheme == "https")
    return response


def current_session(request: Request) -> sessions.DashSession | None:
    """The logged-in session: signed, unexpired, not logged out, and its API key still active."""
    ctx = _ctx(request)
    sess = sessions.verify(sessions.signing_key(ctx.settings), request.cookies.get(sessions.COOKIE))
    if sess is None:
        return None
    with ctx.sessionmaker() as db:
        if not sessions.is_active(db, sess):  # key revoked or session logged out (stored in the database)
            return None
    return sess


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/dashboard/login?next={quote(target, safe='')}", status_code=303,
                            headers={"Cache-Control": "no-store"})


class LoginRequired(Exception):
    """A dashboard page was asked for without a valid session; the app answers with :func:`login_redirect`."""


def require_session(request: Request) -> sessions.DashSession:
    sess = current_session(request)
    if sess is None:
        raise LoginRequired()
    return sess


#: The logged-in dashboard session of a page; without one the page answers with a redirect to the login form.
DashSessionDep = Annotated[sessions.DashSession, Depends(require_session)]


async def login_redirect(request: Request, exc: LoginRequired) -> Response:
    return _to_login(request)


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/dashboard") or value.startswith("//") or "\\" in value:
        return "/dashboard/fleet"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/dashboard/fleet"
    return value


def _same_origin(request: Request) -> bool:
    """POSTs must come from our own pages (on top of the CSRF token and the SameSite=Strict cookie).

    Browsers send ``Sec-Fetch-Site``: only ``same-origin`` passes. Without it the ``Origin`` (or ``Referer``) must
    name this host; a request with neither (a non-browser client) relies on the CSRF token alone."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site == "same-origin"
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme == request.url.scheme


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (the dashboard's only POST bodies); anything else or oversized is empty."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > 8192:
        return {}
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError:
        return {}
    return {k: v[0] for k, v in fields.items()}


def _tag(request: Request) -> str | None:
    """The page's ``?tag=`` filter when it is a valid tag (anything else: no filter)."""
    value = (request.query_params.get("tag") or "").strip().lower()
    return value if crud_tags.valid_tag(value) else None


def _tag_names(db: Any, organisation_id: str) -> list[str]:
    return [t["tag"] for t in crud_tags.list_tags(db, organisation_id=organisation_id)]


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(number, low), high)


# ---- login / logout -----------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def index(request: Request) -> Response:
    return RedirectResponse("/dashboard/fleet" if current_session(request) else "/dashboard/login", status_code=303)


def _login_page(request: Request, *, error: str | None = None, status: int = 200) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = _render(request, "login.html", http_status=status, login_csrf=token, error=error,
                       next=_safe_next(request.query_params.get("next")))
    response.set_cookie(sessions.LOGIN_CSRF_COOKIE, token, max_age=3600, path="/dashboard", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    if current_session(request):
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    lang = _lang(request)
    ctx = _ctx(request)
    form = await _form(request)
    api_key = str(form.get("api_key") or "").strip()
    token = str(form.get("csrf") or "")
    cookie_token = request.cookies.get(sessions.LOGIN_CSRF_COOKIE) or ""
    if not _same_origin(request) or not token or not hmac.compare_digest(token, cookie_token):
        return _login_page(request, status=403, error=tr(
            "Die Anmeldung kam nicht von dieser Seite oder ist abgelaufen. Bitte erneut versuchen.",
            "The login did not come from this page or has expired. Please try again.", lang))
    ok, retry = ctx.cache.rate_limit(f"dash-login:{client_ip(request, ctx)}", LOGIN_ATTEMPTS_PER_MINUTE)
    if not ok:
        response = _login_page(request, status=429, error=tr(
            "Zu viele Anmeldeversuche; bitte in {s} s erneut versuchen.",
            "Too many login attempts; retry in {s} s.", lang, s=retry))
        response.headers["Retry-After"] = str(retry)
        return response
    if not api_key.startswith("tck_") or len(api_key) > 200:
        return _login_page(request, status=401, error=tr(
            "Bitte einen API-Schlüssel der Organisation eingeben (beginnt mit tck_).",
            "Please enter an API key of your organisation (starts with tck_).", lang))
    with ctx.sessionmaker() as db:
        found = sessions.key_login(db, key_hash=hash_api_key(api_key))
    if found is None:
        return _login_page(request, status=401, error=tr("Unbekannter oder widerrufener API-Schlüssel.",
                                                         "Unknown or revoked API key.", lang))
    if found["role"] not in ("admin", "technician"):
        return _login_page(request, status=403, error=tr(
            "Sensor-Schlüssel dürfen sich nicht anmelden; bitte einen Techniker- oder Admin-Schlüssel verwenden.",
            "Sensor keys cannot log in; use a technician or admin key.", lang))
    cookie, _ = sessions.issue(sessions.signing_key(ctx.settings), **found)
    response = RedirectResponse(_safe_next(str(form.get("next") or "")), status_code=303,
                                headers={"Cache-Control": "no-store"})
    response.set_cookie(sessions.COOKIE, cookie, max_age=sessions.SESSION_SECONDS, path="/dashboard",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    response.delete_cookie(sessions.LOGIN_CSRF_COOKIE, path="/dashboard")
    log.info("dashboard login: key %s (%s) of organisation %s", found["key_id"], found["role"],
             found["organisation_id"])
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = _ctx(request)
    key = sessions.signing_key(ctx.settings)
    sess = sessions.verify(key, request.cookies.get(sessions.COOKIE))
    form = await _form(request)
    if sess is None:
        return RedirectResponse("/dashboard/login", status_code=303)
    token = str(form.get("csrf") or "")
    if not _same_origin(request) or not hmac.compare_digest(token, sessions.csrf_token(key, sess)):
        lang = _lang(request)
        return HTMLResponse(tr("Abmeldung abgelehnt: ungültiges Formular-Token.",
                               "Logout refused: invalid form token.", lang), status_code=403,
                            headers=SECURITY_HEADERS)
    await run_in_threadpool(sessions.revoke, ctx.sessionmaker, sess)  # durable: holds without Redis too
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/dashboard")
    return response


# ---- pages ----------------------------------------------------------------------------------------------------
@router.get("/fleet", response_class=HTMLResponse)
def fleet(request: Request, sess: DashSessionDep) -> Response:
    ctx = _ctx(request)
    params = request.query_params
    status = params.get("status") if params.get("status") in queries.STATUSES else "all"
    sort = params.get("sort") if params.get("sort") in queries.SORTS else "hostname"
    desc = params.get("dir") == "desc"
    per_page = _int(params.get("per_page"), 100, 10, 500)
    q = (params.get("q") or "").strip()[:100].replace("\x00", "")
    tag = _tag(request)
    with ctx.sessionmaker() as db:
        page = queries.fleet_page(db, organisation_id=sess.organisation_id,
                                  overdue_after=ctx.settings.host_overdue_seconds,
                                  disk_warning=ctx.settings.disk_warning_percent, status=status, q=q, sort=sort,
                                  desc=desc, page=_int(params.get("page"), 1, 1, 1_000_000), per_page=per_page,
                                  tag=tag)
        tags = _tag_names(db, sess.organisation_id)

    def link(**changes: Any) -> str:
        values = {"status": status, "q": q, "sort": sort, "dir": "desc" if desc else "asc", "per_page": per_page,
                  "page": page.page, "tag": tag, **changes}
        return "/dashboard/fleet?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in values.items()
                                               if v not in ("", None))

    return _render(request, "fleet.html", sess=sess, page=page, status=status, q=q, sort=sort, desc=desc,
                   per_page=per_page, per_page_choices=PER_PAGE_CHOICES, link=link, refresh=REFRESH_SECONDS,
                   nav="fleet", tag=tag, tags=tags)


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, sess: DashSessionDep) -> Response:
    ctx = _ctx(request)
    lang = _lang(request)
    tag = _tag(request)
    with ctx.sessionmaker() as db:
        hosts = queries.alert_hosts(db, organisation_id=sess.organisation_id,
                                    overdue_after=ctx.settings.host_overdue_seconds,
                                    disk_warning=ctx.settings.disk_warning_percent,
                                    cached_seen=ctx.cache.get_last_seen(sess.organisation_id), tag=tag)
        tags = _tag_names(db, sess.organisation_id)
    items = alert_rules.alerts(hosts, disk_warning=ctx.settings.disk_warning_percent,
                               disk_critical=ctx.settings.disk_critical_percent, lang=lang)
    return _render(request, "alerts.html", sess=sess, alerts=items[:MAX_ALERTS_SHOWN], total=len(items),
                   refresh=REFRESH_SECONDS, nav="alerts", tag=tag, tags=tags)


@router.get("/hosts/{hostname:path}", response_class=HTMLResponse)  # names stored before "/" was refused
def host(request: Request, hostname: str, sess: DashSessionDep) -> Response:
    ctx = _ctx(request)
    lang = _lang(request)
    chosen = request.query_params.get("range", "24h")
    if chosen not in queries.RANGES:
        return _render(request, "error.html", http_status=422, sess=sess, nav="fleet", message=tr(
            "Unbekannter Zeitraum {r!r}; erlaubt: {a}.", "Unknown range {r!r}; allowed: {a}.", lang, r=chosen,
            a=", ".join(queries.RANGES)))
    with ctx.sessionmaker() as db:
        row = queries.host_row(db, organisation_id=sess.organisation_id, hostname=hostname)
        if row is None:  # also for hosts of other organisations: nothing reveals that they exist
            return _render(request, "error.html", http_status=404, sess=sess, nav="fleet", message=tr(
                "Host {h} ist in Ihrer Organisation unbekannt.", "Host {h} is unknown in your organisation.", lang,
                h=hostname))
        now = datetime.now(UTC)
        series = queries.host_series(db, organisation_id=sess.organisation_id, hostname=hostname,
                                     since=now - queries.RANGES[chosen], now=now,
                                     retention_days=ctx.settings.metrics_retention_days)
        host_jobs = crud_jobs.host_jobs(db, organisation_id=sess.organisation_id, hostname=hostname, now=now,
                                        limit=HOST_JOBS_SHOWN)
        host_tags = crud_tags.host_tags(db, organisation_id=sess.organisation_id, hostname=hostname)
        tags = _tag_names(db, sess.organisation_id)
        db.commit()  # targets that expired meanwhile
    last_seen = row.last_seen if row.last_seen.tzinfo else row.last_seen.replace(tzinfo=UTC)
    overdue = (now - last_seen).total_seconds() > ctx.settings.host_overdue_seconds
    return _render(request, "host.html", sess=sess, host=row, last=row.last or {}, overdue=overdue,
                   ranges=list(queries.RANGES), chosen=chosen, series_json=json.dumps(series),
                   samples=series["samples"], resolution=series["resolution"], refresh=REFRESH_SECONDS, nav="fleet",
                   disk_warning=ctx.settings.disk_warning_percent, host_jobs=host_jobs, host_tags=host_tags,
                   tags=tags, tag_notice=request.query_params.get("tagmsg") or "")


@router.get("/changelogs", response_class=HTMLResponse)
def changelogs(request: Request, sess: DashSessionDep) -> Response:
    ctx = _ctx(request)
    with ctx.sessionmaker() as db:
        items = crud_changelogs.list_sessions(db, organisation_id=sess.organisation_id, limit=50)
    return _render(request, "changelogs.html", sess=sess, sessions=items, nav="changelogs")


@router.get("/changelogs/{run_session}", response_class=HTMLResponse)
def changelog(request: Request, run_session: str, sess: DashSessionDep) -> Response:
    ctx = _ctx(request)
    with ctx.sessionmaker() as db:
        entries = crud_changelogs.session_entries(db, organisation_id=sess.organisation_id, run_session=run_session)
    if not entries:
        lang = _lang(request)
        return _render(request, "error.html", http_status=404, sess=sess, nav="changelogs", message=tr(
            "Sitzung {s} ist in Ihrer Organisation unbekannt.", "Session {s} is unknown in your organisation.", lang,
            s=run_session))
    return _render(request, "changelog.html", sess=sess, run_session=run_session, entries=entries,
                   nav="changelogs")


@router.get("/cases", response_class=HTMLResponse)
def cases(request: Request, sess: DashSessionDep) -> Response:
    ctx = _ctx(request)
    with ctx.sessionmaker() as db:
        items = queries.recent_cases(db, organisation_id=sess.organisation_id, limit=50)
    return _render(request, "cases.html", sess=sess, cases=items, nav="cases")


# ---- remote jobs ----------------------------------------------------------------------------------------------
JOB_STATUSES = ("queued", "delivered", "running", "succeeded", "failed", "rolled_back", "refused", "expired",
                "cancelled")
JOBS_SHOWN = 100
HOST_JOBS_SHOWN = 10


def _problems(diagnosis: dict[str, Any], lang: str) -> dict[str, Any]:
    """The problems of a reported diagnosis (``techcare diagnose --json``), worst first, in the page's language;
    whatever a sensor sent that is not a finding is skipped."""
    rank = {"critical": 0, "warning": 1}
    raw = diagnosis.get("findings")
    items = [f for f in raw if isinstance(f, dict)] if isinstance(raw, list) else []
    problems = sorted((f for f in items if f.get("severity") in rank), key=lambda f: rank[f["severity"]])
    return {"total": len(items), "drivers": False, "problems": [
        {"severity": f["severity"], "summary": str(f.get(f"summary_{lang}") or f.get("summary") or f.get("check") or "")}
        for f in problems[:50]]}


def _driver_updates(report: dict[str, Any], lang: str) -> dict[str, Any]:
    """A drivers job's result (``techcare.tools.drivers`` report): the updates, critical first, and the counts."""
    rank = {"CRITICAL": 0, "RECOMMENDED": 1, "OPTIONAL": 2}
    raw = report.get("updates")
    updates = [u for u in raw if isinstance(u, dict)] if isinstance(raw, list) else []
    updates.sort(key=lambda u: rank.get(str(u.get("importance")), 3))
    stats = report.get("stats") if isinstance(report.get("stats"), dict) else {}
    severity = {"CRITICAL": "critical", "RECOMMENDED": "warning"}
    return {"total": stats.get("installed", len(report.get("drivers") or [])), "drivers": True, "problems": [
        {"severity": severity.get(str(u.get("importance")), "info"),
         "summary": f"{u.get('device') or '?'}: {u.get('installed_version') or '?'} → "
                    f"{u.get('latest_version') or '?'} ({u.get('source') or '?'})"} for u in updates[:50]]}


@router.get("/jobs", response_class=HTMLResponse)
def jobs(request: Request, sess: DashSessionDep) -> Response:
    """The organisation's remote jobs, newest first: per-host status, who sent and who signed them."""
    ctx = _ctx(request)
    params = request.query_params
    status = params.get("status") if params.get("status") in JOB_STATUSES else None
    host = (params.get("host") or "").strip()[:255].replace("\x00", "") or None
    tag = _tag(request)
    with ctx.sessionmaker() as db:
        items = crud_jobs.list_jobs(db, organisation_id=sess.organisation_id, now=datetime.now(UTC), host=host,
                                    status=status, limit=JOBS_SHOWN, tag=tag)
        tags = _tag_names(db, sess.organisation_id)
        db.commit()  # targets that expired meanwhile
    entitled = "unlimited_systems" in org_entitlements(ctx, sess.organisation_id)["entitlements"]
    return _render(request, "jobs.html", sess=sess, jobs=items, status=status, host=host or "", entitled=entitled,
                   statuses=JOB_STATUSES, refresh=REFRESH_SECONDS, nav="jobs", tag=tag, tags=tags)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job(request: Request, job_id: str, sess: DashSessionDep) -> Response:
    ctx = _ctx(request)
    lang = _lang(request)
    with ctx.sessionmaker() as db:
        crud_jobs.expire_overdue(db, organisation_id=sess.organisation_id, now=datetime.now(UTC), job_id=job_id)
        row = crud_jobs.get_job(db, organisation_id=sess.organisation_id, job_id=job_id)
        if row is None:  # also for jobs of other organisations: nothing reveals that they exist
            return _render(request, "error.html", http_status=404, sess=sess, nav="jobs", message=tr(
                "Auftrag {j} ist in Ihrer Organisation unbekannt.", "Job {j} is unknown in your organisation.", lang,
                j=job_id[:64]))
        item = crud_jobs.load_public(db, job=row)
        changelogs = crud_jobs.job_changelog_sessions(db, organisation_id=sess.organisation_id, job_id=row.id)
        db.commit()
    notice = {"cancelled": tr("Abbruch veranlasst: wartende Ziele sind abgebrochen, laufende halten vor dem nächsten "
                              "Schritt an.", "Cancel requested: waiting targets are cancelled, running ones stop "
                              "before their next step.", lang),
              "final": tr("Nichts abzubrechen: die Ziele sind schon abgeschlossen.",
                          "Nothing to cancel: the targets are already final.", lang)}.get(
        request.query_params.get("msg") or "")
    active = any(t.status in ("queued", "delivered", "running") and not t.cancel_requested for t in item.targets)
    summarise = _driver_updates if item.kind == "drivers" else _problems
    findings = {t.host: summarise(t.diagnosis, lang) for t in item.targets if t.diagnosis}
    return _render(request, "job.html", sess=sess, job=item, changelogs=changelogs, notice=notice, active=active,
                   findings=findings,
                   refresh=REFRESH_SECONDS if item.status in ("queued", "running") else None, nav="jobs")


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(request: Request, job_id: str, sess: DashSessionDep) -> Response:
    """The job page's cancel button (all hosts, or the one named in the form's ``host``)."""
    ctx = _ctx(request)
    lang = _lang(request)
    form = await _form(request)
    token = str(form.get("csrf") or "")
    key = sessions.signing_key(ctx.settings)
    if not _same_origin(request) or not hmac.compare_digest(token, sessions.csrf_token(key, sess)):
        return _render(request, "error.html", http_status=403, sess=sess, nav="jobs", message=tr(
            "Abbruch abgelehnt: ungültiges Formular-Token. Bitte die Seite neu laden.",
            "Cancel refused: invalid form token. Please reload the page.", lang))
    host = form.get("host") or None
    actor = f"dashboard:key:{sess.key_id} ({sess.role}: {sess.name})"

    def run() -> tuple[str, list[str]]:
        with ctx.sessionmaker() as db:
            try:
                _, notify = crud_jobs.cancel_job(db, organisation_id=sess.organisation_id, job_id=job_id,
                                                 hosts=[host] if host else None, actor=actor, by=sess.name,
                                                 now=datetime.now(UTC), ip=client_ip(request, ctx))
            except crud_jobs.JobNotFound:
                return "missing", []
            except crud_jobs.JobConflict:
                return "final", []
            db.commit()
        return "cancelled", notify

    outcome, notify = await run_in_threadpool(run)
    if outcome == "missing":
        return _render(request, "error.html", http_status=404, sess=sess, nav="jobs", message=tr(
            "Auftrag {j} oder Rechner {h} ist in Ihrer Organisation unbekannt.",
            "Job {j} or host {h} is unknown in your organisation.", lang, j=job_id[:64], h=(host or "–")[:255]))
    if notify:
        ctx.cache.wake_jobs(sess.organisation_id, notify)
    return RedirectResponse(f"/dashboard/jobs/{quote(job_id, safe='')}?msg={outcome}", status_code=303,
                            headers={"Cache-Control": "no-store"})
