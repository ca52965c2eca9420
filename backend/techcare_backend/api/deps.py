"""Dependencies (``Annotated[..., Depends(...)]``): the app context, a DB session, the caller and gates."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from techcare.editions import EDITION_NAMES, FEATURE_NAMES, edition_for
from techcare.i18n import tr

from .. import crud, crud_bindings
from ..core.errors import ApiError
from ..core.security import hash_api_key

log = logging.getLogger("techcare_backend.auth")

@dataclass
class AppContext:
    settings: Any
    engine: Any
    sessionmaker: Any
    cache: Any


async def get_ctx(request: Request) -> AppContext:
    return request.app.state.ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


def get_session(ctx: CtxDep) -> Iterator[Session]:
    """A session per request. Writing routes call ``session.commit()`` themselves before answering (so a failed
    commit is never reported as success); anything uncommitted is rolled back when the session closes."""
    with ctx.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_lang(request: Request) -> str:
    """German unless the client asks for English (``Accept-Language: en...``)."""
    accept = request.headers.get("accept-language", "").strip().lower()
    return "en" if accept.startswith("en") else "de"


LangDep = Annotated[str, Depends(get_lang)]


def client_ip(request: Request, ctx: AppContext) -> str:
    if ctx.settings.trust_proxy_headers:
        forwarded = request.headers.get("cf-connecting-ip") or request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
    return request.client.host if request.client else "unknown"


bearer = HTTPBearer(auto_error=False, description="API key `tck_...` (or the admin token for /api/admin)")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def unauthorized(lang: str) -> ApiError:
    return ApiError(401, "UNAUTHORIZED", tr("Gültiger API-Schlüssel fehlt (Authorization: Bearer tck_...).",
                                            "A valid API key is required (Authorization: Bearer tck_...).", lang),
                    headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class Principal:
    key_id: str
    organisation_id: str
    role: str
    name: str
    technician_id: str | None
    technician: str | None
    key_hash: str

    @property
    def actor(self) -> str:
        who = self.technician or self.name
        return f"key:{self.key_id} ({self.role}: {who})"


# ---- who may call what ---------------------------------------------------------------------------------------
PUBLIC = "public"  # no key at all
SERVER_ADMIN = "server-admin"  # the ADMIN_TOKEN of the server operator, never an organisation's API key
SENSOR = frozenset({"sensor"})
HUMAN = frozenset({"admin", "technician"})
ORG_ADMIN = frozenset({"admin"})
ANY_KEY = HUMAN | SENSOR

ROUTE_ROLES: dict[str, frozenset[str] | str] = {
    "GET /api/health": PUBLIC,
    "POST /api/licenses/validate": PUBLIC,
    "GET /api/licenses/public-keys": PUBLIC,
    "POST /api/licenses/activate": HUMAN,
    "POST /api/licenses/deactivate": HUMAN,
    # who am I: also a sensor's key (``techcare doctor`` on a monitored host checks key, role and sensor mode)
    "GET /api/me": ANY_KEY,
    "POST /api/keys": ORG_ADMIN,
    "GET /api/keys": ORG_ADMIN,
    "DELETE /api/keys/{key_id}": HUMAN,  # admins any key of the organisation, technicians only their own
    "GET /api/technicians": ORG_ADMIN,
    "GET /api/audit": ORG_ADMIN,
    "POST /api/monitoring/metrics": ANY_KEY,
    "POST /api/monitoring/metrics/batch": ANY_KEY,
    "GET /api/monitoring/hosts": HUMAN,
    "GET /api/monitoring/hosts/{hostname}/metrics": HUMAN,
    "GET /api/monitoring/hosts/{hostname}/history": HUMAN,
    "GET /api/monitoring/alerts": HUMAN,
    "POST /api/cases": HUMAN,
    "GET /api/cases/search": HUMAN,
    "GET /api/cases/{id}": HUMAN,
    # a sensor uploads only the changelog of a remote job (with job_id; checked in routes/changelogs.py)
    "POST /api/changelogs": ANY_KEY,
    "GET /api/changelogs": HUMAN,
    "GET /api/changelogs/{run_session}": HUMAN,
}
"""Every API route (``"METHOD /path/{template}"``) and who may call it: :data:`PUBLIC`, :data:`SERVER_ADMIN` or the
roles of API keys. A route in neither this table nor :data:`AREA_ROLES` is refused to every key (and a test walks
the app's routes so that cannot ship)."""

AREA_ROLES: tuple[tuple[str, frozenset[str] | str], ...] = (
    ("/api/admin/", SERVER_ADMIN),
    ("/api/sensor/jobs", SENSOR),  # a sensor fetches its own jobs and reports on them
    ("/api/jobs", HUMAN),  # technicians and admins send and follow remote jobs
    ("/api/sensor/schedules/", SENSOR),  # a sensor reports on the maintenance occurrences it was handed
    ("/api/schedules", HUMAN),  # maintenance schedules (docs/remote-jobs.md §5)
    ("/api/tags", HUMAN),  # host groups
    ("/api/reports/", HUMAN),  # the monthly maintenance report's data
)
"""Whole areas by path prefix (checked after :data:`ROUTE_ROLES`)."""


def roles_for(method: str, path: str) -> frozenset[str] | str | None:
    """Who may call ``method path`` (the route's template, e.g. ``/api/cases/{id}``); ``None``: nobody."""
    found = ROUTE_ROLES.get(f"{method} {path}")
    if found is not None:
        return found
    for prefix, roles in AREA_ROLES:
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return roles
    return None


def authorize(request: Request, principal: Principal, lang: str) -> Principal:
    """403 unless the role of ``principal``'s key may call the matched route (:func:`roles_for`). Called for every
    request that presents an API key (:func:`get_principal`, and the raw-body routes after their own lookup)."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or request.url.path
    allowed = roles_for(request.method, path)
    if isinstance(allowed, frozenset) and principal.role in allowed:
        return principal
    if allowed is None:
        log.error("route %s %s has no entry in the role table; refused", request.method, path)
    if principal.role == "sensor":
        raise ApiError(403, "FORBIDDEN", tr(
            "Sensor-Schlüssel dürfen nur Messwerte senden und ihre eigenen Aufträge abholen.",
            "Sensor keys may only send metrics and fetch their own jobs.", lang))
    if isinstance(allowed, frozenset):
        raise ApiError(403, "FORBIDDEN", tr(
            "Ein Schlüssel der Rolle {r} darf das nicht (erlaubt: {a}).",
            "A key of role {r} may not do this (allowed: {a}).", lang, r=principal.role,
            a=", ".join(sorted(allowed))))
    raise ApiError(403, "FORBIDDEN", tr("Mit einem API-Schlüssel ist das nicht erlaubt.",
                                        "This is not allowed with an API key.", lang))


def auth_cache_key(key_hash: str) -> str:
    return f"auth:{key_hash}"


def _lookup_principal(ctx: AppContext, key: str) -> dict[str, Any] | None:
    with ctx.sessionmaker() as session:
        return crud.principal_for_key(session, key=key)


async def get_principal(request: Request, ctx: CtxDep, creds: BearerDep, lang: LangDep) -> Principal:
    """The caller of the bearer API key (see :func:`principal_for`), allowed on this route (:func:`authorize`)."""
    if creds is None:
        raise unauthorized(lang)
    return authorize(request, await principal_for(ctx, creds.credentials, lang), lang)


async def principal_for(ctx: AppContext, key: str, lang: str) -> Principal:
    """The caller of API key ``key``, or 401: from the process copy or Redis (``core.cache``), else the database
    (in the thread pool)."""
    if not key.startswith("tck_") or len(key) > 200:
        raise unauthorized(lang)
    cached = await ctx.cache.aget_or_load(auth_cache_key(hash_api_key(key)), lambda: _lookup_principal(ctx, key),
                                          ctx.settings.auth_cache_seconds)
    if cached is None:
        raise unauthorized(lang)
    return Principal(**cached)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def require_org_admin(principal: PrincipalDep, lang: LangDep) -> Principal:
    if principal.role != "admin":
        raise ApiError(403, "FORBIDDEN", tr("Nur Administratoren der Organisation dürfen das.",
                                            "Only administrators of the organisation may do this.", lang))
    return principal


OrgAdminDep = Annotated[Principal, Depends(require_org_admin)]


async def require_human(principal: PrincipalDep, lang: LangDep) -> Principal:
    if principal.role == "sensor":
        raise ApiError(403, "FORBIDDEN", tr("Sensor-Schlüssel dürfen nur Messwerte senden.",
                                            "Sensor keys may only send metrics.", lang))
    return principal


HumanDep = Annotated[Principal, Depends(require_human)]


async def require_sensor(principal: PrincipalDep, lang: LangDep) -> Principal:
    """Only sensor keys (the routes a sensor host calls for its remote jobs)."""
    if principal.role != "sensor":
        raise ApiError(403, "FORBIDDEN", tr("Nur Sensor-Schlüssel dürfen das (der Sensor des Rechners).",
                                            "Only sensor keys may do this (the host's sensor).", lang))
    return principal


SensorDep = Annotated[Principal, Depends(require_sensor)]


async def require_admin_token(ctx: CtxDep, creds: BearerDep, lang: LangDep) -> str:
    token = ctx.settings.admin_token or ""
    if creds is None or not token or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
        raise ApiError(401, "UNAUTHORIZED", tr("Admin-Token fehlt oder ist falsch.",
                                               "The admin token is missing or wrong.", lang),
                       headers={"WWW-Authenticate": "Bearer"})
    return "server-admin"


AdminDep = Annotated[str, Depends(require_admin_token)]


def entitlement_cache_key(organisation_id: str) -> str:
    return f"ent:{organisation_id}"


def _load_entitlements(ctx: AppContext, organisation_id: str) -> dict[str, Any]:
    with ctx.sessionmaker() as session:
        return crud.organisation_entitlements(session, organisation_id=organisation_id)


def org_entitlements(ctx: AppContext, organisation_id: str) -> dict[str, Any]:
    return ctx.cache.get_or_load(entitlement_cache_key(organisation_id),
                                 lambda: _load_entitlements(ctx, organisation_id), ctx.settings.license_cache_seconds)


async def aorg_entitlements(ctx: AppContext, organisation_id: str) -> dict[str, Any]:
    return await ctx.cache.aget_or_load(entitlement_cache_key(organisation_id),
                                        lambda: _load_entitlements(ctx, organisation_id),
                                        ctx.settings.license_cache_seconds)


def check_entitlement(ent: dict[str, Any], feature: str, lang: str) -> None:
    """403 ``ENTITLEMENTS_MISSING`` unless ``ent`` (see :func:`org_entitlements`) includes ``feature``."""
    if feature not in ent["entitlements"]:
        need = edition_for(feature)
        de, en = FEATURE_NAMES[feature]
        raise ApiError(403, "ENTITLEMENTS_MISSING", tr(
            "{f} braucht eine gültige Lizenz ab {need} (Organisation hat: {have}).",
            "{f} needs a valid license of {need} or higher (organisation has: {have}).", lang,
            f=tr(de, en, lang), need=EDITION_NAMES[need],
            have=EDITION_NAMES.get(ent["edition"] or "", tr("keine", "none", lang))))


def requires(feature: str) -> Callable[..., Any]:
    """A dependency: the caller's organisation must hold a valid license with ``feature``."""
    edition_for(feature)  # unknown features fail at import time, not per request

    async def check(ctx: CtxDep, principal: PrincipalDep, lang: LangDep) -> Principal:
        check_entitlement(await aorg_entitlements(ctx, principal.organisation_id), feature, lang)
        return principal

    return check


def too_many(retry: int, lang: str) -> ApiError:
    return ApiError(429, "RATE_LIMITED", tr("Zu viele Anfragen; bitte in {s} s erneut versuchen.",
                                            "Too many requests; retry in {s} s.", lang, s=retry),
                    headers={"Retry-After": str(retry)})


# ---- a sensor key acts only for the host it serves (crud_bindings; docs/remote-jobs.md §3) -------------------
def host_bound_error(exc: crud_bindings.HostBound, lang: str) -> ApiError:
    if exc.reason == "pinned":
        return ApiError(403, "HOST_BOUND", tr(
            "Dieser Sensor-Schlüssel wurde für den Rechner {p} angelegt und bedient nur ihn, nicht {h}.",
            "This sensor key was created for host {p} and serves only it, not {h}.", lang, h=exc.hostname,
            p=exc.pinned_to))
    return ApiError(403, "HOST_BOUND", tr(
        "Der Rechner {h} wird von einem anderen Sensor-Schlüssel bedient{k}; nur dieser darf seine Aufträge abholen "
        "und melden. Bekommt der Rechner einen neuen Schlüssel, widerrufen Sie den alten (DELETE /api/keys/ID).",
        "Host {h} is served by another sensor key{k}; only that key may fetch and report its jobs. When the host "
        "gets a new key, revoke the old one (DELETE /api/keys/ID).", lang, h=exc.hostname,
        k=f" ({exc.bound_prefix}...)" if exc.bound_prefix else ""))


def _binding_cache(ctx: AppContext) -> crud_bindings.BindingCache:
    cache = getattr(ctx, "_host_bindings", None)
    if cache is None:
        cache = crud_bindings.BindingCache(ctx.settings.auth_cache_seconds)
        ctx._host_bindings = cache  # type: ignore[attr-defined]
    return cache


def check_host(ctx: AppContext, principal: Principal, hostnames: list[str], lang: str, *, what: str,
               ip: str | None = None) -> None:
    """403 ``HOST_BOUND`` (audited) unless ``principal`` (a sensor key) serves the host (one name) or one of the
    hosts of a job or occurrence (several); binds an unbound host (:func:`crud_bindings.claim`). Other roles pass.
    Blocking: call it in the thread pool (sync routes are)."""
    if principal.role != "sensor" or not hostnames:
        return
    cache = _binding_cache(ctx)
    if any(cache.allowed(principal.organisation_id, h, principal.key_id) for h in hostnames):
        return
    try:
        if len(hostnames) == 1:
            crud_bindings.claim(ctx.sessionmaker, organisation_id=principal.organisation_id, hostname=hostnames[0],
                                key_id=principal.key_id, actor=principal.actor, ip=ip)
            cache.remember(principal.organisation_id, hostnames[0], principal.key_id)
        else:
            crud_bindings.claim_any(ctx.sessionmaker, organisation_id=principal.organisation_id, hostnames=hostnames,
                                    key_id=principal.key_id, actor=principal.actor, ip=ip)
    except crud_bindings.HostBound as exc:
        if cache.first_refusal(principal.organisation_id, exc.hostname, principal.key_id, what):
            # audited once a minute per key, host and kind (a misconfigured sensor asks again and again)
            log.warning("sensor key %s refused for host %r (%s): %s", principal.key_id, exc.hostname, what,
                        exc.reason)
            crud_bindings.record_refusal(ctx.sessionmaker, organisation_id=principal.organisation_id, exc=exc,
                                         key_id=principal.key_id, actor=principal.actor, what=what, ip=ip)
        raise host_bound_error(exc, lang) from None


async def acheck_host(ctx: AppContext, principal: Principal, hostname: str, lang: str, *, what: str,
                      ip: str | None = None) -> None:
    """:func:`check_host` for one host from the event loop: the cache without a thread, else in the thread pool."""
    if principal.role != "sensor" or _binding_cache(ctx).allowed(principal.organisation_id, hostname,
                                                                 principal.key_id):
        return
    await run_in_threadpool(check_host, ctx, principal, [hostname], lang, what=what, ip=ip)
