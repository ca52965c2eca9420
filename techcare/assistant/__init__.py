"""The TechCare assistant: chat that diagnoses and proposes numbered repair plans — and never runs them.

::

    import techcare
    bot = techcare.Assistant()                 # Claude if ANTHROPIC_API_KEY is set, else the offline engine
    reply = bot.ask("Windows Update funktioniert nicht")
    reply.text, reply.plan, reply.findings     # the plan is approved and run by the technician (GO REPAIR: 1,2)
    techcare.triage("Drucker spinnt")          # [("printer", 0.75), ...]

- Engines: :mod:`.claude` (Messages API with tool use; the only module importing ``anthropic``) and
  :mod:`.offline` (deterministic German/English answers from :mod:`._triage`, which matches messages with
  :mod:`.text` against the data files in ``knowledge/`` read by :mod:`.knowledge`). When Claude fails (bad key,
  no network, retries exhausted) the offline engine answers with a one-line notice. Both answer a :class:`Reply`.
- Memory: every turn is appended to ``<data>/sessions/<session>.jsonl``; ``Assistant(session=...)`` resumes it,
  ``reset()`` starts a new session.
- Learning: :mod:`.cases` stores the outcome of every plan run and ranks repairs by what worked before.

Imports flow one way: text, reply <- knowledge <- _triage <- cases <- tools <- engines <- this package.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssistantError
from ..i18n import get_language, tr
from .knowledge import CATEGORIES
from .offline import OfflineEngine
from .reply import Reply, plan_record
from .tools import ToolBox
from ._triage import triage

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis
    from ..system.runner import CommandRunner

__all__ = ["CATEGORIES", "ENGINES", "Assistant", "Reply", "list_sessions", "triage"]

log = logging.getLogger(__name__)
ENGINES = ("auto", "claude", "offline")
MAX_MESSAGE_CHARS = 20_000
SESSION_FORMAT = 1
_SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def _new_session_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def list_sessions() -> Any:
    """Saved sessions as a DataFrame (id, created, turns, last message), newest first."""
    import pandas as pd

    from ..config import get_settings

    rows = []
    directory = get_settings().sessions_dir
    for path in sorted(directory.glob("*.jsonl")) if directory.exists() else []:
        turns, created, last = 0, None, ""
        for entry in _read_lines(path):
            if entry.get("type") == "session":
                created = entry.get("created")
            elif entry.get("type") == "turn":
                turns += 1
                last = entry.get("user", "")
        rows.append({"session": path.stem, "created": created, "turns": turns, "last_message": last[:80]})
    frame = pd.DataFrame(rows, columns=["session", "created", "turns", "last_message"])
    return frame.sort_values("created", ascending=False, na_position="last").reset_index(drop=True)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:  # a line cut short by a crash: skip it, keep the rest
                    log.warning("%s:%d is not valid JSON; skipped", path, number)
                    continue
                if isinstance(entry, dict):
                    out.append(entry)
    except OSError as exc:
        raise AssistantError(tr("Sitzung {p} nicht lesbar: {e}", "Session {p} not readable: {e}", p=path, e=exc)) from None
    return out


class Assistant:
    """Chat with memory that proposes repair plans. See the module documentation.

    ``engine``: ``auto`` (Claude when an API key is configured, else offline), ``claude`` or ``offline``.
    ``diagnosis``: findings to work with; without it, the first question that needs findings runs a read-only
    diagnosis through ``runner`` (``auto_diagnose=False`` turns that off).
    ``stream=True`` (or ``ask(..., on_text=callback)``) passes text to the callback as it arrives.
    ``session``: a session id to resume (``None`` starts a new one), or the interfaces' technician session
    (:class:`techcare.session.Session`), whose machine and diagnosis the assistant then shares.
    """

    def __init__(self, session: str | Any | None = None, *, engine: str = "auto", api_key: str | None = None,
                 base_url: str | None = None, model: str | None = None, language: str | None = None,
                 diagnosis: Diagnosis | None = None, runner: CommandRunner | None = None, auto_diagnose: bool = True,
                 stream: bool = False, on_text: Callable[[str], None] | None = None, max_retries: int = 3,
                 timeout: float = 60.0, history_limit: int = 40) -> None:
        from ..config import get_settings

        if engine not in ENGINES:
            raise AssistantError(tr("Unbekannte Engine {e!r}. Erlaubt: {a}.", "Unknown engine {e!r}. Allowed: {a}.",
                                    e=engine, a=" | ".join(ENGINES)))
        if language is not None and language not in ("de", "en"):
            raise AssistantError(tr("Sprache {l!r} ungültig. Erlaubt: de | en.", "Language {l!r} is not valid. Allowed: de | en.",
                                    l=language))
        self._owner: Any = None
        if session is not None and not isinstance(session, str):
            # the interfaces' technician session (techcare.session.Session): share its machine and diagnosis
            self._owner, session = session, None
        if session is not None and not _SESSION_RE.match(session):
            raise AssistantError(tr("Ungültige Sitzungs-ID {s!r}: erlaubt sind Buchstaben, Ziffern, _ . - (max. 80).",
                                    "Invalid session id {s!r}: letters, digits, _ . - allowed (max 80).", s=session))
        self.settings = get_settings()
        self._language = language
        self.runner = runner
        self._diagnosis = diagnosis
        self.auto_diagnose = auto_diagnose
        self.stream = stream
        self.on_text = on_text
        self.history_limit = history_limit
        self.offline = OfflineEngine()
        self.claude: Any = None
        self.engine_notice: str | None = None
        self._claude_disabled: str | None = None
        key = api_key or self.settings.anthropic_api_key
        if engine == "claude" and not key:
            raise AssistantError(tr("Für die Claude-Engine fehlt ANTHROPIC_API_KEY (in .env oder per api_key=).",
                                    "The Claude engine needs ANTHROPIC_API_KEY (in .env or via api_key=)."))
        if engine in ("auto", "claude") and key:
            try:
                from .claude import ClaudeEngine

                self.claude = ClaudeEngine(api_key=key, model=model or self.settings.techcare_model,
                                           base_url=base_url or self.settings.anthropic_base_url or None,
                                           max_retries=max_retries, timeout=timeout)
            except ImportError:
                self.engine_notice = tr("Claude nicht verfügbar: Paket anthropic fehlt (pip install 'techcare[ai]') – "
                                        "Offline-Modus.",
                                        "Claude not available: the anthropic package is missing (pip install "
                                        "'techcare[ai]') – offline mode.")
        self._turns: list[dict[str, Any]] = []
        self._last_plan: Any = None
        self._last_plan_record: dict[str, Any] | None = None
        self.session_id = session or _new_session_id()
        if session is not None and self.path.exists():
            self._load()
        from .._wiring import install

        install()  # plans this assistant proposes and the technician runs become cases

    # ---- properties ----------------------------------------------------------------------------------------
    @property
    def language(self) -> str:
        return self._language or get_language()

    @property
    def engine(self) -> str:
        return "claude" if self.claude is not None and not self._claude_disabled else "offline"

    @property
    def path(self) -> Path:
        return self.settings.sessions_dir / f"{self.session_id}.jsonl"

    @property
    def machine(self) -> CommandRunner | None:
        """The runner of the machine being worked on (the technician session's, when the assistant has one)."""
        if self.runner is None and self._owner is not None:
            return self._owner.runner
        return self.runner

    @property
    def platform(self) -> str:
        current = self._owner.diagnosis if self._owner is not None and self._diagnosis is None else self._diagnosis
        if current is not None:
            return current.os
        if self.machine is not None:
            return self.machine.platform
        from ..system.runner import current_platform

        return current_platform()

    @property
    def history(self) -> list[dict[str, Any]]:
        """The turns of this session (user message, engine, reply text, plan, categories)."""
        return [dict(t) for t in self._turns]

    @property
    def last_plan(self) -> Any:
        """The most recent proposed Plan (rebuilt from the session file after a resume)."""
        if self._last_plan is None and self._last_plan_record:
            toolbox = self._toolbox()
            self._last_plan, _ = toolbox.build_plan(self._last_plan_record["actions"],
                                                    symptom=self._last_plan_record.get("symptom"))
        return self._last_plan

    # ---- diagnosis -----------------------------------------------------------------------------------------
    def diagnosis(self, fresh: bool = False) -> Diagnosis | None:
        if self._owner is not None and self._diagnosis is None:  # the session's diagnosis is the shared one
            if (self._owner.diagnosis is None or fresh) and self.auto_diagnose:
                self._owner.diagnose()
            return self._owner.diagnosis
        if (self._diagnosis is None and self.auto_diagnose) or (fresh and self.auto_diagnose):
            from ..diagnosis import diagnose

            self._diagnosis = diagnose(runner=self.machine)
        return self._diagnosis

    def _toolbox(self) -> ToolBox:
        from .. import features

        return ToolBox(language=self.language, platform=self.platform, diagnosis=self.diagnosis, runner=self.machine,
                       edition=features.current_edition())

    # ---- memory --------------------------------------------------------------------------------------------
    def _load(self) -> None:
        for entry in _read_lines(self.path):
            if entry.get("type") == "turn":
                self._turns.append(entry)
                if entry.get("plan"):
                    self._last_plan_record = {**entry["plan"], "symptom": entry.get("user")}
                    self._last_plan = None

    def _append(self, entry: dict[str, Any]) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            if new:
                handle.write(json.dumps({"type": "session", "id": self.session_id, "format": SESSION_FORMAT,
                                         "created": datetime.now(UTC).isoformat(timespec="seconds"),
                                         "os": self.platform}, ensure_ascii=False) + "\n")
            handle.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
            handle.flush()

    def _api_history(self) -> list[dict[str, Any]]:
        """Past turns as Messages API messages, trimmed to ``history_limit`` at turn boundaries."""
        chunks: list[list[dict[str, Any]]] = []
        for turn in self._turns:
            api = turn.get("api_messages")
            if not api:
                api = [{"role": "user", "content": turn.get("user", "")},
                       {"role": "assistant", "content": turn.get("reply", "") or "-"}]
            chunks.append(api)
        out: list[dict[str, Any]] = []
        for chunk in reversed(chunks):
            if out and len(out) + len(chunk) > self.history_limit:
                break
            out = chunk + out
        return out

    def reset(self) -> str:
        """Forget the conversation and start a new session (the old session file stays). Returns the new id."""
        self._turns = []
        self._last_plan = None
        self._last_plan_record = None
        self._claude_disabled = None
        self.session_id = _new_session_id()
        return self.session_id

    # ---- asking --------------------------------------------------------------------------------------------
    def ask(self, message: str, *, stream: bool | None = None, on_text: Callable[[str], None] | None = None) -> Reply:
        """Answer ``message``: diagnosis/report and, where a repair fits, a Plan to approve. Runs nothing."""
        if not isinstance(message, str) or not message.strip():
            raise AssistantError(tr("Bitte eine Frage oder ein Symptom eingeben (die Nachricht ist leer).",
                                    "Please type a question or a symptom (the message is empty).", self.language))
        if len(message) > MAX_MESSAGE_CHARS:
            raise AssistantError(tr("Die Nachricht ist zu lang ({n} Zeichen, erlaubt sind {m}).",
                                    "The message is too long ({n} characters, {m} allowed).", self.language,
                                    n=len(message), m=MAX_MESSAGE_CHARS))
        message = message.strip()
        callback = on_text or self.on_text
        stream = (self.stream or on_text is not None) if stream is None else stream
        tools = self._toolbox()
        tools.symptom = message
        notice = self.engine_notice
        reply: Reply | None = None
        api_messages = None
        if self.engine == "claude":
            from .claude import ClaudeUnavailable, system_prompt

            d = tools.diagnosis() if self.auto_diagnose or self._diagnosis is not None else None
            system = system_prompt(language=self.language, os_name=self.platform, edition=tools.edition,
                                   briefing=self.settings.techcare_briefing, technician=self.settings.technician_name,
                                   company=self.settings.company, hostname=d.hostname if d is not None else "",
                                   past_cases=tools.case_summary(message))
            try:
                text, api_messages = self.claude.respond(message, tools, history=self._api_history(), system=system,
                                                         stream=stream, on_text=callback)
                if tools.proposed is not None:  # the numbered steps the approval will refer to, always shown
                    plan_text = "\n".join(tools.plan_lines(tools.proposed))
                    addition = f"\n\n{plan_text}" if text else plan_text
                    text += addition
                    if callback is not None and stream:
                        callback(addition)
                elif not text:
                    text = tr("(Keine Textantwort.)", "(No text answer.)", self.language)
                if callback is not None and not stream:
                    callback(text)
                drivers_report = tools.proposed is None and any(c["tool"] == "driver_updates" for c in tools.calls)
                reply = Reply(text=text, engine="claude", findings=list(tools.findings_used), plan=tools.proposed,
                              categories=triage(message), tool_calls=list(tools.calls),
                              route="plan" if tools.proposed is not None else "driver_updates" if drivers_report
                              else "answer", data=tools.last_driver_frame if drivers_report else None)
            except ClaudeUnavailable as exc:
                notice = exc.notice
                if exc.reason == "auth":  # the key will not get better during this session
                    self._claude_disabled = exc.reason
                tools = self._toolbox()
                tools.symptom = message
                api_messages = None
        if reply is None:
            reply = self.offline.respond(message, tools, history=self._turns, notice=notice)
            reply.tool_calls = list(tools.calls)
            if callback is not None:
                callback(reply.text)
        reply.session = self.session_id
        if reply.plan is not None and not reply.plan.findings and reply.findings:
            # the findings behind the plan travel with it into the case recorded after the run
            reply.plan.findings = [{"check": f.check, "severity": f.severity, "summary_de": f.summary_de,
                                    "summary_en": f.summary_en} for f in reply.findings]
        record = plan_record(reply.plan)
        turn = {"type": "turn", "ts": datetime.now(UTC).isoformat(timespec="seconds"), "user": message,
                "engine": reply.engine, "notice": reply.notice, "reply": reply.text, "route": reply.route,
                "categories": [[c, p] for c, p in reply.categories], "plan": record,
                "findings": [f.check for f in reply.findings], "api_messages": api_messages}
        try:
            self._append(turn)
        except OSError as exc:  # a full or read-only disk must not swallow the answer
            log.warning("session %s not saved: %s", self.path, exc)
        self._turns.append(turn)
        if reply.plan is not None:
            self._last_plan, self._last_plan_record = reply.plan, {**record, "symptom": message}
        return reply

    def __repr__(self) -> str:
        return f"<Assistant session={self.session_id} engine={self.engine} turns={len(self._turns)}>"
