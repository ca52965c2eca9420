"""License leases: online validation, offline grace of at most 7 days, clock-tamper detection, edition gates.

Flow (see ARCHITECTURE.md, notes/licensing-anchors.md)::

    key -> POST /api/licenses/validate {key, fingerprint, nonce} -> signed lease (EdDSA JWT) -> verified here
        -> cached in TECHCARE_HOME/license/lease.jwt -> LicenseStatus -> license.current() -> techcare.features

:meth:`LicenseManager.check` only decides and returns a :class:`LicenseStatus`; :func:`check_license` is the one
place that makes a decision the status in force (:func:`current`, read by the edition gates of
:mod:`techcare.features`): the start sequence (:func:`ensure_license`), the sensor's periodic re-checks and the first
:func:`current` of a process go through it. Until a check ran in this process, :func:`current` verifies the cached
lease offline once.

Trust: the lease must be signed by one of the *trusted* public keys = the keys pinned in
``TECHCARE_HOME/license/public_keys.json`` (fetched once from ``GET /api/licenses/public-keys``, trust on first
use) plus the keys shipped with TechCare (:data:`SHIPPED_KEYS`, for key rotation). A key never becomes trusted
just because the server presents it later.

Offline (network error, 408, 429, 5xx): the cached lease is used if its signature is valid, it was issued for this
machine, and ``max(now, high_water) - iat <= 7 days`` (``iat`` = the last successful online check; it is signed, so
editing the state file cannot extend it). The *high-water mark* is the latest time ever seen (server ``ts``, lease
``iat``, the local clock at each run), kept sealed (checksum) in two places: ``license/state.json`` and
``TECHCARE_HOME/.license-state.json`` (:mod:`techcare._sealed`); the later of the readable copies counts. A local
clock more than 10 minutes behind it is ``CLOCK_TAMPERED``: the program must go online. Only when every copy is
missing does the lease's ``iat`` serve as the floor; a damaged copy with no readable one beside it is
``STATE_DAMAGED`` (offline use refused until one online check), never a fresh start.

Damaged files are damage, not absence: a damaged ``public_keys.json`` (or one deleted after keys were pinned)
means no pinned key is trusted and nothing is pinned again on its own (``techcare license --repin`` is the
deliberate way back); a ``lease.jwt`` that cannot be read is said as such, not as "no license cached yet".

A definite, signed denial (``valid: false``) of *this* request fails closed and deletes the cached lease,
whatever the HTTP status it comes with; its nonce must be the one just sent. Any other answer (a denial played
back from an earlier request, an unsigned error) fails closed for this run and deletes nothing.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .editions import EDITION_NAMES, EDITIONS
from .errors import BackendError, LicenseError, TechCareError
from .i18n import tr
from .i18n_argparse import Parser

__all__ = [
    "CLIENT_CODES", "CLOCK_TOLERANCE", "OFFLINE_GRACE_SECONDS", "SERVER_CODES", "SHIPPED_KEYS", "LicenseManager",
    "LicenseStatus", "check_license", "current", "ensure_license", "machine_fingerprint",
    "machine_id", "main", "set_current", "validate_for_setup",
]

OFFLINE_GRACE_SECONDS = 7 * 86400
CLOCK_TOLERANCE = 600  # 10 minutes
ISSUER = "techcare-backend"
SERVER_CODES = ("VALID", "NOT_FOUND", "SUSPENDED", "REVOKED", "EXPIRED", "FINGERPRINT_SCOPE_MISMATCH",
                "TOO_MANY_MACHINES", "ENTITLEMENTS_MISSING")
CLIENT_CODES = ("OFFLINE_GRACE", "OFFLINE_GRACE_EXCEEDED", "LEASE_INVALID", "CLOCK_TAMPERED", "NO_LICENSE",
                "STATE_DAMAGED")

#: Public keys (JWKS entries) shipped with this TechCare release, so a server key rotation announced in advance
#: keeps working for clients whose pinned set predates it. Release engineering adds the production keys here.
SHIPPED_KEYS: list[dict[str, Any]] = []

_FINGERPRINT_KEY = b"techcare/machine-fingerprint/v1"


# ---- machine fingerprint --------------------------------------------------------------------------------------

def machine_id(runner: Any = None, *, home: Path | None = None) -> str:
    """The OS machine id (a system fact: :func:`techcare.system._facts.machine_id`, read via the runner).

    When the OS has none, a random id is created once in ``TECHCARE_HOME/machine-id``. A file that holds no text (empty,
    binary) is replaced by a new id, as a missing one is. A ``machine-id`` that exists but cannot be read (a folder in
    its place, no permission, a symlink loop) or a new id that cannot be stored raises :class:`LicenseError` naming the
    path and what to do: a new id would make this PC a new machine for the license (one more seat) and for the undo of
    its repairs, so it is never made in place of one that may still be there.
    """
    from .system._facts import machine_id as os_machine_id
    from .system.runner import LocalRunner

    found = os_machine_id(runner or LocalRunner())
    if found:
        return found
    if home is None:
        from .config import get_settings

        home = get_settings().techcare_home
    path = Path(home) / "machine-id"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:   # missing (or a symlink to nothing): a new id
        raw = b""
    except OSError as exc:
        raise _machine_id_unreadable(path, exc) from None
    try:
        existing = raw.decode("ascii").strip()
    except UnicodeDecodeError:   # not text (damaged): the id it held is lost; a new one, as for a missing file
        existing = ""
    if existing:
        return existing
    new = uuid.uuid4().hex
    try:
        _atomic_write(path, new + "\n")
    except OSError as exc:
        raise LicenseError(tr(
            "Die Rechner-ID kann nicht in {p} gespeichert werden ({e}).",
            "The machine id cannot be stored in {p} ({e}).", p=path, e=_os_reason(exc)), hint=tr(
            "Dieser Rechner hat keine Betriebssystem-ID; TechCare führt seine eigene in TECHCARE_HOME ({h}). "
            "TECHCARE_HOME muss ein Ordner sein, den das Konto, unter dem TechCare läuft, beschreiben darf: Rechte "
            "prüfen oder TECHCARE_HOME auf einen solchen Ordner setzen.",
            "This machine has no operating-system id; TechCare keeps its own in TECHCARE_HOME ({h}). TECHCARE_HOME "
            "must be a folder the account running TechCare may write to: check its permissions or set TECHCARE_HOME "
            "to such a folder.", h=path.parent)) from None
    return new


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _machine_id_unreadable(path: Path, exc: OSError) -> LicenseError:
    """The error for a ``machine-id`` that exists but cannot be read: what is wrong and what to do."""
    new_id = tr("TechCare legt dann eine neue ID an; die Lizenz zählt diesen Rechner dann einmal neu.",
                "TechCare then creates a new id; the license counts this machine once more.")
    if exc.errno == errno.EISDIR or path.is_dir():
        message = tr("Die Rechner-ID ist nicht lesbar: {p} ist ein Ordner, keine Datei.",
                     "The machine id cannot be read: {p} is a folder, not a file.", p=path)
        hint = tr("Dieser Rechner hat keine Betriebssystem-ID; TechCare führt seine eigene in dieser Datei. So gehst "
                  "du vor:\n  1. die Datei machine-id aus einer Sicherung an diese Stelle zurückspielen\n  2. oder den "
                  "Ordner umbenennen oder entfernen, wenn er nichts Wichtiges enthält. {new}",
                  "This machine has no operating-system id; TechCare keeps its own in this file. What to do:\n"
                  "  1. restore the file machine-id from a backup to this place\n  2. or rename or remove the folder "
                  "if it holds nothing of value. {new}", new=new_id)
    elif exc.errno == errno.ELOOP:
        message = tr("Die Rechner-ID ist nicht lesbar: {p} ist ein symbolischer Link, der im Kreis verweist.",
                     "The machine id cannot be read: {p} is a symbolic link that points round in a loop.", p=path)
        hint = tr("Den Link durch die ursprüngliche Datei machine-id ersetzen (aus einer Sicherung) oder ihn "
                  "entfernen. {new}",
                  "Replace the link by the original file machine-id (from a backup) or remove it. {new}", new=new_id)
    elif exc.errno in (errno.EACCES, errno.EPERM):
        message = tr("Die Rechner-ID ist nicht lesbar: {p} ({e}).", "The machine id cannot be read: {p} ({e}).",
                     p=path, e=_os_reason(exc))
        hint = tr("Dem Konto, unter dem TechCare läuft, das Lesen erlauben (Eigentümer und Rechte der Datei, z. B. "
                  "chmod 600). Die Datei nicht löschen: eine neue ID zählt für die Lizenz als neuer Rechner.",
                  "Let the account running TechCare read it (the file's owner and permissions, e.g. chmod 600). Do not "
                  "delete the file: a new id counts as a new machine for the license.")
    else:
        message = tr("Die Rechner-ID ist nicht lesbar: {p} ({e}).", "The machine id cannot be read: {p} ({e}).",
                     p=path, e=_os_reason(exc))
        hint = tr("TECHCARE_HOME ({h}) muss ein lesbarer Ordner sein und {p} eine Datei darin: Pfad und Rechte prüfen "
                  "oder die Datei aus einer Sicherung zurückspielen.",
                  "TECHCARE_HOME ({h}) must be a readable folder and {p} a file in it: check the path and permissions "
                  "or restore the file from a backup.", h=path.parent, p=path)
    return LicenseError(message, hint=hint)


def machine_fingerprint(runner: Any = None, *, home: Path | None = None, raw_id: str | None = None) -> str:
    """HMAC-SHA256 of the machine id with an application key: stable per machine, never the raw id."""
    value = raw_id if raw_id is not None else machine_id(runner, home=home)
    return hmac.new(_FINGERPRINT_KEY, value.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


# ---- status ---------------------------------------------------------------------------------------------

@dataclass
class LicenseStatus:
    code: str                          # server code (VALID, REVOKED, ...) or client code (OFFLINE_GRACE, ...)
    ok: bool                           # may the licensed features run?
    edition: str = "community"
    entitlements: list[str] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    online: bool = False               # was this decided by the server just now?
    detail: str = ""
    days_left: float | None = None     # offline grace left
    expires_at: float | None = None    # lease exp (unix seconds)
    last_online: float | None = None   # iat of the lease in use
    license_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    claims: dict[str, Any] | None = None
    advice: str = ""                   # what to do, when it is not the network check list (e.g. a local file)

    @property
    def message(self) -> str:
        return status_message(self)

    @property
    def summary(self) -> str:
        """One line for banners: the first line of :attr:`message`."""
        return self.message.splitlines()[0]

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "edition": self.edition, "entitlements": list(self.entitlements),
                "online": self.online, "detail": self.detail, "days_left": self.days_left,
                "expires_at": self.expires_at, "last_online": self.last_online, "license_id": self.license_id,
                "warnings": list(self.warnings), "message": self.message}

    def __str__(self) -> str:
        return self.message


def _troubleshooting() -> str:
    return tr("Lizenz-Check fehlgeschlagen – so gehst du vor:\n"
              "  1. Prüfe BACKEND_URL in .env\n"
              "  2. Prüfe die Netzwerkverbindung (ping, techcare doctor)\n"
              "  3. Prüfe den Lizenzschlüssel (LICENSE_KEY)\n"
              "  4. Prüfe, ob der License-Server läuft",
              "License check failed – what to do:\n"
              "  1. Check BACKEND_URL in .env\n"
              "  2. Check the network connection (ping, techcare doctor)\n"
              "  3. Check the license key (LICENSE_KEY)\n"
              "  4. Check that the license server is running")


_SERVER_TEXT = {
    "NOT_FOUND": ("Der Lizenzschlüssel ist dem Server unbekannt.", "The license key is unknown to the server."),
    "SUSPENDED": ("Die Lizenz ist gesperrt.", "The license is suspended."),
    "REVOKED": ("Die Lizenz wurde widerrufen.", "The license has been revoked."),
    "EXPIRED": ("Die Lizenz ist abgelaufen.", "The license has expired."),
    "FINGERPRINT_SCOPE_MISMATCH": ("Die Lizenz ist für diesen Rechner nicht freigeschaltet.",
                                   "The license is not activated for this machine."),
    "TOO_MANY_MACHINES": ("Die Lizenz ist bereits auf der maximalen Anzahl Rechner aktiv.",
                          "The license is already active on the maximum number of machines."),
    "ENTITLEMENTS_MISSING": ("Der Lizenz fehlen benötigte Berechtigungen.", "The license lacks required entitlements."),
}


def status_message(status: LicenseStatus) -> str:
    edition = EDITION_NAMES.get(status.edition, status.edition)
    code = status.code
    if code == "VALID":
        return tr("Lizenz gültig ({edition}), online geprüft.", "License valid ({edition}), checked online.",
                  edition=edition)
    if code == "OFFLINE_GRACE":
        return tr("Offline: zwischengespeicherte Lizenz ({edition}) gilt noch {days:.1f} Tage – bitte bald online "
                  "gehen.",
                  "Offline: cached license ({edition}) is valid for {days:.1f} more days – please go online soon.",
                  edition=edition, days=status.days_left or 0.0)
    if code == "NO_LICENSE":
        if status.ok:
            return tr("Community-Edition: keine Lizenz nötig.", "Community edition: no license needed.")
        return tr("Kein Lizenzschlüssel gesetzt (LICENSE_KEY) – die Edition braucht einen.",
                  "No license key set (LICENSE_KEY) – this edition needs one.") + "\n" + _troubleshooting()
    if code == "OFFLINE_GRACE_EXCEEDED":
        head = tr("Die Lizenz konnte seit mehr als 7 Tagen nicht online geprüft werden (Offline-Frist abgelaufen).",
                  "The license could not be checked online for more than 7 days (offline grace exceeded).")
    elif code == "CLOCK_TAMPERED":
        head = tr("Die Systemuhr geht gegenüber der zuletzt gesehenen Zeit zurück – die Lizenz muss online geprüft "
                  "werden.",
                  "The system clock is behind the latest time seen – the license must be checked online.")
    elif code == "STATE_DAMAGED":
        head = tr("Die Lizenz-Zustandsdateien (Hochwassermarke der Uhr) sind beschädigt – die Lizenz muss einmal "
                  "online geprüft werden.",
                  "The license state files (the clock's high-water mark) are damaged – the license must be checked "
                  "online once.")
    elif code == "LEASE_INVALID":
        head = tr("Die Lizenzbestätigung ist ungültig (Signatur, Rechner oder Antwort passt nicht).",
                  "The license lease is invalid (signature, machine or answer does not match).")
    else:
        head = tr(*_SERVER_TEXT.get(code, ("Lizenz abgelehnt: {code}.", "License refused: {code}."))).replace(
            "{code}", code)
    detail = f" ({status.detail})" if status.detail else ""
    return f"{head}{detail}\n{status.advice or _troubleshooting()}"


def _pins_advice(keys_path: Path) -> str:
    return tr("Die angehefteten Schlüssel auf diesem Rechner sind beschädigt (kein Netzwerkproblem) – so gehst du "
              "vor:\n"
              "  1. {p} aus einer Sicherung wiederherstellen (eine Datei, kein Ordner)\n"
              "  2. oder bewusst neu anheften, wenn du dem Server vertraust: techcare license --repin",
              "The pinned keys on this machine are damaged (not a network problem) – what to do:\n"
              "  1. restore {p} from a backup (a file, not a folder)\n"
              "  2. or pin again on purpose if you trust the server: techcare license --repin", p=keys_path)


# ---- files ----------------------------------------------------------------------------------------------

#: The reasons :mod:`techcare._sealed` gives for a damaged state copy (fixed English words), as said to the user.
_SEALED_PROBLEMS = {
    "not UTF-8 text": ("keine UTF-8-Textdatei", "not UTF-8 text"),
    "not JSON (cut or garbled)": ("kein JSON (abgeschnitten oder verstümmelt)", "not JSON (cut or garbled)"),
    "not a JSON object": ("kein JSON-Objekt", "not a JSON object"),
    "checksum mismatch": ("Prüfsumme stimmt nicht", "checksum mismatch"),
}


def _atomic_write(path: Path, text: str) -> None:
    from ._fs import atomic_write

    atomic_write(path, text, mode=0o600)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwk_to_key(jwk: dict[str, Any]) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(jwk.get("x"), str):
        raise ValueError("not an Ed25519 OKP key")
    raw = _b64url_decode(jwk["x"])
    if len(raw) != 32:
        raise ValueError("Ed25519 key must be 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


class _Invalid(Exception):
    """A lease failed verification: the message says why in the session language; ``reason`` is a fixed word for
    the code that must tell reasons apart (``untrusted_key``, ...), whatever the language."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def _number(value: Any) -> float | None:
    """A JSON number as a finite float; ``None`` for anything else — a boolean too (``true`` is no time, although
    Python's bool is an int), and NaN, infinity or an integer too large for a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


# ---- the manager ----------------------------------------------------------------------------------------

class LicenseManager:
    """Checks the license. Everything the check depends on is injectable: settings, backend client, clock, keys.

    ``clock()`` returns unix seconds (the *local* clock, the one a user can turn back).
    """

    def __init__(self, settings: Any = None, *, client: Any = None, clock: Callable[[], float] = time.time,
                 home: Path | None = None, shipped_keys: list[dict[str, Any]] | None = None,
                 fingerprint: str | None = None, runner: Any = None) -> None:
        if settings is None:
            from .config import get_settings

            settings = get_settings()
        self.settings = settings
        self._client = client
        self.clock = clock
        self.home = Path(home) if home is not None else Path(settings.techcare_home)
        self.dir = self.home / "license"
        self.shipped_keys = list(SHIPPED_KEYS if shipped_keys is None else shipped_keys)
        self._fingerprint = fingerprint
        self._runner = runner

    # paths
    @property
    def lease_path(self) -> Path:
        return self.dir / "lease.jwt"

    @property
    def state_path(self) -> Path:
        return self.dir / "state.json"

    @property
    def keys_path(self) -> Path:
        return self.dir / "public_keys.json"

    @property
    def state_paths(self) -> list[Path]:
        """The places of the high-water mark (the later readable one counts)."""
        return [self.state_path, self.home / ".license-state.json"]

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = machine_fingerprint(self._runner, home=self.home)
        return self._fingerprint

    @property
    def client(self) -> Any:
        if self._client is None:
            from .backend_client import BackendClient

            self._client = BackendClient(settings=self.settings, retries=2) if self.settings.backend_url else None
        return self._client

    # ---- state (high-water mark) -------------------------------------------------------------------------
    def _state_copies(self) -> list[Any]:
        from ._sealed import read_copies

        return read_copies(self.state_paths)

    def read_state(self) -> dict[str, Any]:
        """The state of the readable copies: the one with the latest high-water mark, that mark the maximum."""
        usable = [c.data for c in self._state_copies() if c.usable and isinstance(c.data, dict)]
        if not usable:
            return {}
        marks = [m for m in (_number(d.get("high_water")) for d in usable) if m is not None]
        state = dict(max(usable, key=lambda d: _number(d.get("high_water")) or 0.0))
        if marks:
            state["high_water"] = max(marks)
        return state

    def state_damage(self) -> list[str]:
        """``"<file>: <reason>"`` for each state copy that exists but cannot be read (the reason in the session
        language; an operating-system error as the system words it)."""
        return [f"{c.path}: {tr(*_SEALED_PROBLEMS.get(c.problem, (c.problem, c.problem)))}"
                for c in self._state_copies() if c.status == "damaged"]

    def _write_state(self, **values: Any) -> None:
        from ._sealed import write_copies

        state = self.read_state()
        if "high_water" not in state and "last_online" not in values and self.state_damage():
            return   # damaged with nothing readable left: only an online check (the server's time) rewrites it
        state.update(values)
        self.write_problems = write_copies(self.state_paths, state)

    write_problems: list[str] = []

    def high_water(self) -> float | None:
        return _number(self.read_state().get("high_water"))

    def _raise_high_water(self, *times: float | None) -> float:
        current = self.high_water() or 0.0
        new = max([current, *(t for t in times if t is not None)])
        if new > current:
            self._write_state(high_water=new)
        return new

    # ---- keys -----------------------------------------------------------------------------------------
    def pins_damage(self) -> str | None:
        """Why the pinned keys cannot be trusted (damaged file, or deleted after keys were pinned), else None."""
        return self._pins()[1]

    def _pins(self) -> tuple[list[dict[str, Any]], str | None]:
        try:
            raw = self.keys_path.read_bytes()
        except FileNotFoundError:
            if self.read_state().get("pinned"):
                return [], tr("{p} fehlt, obwohl Schlüssel angeheftet waren", "{p} is missing although keys were "
                              "pinned", p=self.keys_path)
            return [], None
        except OSError as exc:
            return [], f"{self.keys_path}: {exc.strerror or type(exc).__name__}"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return [], tr("{p} ist beschädigt (kein JSON)", "{p} is damaged (not JSON)", p=self.keys_path)
        keys = data.get("keys") if isinstance(data, dict) else None
        good = [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []
        usable = []
        for jwk in good:
            try:
                _jwk_to_key(jwk)
                usable.append(jwk)
            except (ValueError, TypeError):
                pass
        if not usable:
            return [], tr("{p} ist beschädigt (kein gültiger Schlüssel)", "{p} is damaged (no valid key)",
                          p=self.keys_path)
        return usable, None

    def pinned_keys(self) -> list[dict[str, Any]]:
        """The pinned keys; none when the file is damaged (:meth:`pins_damage` says why): damaged pins trust
        nobody."""
        return self._pins()[0]

    def pin_keys(self, *, force: bool = False) -> list[dict[str, Any]]:
        """Fetch the backend's public keys and pin them (only if nothing is pinned yet, unless ``force``). Damaged
        pins are never replaced on their own (that would trust whichever server answers): only ``force``
        (``techcare license --repin``) does."""
        existing, damage = self._pins()
        if (existing or damage) and not force:
            return existing
        if self.client is None:
            return existing
        jwks = self.client.public_keys()
        served = jwks.get("keys") if isinstance(jwks, dict) else None
        keys = []
        for jwk in served if isinstance(served, list) else []:
            if not isinstance(jwk, dict):   # a server's junk is no key (and no AttributeError)
                continue
            try:
                _jwk_to_key(jwk)
            except (ValueError, TypeError):
                continue
            keys.append({k: jwk[k] for k in ("kty", "crv", "x", "kid", "alg", "use") if k in jwk})
        if not keys:
            raise BackendError(tr("Der Server liefert keine gültigen Ed25519-Schlüssel.",
                                  "The server returned no valid Ed25519 keys."))
        try:
            _atomic_write(self.keys_path, json.dumps({"keys": keys, "pinned_at": self.clock()}, indent=1))
        except OSError as exc:
            raise BackendError(tr("Schlüssel nicht speicherbar in {p}: {e}. Der Pfad muss eine schreibbare Datei sein.",
                                  "keys cannot be stored in {p}: {e}. The path must be a writable file.",
                                  p=self.keys_path, e=exc.strerror or exc)) from None
        self._write_state(pinned=True)
        return keys

    def trusted_keys(self) -> dict[str, list[Any]]:
        """kid -> public keys (pinned first, then shipped)."""
        trusted: dict[str, list[Any]] = {}
        for jwk in [*self.pinned_keys(), *self.shipped_keys]:
            try:
                key = _jwk_to_key(jwk)
            except (ValueError, TypeError):
                continue
            trusted.setdefault(str(jwk.get("kid", "")), []).append(key)
        return trusted

    # ---- verification ---------------------------------------------------------------------------------
    def verify(self, token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """Verify signature, issuer, fingerprint (and nonce when given). Returns the claims; raises ``_Invalid``.

        Time claims are *not* judged here (that needs the high-water logic), only their presence and form: ``iat``
        and ``exp`` (and ``nbf`` when given) must be finite numbers — a JSON ``true`` is refused, not taken for 1.
        """
        import jwt

        if not isinstance(token, str) or token.count(".") != 2:
            raise _Invalid(tr("kein JWT", "not a JWT"))
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise _Invalid(tr("Kopfteil unlesbar: {e}", "bad header: {e}", e=exc)) from None
        if header.get("alg") != "EdDSA":
            raise _Invalid(tr("Algorithmus {a!r} ist nicht EdDSA", "algorithm {a!r} is not EdDSA", a=header.get("alg")))
        trusted = self.trusted_keys()
        kid = str(header.get("kid", ""))
        candidates = trusted.get(kid) or []
        if not candidates:
            raise _Invalid(tr("Signatur mit einem nicht vertrauenswürdigen Schlüssel (kid {kid!r})",
                              "signed with an untrusted key (kid {kid!r})", kid=kid), "untrusted_key")
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(token, key=key, algorithms=["EdDSA"], issuer=ISSUER,
                                    options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                             "verify_aud": False, "require": ["iss", "iat", "exp"]})
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.MissingRequiredClaimError as exc:
                raise _Invalid(tr("Angabe {name} fehlt", "claim {name} is missing", name=exc.claim)) from None
            except jwt.InvalidIssuerError:
                raise _Invalid(tr("falscher Aussteller (iss)", "wrong issuer (iss)")) from None
            except jwt.InvalidTokenError as exc:
                raise _Invalid(tr("von der JWT-Prüfung abgelehnt: {e}", "refused by the JWT check: {e}",
                                  e=f"{type(exc).__name__}: {exc}")) from None
        if claims is None:
            raise _Invalid(tr("Signatur stimmt nicht", "signature does not verify"))
        present = ("iat", "exp", "nbf") if "nbf" in claims else ("iat", "exp")   # no nbf: iat stands for it
        for name in present:
            if _number(claims.get(name)) is None:
                raise _Invalid(tr("Angabe {name} ist keine Zahl", "claim {name} is not a number", name=name))
        if claims.get("valid") is True and not (isinstance(claims.get("sub"), str) and claims["sub"]):
            # denials such as NOT_FOUND have none
            raise _Invalid(tr("eine gültige Lizenzbestätigung muss ihre Lizenz nennen (sub)",
                              "a valid lease must name its license (sub)"))
        if claims.get("fingerprint") != self.fingerprint:
            raise _Invalid(tr("für einen anderen Rechner ausgestellt (Fingerabdruck passt nicht)",
                              "issued for another machine (fingerprint mismatch)"))
        if nonce is not None and claims.get("nonce") != nonce:
            raise _Invalid(tr("Nonce passt nicht (wiedergegebene oder fremde Antwort)",
                              "nonce mismatch (replayed or foreign answer)"))
        return claims

    def cached_lease(self) -> str | None:
        try:
            return self.lease_path.read_text(encoding="ascii").strip() or None
        except (OSError, UnicodeDecodeError):
            return None

    def lease_damage(self) -> str | None:
        """Why a ``lease.jwt`` that exists cannot be used as a lease (a directory, binary, unreadable), else None."""
        try:
            text = self.lease_path.read_bytes().decode("ascii").strip()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            return tr("{p} ist beschädigt (keine Textdatei)", "{p} is damaged (not a text file)", p=self.lease_path)
        except OSError as exc:
            return f"{self.lease_path}: {exc.strerror or type(exc).__name__}"
        if text and text.count(".") != 2:
            return tr("{p} ist beschädigt (kein JWT)", "{p} is damaged (not a JWT)", p=self.lease_path)
        return None

    def _delete_lease(self) -> None:
        try:
            self.lease_path.unlink()
        except FileNotFoundError:
            pass
        except OSError:   # a directory in its place: nothing cached to forget; lease_damage() says it
            pass

    # ---- the check ------------------------------------------------------------------------------------
    def check(self, *, online: bool = True) -> LicenseStatus:
        """The license state now, from the server or the cached lease. Never raises for license problems (see
        :meth:`ensure`) and changes nothing but the lease cache and the high-water mark: what is in force for the
        edition gates is :func:`check_license`'s business. Raises :class:`LicenseError` only when this machine's id is
        needed and cannot be read or stored (:func:`machine_id`: a local file the technician must put right)."""
        edition = self.settings.edition
        key = self.settings.license_key
        if not key:
            return LicenseStatus("NO_LICENSE", ok=edition == "community", edition="community")
        now = float(self.clock())
        if online and self.client is not None:
            from .backend_client import BackendUnavailable

            try:
                return self._online(key, now)
            except BackendUnavailable as exc:
                return self._offline(now, reason=exc.message)
        return self._offline(now, reason=tr("kein Backend konfiguriert", "no backend configured")
                             if self.client is None else tr("nur offline geprüft", "checked offline only"))

    def _online(self, key: str, now: float) -> LicenseStatus:
        from .backend_client import BackendUnavailable

        nonce = secrets.token_urlsafe(24)
        try:
            self.pin_keys()
        except BackendUnavailable:
            raise
        except BackendError as exc:
            if not self.pinned_keys() and not self.shipped_keys:
                return LicenseStatus("LEASE_INVALID", ok=False, online=True, detail=exc.message)
        if self.pinned_keys() and not self.read_state().get("pinned"):   # pinned by an older version
            self._write_state(pinned=True)
        try:
            response = self.client.validate_license(key=key, fingerprint=self.fingerprint, nonce=nonce)
        except BackendUnavailable:
            raise
        except BackendError as exc:  # a definite HTTP error (401/403/404/422 ...): judged like any answer
            return self._judge_answer(getattr(exc, "response", None), nonce, now, refusal=exc)
        return self._judge_answer(response, nonce, now)

    def _judge_answer(self, response: Any, nonce: str, now: float, *,
                      refusal: BackendError | None = None) -> LicenseStatus:
        """Judge the server's answer to *this* request, whatever its HTTP status.

        Only a lease that verifies with this request's nonce counts: a signed denial for this machine that
        someone obtained earlier (anyone who knows the fingerprint can ask for one) and plays back is refused
        like any foreign answer and never touches the cached lease. An HTTP error without such a lease fails
        closed for this run but deletes nothing.
        """
        try:
            body = response.json() if response is not None else None
        except ValueError:
            body = None
        token = body.get("lease") if isinstance(body, dict) else None
        if not token:
            if refusal is not None:
                code = body.get("code") if isinstance(body, dict) and body.get("code") in SERVER_CODES else None
                return self._refused(code or "LEASE_INVALID", detail=refusal.message)
            return self._refused("LEASE_INVALID", detail=tr("Antwort ist kein JSON", "answer is not JSON")
                                 if body is None else tr("Antwort enthält keine Lizenzbestätigung",
                                                         "answer carries no lease"))
        try:
            claims = self.verify(token, nonce=nonce)
        except _Invalid as exc:
            pins = self.pins_damage()   # damaged pins trust nobody: say why, and how to pin again on purpose
            return self._refused("LEASE_INVALID", detail=tr(
                "{p} – kein angehefteter Schlüssel gilt; Datei wiederherstellen oder bewusst neu anheften: techcare "
                "license --repin ({e})", "{p} – no pinned key is trusted; restore the file or pin again on purpose: "
                "techcare license --repin ({e})", p=pins, e=exc) if pins else str(exc),
                advice=_pins_advice(self.keys_path) if pins else "")
        server_ts = _number(body.get("ts"))   # not a number (a boolean neither): the lease's iat stands for it
        if server_ts is None:
            server_ts = float(claims["iat"])
        code = str(claims.get("code") or body.get("code") or "")
        if claims.get("valid") is not True or code != "VALID":
            # A definite, signed denial of this very request: fail closed, forget the cached lease.
            self._delete_lease()
            self._raise_high_water(server_ts, float(claims["iat"]))
            return self._refused(code or "LEASE_INVALID", detail=str(body.get("detail") or ""),
                                 license_id=claims.get("sub"), claims=claims)
        if refusal is not None:  # an HTTP error that carries a valid lease contradicts itself: not trusted
            return self._refused("LEASE_INVALID", detail=refusal.message)
        warnings = []
        if abs(now - server_ts) > CLOCK_TOLERANCE:
            warnings.append(tr("Die Systemuhr weicht {min:.0f} Minuten von der Serverzeit ab.",
                               "The system clock is {min:.0f} minutes off the server time.",
                               min=abs(now - server_ts) / 60))
        try:
            _atomic_write(self.lease_path, token + "\n")
        except OSError as exc:   # valid now; offline use needs the cache: say why it is missing
            warnings.append(tr("Lizenz nicht zwischenspeicherbar in {p}: {e} – ohne Netz gilt sie nicht.",
                               "the lease cannot be cached in {p}: {e} – it will not hold offline.",
                               p=self.lease_path, e=exc.strerror or exc))
        # The server confirmed the time: the high-water mark restarts from it (a clock that was once far ahead
        # must not lock the machine out forever). The local clock counts only when it agrees with the server.
        local = now if abs(now - server_ts) <= CLOCK_TOLERANCE else None
        high = max(t for t in (server_ts, float(claims["iat"]), local) if t is not None)
        self._write_state(high_water=high, last_online=server_ts, license_id=claims.get("sub"))
        warnings += [tr("Lizenzzustand nicht gespeichert ({p}).", "license state not saved ({p}).", p=p)
                     for p in self.write_problems]
        return self._granted(claims, "VALID", online=True, warnings=warnings)

    def _refused(self, code: str, *, detail: str = "", license_id: str | None = None,
                 claims: dict[str, Any] | None = None, advice: str = "") -> LicenseStatus:
        """The server was reached and the license does not hold for this run."""
        return LicenseStatus(code, ok=False, online=True, detail=detail, license_id=license_id, claims=claims,
                             advice=advice)

    def _offline(self, now: float, *, reason: str) -> LicenseStatus:
        damage = self.lease_damage()
        if damage is not None:
            return LicenseStatus("LEASE_INVALID", ok=False, detail=tr(
                "{d} – einmal online prüfen nötig ({reason})", "{d} – one online check is needed ({reason})",
                d=damage, reason=reason))
        token = self.cached_lease()
        if token is None:
            return LicenseStatus("LEASE_INVALID", ok=False, detail=tr(
                "offline und noch keine Lizenz zwischengespeichert – einmal online prüfen nötig ({reason})",
                "offline and no license cached yet – one online check is needed ({reason})", reason=reason))
        try:
            claims = self.verify(token)
        except _Invalid as exc:
            if exc.reason != "untrusted_key":
                self._delete_lease()
            pins = self.pins_damage()
            return LicenseStatus("LEASE_INVALID", ok=False, detail=f"{pins}: {exc}" if pins else str(exc),
                                 advice=_pins_advice(self.keys_path) if pins else "")
        if claims.get("valid") is not True or claims.get("code") != "VALID":
            self._delete_lease()
            return LicenseStatus(str(claims.get("code") or "LEASE_INVALID"), ok=False,
                                 detail=tr("zwischengespeicherte Ablehnung", "cached denial"))
        iat = float(claims["iat"])
        exp = float(claims["exp"])
        high = self.high_water()
        if high is None:
            damaged = self.state_damage()
            if damaged:   # damage is not absence: the mark it held is unknown, so it may be far ahead
                return LicenseStatus("STATE_DAMAGED", ok=False, last_online=iat, expires_at=exp,
                                     license_id=claims.get("sub"), detail="; ".join(damaged))
            high = iat    # every copy missing (or never written): the signed iat is the floor
        nbf = float(claims.get("nbf", iat))
        if now < high - CLOCK_TOLERANCE or now < min(iat, nbf) - CLOCK_TOLERANCE:
            behind = max(high, min(iat, nbf)) - now
            return LicenseStatus("CLOCK_TAMPERED", ok=False, last_online=iat, expires_at=exp,
                                 license_id=claims.get("sub"),
                                 detail=tr("Uhr {m:.0f} Minuten hinter der zuletzt gesehenen Zeit",
                                           "clock {m:.0f} minutes behind the latest time seen", m=behind / 60))
        effective = max(now, high)
        deadline = min(iat + OFFLINE_GRACE_SECONDS, exp)
        if effective > deadline:
            self._raise_high_water(now)
            expired = exp < iat + OFFLINE_GRACE_SECONDS
            return LicenseStatus("EXPIRED" if expired else "OFFLINE_GRACE_EXCEEDED", ok=False, last_online=iat,
                                 expires_at=exp, license_id=claims.get("sub"), edition=str(claims.get("edition")),
                                 detail=tr("zuletzt online geprüft: {when}", "last checked online: {when}",
                                           when=_iso(iat)))
        self._raise_high_water(now)
        return self._granted(claims, "OFFLINE_GRACE", online=False, days_left=(deadline - effective) / 86400,
                              detail=reason)

    def _granted(self, claims: dict[str, Any], code: str, *, online: bool, days_left: float | None = None,
                  detail: str = "", warnings: list[str] | None = None) -> LicenseStatus:
        edition = str(claims.get("edition") or "community")
        if edition not in EDITIONS:
            return LicenseStatus("LEASE_INVALID", ok=False, online=online, detail=tr(
                "unbekannte Edition {e!r}", "unknown edition {e!r}", e=edition))
        ents = claims.get("entitlements")
        ents = [str(e) for e in ents] if isinstance(ents, list) else []
        limits = claims.get("limits")   # anything but an object (a list, a string) is no limits, not a TypeError
        return LicenseStatus(code, ok=True, edition=edition, entitlements=ents,
                             limits=dict(limits) if isinstance(limits, dict) else {},
                             online=online, days_left=days_left, expires_at=float(claims["exp"]),
                             last_online=float(claims["iat"]), license_id=claims.get("sub"), detail=detail,
                             warnings=warnings or [], claims=claims)

    def ensure(self, *, online: bool = True) -> LicenseStatus:
        """:func:`check_license` with this manager, raising :class:`LicenseError` (exit status 3) when the license
        does not hold."""
        status = check_license(self, online=online)
        if not status.ok:
            raise LicenseError(status.message)
        return status


# ---- the status in force ---------------------------------------------------------------------------------

_current: LicenseStatus | None = None
_current_lock = threading.Lock()


def set_current(status: LicenseStatus | None) -> None:
    """Make ``status`` the license status in force (``None``: forget it, so the next :func:`current` verifies the
    cached lease again). :func:`check_license` is its caller; tests use it to stand in for a verified license."""
    global _current
    with _current_lock:
        _current = status


def current() -> LicenseStatus:
    """The license status in force in this process: the last one checked, else the cached lease verified offline
    once (signature, machine, 7-day budget; never the network). Anything unexpected fails closed."""
    with _current_lock:
        status = _current
    if status is not None:
        return status
    try:
        return check_license(online=False)
    except TechCareError as exc:   # said on purpose (this machine's id cannot be read): its words and its advice
        status = LicenseStatus("LEASE_INVALID", ok=False, detail=exc.message, advice=exc.hint or "")
        set_current(status)
        return status
    except Exception as exc:  # noqa: BLE001 - no usable license: Community gates, and say why
        status = LicenseStatus("LEASE_INVALID", ok=False, detail=f"{type(exc).__name__}: {exc}")
        set_current(status)
        return status


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_license(manager: LicenseManager | None = None, *, online: bool = True, **kwargs: Any) -> LicenseStatus:
    """Check the license of this installation and put the result in force for the edition gates — the one place
    that does (``kwargs`` build the :class:`LicenseManager` when none is given)."""
    status = (manager if manager is not None else LicenseManager(**kwargs)).check(online=online)
    set_current(status)
    return status


def ensure_license(*, online: bool = True, **kwargs: Any) -> LicenseStatus:
    """The start sequence of the shell, the CLI and the sensor: an online check (offline grace), the result in
    force for the edition gates; raises :class:`LicenseError` (exit status 3) with the troubleshooting steps when
    the license does not hold."""
    return LicenseManager(**kwargs).ensure(online=online)


def validate_for_setup(key: str, values: dict[str, str], **kwargs: Any) -> str | None:
    """Setup wizard step: check ``key`` with the answers given so far; returns a status line, never raises."""
    from .config import load_settings
    from .errors import ConfigError

    overrides = {"license_key": key}
    for name in ("BACKEND_URL", "NETWORK_METHOD", "EDITION", "TECHCARE_API_KEY"):
        if values.get(name):
            overrides[name.lower()] = values[name]
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        return exc.message
    if not settings.backend_url:
        return tr("Lizenzschlüssel gespeichert; geprüft wird beim ersten Start (BACKEND_URL fehlt noch).",
                  "License key saved; it is checked at the first start (BACKEND_URL is not set yet).")
    try:
        status = LicenseManager(settings, **kwargs).check()
    except Exception as exc:  # noqa: BLE001 - setup must finish; the start check will report it again
        return tr("Lizenz konnte nicht geprüft werden: {e}", "The license could not be checked: {e}",
                  e=f"{type(exc).__name__}: {exc}")
    prefix = "✔ " if status.ok else "✖ "
    return prefix + (status.summary if status.ok else status.message)


def build_parser() -> Parser:
    """The parser of ``techcare license``, its texts in the active language."""
    parser = Parser(prog="techcare license", description=tr(
        "Lizenz prüfen (online, sonst zwischengespeichert für höchstens 7 Tage).",
        "Check the license (online, else cached for at most 7 days)."))
    parser.add_argument("--offline", action="store_true", help=tr("nur die zwischengespeicherte Lizenz prüfen",
                                                                  "check the cached lease only"))
    parser.add_argument("--json", action="store_true", help=tr("den Lizenzstatus als JSON ausgeben",
                                                               "print the license status as JSON"))
    parser.add_argument("--repin", action="store_true", help=tr(
        "die öffentlichen Schlüssel des Servers neu holen und anheften (nach einem angekündigten Schlüsselwechsel)",
        "fetch and pin the server's public keys again (after an announced key rotation)"))
    return parser


def main(argv: list[str] | None = None, **kwargs: Any) -> int:
    """``techcare license [--offline] [--json] [--repin]``: check and show the license; 0 when it holds, else 3."""
    import sys

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    manager = LicenseManager(**kwargs)
    if args.repin:
        try:
            keys = manager.pin_keys(force=True)
        except BackendError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(tr("{n} Schlüssel angeheftet: {kids}", "{n} keys pinned: {kids}", n=len(keys),
                 kids=", ".join(str(k.get("kid")) for k in keys)))
    try:
        status = manager.check(online=not args.offline)
    except LicenseError as exc:   # this machine's id cannot be read or stored: what is wrong and what to do
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(status.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(status.message, file=sys.stdout if status.ok else sys.stderr)
        for warning in status.warnings:
            print(warning, file=sys.stderr)
    return 0 if status.ok else LicenseError.exit_code
