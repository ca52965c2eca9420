"""Signed remote work: the technician's Ed25519 key, canonical JSON, envelopes and the host's pinned signers.

This module is the lower room both halves of remote work import: ``techcare.fleet`` (the technician signs) and
``techcare.monitoring.executor`` (the sensor host verifies). It imports nothing else of TechCare but errors,
i18n and ``_fs``. The format is described in ``docs/remote-jobs.md``.

An **envelope** is ``{"payload": {...}, "key_id": "<16 hex>", "signature": "<base64url>"}``. The signature is
Ed25519 over :func:`canonical_json` of the payload (keys sorted, no spaces, UTF-8, integers only: a float, NaN or
a non-string key is refused so that every party serialises the same bytes). The backend stores and forwards the
envelope unchanged; whatever it or its database changes breaks the signature.

The technician's key lives in ``TECHCARE_HOME/signing/ed25519.pem`` (mode 0600, created on first use). A host
trusts only the public keys pinned in its ``TECHCARE_HOME/trusted_signers.json`` (:class:`TrustStore`): adding a
new key and removing the old one is a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._fs import atomic_write
from .errors import TechCareError
from .i18n import tr

__all__ = ["ENVELOPE_VERSION", "PUBLIC_KEY_PREFIX", "SignatureError", "SigningKey", "TrustStore", "TrustedSigner", "canonical_json",
           "key_id_for", "parse_public_key", "sign_payload", "verify_envelope"]

ENVELOPE_VERSION = 1
KEY_FILE = Path("signing") / "ed25519.pem"
TRUST_FILE = "trusted_signers.json"
MAX_ENVELOPE_BYTES = 256 * 1024
# How a public key is written for people and command lines: base64url alone may begin with "-", which a command
# line takes for an option (`techcare sensor trust add -Xk...`); with the prefix it never does (cf. "ssh-ed25519 ...").
PUBLIC_KEY_PREFIX = "ed25519:"


class SignatureError(TechCareError):
    """A signed envelope was refused. ``reason`` is a stable code (``bad_signature``, ``unknown_signer``,
    ``malformed``); the message says what is wrong in the active language."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _check_canonical(value: Any, path: str = "payload") -> None:
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise ValueError(f"{path}: integer outside ±2^53")
        return
    if isinstance(value, float):
        raise ValueError(f"{path}: floats are not allowed in signed payloads (use integers or strings)")
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_canonical(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be strings, not {key!r}")
            _check_canonical(item, f"{path}.{key}")
        return
    raise ValueError(f"{path}: {type(value).__name__} cannot be signed (allowed: object, array, string, integer, "
                     "true/false, null)")


def canonical_json(value: Any) -> bytes:
    """The exact bytes that are signed: sorted keys, no whitespace, UTF-8. Raises ``ValueError`` naming the field
    for anything that has no single serialisation (floats, non-string keys, other types, lone surrogates)."""
    _check_canonical(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("payload: text is not valid Unicode (lone surrogate)") from exc


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not isinstance(text, str) or len(text) > 4096:
        raise ValueError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id_for(public_raw: bytes) -> str:
    """A short stable id of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def parse_public_key(text: str) -> bytes:
    """A 32-byte Ed25519 public key from its text as :attr:`SigningKey.public_key` prints it (``ed25519:`` and 43
    characters of base64url; the bare base64url is accepted too) or a PEM ``PUBLIC KEY`` block. Raises
    :class:`SignatureError` (``malformed``) naming what is accepted."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = (text or "").strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not Ed25519")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if text.lower().startswith(PUBLIC_KEY_PREFIX):
            text = text[len(PUBLIC_KEY_PREFIX):]
        raw = _unb64(text)
        if len(raw) != 32:
            raise ValueError("wrong length")
        Ed25519PublicKey.from_public_bytes(raw)
        return raw
    except (ValueError, TypeError) as exc:
        raise SignatureError("malformed", tr(
            "Kein gültiger öffentlicher Ed25519-Schlüssel ({e}). Erwartet: „ed25519:“ und 43 Zeichen base64url (wie "
            "`techcare fleet key` ihn zeigt) oder ein PEM-Block „PUBLIC KEY“.",
            "Not a valid Ed25519 public key ({e}). Expected: 'ed25519:' and 43 characters of base64url (as "
            "`techcare fleet key` shows it) or a PEM 'PUBLIC KEY' block.", e=exc)) from exc


class SigningKey:
    """The technician's Ed25519 private key, kept on the technician's machine only."""

    def __init__(self, private: Any, path: Path | None = None) -> None:
        from cryptography.hazmat.primitives import serialization

        self._private = private
        self.path = path
        self.public_raw: bytes = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                                   serialization.PublicFormat.Raw)
        self.key_id = key_id_for(self.public_raw)

    @property
    def public_key(self) -> str:
        """The public key as text, ``ed25519:<base64url>``: what a sensor host pins."""
        return PUBLIC_KEY_PREFIX + _b64(self.public_raw)

    @classmethod
    def generate(cls) -> SigningKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, home: str | os.PathLike[str]) -> SigningKey:
        """The key in ``home/signing/ed25519.pem``; created (mode 0600, folder 0700) on first use. A damaged file
        is never overwritten: :class:`SignatureError` says where it is and what to do."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path = Path(home).expanduser() / KEY_FILE
        if path.exists():
            try:
                private = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if not isinstance(private, Ed25519PrivateKey):
                    raise ValueError("not an Ed25519 key")
            except (ValueError, TypeError, OSError) as exc:
                raise SignatureError("malformed", tr(
                    "Signaturschlüssel {p} ist unlesbar ({e}). Aus einer Sicherung zurückholen oder die Datei "
                    "beiseitelegen, dann wird ein neuer erzeugt (den neuen öffentlichen Schlüssel auf den "
                    "Sensor-Rechnern hinterlegen).",
                    "Signing key {p} cannot be read ({e}). Restore it from a backup or move the file aside to have "
                    "a new one created (then pin the new public key on the sensor hosts).", p=path, e=exc)) from exc
            return cls(private, path)
        key = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(path.parent, 0o700)
        except OSError:
            pass
        pem = key._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        atomic_write(path, pem, mode=0o600)
        key.path = path
        return key

    def sign(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The envelope for ``payload`` (see :func:`sign_payload`)."""
        return sign_payload(payload, self)

    def _sign_bytes(self, data: bytes) -> bytes:
        return self._private.sign(data)


def sign_payload(payload: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """``{"payload": payload, "key_id": ..., "signature": ...}``; ``ValueError`` if the payload has no canonical
    form (see :func:`canonical_json`)."""
    if not isinstance(payload, dict):
        raise ValueError("payload must be an object")
    signature = key._sign_bytes(canonical_json(payload))
    return {"payload": payload, "key_id": key.key_id, "signature": _b64(signature)}


@dataclass(frozen=True)
class TrustedSigner:
    key_id: str
    public_key: str  # base64url of the raw 32 bytes
    name: str
    added_at: str

    @property
    def public_text(self) -> str:
        """The key as people and command lines write it (``ed25519:...``)."""
        return PUBLIC_KEY_PREFIX + self.public_key


class TrustStore:
    """The signer keys a host trusts, in ``TECHCARE_HOME/trusted_signers.json`` (written atomically, mode 0600).

    Only a person with local admin rights on the host changes it (``techcare sensor trust ...`` /
    ``service install``); nothing the backend sends can.
    """

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.path = Path(home).expanduser() / TRUST_FILE

    def signers(self) -> list[TrustedSigner]:
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            items = data["signers"]
            return [TrustedSigner(str(i["key_id"]), str(i["public_key"]), str(i.get("name", "")),
                                  str(i.get("added_at", ""))) for i in items]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SignatureError("malformed", tr(
                "Liste der vertrauenswürdigen Signaturschlüssel {p} ist beschädigt ({e}); Fernaufträge werden "
                "abgelehnt, bis sie mit `techcare sensor trust add` neu angelegt ist.",
                "The list of trusted signing keys {p} is damaged ({e}); remote jobs are refused until it is "
                "recreated with `techcare sensor trust add`.", p=self.path, e=exc)) from exc

    def _write(self, signers: list[TrustedSigner]) -> None:
        data = {"version": 1, "signers": [s.__dict__ for s in signers]}
        atomic_write(self.path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", mode=0o600)

    def add(self, public_key: str, name: str = "") -> TrustedSigner:
        """Pin a key (base64url or PEM); adding a pinned key again only renames it."""
        raw = parse_public_key(public_key)
        signer = TrustedSigner(key_id_for(raw), _b64(raw), name.strip()[:200],
                               datetime.now(timezone.utc).replace(microsecond=0).isoformat())
        kept = [s for s in self.signers() if s.key_id != signer.key_id]
        self._write([*kept, signer])
        return signer

    def remove(self, key_id: str) -> bool:
        """Unpin ``key_id`` (rotation: add the new key first, then remove the old). ``False`` if not pinned."""
        current = self.signers()
        kept = [s for s in current if s.key_id != key_id]
        if len(kept) == len(current):
            return False
        self._write(kept)
        return True

    def keys(self) -> dict[str, bytes]:
        return {s.key_id: _unb64(s.public_key) for s in self.signers()}


def verify_envelope(envelope: Any, trusted: dict[str, bytes]) -> dict[str, Any]:
    """The payload of ``envelope`` if it is signed by one of ``trusted`` (key id -> raw public key).

    Raises :class:`SignatureError`: ``malformed`` (not an envelope), ``unknown_signer`` (key not pinned here),
    ``bad_signature`` (anything in the payload changed after signing). Checking *what* the payload asks (host,
    time window, replay) is the caller's job.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), dict) \
            or not isinstance(envelope.get("key_id"), str) or not isinstance(envelope.get("signature"), str):
        raise SignatureError("malformed", tr("Auftrag ist kein signierter Umschlag (payload, key_id, signature).",
                                             "The job is not a signed envelope (payload, key_id, signature)."))
    public = trusted.get(envelope["key_id"])
    if public is None:
        raise SignatureError("unknown_signer", tr(
            "Signiert mit Schlüssel {k}, der auf diesem Rechner nicht hinterlegt ist.",
            "Signed with key {k}, which is not pinned on this host.", k=envelope["key_id"][:32]))
    try:
        signature = _unb64(envelope["signature"])
        data = canonical_json(envelope["payload"])
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("bad_signature", tr(
            "Signatur passt nicht zum Inhalt: der Auftrag wurde nach der Freigabe verändert.",
            "The signature does not match the content: the job was changed after it was approved.")) from exc
    return envelope["payload"]
