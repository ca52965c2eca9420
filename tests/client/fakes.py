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
