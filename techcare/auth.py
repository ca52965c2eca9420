"""Technician password (bcrypt, 3 tries) and the session timeout lock.

The password hash lives in ``.env`` as ``TECHNICIAN_PASSWORD_HASH``; the clear text is never stored. After
``SESSION_TIMEOUT`` seconds without input the next command asks for the password again.

:func:`require_password` is the one gate in front of everything that shows customer data or changes the machine
(the CLI's table of protected commands is in :mod:`techcare.cli`), of ``--set-password`` (the current password)
and of uninstalling a protected setup. Without a terminal it cannot ask: then the password comes from the
environment variable ``TECHCARE_PASSWORD`` (for scripts and remote-management tools; checked against the hash,
one try), or the operation is refused with a message saying so — never silently allowed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping

from .errors import TechCareError
from .i18n import tr

__all__ = ["MAX_TRIES", "MIN_PASSWORD_LENGTH", "PASSWORD_ENV", "AuthError", "SessionLock", "ask_password",
           "configured_hash", "hash_password", "require_password", "set_password", "validate_new_password",
           "verify_password"]

MAX_TRIES = 3
MIN_PASSWORD_LENGTH = 8
#: Non-interactive use of a protected installation: the technician password in clear text, checked against the hash.
PASSWORD_ENV = "TECHCARE_PASSWORD"


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


def require_password(password_hash: str | None = None, *, prompt: Callable[[str], str] | None = None,
                     interactive: bool | None = None, environ: Mapping[str, str] | None = None,
                     say: Callable[[str], None] = print) -> bool:
    """The gate in front of every protected operation. ``False``: no password is set, nothing to ask; ``True``:
    the technician proved it. Raises :class:`AuthError` otherwise.

    ``password_hash`` defaults to the configured one (:func:`configured_hash`). When ``TECHCARE_PASSWORD`` is set
    in ``environ`` (default: the process environment) it must match (one try, nothing is asked); else a terminal
    (``interactive``, default: stdin is a TTY) is asked up to 3 times with ``prompt`` (default: getpass); without
    either the operation is refused, naming both ways.
    """
    if password_hash is None:
        password_hash = configured_hash()
    if not password_hash:
        return False
    environ = os.environ if environ is None else environ
    given = environ.get(PASSWORD_ENV)
    if given is not None:
        if verify_password(given, password_hash):
            return True
        raise AuthError(tr("{v} enthält nicht das Techniker-Passwort – abgelehnt.",
                           "{v} does not hold the technician password – refused.", v=PASSWORD_ENV))
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    if not interactive:
        raise AuthError(tr("Diese Einrichtung ist mit dem Techniker-Passwort geschützt, und ohne Terminal kann "
                           "TechCare nicht danach fragen. In einem Terminal starten oder das Passwort in {v} "
                           "übergeben.",
                           "This installation is protected by the technician password, and without a terminal "
                           "TechCare cannot ask for it. Run it in a terminal or pass the password in {v}.",
                           v=PASSWORD_ENV))
    if prompt is None:
        import getpass

        prompt = getpass.getpass
    ask_password(password_hash, prompt, say=say)
    return True


def configured_hash(env_file=None) -> str:
    """The password hash protecting the configuration in ``env_file`` (default: the one in use): the environment's
    ``TECHNICIAN_PASSWORD_HASH`` (it wins, as in the settings), else the file's; ``""`` when none is set. Read
    without validating the rest of the file, so a broken setting never unlocks or locks out anything."""
    from pathlib import Path

    from .config import resolve_env_file

    value = os.environ.get("TECHNICIAN_PASSWORD_HASH")
    path = Path(env_file or resolve_env_file())
    if not value and path.is_file():
        from dotenv import dotenv_values

        value = dotenv_values(path).get("TECHNICIAN_PASSWORD_HASH")
    return (value or "").strip()


def set_password(prompt: Callable[[str], str], env_file=None, *, environ: Mapping[str, str] | None = None,
                 say: Callable[[str], None] = print) -> str:
    """Ask twice for a new password, refuse a mismatch or a too short one, store the bcrypt hash in ``.env``.

    When the file already holds a password, the current one is asked first (3 tries, or ``TECHCARE_PASSWORD``):
    nobody at the PC can take over a protected installation by setting a new one.
    """
    from .config import reset_settings, resolve_env_file, write_env_file

    target = env_file or resolve_env_file()
    require_password(configured_hash(target), prompt=prompt, interactive=True, environ=environ, say=say)
    first = prompt(tr("Neues Techniker-Passwort: ", "New technician password: "))
    validate_new_password(first)
    second = prompt(tr("Passwort wiederholen: ", "Repeat the password: "))
    validate_new_password(first, second)
    hashed = hash_password(first)
    write_env_file(target, {"TECHNICIAN_PASSWORD_HASH": hashed})
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
