"""Technician password (bcrypt, 3 tries) and the session timeout lock.

The password hash lives in ``.env`` as ``TECHNICIAN_PASSWORD_HASH``; the clear text is never stored. After
``SESSION_TIMEOUT`` seconds without input the next command asks for the password again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import TechCareError
from .i18n import tr

__all__ = ["MAX_TRIES", "MIN_PASSWORD_LENGTH", "AuthError", "SessionLock", "ask_password", "hash_password",
           "set_password", "validate_new_password", "verify_password"]

MAX_TRIES = 3
MIN_PASSWORD_LENGTH = 8


class AuthError(TechCareError):
    """Wrong password too often, or a new password that is not acceptable."""

    exit_code = 1


def hash_password(password: str) -> str:
    import bcrypt

    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=12)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    import bcrypt

    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except (ValueError, TypeError):
        return False


def validate_new_password(password: str, repeat: str | None = None) -> None:
    if not password or not password.strip():
        raise AuthError(tr("Das Passwort darf nicht leer sein.", "The password must not be empty."))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(tr("Das Passwort ist zu kurz: mindestens {n} Zeichen.", "The password is too short: at least {n} characters.",
                           n=MIN_PASSWORD_LENGTH))
    if len(password.encode("utf-8")) > 72:
        raise AuthError(tr("Das Passwort ist zu lang: höchstens 72 Bytes.", "The password is too long: at most 72 bytes."))
    if repeat is not None and repeat != password:
        raise AuthError(tr("Die Passwörter stimmen nicht überein.", "The passwords do not match."))


def ask_password(password_hash: str, prompt: Callable[[str], str], *, tries: int = MAX_TRIES,
                 say: Callable[[str], None] = print) -> None:
    """Ask up to ``tries`` times (``prompt`` must not echo, e.g. getpass). Raises :class:`AuthError` after that."""
    for attempt in range(1, tries + 1):
        try:
            entered = prompt(tr("Techniker-Passwort: ", "Technician password: "))
        except EOFError:
            break
        if verify_password(entered, password_hash):
            return
        left = tries - attempt
        if left:
            say(tr("Passwort falsch. Noch {n} Versuch(e).", "Wrong password. {n} attempt(s) left.", n=left))
    raise AuthError(tr("Passwort falsch – {n} Fehlversuche, TechCare wird beendet. Zurücksetzen: techcare --set-password",
                       "Wrong password – {n} failed attempts, TechCare exits. Reset it: techcare --set-password",
                       n=tries))


def set_password(prompt: Callable[[str], str], env_file=None) -> str:
    """Ask twice for a new password, refuse a mismatch or a too short one, store the bcrypt hash in ``.env``."""
    from .config import reset_settings, resolve_env_file, write_env_file

    first = prompt(tr("Neues Techniker-Passwort: ", "New technician password: "))
    validate_new_password(first)
    second = prompt(tr("Passwort wiederholen: ", "Repeat the password: "))
    validate_new_password(first, second)
    hashed = hash_password(first)
    write_env_file(env_file or resolve_env_file(), {"TECHNICIAN_PASSWORD_HASH": hashed})
    reset_settings()
    return hashed


class SessionLock:
    """Locks after ``timeout`` seconds without input; ``check()`` asks for the password again when locked.

    ``clock`` is injectable so tests control time instead of sleeping.
    """

    def __init__(self, password_hash: str | None, timeout: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.password_hash = password_hash
        self.timeout = timeout
        self.clock = clock
        self.last_activity = clock()

    @property
    def enabled(self) -> bool:
        return bool(self.password_hash)

    def touch(self) -> None:
        self.last_activity = self.clock()

    @property
    def locked(self) -> bool:
        return self.enabled and self.clock() - self.last_activity > self.timeout

    def check(self, prompt: Callable[[str], str] | None, *, say: Callable[[str], None] = print) -> None:
        """Call before each command. Asks for the password if the session timed out (3 tries)."""
        if self.locked:
            if prompt is None:
                raise AuthError(tr("Sitzung nach {t} s ohne Eingabe gesperrt. Entsperren mit %unlock.",
                                   "Session locked after {t} s without input. Unlock with %unlock.", t=int(self.timeout)))
            say(tr("Sitzung abgelaufen – bitte erneut anmelden.", "Session timed out – please sign in again."))
            ask_password(self.password_hash or "", prompt, say=say)
        self.touch()
