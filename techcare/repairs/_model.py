"""The building blocks of the repair catalogue: typed parameters, actions and the context a step runs in.

An :class:`Action` declares what it is (id, DE/EN title and explanation, platforms, risk, admin need, typed
parameters) and four parts, each talking to the machine only through the :class:`StepContext` (which wraps the
CommandRunner and records every command for the changelog):

- ``check(ctx)``   -> :class:`Check`: is the repair needed at all?  (read-only)
- ``prepare(ctx)`` -> stores in ``ctx.state`` what ``undo`` needs (previous service state, backup location, ...)
- ``apply(ctx)``   -> runs the repair; raises :class:`StepFailed` when a command fails
- ``verify(ctx)``  -> :class:`Check` with ``needed=False`` meaning "fixed"  (read-only)
- ``undo(ctx)``    -> puts back what ``prepare`` recorded, or the action names why it cannot be undone
  (``cannot_undo_de/en``), shown to the technician before approval.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RepairError
from ..i18n import Message, msg, tr
from ..system.runner import CommandResult, CommandRunner

__all__ = ["PLATFORMS", "RISKS", "Action", "Check", "Param", "StepContext", "StepFailed", "ps_command", "ps_quote",
           "shell_word", "truncate"]

PLATFORMS = ("windows", "linux", "darwin")
PLATFORM_ALIASES = {"macos": "darwin", "mac": "darwin", "osx": "darwin", "win": "windows", "win32": "windows"}
RISKS = ("low", "medium", "high")
REQUIRED = object()
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
OUTPUT_LIMIT = 4000


def normalise_platform(value: str | None) -> str | None:
    if value is None:
        return None
    key = str(value).strip().lower()
    key = PLATFORM_ALIASES.get(key, key)
    if key not in PLATFORMS:
        raise RepairError(tr("Unbekannte Plattform {v!r}. Erlaubt: windows, linux, darwin (macos).",
                             "Unknown platform {v!r}. Allowed: windows, linux, darwin (macos).", v=value))
    return key


def truncate(text: str | None, limit: int = OUTPUT_LIMIT) -> str:
    text = text or ""
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    return text[:head] + f"\n…[{len(text) - limit} chars cut]…\n" + text[-(limit - head):]


def shell_word(arg: str) -> str:
    """One argv element as a technician reads it in a plan or a dry run (quoted when it is not a plain word).
    For display only: commands always run as argv lists, never through a shell."""
    return arg if arg and re.fullmatch(r"[A-Za-z0-9_./:=@%+,\\-]+", arg) else '"' + arg.replace('"', '\\"') + '"'


# PowerShell treats all of these as single-quote delimiters (its own EscapeSingleQuotedStringContent doubles each).
_PS_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted literal (the only quoting PowerShell never interprets).

    Every character PowerShell accepts as a single quote — ASCII ' and the typographic ‘ ’ ‚ ‛ — is doubled, so a
    value can never close the literal.
    """
    text = str(value)
    for quote in _PS_SINGLE_QUOTES:
        text = text.replace(quote, quote * 2)
    return "'" + text + "'"


#: Same preamble as the Windows probes: no progress records (they arrive as CLIXML on stderr), errors terminate
#: the script with exit code 1, stdout is UTF-8 whatever the console code page.
PS_PREAMBLE = ("$ProgressPreference='SilentlyContinue'; $ErrorActionPreference='Stop'; "
               "[Console]::OutputEncoding=[Text.Encoding]::UTF8; ")


def ps_command(script: str) -> list[str]:
    """argv for Windows PowerShell 5.1 running ``script`` (callers quote values with :func:`ps_quote`)."""
    return ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command",
            PS_PREAMBLE + script]


class StepFailed(RepairError):
    """A command of a step failed, or the step's state is not what it needs."""


@dataclass(frozen=True)
class Check:
    """``needed`` True: the problem is there (check) / still there (verify); False: not needed / fixed;
    None: could not tell. ``detail`` is already in the session language."""

    needed: bool | None
    detail: str = ""


@dataclass(frozen=True)
class Param:
    """A typed, validated action parameter.

    kind: ``str`` (optionally ``pattern``), ``int`` (``minimum``/``maximum``), ``bool``, ``choice``
    (``choices``), ``list`` (of ``choices``, case-insensitive, at least one).
    """

    name: str
    kind: str
    help_de: str
    help_en: str
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = 260

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def allowed(self) -> str:
        if self.kind == "int":
            return tr("ganze Zahl von {a} bis {b}", "a whole number from {a} to {b}", a=self.minimum, b=self.maximum)
        if self.kind == "bool":
            return "true | false"
        if self.kind == "choice":
            return " | ".join(self.choices)
        if self.kind == "list":
            return tr("Liste aus: {c}", "a list of: {c}", c=", ".join(self.choices))
        return self.help_de if tr("de", "en") == "de" else self.help_en

    def _bad(self, action_id: str, value: Any) -> RepairError:
        return RepairError(tr("{a}: Parameter {p}={v!r} ist ungültig. Erlaubt: {allowed}.",
                              "{a}: parameter {p}={v!r} is not valid. Allowed: {allowed}.",
                              a=action_id, p=self.name, v=value, allowed=self.allowed()))

    def validate(self, action_id: str, value: Any) -> Any:
        if self.kind == "int":
            if isinstance(value, bool):
                raise self._bad(action_id, value)
            if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,9}\s*", value):
                value = int(value)
            if not isinstance(value, int) or (self.minimum is not None and value < self.minimum) or (
                    self.maximum is not None and value > self.maximum):
                raise self._bad(action_id, value)
            return value
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "ja", "nein"):
                return value.strip().lower() in ("true", "yes", "ja")
            raise self._bad(action_id, value)
        if self.kind == "choice":
            if isinstance(value, str):
                for choice in self.choices:
                    if value.strip().lower() == choice.lower():
                        return choice
            raise self._bad(action_id, value)
        if self.kind == "list":
            items = [part for part in value.split(",")] if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not items:
                raise self._bad(action_id, value)
            out: list[str] = []
            for item in items:
                match = next((c for c in self.choices if isinstance(item, str) and item.strip().lower() == c.lower()),
                             None)
                if match is None:
                    raise self._bad(action_id, value)
                if match not in out:
                    out.append(match)
            return [c for c in self.choices if c in out]  # canonical order -> stable plan id
        # str
        if not isinstance(value, str) or not value.strip() or len(value) > self.max_length or "\x00" in value:
            raise self._bad(action_id, value)
        value = value.strip()
        if self.pattern and not re.fullmatch(self.pattern, value):
            raise self._bad(action_id, value)
        return value


@dataclass
class StepContext:
    """What a step's parts get: the runner, validated params, the undo state, a backup directory."""

    runner: CommandRunner
    params: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    backup_dir: Path | None = None
    timeout: float = 600.0
    commands: list[CommandResult] = field(default_factory=list)

    @property
    def platform(self) -> str:
        return self.runner.platform

    def run(self, argv: Sequence[str], *, timeout: float | None = None, input: str | None = None) -> CommandResult:
        result = self.runner.run(list(argv), timeout=timeout or self.timeout, input=input)
        self.commands.append(result)
        return result

    def backup_files(self, paths: Sequence[str]) -> None:
        """Copy files (content, mode, times) into the step's backup directory before changing them; files that
        do not exist yet are noted so :meth:`restore_files` removes them. Runs through the runner."""
        import sys

        if self.backup_dir is None:
            raise StepFailed("no backup directory for this step")
        dest = str(self.backup_dir / "files")
        self.must([sys.executable, "-m", "techcare.repairs._fsops", "backup", "--dest", dest, *paths], timeout=600)
        self.state["file_backup"] = dest

    def restore_files(self) -> None:
        """Put every file saved by :meth:`backup_files` back byte-for-byte."""
        import sys

        dest = self.state.get("file_backup")
        if not dest:
            raise StepFailed(tr("Keine Dateisicherung vorhanden.", "No file backup was taken."))
        self.must([sys.executable, "-m", "techcare.repairs._fsops", "restore-backup", "--dest", dest], timeout=600)

    def must(self, argv: Sequence[str], *, ok_codes: Sequence[int] = (0,), timeout: float | None = None,
             input: str | None = None) -> CommandResult:
        """Run and raise :class:`StepFailed` unless it ran and exited with one of ``ok_codes``."""
        result = self.run(argv, timeout=timeout, input=input)
        if result.error == "dry_run":
            return result
        if result.error is not None or result.returncode not in ok_codes:
            why = result.error or tr("Exit-Code {c}", "exit code {c}", c=result.returncode)
            out = (result.stderr or result.stdout or "").strip().splitlines()
            raise StepFailed(tr("Befehl fehlgeschlagen ({why}): {cmd}{out}", "Command failed ({why}): {cmd}{out}",
                                why=why, cmd=" ".join(result.argv), out=(" – " + out[-1][:300]) if out else ""))
        return result


class Action:
    """A vetted catalogue repair. Subclasses set the class attributes and override the parts they need.

    The default ``apply`` runs ``commands(params)`` in order (so the dry-run text is exactly what runs); the
    default ``check`` says "needed", the default ``verify`` trusts the exit codes of ``apply``.
    """

    id: str = ""
    title_de: str = ""
    title_en: str = ""
    explain_de: str = ""
    explain_en: str = ""
    platforms: tuple[str, ...] = ()
    risk: str = "low"
    needs_admin: bool = True
    params: tuple[Param, ...] = ()
    timeout: float = 600.0
    #: When set, the action cannot be undone and this says why (shown before approval).
    cannot_undo_de: str | None = None
    cannot_undo_en: str | None = None
    #: "builtin" or the plugin's name.
    origin: str = "builtin"

    # ---- description --------------------------------------------------------------------------------------
    def title(self, lang: str | None = None) -> str:
        return tr(self.title_de, self.title_en, lang)

    def explanation(self, lang: str | None = None) -> str:
        return tr(self.explain_de, self.explain_en, lang)

    def risk_for(self, params: dict[str, Any] | None = None) -> str:
        """The risk of this action with these parameters (an action may be riskier with some settings)."""
        return self.risk

    def undo_reason(self, params: dict[str, Any] | None = None, lang: str | None = None) -> str | None:
        """``None`` when undoable with these params, else why not."""
        if self.cannot_undo_de or self.cannot_undo_en:
            return tr(self.cannot_undo_de or self.cannot_undo_en or "", self.cannot_undo_en or "", lang)
        return None

    @property
    def undoable(self) -> bool:
        return self.undo_reason(self.defaults()) is None

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params if not p.required}

    def validate_params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Fill defaults, validate types and values; raise RepairError naming the bad/unknown/missing param."""
        params = dict(params or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise RepairError(tr("{a}: unbekannter Parameter {u}. Erlaubt: {k}.",
                                 "{a}: unknown parameter {u}. Allowed: {k}.", a=self.id, u=", ".join(unknown),
                                 k=", ".join(known) or tr("keine", "none")))
        out: dict[str, Any] = {}
        for name, param in known.items():
            if name not in params or params[name] is None:
                if param.required:
                    raise RepairError(tr("{a}: Parameter {p} fehlt ({allowed}).", "{a}: parameter {p} is missing ({allowed}).",
                                         a=self.id, p=name, allowed=param.allowed()))
                out[name] = param.default
                continue
            out[name] = param.validate(self.id, params[name])
        return out

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        """The exact commands ``apply`` runs (the dry-run text). ``ctx`` is given at run time (backup paths)."""
        return []

    # ---- the four parts -------------------------------------------------------------------------------------
    def check(self, ctx: StepContext) -> Check:
        return Check(True, tr("Keine Vorprüfung möglich – wird ausgeführt.", "No pre-check possible – will run."))

    def prepare(self, ctx: StepContext) -> None:
        """Record in ``ctx.state`` what undo needs."""

    def apply(self, ctx: StepContext) -> None:
        for argv in self.commands(ctx.params, ctx):
            ctx.must(argv, timeout=self.timeout)

    def verify(self, ctx: StepContext) -> Check:
        return Check(False, tr("Alle Befehle erfolgreich.", "All commands succeeded."))

    def undo(self, ctx: StepContext) -> None:
        reason = self.undo_reason(ctx.params)
        raise StepFailed(reason or tr("{a} hat keinen Undo-Teil.", "{a} has no undo part.", a=self.id))

    # ---- listing ---------------------------------------------------------------------------------------------
    def describe(self, lang: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "title": self.title(lang), "platforms": list(self.platforms), "risk": self.risk,
                "needs_admin": self.needs_admin, "undoable": self.undoable, "explanation": self.explanation(lang),
                "params": [p.name for p in self.params], "origin": self.origin,
                "undo_note": self.undo_reason(self.defaults(), lang) or ""}

    def __repr__(self) -> str:
        return f"<Action {self.id} risk={self.risk} admin={self.needs_admin}>"


def validate_action(action: Any) -> list[Message]:
    """Problems that make an action unfit for the catalogue (plugins are checked with this), in German and English."""
    problems: list[Message] = []
    if not isinstance(action, Action):
        return [msg("keine Action-Instanz, sondern {t}", "not an Action instance: {t}", t=type(action).__name__)]
    if not isinstance(action.id, str) or not ID_PATTERN.fullmatch(action.id):
        problems.append(msg("id {i!r} muss wie 'anbieter.name' aussehen (Kleinbuchstaben, Ziffern, _)",
                            "id {i!r} must look like 'vendor.name' (lowercase letters, digits, _)", i=action.id))
    for attr in ("title_de", "title_en", "explain_de", "explain_en"):
        if not isinstance(getattr(action, attr), str) or not getattr(action, attr).strip():
            problems.append(msg("{a} ist leer", "{a} is empty", a=attr))
    if not action.platforms or any(p not in PLATFORMS for p in action.platforms):
        problems.append(msg("platforms {p!r} muss eine nicht leere Auswahl aus {a} sein",
                            "platforms {p!r} must be a non-empty subset of {a}", p=action.platforms, a=PLATFORMS))
    if action.risk not in RISKS:
        problems.append(msg("risk {r!r} muss eines von {a} sein", "risk {r!r} must be one of {a}", r=action.risk,
                            a=RISKS))
    if not isinstance(action.needs_admin, bool):
        problems.append(msg("needs_admin muss True oder False sein", "needs_admin must be True or False"))
    if not all(isinstance(p, Param) for p in action.params):
        problems.append(msg("params müssen Param-Objekte sein", "params must be Param objects"))
    if action.undo_reason(None) is None and type(action).undo is Action.undo:
        problems.append(msg("kein undo(): undo() schreiben oder cannot_undo_de/cannot_undo_en mit dem Grund setzen",
                            "no undo(): implement it or set cannot_undo_de/cannot_undo_en with the reason"))
    try:
        json.dumps(action.defaults())
    except (TypeError, ValueError):
        problems.append(msg("Standardwerte der Parameter müssen JSON-Werte sein",
                            "parameter defaults must be JSON values"))
    return problems
