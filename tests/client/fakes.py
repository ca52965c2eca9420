"""A fake license backend for unit tests: signs real EdDSA leases with a key generated per test."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from techcare.license import machine_fingerprint

DAY = 86400.0
T0 = 1_790_000_000.0  # a fixed "now" (2026-09-21)


def new_key(kid: str = "k1") -> tuple[Ed25519PrivateKey, dict[str, Any]]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), "kid": kid,
           "alg": "EdDSA", "use": "sig"}
    return private, jwk


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeLicenseServer:
    """Answers /api/licenses/validate and /api/licenses/public-keys like the contract says."""

    def __init__(self, clock: Clock, *, edition: str = "pro_business", entitlements: list[str] | None = None,
                 expires_at: float | None = None) -> None:
        self.clock = clock
        self.key, self.jwk = new_key("k1")
        self.edition = edition
        self.entitlements = entitlements if entitlements is not None else ["unlimited_repairs", "unlimited_systems",
                                                                           "sensor_mode"]
        self.expires_at = expires_at
        self.status = "VALID"       # or REVOKED, SUSPENDED, ...
        self.mode = "ok"            # ok | down | 429 | 503 | replay | forged | 403 | 403_unsigned | garbage
        self.license_id = str(uuid.uuid4())
        self.calls: list[dict[str, Any]] = []
        self.last_answer: dict[str, Any] | None = None
        self.server_time_offset = 0.0

    def sign(self, claims: dict[str, Any], key: Ed25519PrivateKey | None = None, kid: str = "k1") -> str:
        return jwt.encode(claims, key or self.key, algorithm="EdDSA", headers={"kid": kid})

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        ts = int(self.clock() + self.server_time_offset)
        valid = self.status == "VALID"
        exp = ts + (7 * 86400 if valid else 300)
        if self.expires_at is not None:
            exp = min(exp, int(self.expires_at))
        claims = {"iss": "techcare-backend", "sub": self.license_id, "edition": self.edition,
                  "entitlements": self.entitlements if valid else [], "limits": {"max_machines": 3},
                  "fingerprint": body["fingerprint"], "nonce": body["nonce"], "code": self.status, "valid": valid,
                  "iat": ts, "nbf": ts, "exp": exp}
        return {"valid": valid, "code": self.status, "detail": self.status.lower(), "ts": ts,
                "lease": self.sign(claims)}

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/api/licenses/public-keys":
            return httpx.Response(200, json={"keys": [self.jwk]})
        if request.url.path != "/api/licenses/validate":
            return httpx.Response(404, json={"detail": "not found"})
        body = json.loads(request.content)
        self.calls.append(body)
        if self.mode == "429":
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "rate limited"})
        if self.mode == "503":
            return httpx.Response(503, json={"detail": "unavailable"})
        if self.mode == "garbage":
            return httpx.Response(200, text="<html>captive portal</html>")
        if self.mode == "replay" and self.last_answer is not None:
            return httpx.Response(200, json=self.last_answer)
        answer = self.answer(body)
        if self.mode == "forged":
            other, _ = new_key("k1")
            claims = jwt.decode(answer["lease"], options={"verify_signature": False})
            answer["lease"] = self.sign(claims, key=other)
        if self.mode in ("403", "403_unsigned"):
            self.status = "SUSPENDED"
            answer = self.answer(body)
            if self.mode == "403_unsigned":
                answer = {"detail": "forbidden"}
            return httpx.Response(403, json=answer)
        self.last_answer = answer
        return httpx.Response(200, json=answer)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url="http://license.test", transport=httpx.MockTransport(self.handler))


# ---- the licence client's tests: a lease as the server signs it, and a backend stand-in ---------------------
ENTS = ["unlimited_repairs", "unlimited_systems", "sensor_mode"]


FP = machine_fingerprint(raw_id="0123456789abcdef0123456789abcdef")


class Reply:
    """What ``validate_license`` returns: a response whose ``json()`` is ``body`` (or fails: not JSON)."""

    def __init__(self, body: Any = None, *, not_json: bool = False) -> None:
        self.body, self.not_json = body, not_json

    def json(self) -> Any:
        if self.not_json:
            raise ValueError("not JSON")
        return self.body


class Backend:
    """A backend stand-in: serves ``server``'s public keys; ``answer(fingerprint, nonce)`` makes each reply (a
    :class:`Reply`, or an exception to raise)."""

    def __init__(self, server: FakeLicenseServer, answer) -> None:
        self.server, self.answer = server, answer
        self.nonces: list[str] = []
        self.key_fetches = 0

    def public_keys(self) -> dict[str, Any]:
        self.key_fetches += 1
        return {"keys": [self.server.jwk]}

    def validate_license(self, *, key: str, fingerprint: str, nonce: str) -> Any:
        self.nonces.append(nonce)
        result = self.answer(fingerprint, nonce)
        if isinstance(result, BaseException):
            raise result
        return result


def claims_for(server: FakeLicenseServer, nonce: str = "n", *, at: float = T0, omit: tuple[str, ...] = (),
               **changes: Any) -> dict[str, Any]:
    claims = {"iss": "techcare-backend", "sub": server.license_id, "edition": "pro_business", "entitlements": ENTS,
              "limits": {"max_machines": 3}, "fingerprint": FP, "nonce": nonce, "code": "VALID", "valid": True,
              "iat": int(at), "nbf": int(at), "exp": int(at + 7 * DAY)}
    claims.update(changes)
    for name in omit:
        claims.pop(name, None)
    return claims


def token_for(server: FakeLicenseServer, nonce: str = "n", **kw: Any) -> str:
    return server.sign(claims_for(server, nonce, **kw))
