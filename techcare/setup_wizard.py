"""The setup wizard: the product's nine steps, interactive or fully non-interactive.

1. name and company, 2. edition, 3. license key (Pro+), 4. Anthropic API key, 5. network method, 6. backend URL,
7. learning database (Enterprise), 8. technician password (recommended), 9. briefing (optional).

Interactive: every answer is validated and re-asked with the reason; defaults are shown in brackets; ``<`` goes
back one question. Questions are numbered as they are asked (``3/8``): a question the answers so far make
unnecessary (the license key of the Community edition, the learning database below Enterprise) is not counted.
Non-interactive (automation): every answer comes from ``answers`` (CLI flags) or the environment; the first
invalid value stops the wizard with a :class:`ConfigError` naming it. The result is ``.env`` written atomically
with mode 0600; the password is stored only as a bcrypt hash.

Defaults, strongest first: the answer already given (after ``<``), the existing ``.env``, ``defaults`` (or the
dotenv file named by ``TECHCARE_SETUP_DEFAULTS`` — ``scripts/start`` writes one for the local backend), the
built-in ones. ``TECHCARE_API_KEY`` is not asked: a key from ``defaults`` is written only when the chosen
``BACKEND_URL`` is the one it belongs to (the default's), so a key never travels to another server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import EDITIONS, NETWORK_METHODS, resolve_env_file, validate_setting, write_env_file
from .errors import ConfigError, TechCareError
from .i18n import tr

__all__ = ["BACK", "DEFAULTS_ENV", "LICENSE_KEY_PATTERN", "STEPS", "SetupResult", "load_defaults", "run_setup"]

LICENSE_KEY_PATTERN = re.compile(r"^TECHCARE-(COMMUNITY|PRO|PRO-BUSINESS|ENTERPRISE)-[0-9A-Z]{4,}(-[0-9A-Z]+)*$")
LICENSED = ("pro", "pro_business", "enterprise")
BACK = "<"                                   # the answer that goes back one question
DEFAULTS_ENV = "TECHCARE_SETUP_DEFAULTS"     # a dotenv file with default answers (scripts/start: the local backend)
BUILT_IN = {"EDITION": "community", "NETWORK_METHOD": "cloudflare"}


@dataclass
class Step:
    key: str                   # .env key
    flag: str                  # non-interactive answer name (CLI flag without dashes, underscores)
    question: tuple[str, str]
    required: bool = False
    secret: bool = False
    when: Callable[[Mapping[str, Any]], bool] = lambda values: True
    choices: tuple[str, ...] = ()


STEPS: tuple[Step, ...] = (
    Step("TECHNICIAN_NAME", "name", ("Ihr Name (für das Changelog)", "Your name (for the changelog)"), required=True),
    Step("COMPANY", "company", ("Firma", "Company")),
    Step("EDITION", "edition", ("Edition", "Edition"), required=True, choices=EDITIONS),
    Step("LICENSE_KEY", "license_key", ("Lizenzschlüssel (TECHCARE-…)", "License key (TECHCARE-…)"),
         required=True, when=lambda v: v.get("EDITION") in LICENSED),
    Step("ANTHROPIC_API_KEY", "anthropic_api_key",
         ("Anthropic API-Key (leer = Offline-Assistent)", "Anthropic API key (empty = offline assistant)"),
         secret=True),
    Step("NETWORK_METHOD", "network_method", ("Netzwerkverbindung", "Network connection"), required=True,
         choices=NETWORK_METHODS),
    Step("BACKEND_URL", "backend_url", ("Backend-URL (z.B. https://techcare.firma.de, leer = ohne Backend)",
                                        "Backend URL (e.g. https://techcare.example.com, empty = no backend)")),
    Step("LEARNING_DB_URL", "learning_db_url",
         ("Learning Database (PostgreSQL/MySQL-URL, leer = über das Backend)",
          "Learning database (PostgreSQL/MySQL URL, empty = through the backend)"),
         when=lambda v: v.get("EDITION") == "enterprise"),
    Step("TECHNICIAN_PASSWORD_HASH", "password",
         ("Techniker-Passwort (empfohlen, leer = keins)", "Technician password (recommended, empty = none)"),
         secret=True),
    Step("TECHCARE_BRIEFING", "briefing", ("Briefing für den Assistenten (optional)",
                                           "Briefing for the assistant (optional)")),
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
        from .network import allowed_urls, transport_refusal

        method = values.get("NETWORK_METHOD", "cloudflare")
        refusal = transport_refusal(str(normalised), method)
        if refusal:
            allowed = allowed_urls(method)
            raise ConfigError(tr("BACKEND_URL={v!r}: {r}. Erlaubt: {a}. (\"{b}\" geht zurück zur Netzwerkmethode.)",
                                 "BACKEND_URL={v!r}: {r}. Allowed: {a}. (\"{b}\" goes back to the network method.)",
                                 v=raw, r=refusal, a=allowed, b=BACK), key=step.key, value=raw, allowed=allowed)
    return str(normalised)


def load_defaults(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Default answers from a dotenv file (``path`` or ``$TECHCARE_SETUP_DEFAULTS``; none when neither is set)."""
    if path is None:
        path = os.environ.get(DEFAULTS_ENV) or None
        if path is None:
            return {}
    file = Path(path)
    if not file.is_file():
        raise ConfigError(tr("{env}={p}: die Datei gibt es nicht.", "{env}={p}: no such file.", env=DEFAULTS_ENV,
                             p=str(file)), key=DEFAULTS_ENV, value=str(file),
                          allowed=tr("eine .env-Datei mit Standardantworten", "a .env file with default answers"))
    return _read_existing(file)


def _default(step: Step, values: Mapping[str, str], existing: Mapping[str, str], defaults: Mapping[str, str]) -> str:
    if step.key == "TECHNICIAN_PASSWORD_HASH":
        # only a password typed in this run (then "<") is offered again; an existing hash is kept when left empty
        return values.get(step.key, "")
    for source in (values, existing, defaults):
        if step.key in source:
            return source[step.key]
    return BUILT_IN.get(step.key, "")


def _active(values: Mapping[str, str], existing: Mapping[str, str], defaults: Mapping[str, str]) -> list[Step]:
    """The questions to ask, given the answers so far (unanswered ones assumed to keep their default)."""
    guess = {step.key: _default(step, values, existing, defaults) for step in STEPS}
    return [step for step in STEPS if step.when(guess)]


def _read_existing(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def run_setup(*, env_file: str | os.PathLike[str] | None = None, interactive: bool = True,
              answers: dict[str, str | None] | None = None, ask: Callable[[str], str] = input,
              ask_secret: Callable[[str], str] | None = None, say: Callable[[str], None] = print,
              validate_license: Callable[[str, dict[str, str]], str | None] | None = None,
              defaults: Mapping[str, str] | None = None) -> SetupResult:
    """Run the nine steps and write ``.env``. See the module docstring."""
    import getpass

    path = Path(env_file) if env_file else resolve_env_file()
    ask_secret = ask_secret or getpass.getpass
    answers = {k: v for k, v in (answers or {}).items() if v is not None}
    defaults = dict(load_defaults() if defaults is None else defaults)
    existing = _read_existing(path)
    values: dict[str, str] = {}
    if interactive:
        say(tr("TechCare einrichten – Eingabe leer lassen übernimmt den Wert in [Klammern], \"{b}\" geht eine "
               "Frage zurück.", "Setting up TechCare – leave an answer empty to keep the value in [brackets], "
               "\"{b}\" goes back one question.", b=BACK))
        _ask_all(values, existing, defaults, ask=ask, ask_secret=ask_secret, say=say)
    else:
        for step in STEPS:
            if not step.when(values):
                continue
            raw = answers.get(step.flag)
            if raw is None:
                raw = os.environ.get(_ENV_FOR_FLAG.get(step.flag, step.key), _default(step, values, existing, defaults))
            values[step.key] = _validate(step, raw or "", values)
    if values.get("TECHNICIAN_PASSWORD_HASH"):
        from .auth import hash_password

        values["TECHNICIAN_PASSWORD_HASH"] = hash_password(values["TECHNICIAN_PASSWORD_HASH"])
    elif existing.get("TECHNICIAN_PASSWORD_HASH"):
        values["TECHNICIAN_PASSWORD_HASH"] = existing["TECHNICIAN_PASSWORD_HASH"]
    api_key = defaults.get("TECHCARE_API_KEY")
    if api_key and values.get("BACKEND_URL") and values["BACKEND_URL"] == defaults.get("BACKEND_URL"):
        values["TECHCARE_API_KEY"] = api_key
        say(tr("Techniker-API-Schlüssel für {u} übernommen ({k}…).", "Technician API key for {u} taken over ({k}…).",
               u=values["BACKEND_URL"], k=api_key[:8]))
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


def _ask_all(values: dict[str, str], existing: Mapping[str, str], defaults: Mapping[str, str], *,
             ask: Callable[[str], str], ask_secret: Callable[[str], str], say: Callable[[str], None]) -> None:
    """Ask the active questions in order, numbered as asked; ``<`` goes back. Fills ``values``."""
    index = 0
    while True:
        plan = _active(values, existing, defaults)
        if index >= len(plan):
            break
        step = plan[index]
        default = _default(step, values, existing, defaults)
        question = f"{index + 1}/{len(plan)} {tr(*step.question)}"
        if step.choices:
            question += f" ({' | '.join(step.choices)})"
        shown = "***" if step.secret and default else default
        prompt = f"{question} [{shown}]: " if shown else f"{question}: "
        try:
            raw = (ask_secret if step.secret else ask)(prompt)
        except (EOFError, KeyboardInterrupt):
            raise TechCareError(tr("Einrichtung abgebrochen – nichts wurde gespeichert.",
                                   "Setup cancelled – nothing was saved.")) from None
        if raw.strip() == BACK:
            if index == 0:
                say(tr("Das ist schon die erste Frage.", "This is already the first question."))
            index = max(0, index - 1)
            continue
        if not raw.strip():
            raw = default
        try:
            value = _validate(step, raw, values)
            if step.key == "TECHNICIAN_PASSWORD_HASH" and value and value != values.get(step.key):
                try:
                    repeat = ask_secret(tr("Passwort wiederholen: ", "Repeat the password: "))
                except (EOFError, KeyboardInterrupt):
                    raise TechCareError(tr("Einrichtung abgebrochen – nichts wurde gespeichert.",
                                           "Setup cancelled – nothing was saved.")) from None
                if repeat != value:
                    raise ConfigError(tr("Die Passwörter stimmen nicht überein.", "The passwords do not match."))
            if step.key == "TECHNICIAN_PASSWORD_HASH" and not value:
                say(tr("Hinweis: ohne Passwort kann jeder an diesem PC TechCare starten.",
                       "Note: without a password anyone at this PC can start TechCare."))
        except ConfigError as exc:
            say(f"✖ {exc.message}")
            continue
        values[step.key] = value
        index += 1
    asked = {step.key for step in _active(values, existing, defaults)}
    for key in [k for k in values if k not in asked]:
        del values[key]            # answered, then made unnecessary by going back (e.g. a license key, then community)
