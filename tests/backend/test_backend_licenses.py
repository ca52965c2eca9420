"""License server: keys, every validation code, leases (edited, re-signed, expired, replayed), admin API,
activation, events, rate limiting. Runs on PostgreSQL + Redis and on embedded SQLite."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from backend_helpers import LeaseRejected, new_fingerprint, new_nonce, verify_lease
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from techcare_backend.core import security


def validate(client, key, fingerprint=None, nonce=None, **extra):
    body = {"key": key, "fingerprint": fingerprint or new_fingerprint(), "nonce": nonce or new_nonce(),
            "client_version": "0.1.0", **extra}
    resp = client.post("/api/licenses/validate", json=body)
    assert resp.status_code == 200, resp.text
    return body, resp.json()


def iso(dt: datetime) -> str:
    return dt.isoformat()


# ---- keys ----------------------------------------------------------------------------------------------------
def test_license_key_format_and_check_tag() -> None:
    secret = b"s" * 32
    key = security.generate_license_key("pro_business", secret)
    assert key.startswith("TECHCARE-PRO-BUSINESS-")
    parsed = security.parse_license_key(key, secret)
    assert parsed is not None and parsed.edition_hint == "pro_business"
    # Case, spaces and the Crockford look-alikes do not matter.
    sloppy = key.lower().replace("-", " ", 3).replace("0", "o").replace("1", "l")
    assert security.parse_license_key(sloppy, secret) == parsed
    # One mistyped character fails the check tag (before any database lookup).
    body = key.split("-", 3)[-1]
    pos = len(key) - len(body) + 2
    wrong = key[:pos] + ("A" if key[pos] != "A" else "B") + key[pos + 1:]
    assert security.parse_license_key(wrong, secret) is None
    # Another server's secret does not accept our keys; garbage is refused.
    assert security.parse_license_key(key, b"t" * 32) is None
    for junk in ("", "TECHCARE-PRO-ABC123", "TECHCARE-PRO-BUSINESS-ABC123", "hello", "TECHCARE-" + "U" * 20):
        assert security.parse_license_key(junk, secret) is None
    # The edition in the key is informational: the hash ignores it.
    swapped = key.replace("PRO-BUSINESS", "ENTERPRISE")
    assert security.hash_license_key(security.parse_license_key(swapped, secret), secret) == \
        security.hash_license_key(parsed, secret)


def test_database_stores_only_a_keyed_hash(client, make_org, app) -> None:
    org = make_org("pro")
    random_part = org.license_key.split("-", 2)[2].replace("-", "")[:16]
    with app.state.ctx.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM licenses WHERE id = :id"), {"id": org.license_id}).mappings().all()
    dumped = json.dumps([dict(r) for r in rows], default=str)
    assert random_part not in dumped and org.license_key not in dumped
    assert len(rows[0]["key_hash"]) == 64


# ---- validate: every code ---------------------------------------------------------------------------------
def test_valid_lease_claims(client, make_org, jwks) -> None:
    expires = datetime.now(timezone.utc) + timedelta(days=365)
    org = make_org("pro_business", expires_at=iso(expires))
    body, answer = validate(client, org.license_key)
    assert answer["valid"] is True and answer["code"] == "VALID"
    assert abs(answer["ts"] - time.time()) < 5
    claims = verify_lease(answer["lease"], jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    assert claims["sub"] == org.license_id and claims["edition"] == "pro_business"
    assert claims["entitlements"] == ["unlimited_repairs", "unlimited_systems", "sensor_mode"]
    assert claims["limits"] == {"max_machines": None, "monthly_repairs": None}
    assert claims["valid"] is True and claims["code"] == "VALID"
    assert claims["exp"] == claims["iat"] + 7 * 86400 and claims["nbf"] == claims["iat"]
    assert jwt.get_unverified_header(answer["lease"])["kid"] == jwks["keys"][0]["kid"]


def test_lease_expiry_is_capped_by_license_expiry(client, make_org, jwks) -> None:
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    org = make_org("pro", expires_at=iso(expires))
    body, answer = validate(client, org.license_key)
    claims = verify_lease(answer["lease"], jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    assert claims["exp"] == int(expires.timestamp())
    assert claims["limits"] == {"max_machines": 3, "monthly_repairs": None}


def test_not_found_for_unknown_forged_and_garbage_keys(client, make_org, backend_settings, jwks) -> None:
    org = make_org("pro")
    # Well-formed with a correct tag, but never issued:
    unknown = security.generate_license_key("pro", backend_settings.key_secret_bytes)
    forged = security.generate_license_key("enterprise", b"attacker-secret-0123456789")
    mistyped = org.license_key[:-1] + ("A" if org.license_key[-1] != "A" else "B")
    for key in (unknown, forged, mistyped, "TECHCARE-PRO-BUSINESS-ABC123", "x"):
        body, answer = validate(client, key)
        assert answer == {**answer, "valid": False, "code": "NOT_FOUND"}
        claims = verify_lease(answer["lease"], jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
        assert claims["valid"] is False and claims["code"] == "NOT_FOUND" and "sub" not in claims
        assert claims["exp"] - claims["iat"] == backend_settings.denial_lease_seconds  # denials are short-lived
        assert claims["entitlements"] == []


def test_suspend_reinstate_revoke_with_cache_invalidation(client, make_org, admin_headers, jwks) -> None:
    org = make_org("enterprise")
    fp = new_fingerprint()
    assert validate(client, org.license_key, fp)[1]["code"] == "VALID"  # now cached
    r = client.post(f"/api/admin/licenses/{org.license_id}/suspend", headers=admin_headers)
    assert r.status_code == 200 and r.json()["status"] == "suspended"
    body, answer = validate(client, org.license_key, fp)
    assert answer["code"] == "SUSPENDED" and answer["valid"] is False
    assert verify_lease(answer["lease"], jwks, nonce=body["nonce"], fingerprint=fp)["sub"] == org.license_id
    assert client.post(f"/api/admin/licenses/{org.license_id}/reinstate", headers=admin_headers).status_code == 200
    assert validate(client, org.license_key, fp)[1]["code"] == "VALID"
    assert client.post(f"/api/admin/licenses/{org.license_id}/revoke", headers=admin_headers).status_code == 200
    assert validate(client, org.license_key, fp)[1]["code"] == "REVOKED"
    # Revocation is final.
    r = client.post(f"/api/admin/licenses/{org.license_id}/reinstate", headers=admin_headers)
    assert r.status_code == 409 and r.json()["code"] == "INVALID_TRANSITION"
    assert client.post(f"/api/admin/licenses/{org.license_id}/extend", headers=admin_headers,
                       json={"expires_at": None}).status_code == 409


def test_expired_then_extended(client, make_org, admin_headers) -> None:
    org = make_org("pro", expires_at=iso(datetime.now(timezone.utc) + timedelta(days=1)))
    past = datetime.now(timezone.utc) - timedelta(days=1)  # a license cannot be issued expired; it can end early
    assert client.post(f"/api/admin/licenses/{org.license_id}/extend", headers=admin_headers,
                       json={"expires_at": iso(past)}).status_code == 200
    assert validate(client, org.license_key)[1]["code"] == "EXPIRED"
    future = datetime.now(timezone.utc) + timedelta(days=30)
    r = client.post(f"/api/admin/licenses/{org.license_id}/extend", headers=admin_headers,
                    json={"expires_at": iso(future)})
    assert r.status_code == 200
    assert validate(client, org.license_key)[1]["code"] == "VALID"


def test_lease_of_a_license_expiring_now_is_rejected_by_time(client, make_org, jwks) -> None:
    expires = datetime.now(timezone.utc) + timedelta(seconds=2)
    org = make_org("pro", expires_at=iso(expires))
    body, answer = validate(client, org.license_key)
    assert answer["code"] == "VALID"
    verify_lease(answer["lease"], jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    time.sleep(max(0.0, expires.timestamp() - time.time()) + 1.1)
    with pytest.raises(LeaseRejected, match="Expired"):
        verify_lease(answer["lease"], jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    assert validate(client, org.license_key)[1]["code"] == "EXPIRED"


def test_too_many_machines_and_reinstall_keeps_seat(client, make_org) -> None:
    org = make_org("community")  # Community: 1 machine
    fp = new_fingerprint()
    assert validate(client, org.license_key, fp)[1]["code"] == "VALID"
    assert validate(client, org.license_key, fp)[1]["code"] == "VALID"  # same machine again: no new seat
    assert validate(client, org.license_key)[1]["code"] == "TOO_MANY_MACHINES"


def test_edition_machine_caps_are_enforced_on_issue(client, admin_headers) -> None:
    r = client.post("/api/admin/licenses", headers=admin_headers,
                    json={"edition": "pro", "organisation": "Cap GmbH", "expires_at": None, "max_machines": 4})
    assert r.status_code == 422 and "max_machines" in r.json()["detail"]


def test_fingerprint_scope_mismatch_until_activated(client, admin_headers, make_org) -> None:
    org = make_org("pro")
    r = client.post("/api/admin/licenses", headers=admin_headers,
                    json={"edition": "pro", "organisation": org.organisation_id, "expires_at": None,
                          "max_machines": 2, "auto_activate": False})
    assert r.status_code == 201
    key = r.json()["key"]
    fp = new_fingerprint()
    assert validate(client, key, fp)[1]["code"] == "FINGERPRINT_SCOPE_MISMATCH"
    r = client.post("/api/licenses/activate", headers=org.headers("technician"),
                    json={"key": key, "fingerprint": fp, "hostname": "LAPTOP-7"})
    assert r.status_code == 200 and r.json()["code"] == "ACTIVATED"
    assert validate(client, key, fp)[1]["code"] == "VALID"


def test_entitlements_missing(client, make_org) -> None:
    org = make_org("pro")
    _, answer = validate(client, org.license_key, entitlements=["sensor_mode"])
    assert answer["code"] == "ENTITLEMENTS_MISSING" and "sensor_mode" in answer["detail"]
    assert validate(client, org.license_key, entitlements=["unlimited_repairs"])[1]["code"] == "VALID"


# ---- lease tampering -----------------------------------------------------------------------------------------
def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_edited_resigned_replayed_and_unknown_kid_leases_are_rejected(client, make_org, jwks) -> None:
    org = make_org("pro")
    body, answer = validate(client, org.license_key)
    lease = answer["lease"]
    header_b64, payload_b64, sig = lease.split(".")
    claims = jwt.decode(lease, options={"verify_signature": False})
    # Edited payload (upgrade to Enterprise) with the original signature:
    edited = ".".join([header_b64, _b64({**claims, "edition": "enterprise"}), sig])
    with pytest.raises(LeaseRejected, match="Signature"):
        verify_lease(edited, jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    # Re-signed with another Ed25519 key under the real kid:
    kid = jwt.get_unverified_header(lease)["kid"]
    forged = jwt.encode({**claims, "edition": "enterprise"}, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                        headers={"kid": kid})
    with pytest.raises(LeaseRejected, match="Signature"):
        verify_lease(forged, jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    # Unknown kid, or a downgrade to HS256:
    other = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "tc-unknown"})
    with pytest.raises(LeaseRejected, match="kid"):
        verify_lease(other, jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    hs = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": kid})
    with pytest.raises(LeaseRejected):
        verify_lease(hs, jwks, nonce=body["nonce"], fingerprint=body["fingerprint"])
    # Replayed: an old answer does not carry the nonce of the new request.
    with pytest.raises(LeaseRejected, match="nonce"):
        verify_lease(lease, jwks, nonce=new_nonce(), fingerprint=body["fingerprint"])
    # Another machine's lease:
    with pytest.raises(LeaseRejected, match="fingerprint"):
        verify_lease(lease, jwks, nonce=body["nonce"], fingerprint=new_fingerprint())
    # Expired (offline for more than 7 days):
    with pytest.raises(LeaseRejected, match="expired"):
        verify_lease(lease, jwks, nonce=body["nonce"], fingerprint=body["fingerprint"],
                     now=claims["iat"] + 7 * 86400 + 1)
    assert verify_lease(lease, jwks, nonce=body["nonce"], fingerprint=body["fingerprint"],
                        now=claims["iat"] + 7 * 86400 - 1)["valid"] is True


def test_public_keys_jwks(client, backend_settings) -> None:
    keys = client.get("/api/licenses/public-keys").json()["keys"]
    assert keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519" and keys[0]["alg"] == "EdDSA"
    assert keys[0]["use"] == "sig" and keys[0]["kid"] == backend_settings.signing_kid
    assert len(base64.urlsafe_b64decode(keys[0]["x"] + "==")) == 32


# ---- malformed bodies, rate limiting -----------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    {}, {"key": "TECHCARE-PRO-X"}, {"key": 5, "fingerprint": "abcdefgh", "nonce": "n" * 16},
    {"key": "k", "fingerprint": "short", "nonce": "n" * 16},
    {"key": "k", "fingerprint": "abcdefgh", "nonce": "n" * 16, "unexpected": 1}, [1, 2], "text",
])
def test_malformed_validate_bodies_are_422_json(client, body) -> None:
    resp = client.post("/api/licenses/validate", json=body)
    assert resp.status_code == 422
    assert resp.json()["code"] == "VALIDATION_ERROR" and resp.json()["message"]


def test_non_json_body_is_422(client) -> None:
    resp = client.post("/api/licenses/validate", content=b"\xff\xfe not json",
                       headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and resp.json()["code"] == "VALIDATION_ERROR"


def test_rate_limit_per_key_and_ip(backend_settings, tmp_path) -> None:
    from fastapi.testclient import TestClient
    from techcare_backend.main import create_app

    settings = backend_settings.model_copy(update={"rate_limit_key_per_minute": 3, "rate_limit_ip_per_minute": 6,
                                                   "redis_prefix": backend_settings.redis_prefix + "rl-test:"})
    with TestClient(create_app(settings)) as client:
        codes = [client.post("/api/licenses/validate", json={"key": "TECHCARE-PRO-SAME", "fingerprint": "abcdefgh",
                                                              "nonce": "n" * 16}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.post("/api/licenses/validate", json={"key": "TECHCARE-PRO-SAME", "fingerprint": "abcdefgh",
                                                               "nonce": "n" * 16})
        assert limited.json()["code"] == "RATE_LIMITED" and 1 <= int(limited.headers["Retry-After"]) <= 60
        # Other keys from the same IP pass until the IP limit (6 requests/min; refused ones count too) is reached.
        codes = [client.post("/api/licenses/validate", json={"key": "TECHCARE-PRO-OTHER", "fingerprint": "abcdefgh",
                                                              "nonce": "n" * 16}).status_code for _ in range(2)]
        assert codes == [200, 429]
        assert client.post("/api/licenses/validate", json={}).status_code == 429


# ---- admin API, events, activation ------------------------------------------------------------------------
def test_admin_api_requires_the_admin_token(client, make_org) -> None:
    org = make_org("pro")
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, org.headers("admin")):
        assert client.get("/api/admin/licenses", headers=headers).status_code == 401
        r = client.post("/api/admin/licenses", headers=headers,
                        json={"edition": "pro", "organisation": "X", "expires_at": None, "max_machines": 1})
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"


def test_license_events_are_append_only_and_audited(client, make_org, admin_headers, app) -> None:
    org = make_org("pro")
    lid = org.license_id
    client.post(f"/api/admin/licenses/{lid}/suspend", headers=admin_headers)
    client.post(f"/api/admin/licenses/{lid}/reinstate", headers=admin_headers)
    events = client.get(f"/api/admin/licenses/{lid}/events", headers=admin_headers).json()
    assert [e["type"] for e in events] == ["license.issued", "license.suspend", "license.reinstate"]
    audit = client.get("/api/admin/audit", params={"organisation_id": org.organisation_id},
                       headers=admin_headers).json()
    suspend = next(a for a in audit if a["action"] == "license.suspend")
    assert suspend["before"]["status"] == "active" and suspend["after"]["status"] == "suspended"
    assert suspend["actor"] == "server-admin"
    for sql in ("UPDATE license_events SET type = 'x' WHERE license_id = :id",
                "DELETE FROM license_events WHERE license_id = :id"):
        with pytest.raises(Exception, match="append-only"):
            with app.state.ctx.engine.begin() as conn:
                conn.execute(text(sql), {"id": lid})
    assert len(client.get(f"/api/admin/licenses/{lid}/events", headers=admin_headers).json()) == 3


def test_listing_and_unknown_license(client, make_org, admin_headers) -> None:
    org = make_org("enterprise")
    listed = client.get("/api/admin/licenses", params={"organisation_id": org.organisation_id},
                        headers=admin_headers).json()
    assert [lic["id"] for lic in listed] == [org.license_id]
    assert listed[0]["entitlements"][-1] == "team_features" and "key" not in listed[0]
    r = client.post("/api/admin/licenses/nope/suspend", headers=admin_headers)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


def test_activate_idempotent_deactivate_and_transfer_limit(client, make_org) -> None:
    org = make_org("pro", max_machines=1)
    headers = org.headers("technician")
    fp1, fp2 = new_fingerprint(), new_fingerprint()
    first = client.post("/api/licenses/activate", headers=headers, json={"key": org.license_key, "fingerprint": fp1})
    again = client.post("/api/licenses/activate", headers=headers, json={"key": org.license_key, "fingerprint": fp1})
    assert first.json()["code"] == "ACTIVATED" and again.json()["code"] == "ALREADY_ACTIVE"
    assert first.json()["machine"]["id"] == again.json()["machine"]["id"]
    full = client.post("/api/licenses/activate", headers=headers, json={"key": org.license_key, "fingerprint": fp2})
    assert full.status_code == 409 and full.json()["code"] == "TOO_MANY_MACHINES"
    assert validate(client, org.license_key, fp2)[1]["code"] == "TOO_MANY_MACHINES"
    # Transfer: free the seat of fp1, use it for fp2 (validate picks up the change at once).
    off = client.post("/api/licenses/deactivate", headers=headers, json={"key": org.license_key, "fingerprint": fp1})
    assert off.json()["code"] == "DEACTIVATED" and off.json()["transfers_left"] == 2
    assert validate(client, org.license_key, fp2)[1]["code"] == "VALID"
    for i in range(2):  # use up the remaining transfers
        client.post("/api/licenses/deactivate", headers=headers, json={"key": org.license_key, "fingerprint": fp2})
        client.post("/api/licenses/activate", headers=headers, json={"key": org.license_key, "fingerprint": fp2})
    last = client.post("/api/licenses/deactivate", headers=headers, json={"key": org.license_key, "fingerprint": fp2})
    assert last.status_code == 409 and last.json()["code"] == "TRANSFER_LIMIT"
    # Sensor keys cannot manage seats; unknown keys are 404.
    assert client.post("/api/licenses/activate", headers=org.headers("sensor"),
                       json={"key": org.license_key, "fingerprint": fp1}).status_code == 403
    assert client.post("/api/licenses/activate", headers=headers,
                       json={"key": "TECHCARE-PRO-NOPE", "fingerprint": fp1}).status_code == 404


def test_detail_language_follows_accept_language(client, make_org) -> None:
    body = {"key": "TECHCARE-PRO-NOPE", "fingerprint": new_fingerprint(), "nonce": new_nonce()}
    de = client.post("/api/licenses/validate", json=body).json()["detail"]
    en = client.post("/api/licenses/validate", json=body, headers={"Accept-Language": "en-US"}).json()["detail"]
    assert de.startswith("Lizenzschlüssel") and en.startswith("License key")


def test_parallel_activations_never_overbook_seats(backend_settings) -> None:
    """Eight machines validate a 2-seat license at the same moment through a live server: exactly two get in."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    from techcare_backend.testing import seed, start_backend

    extra = {} if backend_settings.database_url else {"data_dir": backend_settings.techcare_data_dir}
    with start_backend(backend_settings.database_url, backend_settings.redis_url,
                       redis_prefix=backend_settings.redis_prefix + "seats:", rate_limit_ip_per_minute=10**6,
                       **extra) as live:
        org = seed(live, edition="pro", max_machines=2)

        def one(fp: str) -> str:
            r = httpx.post(live.url + "/api/licenses/validate", timeout=60,
                           json={"key": org.license_key, "fingerprint": fp, "nonce": new_nonce()})
            return r.json()["code"]

        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(one, [new_fingerprint() for _ in range(8)]))
    assert sorted(codes) == ["TOO_MANY_MACHINES"] * 6 + ["VALID"] * 2
