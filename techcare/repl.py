"""The plain chat REPL (``techcare --plain``) for bare consoles.

Every line is a chat message, except the commands: ``hilfe``/``help``, ``diagnose``, ``treiber``/``drivers``,
``plan``, ``GO REPAIR: 1,2,3``, ``undo``, ``report``, ``exit``/``quit`` (or Ctrl-D). High-risk steps ask once more
with default No. Without a TTY, repairs are refused unless the script passes ``--approve "GO REPAIR: 1,2"``; then
only that exact approval runs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any

from .errors import TechCareError
from .i18n import tr

__all__ = ["Repl", "run_repl"]

_GO = re.compile(r"^\s*go\s+repair\b", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower().replace("goreapir", "gorepair")


class Repl:
    def __init__(self, session: Any, *, ask: Callable[[str], str] = input, say: Callable[[Any], None] | None = None,
                 interactive: bool | None = None, approve: str | None = None,
                 password_prompt: Callable[[str], str] | None = None) -> None:
        self.session = session
        self.ask = ask
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self.approve = approve
        self.password_prompt = password_prompt
        if say is None:
            from rich.console import Console

            console = Console(highlight=False)

            def say(obj: Any) -> None:  # text from tools, plans and users is data: never rich markup
                console.print(obj, markup=False)
        self.say = say

    def help_text(self) -> str:
        return tr(
            "Befehle:\n"
            "  diagnose                          dieses System prüfen (nur lesend)\n"
            "  treiber                           Treiber-Updates anzeigen\n"
            "  plan                              aktuellen Reparaturplan zeigen\n"
            "  plan add <aktion> [name=wert …]   Katalog-Aktion von Hand hinzufügen\n"
            "  plan clear                        Plan verwerfen\n"
            "  GO REPAIR: <Schritte>             freigegebene Schritte ausführen ({go})\n"
            "  undo                              letzten Lauf rückgängig machen\n"
            "  report                            Reparaturprotokoll schreiben\n"
            "  fleet [diagnose|plan|repair|jobs|cancel …]   Fernaufträge an Kunden-PCs (fleet hilfe)\n"
            "  fleet [tags|schedule|schedules|report …]     Gruppen, Wartungspläne, Wartungsbericht\n"
            "  hilfe · exit\n"
            "Alles andere ist eine Nachricht an den Assistenten, z.B. \"Windows Update funktioniert nicht\".",
            "Commands:\n"
            "  diagnose                          check this system (read-only)\n"
            "  drivers                           show driver updates\n"
            "  plan                              show the current repair plan\n"
            "  plan add <action> [name=value …]  add a catalogue action by hand\n"
            "  plan clear                        discard the plan\n"
            "  GO REPAIR: <steps>                run the approved steps ({go})\n"
            "  undo                              undo the last run\n"
            "  report                            write the repair report\n"
            "  fleet [diagnose|plan|repair|jobs|cancel …]   remote jobs on customer PCs (fleet help)\n"
            "  fleet [tags|schedule|schedules|report …]     groups, maintenance schedules, maintenance report\n"
            "  help · exit\n"
            "Anything else is a message to the assistant, e.g. \"Windows Update is not working\".", go=self._go_examples())

    def _go_examples(self) -> str:
        """Approvals valid for the current plan (no step number it does not have), or how the numbers work."""
        plan = self.session.plan
        if plan is None or not getattr(plan, "steps", None):
            return tr("Nummern aus dem Plan, z.B. 1,3 oder 1-3 oder alle", "numbers from the plan, e.g. 1,3 or 1-3 or all")
        return " · ".join(plan.approval_examples())

    def _confirm(self, step: Any) -> bool:
        if not self.interactive:
            return self.approve is not None
        try:
            answer = self.ask(tr("Schritt {n} ist HOCHRISKANT ({t}). Wirklich ausführen? [j/N] ",
                                 "Step {n} is HIGH RISK ({t}). Really run it? [y/N] ",
                                 n=getattr(step, "number", "?"), t=_title(step))).strip().lower()
        except EOFError:
            return False
        return answer in ("j", "ja", "y", "yes")

    def _fleet(self, rest: str) -> None:
        """``fleet …``: remote jobs through ``techcare.fleet`` (same words as ``%fleet``)."""
        from .fleet_magic import FleetUsageError, get_desk, parse, usage

        if rest.strip().lower() in ("hilfe", "help", "?"):
            self.say(usage("fleet"))
            return
        try:
            args = parse(rest, "fleet")
        except FleetUsageError as exc:
            self.say(f"✖ {exc}")
            return
        if args.command in ("repair", "schedule") and not self.interactive and (
                self.approve is None or _norm(self.approve) != _norm(args.approval)):
            self.say(tr("✖ Ohne Terminal werden Reparaturen nur mit --approve \"{t}\" gesendet.",
                        "✖ Without a terminal, repairs are sent only with --approve \"{t}\".", t=args.approval))
            return
        desk = get_desk()
        result = desk.execute(args)
        self.say(result)
        if args.command == "diagnose" and args.host:  # its plan is shown: its numbers are what "fleet repair" approves
            self.say(_render_plan(desk.plan(args.host)))

    def handle(self, line: str) -> bool:
        """Handle one line; returns False when the REPL should end."""
        text = line.strip()
        if not text:
            return True
        word = text.lower()
        if self.session.lock is not None:
            self.session.lock.check(self.password_prompt, say=self.say)
        if word in ("exit", "quit", "ende", "beenden"):
            return False
        if word in ("hilfe", "help", "?"):
            self.say(self.help_text())
        elif word in ("diagnose", "diagnosis"):
            self.say(self.session.diagnose())
        elif word in ("treiber", "drivers"):
            self.say(self.session.driver_report())
        elif word in ("plan clear", "plan leeren", "plan löschen"):
            self.session.plan = None
            self.session.shown_plan_id = None
            self.say(tr("Plan verworfen.", "Plan discarded."))
        elif word.startswith("plan add ") or word == "plan add":
            parts = text.split()[2:]
            if not parts:
                self.say(tr("Aufruf: plan add <aktion> [name=wert …], z.B. plan add linux.flush_dns",
                            "Usage: plan add <action> [name=value …], e.g. plan add linux.flush_dns"))
                return True
            params = {}
            for item in parts[1:]:
                key, sep, value = item.partition("=")
                if not sep or not key:
                    self.say(tr("✖ Parameter bitte als name=wert angeben, nicht {p!r}.",
                                "✖ Give parameters as name=value, not {p!r}.", p=item))
                    return True
                params[key] = value
            self.say(_render_plan(self.session.add_step(parts[0], **params)))
        elif word == "plan":
            if self.session.plan is None and self.session.diagnosis is not None:
                self.session.plan_from_diagnosis()
            self.say(_render_plan(self.session.show_plan()))
        elif word in ("undo", "rückgängig", "rueckgaengig"):
            if self.session.last_run is None and self.session.interrupted():
                self.say(_render_undo(self.session.undo_interrupted()))
            else:
                # the rendered result below names every step in the session language: no raw progress lines
                self.say(_render_undo(self.session.undo(progress=lambda _line: None)))
        elif word in ("report", "bericht"):
            self.say(_render_report(self.session.report()))
        elif word == "fleet" or word.startswith("fleet "):
            self._fleet(text[5:])
        elif _GO.match(text):
            if not self.interactive and (self.approve is None or _norm(self.approve) != _norm(text)):
                self.say(tr("✖ Ohne Terminal werden Reparaturen nur mit --approve \"{t}\" ausgeführt.",
                            "✖ Without a terminal, repairs run only with --approve \"{t}\".", t=text))
                return True
            self.say(_render_run(self.session.run(text, confirm=self._confirm)))
        else:
            reply = self.session.ask(text)
            self.say(reply)
        return True

    def loop(self) -> int:
        self.say(tr("TechCare Chat – \"hilfe\" zeigt die Befehle, \"exit\" beendet.",
                    "TechCare chat – \"help\" lists the commands, \"exit\" quits."))
        if self.session.lock is not None:
            self.session.lock.touch()  # the timeout counts from the first prompt
        while True:
            try:
                line = self.ask("techcare> " if self.interactive else "")
            except EOFError:
                self.say("")
                return 0
            except KeyboardInterrupt:
                self.say(tr("(Strg-D oder exit beendet)", "(Ctrl-D or exit quits)"))
                continue
            try:
                if not self.handle(line):
                    return 0
            except TechCareError as exc:
                self.say(f"✖ {exc}")
                if getattr(exc, "exit_code", 0) == 1 and type(exc).__name__ == "AuthError":
                    return 1


def _render_run(result: Any) -> str:
    return result.summary(undo_hint="undo")


def _render_undo(rows: Any) -> str:
    from .repairs._execute import STEP_ICONS, UndoResult, status_words
    from .system.records import visible

    if not isinstance(rows, list):
        return str(rows)
    return "\n".join(f"{STEP_ICONS.get(str(r.get('status')), '?')} {r.get('step')}. {r.get('action_id')}: "
                     f"{status_words(r.get('status'))}" + (f" – {visible(r['detail'], limit=500)}" if r.get("detail")
                                                           else "") for r in rows) or UndoResult().summary()


def _render_report(report: Any) -> str:
    """Where the repair report was written (as ``techcare report`` says it), not the report object."""
    return "\n".join([tr("Reparaturprotokoll geschrieben:", "Repair report written:"),
                      f"  {report.markdown_path}", f"  {report.html_path}"])


def _title(step: Any) -> str:
    title = getattr(step, "title", "")
    return title() if callable(title) else str(title)


def _render_plan(view: Any) -> Any:
    plan = getattr(view, "plan", view)
    text = getattr(plan, "text", None)
    return text() if callable(text) else plan


def run_repl(session: Any, **kwargs: Any) -> int:
    return Repl(session, **kwargs).loop()
