"""The backend's licence decision, one behaviour per test (survivors of `scripts/mutation backend-license`): the
order of the checks, the exact boundaries (expiry, seats), what a valid lease and a denial carry, activation
through the database only when a seat is free, and the cached path that never activates. Pure decision tests:
a stub context (settings, cache, database) instead of the HTTP stack, which test_backend_licenses.py covers."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from techcare.editions import ENTITLEMENTS, limits
from techcare_backend.core import licensing
from techcare_backend.core.licensing import Answer, decide_cached, license_cache_key, validate
from techcare_backend.core.security import generate_license_key, hash_license_key, parse_license_key
from techcare_backend.schemas import ValidateRequest

FP_A, FP_B, FP_NEW = "a" * 64, "b" * 64, "c" * 64
SECRET = b"k" * 32


class Cache:
    def __init__(self, states: dict[str, dict] | None = None) -> None:
        self.states = states or {}
        self.deleted: list[str] = []
        self.loads: list[str] = []

    def get_or_load(self, key, loader, ttl):
        self.loads.append(key)
        return self.states[key] if key in self.states else loader()

    def delete(self, *keys):
        self.deleted.extend(keys)


class NoDatabase:
    def __call__(self):
        raise AssertionError("the database was used")


def context(cache: Cache | None = None, sessionmaker=None) -> SimpleNamespace:
    key = Ed25519PrivateKey.generate()
    settings = SimpleNamespace(lease_days=7, denial_lease_seconds=3600, signing_key=key, signing_kid="kid-1",
                               key_secret_bytes=SECRET, license_cache_seconds=30)
    return SimpleNamespace(settings=settings, cache=cache or Cache(), sessionmaker=sessionmaker or NoDatabase(),
                           public=key.public_key())


def state(**over) -> dict:
    base = {"id": "lic-1", "organisation_id": "org-1", "edition": "pro_business", "status": "active",
            "expires_at": None, "fingerprints": [FP_A], "auto_activate": True, "max_machines": 2}
    return {**base, **over}


def request(fingerprint: str = FP_A, entitlements: list[str] | None = None, key: str = "TECHCARE-X") -> ValidateRequest:
    return ValidateRequest(key=key, fingerprint=fingerprint, nonce="nonce-123456", entitlements=entitlements or [])


def claims_of(ctx, answer: Answer) -> dict:
    return jwt.decode(answer.lease, ctx.public, algorithms=["EdDSA"], options={"verify_exp": False,
                                                                             "verify_iat": False,
                                                                             "verify_nbf": False})


def decide(ctx, req, st, now=1_800_000_000, lang="en", key_hash="h"):
    return licensing._decide(ctx, req, st, now, lang, key_hash=key_hash)


# ---- order and boundaries ----------------------------------------------------------------------------------------

def test_checks_run_in_keygens_order_first_failure_wins():
    ctx = context()
    now = 1_800_000_000
    worst = state(status="revoked", expires_at=now - 1, fingerprints=[], auto_activate=False)
    assert decide(ctx, request(entitlements=["team_features"]), worst).code == "REVOKED"
    assert decide(ctx, request(entitlements=["team_features"]), {**worst, "status": "suspended"}).code == "SUSPENDED"
    assert decide(ctx, request(entitlements=["team_features"]), {**worst, "status": "active"}).code == "EXPIRED"
    assert decide(ctx, request(entitlements=["team_features"]),
                  {**worst, "status": "active", "expires_at": None}).code == "ENTITLEMENTS_MISSING"
    assert decide(ctx, request(), {**worst, "status": "active", "expires_at": None}).code == \
        "FINGERPRINT_SCOPE_MISMATCH"
    assert decide(ctx, request(), None).code == "NOT_FOUND"


def test_a_licence_expiring_now_is_expired_one_second_later_is_valid():
    ctx = context()
    now = 1_800_000_000
    assert decide(ctx, request(), state(expires_at=now), now=now).code == "EXPIRED"
    valid = decide(ctx, request(), state(expires_at=now + 1), now=now)
    assert (valid.valid, valid.code) == (True, "VALID")
    assert claims_of(ctx, valid)["exp"] == now + 1                      # the lease ends with the licence
    far = decide(ctx, request(), state(expires_at=now + 30 * 86400), now=now)
    assert claims_of(ctx, far)["exp"] == now + 7 * 86400                # else after lease_days


def test_seats_full_means_too_many_machines_a_known_machine_keeps_its_seat():
    ctx = context()
    full = state(fingerprints=[FP_A, FP_B], max_machines=2)
    assert decide(ctx, request(FP_NEW), full).code == "TOO_MANY_MACHINES"
    assert decide(ctx, request(FP_B), full).code == "VALID"
    assert decide(ctx, request(FP_NEW), {**full, "max_machines": 3, "auto_activate": False}).code == \
        "FINGERPRINT_SCOPE_MISMATCH"


def test_entitlements_the_edition_has_pass_missing_ones_are_named_sorted():
    ctx = context()
    assert decide(ctx, request(entitlements=["sensor_mode", "unlimited_repairs"]), state()).code == "VALID"
    missing = decide(ctx, request(entitlements=["team_features", "sensor_mode", "shared_learning_db"]), state())
    assert (missing.valid, missing.code) == (False, "ENTITLEMENTS_MISSING")
    assert missing.detail == "The license lacks requested entitlements: shared_learning_db, team_features."


# ---- what an answer carries --------------------------------------------------------------------------------------

def test_a_valid_answer_carries_a_signed_lease_for_this_request_only():
    ctx = context()
    now = 1_800_000_000
    answer = decide(ctx, request(), state(), now=now)
    assert (answer.valid, answer.code, answer.detail, answer.ts) == (True, "VALID", "License valid.", now)
    assert jwt.get_unverified_header(answer.lease)["kid"] == "kid-1"
    claims = claims_of(ctx, answer)
    jti = claims.pop("jti")
    assert isinstance(jti, str) and len(jti) >= 16
    assert claims == {"iss": "techcare-backend", "edition": "pro_business",
                      "entitlements": list(ENTITLEMENTS["pro_business"]), "limits": limits("pro_business", 2),
                      "fingerprint": FP_A, "nonce": "nonce-123456", "code": "VALID", "valid": True, "iat": now,
                      "nbf": now, "exp": now + 7 * 86400, "sub": "lic-1", "org": "org-1", "license_expires_at": None}
    assert claims_of(ctx, decide(ctx, request(), state(), now=now))["jti"] != jti


def test_a_denial_is_signed_short_lived_and_grants_nothing():
    ctx = context()
    now = 1_800_000_000
    answer = decide(ctx, request(), state(status="suspended", expires_at=now + 99), now=now)
    assert (answer.valid, answer.code, answer.detail) == (False, "SUSPENDED", "License is suspended.")
    claims = claims_of(ctx, answer)
    assert claims["exp"] == now + 3600 and claims["valid"] is False and claims["code"] == "SUSPENDED"
    assert claims["entitlements"] == [] and claims["limits"] == {} and claims["edition"] == "pro_business"
    assert (claims["sub"], claims["org"], claims["license_expires_at"]) == ("lic-1", "org-1", now + 99)
    unknown = claims_of(ctx, decide(ctx, request(), None, now=now))
    assert unknown["edition"] is None and "sub" not in unknown and "org" not in unknown
    assert unknown["valid"] is False and unknown["exp"] == now + 3600


def test_the_detail_follows_the_language():
    ctx = context()
    assert decide(ctx, request(), state(status="revoked"), lang="de").detail == "Lizenz wurde widerrufen."
    assert decide(ctx, request(), state(status="revoked"), lang="en").detail == "License has been revoked."


def test_answer_json_is_exactly_the_response_body():
    answer = Answer(valid=True, code="VALID", detail="d", ts=5, lease="x.y.z")
    assert json.loads(answer.to_json()) == {"valid": True, "code": "VALID", "detail": "d", "ts": 5,
                                            "lease": "x.y.z"}


# ---- activation --------------------------------------------------------------------------------------------------

class Session:
    def __init__(self):
        self.began = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def begin(self):
        self.began = True
        return self


def test_a_new_machine_is_activated_in_the_database_and_the_cache_forgotten(monkeypatch):
    calls = []
    session = Session()

    def activate(s, **kw):
        calls.append((s is session and session.began, kw))
        return "VALID", object()

    monkeypatch.setattr(licensing.crud, "activate_machine", activate)
    cache = Cache()
    ctx = context(cache, sessionmaker=lambda: session)
    answer = decide(ctx, request(FP_NEW), state(max_machines=None), key_hash="hash-1")
    assert (answer.valid, answer.code) == (True, "VALID")
    assert calls == [(True, {"license_id": "lic-1", "fingerprint": FP_NEW, "hostname": None, "actor": "validate",
                             "lang": "en"})]
    assert cache.deleted == ["lic:hash-1"] == [license_cache_key("hash-1")]


def test_an_activation_that_lost_the_race_for_the_last_seat_is_too_many_machines(monkeypatch):
    monkeypatch.setattr(licensing.crud, "activate_machine", lambda s, **kw: ("TOO_MANY_MACHINES", None))
    monkeypatch.setenv("TECHCARE_LANG", "de")
    ctx = context(sessionmaker=Session)
    answer = decide(ctx, request(FP_NEW), state(), key_hash="hash-1", lang="en")
    assert (answer.valid, answer.code) == (False, "TOO_MANY_MACHINES")
    assert answer.detail == "All machine seats of the license are in use."
    assert claims_of(ctx, answer)["sub"] == "lic-1"


# ---- the cached path and validate ---------------------------------------------------------------------------------

def test_the_cached_path_decides_without_the_database_except_to_activate():
    ctx = context()
    assert decide_cached(ctx, request(), None) is None
    assert decide_cached(ctx, request(), {"state": None}).code == "NOT_FOUND"
    assert decide_cached(ctx, request(FP_A), {"state": state()}).code == "VALID"
    assert decide_cached(ctx, request(FP_NEW), {"state": state()}) is None                  # a seat is free
    assert decide_cached(ctx, request(FP_NEW), {"state": state(max_machines=None)}) is None
    assert decide_cached(ctx, request(FP_NEW), {"state": state(fingerprints=[FP_A, FP_B])}).code == \
        "TOO_MANY_MACHINES"
    assert decide_cached(ctx, request(FP_NEW), {"state": state(auto_activate=False)}).code == \
        "FINGERPRINT_SCOPE_MISMATCH"
    assert decide_cached(ctx, request(FP_NEW), {"state": state(status="suspended")}).code == "SUSPENDED"
    before = int(time.time())
    assert before <= decide_cached(ctx, request(FP_A), {"state": state()}).ts <= int(time.time())


def test_validate_refuses_a_forged_key_before_any_lookup_and_looks_up_a_good_one_by_its_hash():
    cache = Cache()
    ctx = context(cache)
    forged = validate(ctx, request(key="TECHCARE-PB-AAAA-BBBB-CCCC-DDDD-EEEE"))
    assert (forged.valid, forged.code) == (False, "NOT_FOUND") and cache.loads == []
    key = generate_license_key("pro_business", SECRET)
    key_hash = hash_license_key(parse_license_key(key, SECRET), SECRET)
    cache.states[license_cache_key(key_hash)] = {"state": state()}
    good = validate(ctx, request(key=key))
    assert (good.valid, good.code) == (True, "VALID") and cache.loads == [f"lic:{key_hash}"]
    assert abs(good.ts - time.time()) < 5


def test_an_unknown_well_formed_key_is_not_found():
    cache = Cache()
    key = generate_license_key("pro", SECRET)
    key_hash = hash_license_key(parse_license_key(key, SECRET), SECRET)
    cache.states[license_cache_key(key_hash)] = {"state": None}
    answer = validate(context(cache), request(key=key))
    assert (answer.valid, answer.code) == (False, "NOT_FOUND")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_code_has_a_message_in_both_languages(lang):
    ctx = context()
    for code in licensing.MESSAGES:
        answer = licensing._answer(ctx, request(), code, state(), 1_800_000_000, lang, missing="x")
        assert answer.code == code and answer.valid is (code == "VALID") and answer.detail


def test_validate_answers_in_the_language_asked_for_not_the_servers(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    cache = Cache()
    ctx = context(cache)
    assert validate(ctx, request(key="nonsense"), lang="en").detail == "License key unknown or mistyped."
    key = generate_license_key("pro_business", SECRET)
    cache.states[license_cache_key(hash_license_key(parse_license_key(key, SECRET), SECRET))] = {"state": state()}
    assert validate(ctx, request(key=key), lang="en").detail == "License valid."
    assert validate(ctx, request(key=key), lang="de").detail == "Lizenz gültig."


def test_a_state_missing_from_the_cache_is_loaded_from_the_database(monkeypatch):
    import asyncio

    loaded = []

    def license_state(session, *, key_hash):
        loaded.append((type(session).__name__, key_hash))
        return {"id": "lic-9"}

    monkeypatch.setattr(licensing.crud, "license_state", license_state)

    class AsyncCache(Cache):
        async def aget_or_load(self, key, loader, ttl):
            self.loads.append((key, ttl))
            return loader()

    cache = AsyncCache()
    ctx = SimpleNamespace(cache=cache, sessionmaker=Session, settings=SimpleNamespace(license_cache_seconds=30))
    assert asyncio.run(licensing.acached_state(ctx, "h1")) == {"state": {"id": "lic-9"}}
    assert licensing.cached_state(ctx, "h2") == {"state": {"id": "lic-9"}}
    assert loaded == [("Session", "h1"), ("Session", "h2")]
    assert cache.loads == [("lic:h1", 30), "lic:h2"]


@pytest.mark.parametrize(("st", "req", "code", "en"), [
    (state(status="revoked"), request(), "REVOKED", "License has been revoked."),
    (state(expires_at=1), request(), "EXPIRED", "License has expired."),
    (state(), request(entitlements=["team_features"]), "ENTITLEMENTS_MISSING",
     "The license lacks requested entitlements: team_features."),
    (state(auto_activate=False), request(FP_NEW), "FINGERPRINT_SCOPE_MISMATCH",
     "This machine is not activated for the license."),
    (state(fingerprints=[FP_A, FP_B]), request(FP_NEW), "TOO_MANY_MACHINES",
     "All machine seats of the license are in use."),
])
def test_a_denial_of_a_known_licence_names_it_in_the_language_asked_for(st, req, code, en, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    ctx = context()
    answer = decide(ctx, req, st, lang="en")
    assert (answer.valid, answer.code, answer.detail) == (False, code, en)
    claims = claims_of(ctx, answer)
    assert (claims["sub"], claims["org"], claims["edition"]) == ("lic-1", "org-1", "pro_business")


def test_activation_is_never_attempted_from_the_cached_path():
    with pytest.raises(AssertionError, match="^activation needs the full path$"):
        decide(context(), request(FP_NEW), state(), key_hash=None)
