"""License validation (public, rate limited), activation and deactivation (organisation API key), public keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from techcare.i18n import tr

from ... import crud
from ...core.errors import ApiError
from ...core.licensing import MESSAGES, acached_state, decide_cached, license_cache_key, validate
from ...core.security import (
    hash_key_for_rate_limit,
    hash_license_key,
    parse_license_key,
)
from ...schemas import (
    ActivateRequest,
    ActivationResult,
    ErrorPublic,
    Jwk,
    Jwks,
    MachinePublic,
    ValidateRequest,
    ValidateResponse,
)
from .. import rawbody
from ..deps import AppContext, CtxDep, HumanDep, LangDep, SessionDep, client_ip, get_lang, too_many

router = APIRouter(prefix="/api/licenses", tags=["licenses"])


@router.post("/validate", response_model=ValidateResponse,
             responses={429: {"model": ErrorPublic}},
             openapi_extra=rawbody.json_body(ValidateRequest))
async def validate_license(request: Request) -> Response:
    """Validate a license key for a machine. Every definite answer is HTTP 200 with a signed lease (EdDSA JWT).

    The client's ``nonce`` is echoed in the lease, so a replayed answer is recognised by the client. Rate limited
    per IP and per key (429 with ``Retry-After``). Hot path: the rate limits count in process memory (summed across
    instances in Redis in the background) and the license state comes from the process copy of the cache (dropped
    by every admin change, see ``core.cache``); the database is only asked on a cache miss or to activate a new
    machine, and the lease is signed on the event loop.
    """
    ctx: AppContext = request.app.state.ctx
    settings = ctx.settings
    lang = await get_lang(request)
    body: ValidateRequest = rawbody.parse(await request.body(), ValidateRequest)
    ok, retry = ctx.cache.rate_limits([(f"ip:{client_ip(request, ctx)}", settings.rate_limit_ip_per_minute),
                                       (f"key:{hash_key_for_rate_limit(body.key)}", settings.rate_limit_key_per_minute)])
    if not ok:
        raise too_many(retry, lang)
    parsed = parse_license_key(body.key, settings.key_secret_bytes)
    if parsed is None:
        cached: dict[str, Any] | None = {"state": None}
    else:
        cached = await acached_state(ctx, hash_license_key(parsed, settings.key_secret_bytes))
    answer = decide_cached(ctx, body, cached, lang=lang)
    if answer is None:  # a new machine to activate: the database, in the thread pool
        answer = await run_in_threadpool(validate, ctx, body, lang=lang)
    # built by our own code: serialised once, not re-validated against the response model
    return Response(answer.to_json(), media_type="application/json")


@router.get("/public-keys", response_model=Jwks)
async def public_keys(ctx: CtxDep) -> Response:
    """The Ed25519 verification keys (JWKS), the current signing key first (serialised once per app)."""
    body = getattr(ctx, "jwks_body", None)
    if body is None:  # the keys are fixed for the app's lifetime (settings are loaded once)
        keys = Jwks(keys=[Jwk(x=x, kid=kid) for kid, x in ctx.settings.verification_keys.items()])
        body = keys.model_dump_json().encode()
        ctx.jwks_body = body  # type: ignore[attr-defined]
    return Response(body, media_type="application/json")


def _license_of_caller(session: SessionDep, ctx: CtxDep, key: str, organisation_id: str, lang: str) -> str:
    parsed = parse_license_key(key, ctx.settings.key_secret_bytes)
    state = crud.license_state(session, key_hash=hash_license_key(parsed, ctx.settings.key_secret_bytes)) \
        if parsed else None
    if state is None or state["organisation_id"] != organisation_id:
        raise ApiError(404, "NOT_FOUND", tr(*MESSAGES["NOT_FOUND"], lang))
    for code in ("revoked", "suspended"):
        if state["status"] == code:
            raise ApiError(403, code.upper(), tr(*MESSAGES[code.upper()], lang))
    return state["id"]


@router.post("/activate", response_model=ActivationResult,
             responses={403: {"model": ErrorPublic}, 404: {"model": ErrorPublic}, 409: {"model": ErrorPublic}})
def activate(body: ActivateRequest, principal: HumanDep, session: SessionDep, ctx: CtxDep,
             lang: LangDep) -> ActivationResult:
    """Activate a machine. Idempotent: an already active fingerprint (e.g. after a reinstall) keeps its seat."""
    license_id = _license_of_caller(session, ctx, body.key, principal.organisation_id, lang)
    code, machine = crud.activate_machine(session, license_id=license_id, fingerprint=body.fingerprint,
                                          hostname=body.hostname, actor=principal.actor, lang=lang)
    if code == "TOO_MANY_MACHINES":
        raise ApiError(409, code, tr(*MESSAGES[code], lang))
    lic = crud.get_license(session, license_id=license_id)
    session.commit()
    ctx.cache.delete(license_cache_key(lic.key_hash))
    return ActivationResult(code=code, machine=MachinePublic.model_validate(machine),  # type: ignore[arg-type]
                            transfers_left=max(0, lic.max_transfers - lic.transfers_used))


@router.post("/deactivate", response_model=ActivationResult,
             responses={403: {"model": ErrorPublic}, 404: {"model": ErrorPublic}, 409: {"model": ErrorPublic}})
def deactivate(body: ActivateRequest, principal: HumanDep, session: SessionDep, ctx: CtxDep,
               lang: LangDep) -> ActivationResult:
    """Free a machine's seat (a transfer; each license has a limited number)."""
    license_id = _license_of_caller(session, ctx, body.key, principal.organisation_id, lang)
    code, machine, left = crud.deactivate_machine(session, license_id=license_id, fingerprint=body.fingerprint,
                                                  actor=principal.actor, lang=lang)
    lic = crud.get_license(session, license_id=license_id)
    session.commit()
    ctx.cache.delete(license_cache_key(lic.key_hash))
    return ActivationResult(code=code,  # type: ignore[arg-type]
                            machine=MachinePublic.model_validate(machine) if machine else None, transfers_left=left)


