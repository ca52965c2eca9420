"""Helpers shared by the backend tests (imported as ``backend_helpers``)."""

from __future__ import annotations

import uuid
from typing import Any

import jwt


class LeaseRejected(Exception):
    pass


def verify_lease(token: str, jwks: dict[str, Any], *, nonce: str, fingerprint: str,
                 now: float | None = None) -> dict[str, Any]:
    """What a client must do with a lease: known kid, EdDSA signature, issuer, time window, nonce, fingerprint."""
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "EdDSA":
        raise LeaseRejected("algorithm")
    keys = {k["kid"]: k for k in jwks["keys"]}
    if header.get("kid") not in keys:
        raise LeaseRejected("unknown kid")
    key = jwt.PyJWK(keys[header["kid"]]).key
    try:
        claims = jwt.decode(token, key, algorithms=["EdDSA"], issuer="techcare-backend",
                            options={"require": ["exp", "iat", "nbf", "iss"], "verify_exp": now is None,
                                     "verify_nbf": now is None})
    except jwt.InvalidTokenError as exc:
        raise LeaseRejected(f"{type(exc).__name__}: {exc}") from exc
    if now is not None and not (claims["nbf"] <= now < claims["exp"]):
        raise LeaseRejected("expired")
    if claims.get("nonce") != nonce:
        raise LeaseRejected("replayed (nonce)")
    if claims.get("fingerprint") != fingerprint:
        raise LeaseRejected("fingerprint")
    return claims


def new_fingerprint() -> str:
    return "fp-" + uuid.uuid4().hex


def new_nonce() -> str:
    return uuid.uuid4().hex


def sample(hostname: str = "DESKTOP-123", **overrides: Any) -> dict[str, Any]:
    """A metrics sample in the product spec's format."""
    body: dict[str, Any] = {
        "sample_id": str(uuid.uuid4()), "timestamp": "2026-02-17T10:30:00", "hostname": hostname, "os": "windows",
        "cpu_percent": 45.2, "ram_percent": 62.1, "swap_percent": 3.0,
        "disks": [{"mount": "C:\\", "total": 500_000_000_000, "used": 250_000_000_000, "free": 250_000_000_000,
                   "percent": 50.0}],
        "services": {"firewall": "on", "antivirus": "on", "update_service": "ok", "failed": []},
        "pending_updates": {"count": 2, "security": 1}, "pending_reboot": False,
        "events": [{"time": "2026-02-17T10:00:00Z", "level": "error", "source": "Service Control Manager",
                    "message": "The Print Spooler service terminated unexpectedly.", "event_id": 7034}],
        "smart": [{"device": "\\\\.\\PHYSICALDRIVE0", "health": "passed", "model": "Samsung SSD 870 EVO",
                   "temperature_c": 34}],
        "dropped_samples": 0, "agent_version": "0.1.0", "uptime_seconds": 86400,
    }
    body.update(overrides)
    return body
