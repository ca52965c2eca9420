"""Dependencies (``Annotated[..., Depends(...)]``): the app context, a DB session, the caller and gates."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from techcare.features import EDITION_NAMES, FEATURE_NAMES, edition_for
from techcare.i18n import tr

from .. import crud
from ..core.errors import ApiError
from ..core.security import hash_api_key


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


def _unauthorized(lang: str) -> ApiError:
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


def auth_cache_key(key_hash: str) -> str:
    return f"auth:{key_hash}"


def _lookup_principal(ctx: AppContext, key: str) -> dict[str, Any] | None:
    with ctx.sessionmaker() as session:
        return crud.principal_for_key(session, key=key)


async def get_principal(ctx: CtxDep, creds: BearerDep, lang: LangDep) -> Principal:
    """The caller of an API key: from the cache (async Redis), else the database (in the thread pool)."""
    if creds is None or not creds.credentials.startswith("tck_") or len(creds.credentials) > 200:
        raise _unauthorized(lang)
    key_hash = hash_api_key(creds.credentials)
    cached = await ctx.cache.aget_json(auth_cache_key(key_hash))
    if cached is None:
        cached = await run_in_threadpool(_lookup_principal, ctx, creds.credentials)
        if cached is None:
            raise _unauthorized(lang)
        await ctx.cache.aset_json(auth_cache_key(key_hash), cached, ctx.settings.auth_cache_seconds)
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


def org_entitlements(ctx: AppContext, organisation_id: str) -> dict[str, Any]:
    cached = ctx.cache.get_json(entitlement_cache_key(organisation_id))
    if cached is None:
        with ctx.sessionmaker() as session:
            cached = crud.organisation_entitlements(session, organisation_id=organisation_id)
        ctx.cache.set_json(entitlement_cache_key(organisation_id), cached, ctx.settings.license_cache_seconds)
    return cached


def requires(feature: str) -> Callable[..., Any]:
    """A dependency: the caller's organisation must hold a valid license with ``feature``."""
    need = edition_for(feature)

    async def check(ctx: CtxDep, principal: PrincipalDep, lang: LangDep) -> Principal:
        ent = await ctx.cache.aget_json(entitlement_cache_key(principal.organisation_id))
        if ent is None:
            ent = await run_in_threadpool(org_entitlements, ctx, principal.organisation_id)
        if feature not in ent["entitlements"]:
            de, en = FEATURE_NAMES[feature]
            raise ApiError(403, "ENTITLEMENTS_MISSING", tr(
                "{f} braucht eine gültige Lizenz ab {need} (Organisation hat: {have}).",
                "{f} needs a valid license of {need} or higher (organisation has: {have}).", lang,
                f=tr(de, en, lang), need=EDITION_NAMES[need],
                have=EDITION_NAMES.get(ent["edition"] or "", tr("keine", "none", lang))))
        return principal

    return check


def too_many(retry: int, lang: str) -> ApiError:
    return ApiError(429, "RATE_LIMITED", tr("Zu viele Anfragen; bitte in {s} s erneut versuchen.",
                                            "Too many requests; retry in {s} s.", lang, s=retry),
                    headers={"Retry-After": str(retry)})

