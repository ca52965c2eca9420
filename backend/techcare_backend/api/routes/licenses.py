"""License validation (public, rate limited), activation and deactivation (organisation API key), public keys."""

from __future__ import annotations

from fastapi import APIRouter

from ... import crud
from ...core.errors import ApiError
from ...core.licensing import MESSAGES, license_cache_key, validate
from ...core.security import hash_key_for_rate_limit, hash_license_key, parse_license_key
from ...schemas import ActivateRequest, ActivationResult, ErrorPublic, Jwk, Jwks, MachinePublic, ValidateRequest, \
    ValidateResponse
from ..deps import CtxDep, HumanDep, LangDep, RateLimitedIp, SessionDep, too_many
from techcare.i18n import tr

router = APIRouter(prefix="/api/licenses", tags=["licenses"])


@router.post("/validate", response_model=ValidateResponse,
             responses={422: {"description": "malformed body"}, 429: {"model": ErrorPublic}})
def validate_license(body: ValidateRequest, ctx: CtxDep, ip: RateLimitedIp, lang: LangDep) -> ValidateResponse:
    """Validate a license key for a machine. Every definite answer is HTTP 200 with a signed lease (EdDSA JWT).

    The client's ``nonce`` is echoed in the lease, so a replayed answer is recognised by the client.
    """
    ok, retry = ctx.cache.rate_limit(f"key:{hash_key_for_rate_limit(body.key)}",
                                     ctx.settings.rate_limit_key_per_minute)
    if not ok:
        raise too_many(retry, lang)
    return validate(ctx, body, lang=lang)


@router.get("/public-keys", response_model=Jwks)
def public_keys(ctx: CtxDep) -> Jwks:
    """The Ed25519 verification keys (JWKS), the current signing key first."""
    return Jwks(keys=[Jwk(x=x, kid=kid) for kid, x in ctx.settings.verification_keys.items()])


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


