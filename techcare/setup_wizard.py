"""The setup wizard: the product's nine steps, interactive or fully non-interactive.

1. name and company, 2. edition, 3. license key (Pro+), 4. Anthropic API key, 5. network method, 6. backend URL,
7. learning database (Enterprise), 8. technician password (recommended), 9. briefing (optional).

Interactive: every answer is validated and re-asked with the reason; defaults are shown in brackets.
Non-interactive (automation): every answer comes from ``answers`` (CLI flags) or the environment; the first
invalid value stops the wizard with a :class:`ConfigError` naming it. The result is ``.env`` written atomically
with mode 0600; the password is stored only as a bcrypt hash.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import EDITIONS, NETWORK_METHODS, resolve_env_file, validate_setting, write_env_file
from .errors import ConfigError, TechCareError
from .i18n import tr

__all__ = ["LICENSE_KEY_PATTERN", "STEPS", "SetupResult", "run_setup"]

LICENSE_KEY_PATTERN = re.compile(r"^TECHCARE-(COMMUNITY|PRO|PRO-BUSINESS|ENTERPRISE)-[0-9A-Z]{4,}(-[0-9A-Z]+)*$")
LICENSED = ("pro", "pro_business", "enterprise")


@dataclass
class Step:
    key: str                   # .env key
    flag: str                  # non-interactive answer name (CLI flag without dashes, underscores)
    question: tuple[str, str]
    required: bool = False
    secret: bool = False
    when: Callable[[dict[str, Any]], bool] = lambda values: True
    choices: tuple[str, ...] = ()


STEPS: tuple[Step, ...] = (
    Step("TECHNICIAN_NAME", "name", ("1/9 Ihr Name (für das Changelog)", "1/9 Your name (for the changelog)"), required=True),
    Step("COMPANY", "company", ("1/9 Firma", "1/9 Company")),
    Step("EDITION", "edition", ("2/9 Edition", "2/9 Edition"), required=True, choices=EDITIONS),
    Step("LICENSE_KEY", "license_key", ("3/9 Lizenzschlüssel (TECHCARE-…)", "3/9 License key (TECHCARE-…)"),
         required=True, when=lambda v: v.get("EDITION") in LICENSED),
    Step("ANTHROPIC_API_KEY", "anthropic_api_key",
         ("4/9 Anthropic API-Key (leer = Offline-Assistent)", "4/9 Anthropic API key (empty = offline assistant)"),
         secret=True),
    Step("NETWORK_METHOD", "network_method", ("5/9 Netzwerkverbindung", "5/9 Network connection"), required=True,
         choices=NETWORK_METHODS),
    Step("BACKEND_URL", "backend_url", ("6/9 Backend-URL (z.B. https://techcare.firma.de, leer = ohne Backend)",
                                        "6/9 Backend URL (e.g. https://techcare.example.com, empty = no backend)")),
    Step("LEARNING_DB_URL", "learning_db_url",
         ("7/9 Learning Database (PostgreSQL/MySQL-URL, leer = über das Backend)",
          "7/9 Learning database (PostgreSQL/MySQL URL, empty = through the backend)"),
         when=lambda v: v.get("EDITION") == "enterprise"),
    Step("TECHNICIAN_PASSWORD_HASH", "password",
         ("8/9 Techniker-Passwort (empfohlen, leer = keins)", "8/9 Technician password (recommended, empty = none)"),
         secret=True),
    Step("TECHCARE_BRIEFING", "briefing", ("9/9 Briefing für den Assistenten (optional)",
                                           "9/9 Briefing for the assistant (optional)")),
)

_ENV_FOR_FLAG = {"password": "TECHCARE_SETUP_PASSWORD"}


@dataclass
class SetupResult:
    env_file: Path
    values: dict[str, str]
    license_status: str | None = None


def _validate(step: Step, raw: str, values: dict[str, Any]) -> str:
    value = raw.strip()
    if not value:
        if step.required:
            raise ConfigError(tr("{key} wird benötigt.", "{key} is required.", key=step.key), key=step.key, value=raw,
                              allowed=tr("ein nicht leerer Wert", "a non-empty value"))
        return ""
    if step.key == "LICENSE_KEY":
        value = value.upper().replace(" ", "")
        if not LICENSE_KEY_PATTERN.match(value):
            allowed = "TECHCARE-<EDITION>-<CODE>, z.B. TECHCARE-PRO-BUSINESS-ABC123"
            raise ConfigError(tr("LICENSE_KEY={v!r} hat nicht das Format {a}.", "LICENSE_KEY={v!r} does not have the form {a}.",
                                 v=raw, a=allowed), key=step.key, value=raw, allowed=allowed)
        return value
    if step.key == "TECHNICIAN_PASSWORD_HASH":
        from .auth import AuthError, validate_new_password

        try:
            validate_new_password(value)
        except AuthError as exc:
            raise ConfigError(str(exc), key="PASSWORD", value="***") from None
        return raw  # hashed when writing
    if step.key in ("TECHNICIAN_NAME", "COMPANY", "TECHCARE_BRIEFING", "ANTHROPIC_API_KEY"):
        if "\n" in value or "\x00" in value:
            raise ConfigError(tr("{key} darf keinen Zeilenumbruch enthalten.", "{key} must not contain a line break.",
                                 key=step.key), key=step.key, value=raw)
        if step.key == "ANTHROPIC_API_KEY" and (" " in value or len(value) < 10):
            raise ConfigError(tr("ANTHROPIC_API_KEY sieht nicht wie ein API-Key aus (ohne Leerzeichen, z.B. sk-ant-…).",
                                 "ANTHROPIC_API_KEY does not look like an API key (no spaces, e.g. sk-ant-…)."),
                              key=step.key, value="***")
        return value
    normalised = validate_setting(step.key, value)
    if step.key == "BACKEND_URL":
        method = values.get("NETWORK_METHOD", "cloudflare")
        if method in ("cloudflare", "direct") and not str(normalised).startswith("https://"):
            raise ConfigError(tr("BACKEND_URL={v!r}: mit NETWORK_METHOD={m} ist https:// Pflicht.",
                                 "BACKEND_URL={v!r}: NETWORK_METHOD={m} requires https://.", v=raw, m=method),
                              key=step.key, value=raw, allowed="https://…")
    return str(normalised)


def _default(step: Step, values: dict[str, Any], existing: dict[str, str]) -> str:
    if step.key in existing and step.key != "TECHNICIAN_PASSWORD_HASH":
        return existing[step.key]
    return {"EDITION": "community", "NETWORK_METHOD": "cloudflare"}.get(step.key, "")


def _read_existing(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def run_setup(*, env_file: str | os.PathLike[str] | None = None, interactive: bool = True,
              answers: dict[str, str | None] | None = None, ask: Callable[[str], str] = input,
              ask_secret: Callable[[str], str] | None = None, say: Callable[[str], None] = print,
              validate_license: Callable[[str, dict[str, str]], str | None] | None = None) -> SetupResult:
    """Run the nine steps and write ``.env``. See the module docstring."""
    import getpass

    path = Path(env_file) if env_file else resolve_env_file()
    ask_secret = ask_secret or getpass.getpass
    answers = {k: v for k, v in (answers or {}).items() if v is not None}
    existing = _read_existing(path)
    values: dict[str, str] = {}
    if interactive:
        say(tr("TechCare einrichten – Eingabe leer lassen übernimmt den Wert in [Klammern].",
               "Setting up TechCare – leave an answer empty to keep the value in [brackets]."))
    for step in STEPS:
        if not step.when(values):
            continue
        default = _default(step, values, existing)
        if not interactive:
            raw = answers.get(step.flag)
            if raw is None:
                raw = os.environ.get(_ENV_FOR_FLAG.get(step.flag, step.key), default)
            values[step.key] = _validate(step, raw or "", values)
            continue
        while True:
            question = tr(*step.question)
            if step.choices:
                question += f" ({' | '.join(step.choices)})"
            shown = "***" if step.secret and default else default
            prompt = f"{question} [{shown}]: " if shown else f"{question}: "
            try:
                raw = (ask_secret if step.secret else ask)(prompt)
            except EOFError:
                raise TechCareError(tr("Einrichtung abgebrochen – nichts wurde gespeichert.",
                                       "Setup cancelled – nothing was saved.")) from None
            if not raw.strip():
                raw = default
            try:
                value = _validate(step, raw, values)
                if step.key == "TECHNICIAN_PASSWORD_HASH" and value:
                    repeat = ask_secret(tr("Passwort wiederholen: ", "Repeat the password: "))
                    if repeat != value:
                        raise ConfigError(tr("Die Passwörter stimmen nicht überein.", "The passwords do not match."))
                if step.key == "TECHNICIAN_PASSWORD_HASH" and not value:
                    say(tr("Hinweis: ohne Passwort kann jeder an diesem PC TechCare starten.",
                           "Note: without a password anyone at this PC can start TechCare."))
            except ConfigError as exc:
                say(f"✖ {exc.message}")
                continue
            values[step.key] = value
            break
    if values.get("TECHNICIAN_PASSWORD_HASH"):
        from .auth import hash_password

        values["TECHNICIAN_PASSWORD_HASH"] = hash_password(values["TECHNICIAN_PASSWORD_HASH"])
    elif existing.get("TECHNICIAN_PASSWORD_HASH"):
        values["TECHNICIAN_PASSWORD_HASH"] = existing["TECHNICIAN_PASSWORD_HASH"]
    license_status = None
    if values.get("LICENSE_KEY") and validate_license is not None:
        license_status = validate_license(values["LICENSE_KEY"], values)
        if license_status:
            say(license_status)
    written = write_env_file(path, {k: v for k, v in values.items()})
    from .config import reset_settings

    reset_settings()
    say(tr("Gespeichert: {p} (nur für Sie lesbar).", "Saved: {p} (readable only by you).", p=written))
    return SetupResult(env_file=written, values=values, license_status=license_status)
