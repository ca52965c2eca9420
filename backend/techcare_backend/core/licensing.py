"""License validation: the decision and the signed lease.

Order of checks (as Keygen): the key's check tag (forged or mistyped keys end here, before any database
lookup), NOT_FOUND, REVOKED, SUSPENDED, EXPIRED, ENTITLEMENTS_MISSING, the fingerprint scope
(FINGERPRINT_SCOPE_MISMATCH when the machine is not activated and the license needs explicit activation,
TOO_MANY_MACHINES when activating it would exceed the seats), VALID.

License state is cached (``LICENSE_CACHE_SECONDS``) and invalidated on every admin change and activation.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from techcare.editions import ENTITLEMENTS, limits
from techcare.i18n import tr

from .. import crud
from ..schemas import ValidateRequest
from .security import hash_license_key, parse_license_key, sign_lease

__all__ = ["Answer", "acached_state", "cached_state", "decide_cached", "license_cache_key", "validate"]

MESSAGES = {
    "VALID": ("Lizenz gültig.", "License valid."),
    "NOT_FOUND": ("Lizenzschlüssel unbekannt oder falsch geschrieben.", "License key unknown or mistyped."),
    "SUSPENDED": ("Lizenz ist gesperrt.", "License is suspended."),
    "REVOKED": ("Lizenz wurde widerrufen.", "License has been revoked."),
    "EXPIRED": ("Lizenz ist abgelaufen.", "License has expired."),
    "FINGERPRINT_SCOPE_MISMATCH": ("Dieses Gerät ist für die Lizenz nicht aktiviert.",
                                   "This machine is not activated for the license."),
    "TOO_MANY_MACHINES": ("Alle Geräteplätze der Lizenz sind belegt.", "All machine seats of the license are in use."),
    "ENTITLEMENTS_MISSING": ("Die Lizenz enthält nicht alle angefragten Funktionen: {missing}.",
                             "The license lacks requested entitlements: {missing}."),
}


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer of validate (the body of ``schemas.ValidateResponse``), built by :func:`_answer`."""

    valid: bool
    code: str
    detail: str
    ts: int
    lease: str

    def to_json(self) -> str:
        return json.dumps({"valid": self.valid, "code": self.code, "detail": self.detail, "ts": self.ts,
                           "lease": self.lease})


def license_cache_key(key_hash: str) -> str:
    return f"lic:{key_hash}"


def _load_state(ctx: Any, key_hash: str) -> dict[str, Any]:
    with ctx.sessionmaker() as session:
        return {"state": crud.license_state(session, key_hash=key_hash)}


def cached_state(ctx: Any, key_hash: str) -> dict[str, Any]:
    """``{"state": ...}`` of a license key hash (``None`` for unknown keys: cached too, briefly, so a flood of
    well-formed unknown keys does not reach the database)."""
    return ctx.cache.get_or_load(license_cache_key(key_hash), lambda: _load_state(ctx, key_hash),
                                 ctx.settings.license_cache_seconds)


async def acached_state(ctx: Any, key_hash: str) -> dict[str, Any]:
    """:func:`cached_state` on the event loop (the database, on a miss, in the thread pool)."""
    return await ctx.cache.aget_or_load(license_cache_key(key_hash), lambda: _load_state(ctx, key_hash),
                                        ctx.settings.license_cache_seconds)


def _answer(ctx: Any, req: ValidateRequest, code: str, state: dict[str, Any] | None, now: int, lang: str | None,
            **fmt: Any) -> Answer:
    settings = ctx.settings
    valid = code == "VALID"
    if valid:
        exp = now + settings.lease_days * 86400
        if state and state.get("expires_at"):
            exp = min(exp, int(state["expires_at"]))
    else:
        exp = now + settings.denial_lease_seconds
    claims: dict[str, Any] = {
        "edition": state["edition"] if state else None,
        "entitlements": list(ENTITLEMENTS[state["edition"]]) if state and valid else [],
        "limits": limits(state["edition"], state["max_machines"]) if state and valid else {},
        "fingerprint": req.fingerprint, "nonce": req.nonce, "code": code, "valid": valid,
        "iat": now, "nbf": now, "exp": exp, "jti": secrets.token_urlsafe(12),
    }
    if state:
        claims["sub"] = state["id"]
        claims["org"] = state["organisation_id"]
        claims["license_expires_at"] = state["expires_at"]
    de, en = MESSAGES[code]
    return Answer(valid=valid, code=code, detail=tr(de, en, lang, **fmt), ts=now,
                  lease=sign_lease(claims, settings.signing_key, settings.signing_kid))


def decide_cached(ctx: Any, req: ValidateRequest, cached: dict[str, Any] | None, *,
                  lang: str | None = None) -> Answer | None:
    """The answer from a cached license state without touching the database, or ``None`` when the database is
    needed (no cached state, or the machine must be activated)."""
    if cached is None:
        return None
    state = cached.get("state")
    if state is not None and req.fingerprint not in state["fingerprints"] and state["auto_activate"] and (
            state["max_machines"] is None or len(state["fingerprints"]) < state["max_machines"]) and (
            state["status"] == "active"):
        return None  # activation writes to the database: take the full path
    return _decide(ctx, req, state, int(time.time()), lang, key_hash=None)


def validate(ctx: Any, req: ValidateRequest, *, lang: str | None = None) -> Answer:
    now = int(time.time())
    secret = ctx.settings.key_secret_bytes
    parsed = parse_license_key(req.key, secret)
    if parsed is None:
        return _answer(ctx, req, "NOT_FOUND", None, now, lang)
    key_hash = hash_license_key(parsed, secret)
    return _decide(ctx, req, cached_state(ctx, key_hash)["state"], now, lang, key_hash=key_hash)


def _decide(ctx: Any, req: ValidateRequest, state: dict[str, Any] | None, now: int, lang: str | None, *,
            key_hash: str | None) -> Answer:
    if state is None:
        return _answer(ctx, req, "NOT_FOUND", None, now, lang)
    if state["status"] == "revoked":
        return _answer(ctx, req, "REVOKED", state, now, lang)
    if state["status"] == "suspended":
        return _answer(ctx, req, "SUSPENDED", state, now, lang)
    if state["expires_at"] is not None and state["expires_at"] <= now:
        return _answer(ctx, req, "EXPIRED", state, now, lang)
    missing = sorted(set(req.entitlements) - set(ENTITLEMENTS[state["edition"]]))
    if missing:
        return _answer(ctx, req, "ENTITLEMENTS_MISSING", state, now, lang, missing=", ".join(missing))
    if req.fingerprint not in state["fingerprints"]:
        if not state["auto_activate"]:
            return _answer(ctx, req, "FINGERPRINT_SCOPE_MISMATCH", state, now, lang)
        max_machines = state["max_machines"]
        if max_machines is not None and len(state["fingerprints"]) >= max_machines:
            return _answer(ctx, req, "TOO_MANY_MACHINES", state, now, lang)
        assert key_hash is not None, "activation needs the full path"
        with ctx.sessionmaker() as session, session.begin():
            code, _machine = crud.activate_machine(session, license_id=state["id"], fingerprint=req.fingerprint,
                                                   hostname=None, actor="validate", lang=lang)
        ctx.cache.delete(license_cache_key(key_hash))
        if code == "TOO_MANY_MACHINES":
            return _answer(ctx, req, "TOO_MANY_MACHINES", state, now, lang)
    return _answer(ctx, req, "VALID", state, now, lang)
