"""License keys, API keys and signed leases.

License key: ``TECHCARE-<EDITION>-<body>``, e.g. ``TECHCARE-PRO-BUSINESS-7K3Q-M9XD-2HWA-PB4N-R8TE``. The body is
16 random Crockford base32 characters (80 bits) and a 4-character check tag (HMAC of the random part under
``LICENSE_KEY_SECRET``, 20 bits). Hyphens, spaces and case do not matter, and the Crockford look-alikes
(O -> 0, I/L -> 1) are accepted, so keys read over the phone still work. A key whose tag does not verify is
answered like an unknown key, before any database lookup. The edition in the key is informational. The database
stores only ``HMAC-SHA256(secret, "hash|" + random part)``.

API key: ``tck_`` + 32 random URL-safe characters; stored as SHA-256 (the key has 190+ bits of entropy, so a
plain digest is the right hash: fast to look up, useless to reverse).

Lease: an EdDSA (Ed25519) JWT with a ``kid`` header, see :func:`sign_lease`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any


__all__ = ["ApiKeyParts", "EDITION_TOKENS", "ParsedKey", "generate_api_key", "generate_license_key",
           "hash_api_key", "hash_license_key", "parse_license_key", "sign_lease"]

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: c for c in CROCKFORD} | {"O": "0", "I": "1", "L": "1"}
RANDOM_LEN = 16
TAG_LEN = 4
EDITION_TOKENS = {"community": "COMMUNITY", "pro": "PRO", "pro_business": "PRO-BUSINESS", "enterprise": "ENTERPRISE"}
_TOKENS_LONGEST_FIRST = sorted(EDITION_TOKENS.items(), key=lambda kv: -len(kv[1]))
ISSUER = "techcare-backend"


def _tag(secret: bytes, random_part: str) -> str:
    digest = hmac.new(secret, b"tag|" + random_part.encode("ascii"), hashlib.sha256).digest()
    number = int.from_bytes(digest[:4], "big") >> (32 - 5 * TAG_LEN)
    return "".join(CROCKFORD[(number >> (5 * (TAG_LEN - 1 - i))) & 31] for i in range(TAG_LEN))


def generate_license_key(edition: str, secret: bytes) -> str:
    random_part = "".join(secrets.choice(CROCKFORD) for _ in range(RANDOM_LEN))
    body = random_part + _tag(secret, random_part)
    groups = "-".join(body[i:i + 4] for i in range(0, len(body), 4))
    return f"TECHCARE-{EDITION_TOKENS[edition]}-{groups}"


@dataclass(frozen=True)
class ParsedKey:
    edition_hint: str | None
    random_part: str


def parse_license_key(key: str, secret: bytes) -> ParsedKey | None:
    """The key's parts if it is well formed and its check tag verifies, else ``None``. Remembered for the last
    4,096 keys (clients validate the same keys again and again; the result depends only on key and secret)."""
    if not isinstance(key, str) or len(key) > 120:
        return None
    return _parse_license_key(key, secret)


@functools.lru_cache(maxsize=4096)
def _parse_license_key(key: str, secret: bytes) -> ParsedKey | None:
    text = re.sub(r"[\s\-\u2010-\u2015]+", "-", key.strip()).upper()
    if not text.startswith("TECHCARE-"):
        return None
    rest = text[len("TECHCARE-"):]
    edition = None
    for name, token in _TOKENS_LONGEST_FIRST:
        if rest.startswith(token + "-"):
            edition, rest = name, rest[len(token) + 1:]
            break
    chars = []
    for ch in rest.replace("-", ""):
        mapped = _DECODE.get(ch)
        if mapped is None:
            return None
        chars.append(mapped)
    body = "".join(chars)
    if len(body) != RANDOM_LEN + TAG_LEN:
        return None
    random_part, tag = body[:RANDOM_LEN], body[RANDOM_LEN:]
    if not hmac.compare_digest(_tag(secret, random_part), tag):
        return None
    return ParsedKey(edition, random_part)


@functools.lru_cache(maxsize=4096)
def hash_license_key(parsed: ParsedKey, secret: bytes) -> str:
    return hmac.new(secret, b"hash|" + parsed.random_part.encode("ascii"), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=4096)
def hash_key_for_rate_limit(key: str) -> str:
    """A stable hash of whatever the client sent (also for malformed keys), for per-key rate limiting."""
    return hashlib.sha256("".join(key.split()).upper().encode("utf-8", "replace")).hexdigest()[:32]


@dataclass(frozen=True)
class ApiKeyParts:
    key: str
    digest: str
    prefix: str


def generate_api_key() -> ApiKeyParts:
    key = "tck_" + secrets.token_urlsafe(24)
    return ApiKeyParts(key=key, digest=hash_api_key(key), prefix=key[:8])


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@functools.lru_cache(maxsize=16)
def _lease_header(kid: str) -> bytes:
    return _b64(json.dumps({"alg": "EdDSA", "kid": kid, "typ": "JWT"}, separators=(",", ":"), sort_keys=True).encode())


def sign_lease(claims: dict[str, Any], private_key: Any, kid: str) -> str:
    """An EdDSA JWT (header ``alg``, ``kid``, ``typ``, as ``jwt.encode`` writes it) of ``claims`` plus ``iss``.

    The JWS compact serialisation (RFC 7515: base64url header ``.`` payload ``.`` Ed25519 signature of the two) is
    written out here because validate signs a lease per request: the header is fixed per key id and the claims are
    plain JSON values, so ``jwt.encode``'s claim conversions and header handling were a fifth of the signing cost.
    Every reader verifies with pyjwt (the client, the tests)."""
    payload = _b64(json.dumps({"iss": ISSUER, **claims}, separators=(",", ":")).encode())
    signing_input = _lease_header(kid) + b"." + payload
    return (signing_input + b"." + _b64(private_key.sign(signing_input))).decode("ascii")
