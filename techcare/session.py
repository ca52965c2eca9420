"""One technician session: the state the shell, the REPL and the magics share (``tc`` in the shell).

It holds the last diagnosis, the current repair plan (and which plan the technician last saw, so an approval
can only apply to a plan that was shown), the last run, the assistant and the session lock. Every method is a
thin call into the public API; interfaces only parse input and display what these return.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ApprovalError, RepairError, TechCareError
from .i18n import tr

__all__ = ["Session", "get_session", "reset_session"]


def _wired() -> None:
    """Before anything writes a changelog: the hooks of the composition root (:mod:`techcare._wiring`)."""
    from ._wiring import install

    install()


class Session:
    def __init__(self, *, snapshot: str | Path | None = None, runner: Any = None, lock: Any = None) -> None:
        self.snapshot = str(snapshot) if snapshot else None
        self._runner = runner
        self.lock = lock
        self.diagnosis: Any = None
        self.plan: Any = None
        self.shown_plan_id: str | None = None
        self.last_run: Any = None
        self.last_reply: Any = None
        self._assistant: Any = None
        self._drivers: Any = None
        self._driver_updates: Any = None
        self._driver_report: Any = None

    # ---- machine -------------------------------------------------------------------------------------------
    @property
    def runner(self):
        """The runner repairs and probes use: this machine, or the replay of the session's snapshot."""
        if self._runner is None:
            from .system import runner_for

            self._runner = runner_for(self.snapshot)
        return self._runner

    def _forget_machine(self) -> None:
        # A plan belongs to the machine it was made for: never carry it (or its approval) to another one.
        self.diagnosis = self._drivers = self._driver_updates = self._driver_report = None
        self.plan = None
        self.shown_plan_id = None

    def use_runner(self, runner: Any) -> None:
        """Work through this CommandRunner (e.g. a ReplayRunner whose ``fallback`` answers repair commands in
        a runbook, or a DryRunRunner); forgets machine-specific state, including the plan."""
        self._runner = runner
        self._forget_machine()

    def use_snapshot(self, snapshot: str | Path | None) -> None:
        """Work on a captured machine (or back on this one with ``None``); forgets machine-specific state."""
        self.snapshot = str(snapshot) if snapshot else None
        self._runner = None
        self._forget_machine()

    def diagnose(self, snapshot: str | Path | None = None, progress: Callable[..., None] | None = None):
        from .diagnosis import diagnose

        if snapshot is not None and str(snapshot) != self.snapshot:
            self.use_snapshot(snapshot)
        self.diagnosis = diagnose(runner=self.runner, progress=progress)
        if self.snapshot:
            self.diagnosis.snapshot = self.snapshot
        return self.diagnosis

    # ---- chat ------------------------------------------------------------------------------------------------
    @property
    def assistant(self):
        if self._assistant is None:
            from .assistant import Assistant

            self._assistant = Assistant(session=self)
        return self._assistant

    def ask(self, message: str, *, on_text: Callable[[str], None] | None = None):
        if not message or not message.strip():
            raise TechCareError(tr("Bitte eine Nachricht eingeben.", "Please enter a message."))
        reply = self.assistant.ask(message, on_text=on_text) if on_text else self.assistant.ask(message)
        self.last_reply = reply
        if getattr(reply, "plan", None) is not None and reply.plan.steps:
            self.plan = reply.plan
            self.shown_plan_id = reply.plan.id  # the reply displays it
        return reply

    # ---- repairs ---------------------------------------------------------------------------------------------
    def plan_from_diagnosis(self):
        from .repairs import plan

        if self.diagnosis is None:
            self.diagnose()
        self.plan = plan(self.diagnosis)
        return self.plan

    def add_step(self, action_id: str, **params: Any):
        """Add a catalogue action to the current plan by hand (a new plan; review it before approving).

        Raises :class:`RepairError` naming an unknown action or a bad parameter and what is allowed.
        """
        from .repairs import Plan

        items = [{"action": step.action_id, "params": dict(step.params)} for step in (self.plan.steps if self.plan else [])
                 if step.action_id != "win.create_restore_point"]
        items.append({"action": action_id, "params": params})
        platform = getattr(self.runner, "platform", None) or "linux"
        self.plan = Plan.from_actions(items, platform=platform, source="technician",
                                      symptom=getattr(self.plan, "symptom", None))
        return self.show_plan()

    def show_plan(self):
        if self.plan is None:
            raise RepairError(tr("Es gibt noch keinen Reparaturplan: erst diagnostizieren oder den Assistenten fragen.",
                                 "There is no repair plan yet: diagnose first or ask the assistant."))
        self.shown_plan_id = self.plan.id
        from .widgets import PlanView

        return PlanView(self.plan, self)

    def approve(self, text: str, *, plan_id: str | None = None):
        """Parse ``GO REPAIR: …`` against the plan the technician was shown; refuse numbers from an older plan."""
        from .repairs import parse_approval

        if self.plan is None:
            self.show_plan()
        expected = plan_id or self.shown_plan_id
        if expected is None or expected != self.plan.id:
            raise ApprovalError(tr("Der Plan hat sich geändert ({old} → {new}). Bitte den aktuellen Plan ansehen "
                                   "(plan / %repair) und dann neu freigeben.",
                                   "The plan has changed ({old} → {new}). Review the current plan (plan / %repair) "
                                   "and approve again.", old=expected or "-", new=self.plan.id))
        return parse_approval(text, self.plan)

    def run(self, text: str, *, dry_run: bool = False, confirm: Callable[[Any], bool] | None = None,
            plan_id: str | None = None, progress: Callable[..., None] | None = None):
        approval = self.approve(text, plan_id=plan_id)
        if not dry_run:
            _wired()  # the run becomes a case and its changelog goes to the team backend, chat or not
        kwargs: dict[str, Any] = {"runner": self.runner, "dry_run": dry_run, "confirm": confirm}
        if progress is not None:
            kwargs["progress"] = progress
        result = self.plan.run(approval, **kwargs)
        if not dry_run:
            self.last_run = result
        return result

    def undo(self, *, progress: Callable[[str], None] | None = None):
        """Undo the completed steps of the last real run, last first (even if a newer plan exists by now).
        ``progress(line)`` receives a line per step (default: printed)."""
        if self.last_run is None:
            raise RepairError(tr("Es gibt keinen Reparaturlauf, der rückgängig gemacht werden könnte.",
                                 "There is no repair run to undo."))
        from .repairs import rollback_session

        _wired()
        return rollback_session(self.last_run.session, self.last_run.runner or self.runner, progress=progress)

    def interrupted(self) -> list[Any]:
        """Steps a killed process left started but unfinished (from the write-ahead changelog)."""
        from .repairs import interrupted

        return interrupted()

    def undo_interrupted(self) -> list[dict[str, Any]]:
        """Undo every interrupted step from its recorded state, newest first."""
        from .repairs import interrupted, undo_interrupted

        _wired()
        return [undo_interrupted(item, self.runner) for item in reversed(interrupted())]

    def changelog(self):
        from .repairs import changelog

        return changelog()

    def report(self, session: str | None = None):
        from .repairs import report

        return report(session)

    # ---- drivers ---------------------------------------------------------------------------------------------
    def drivers(self, *, updates: bool = False, refresh: bool = False, snapshot: str | Path | None = None):
        from .tools.drivers import driver_updates, drivers

        if snapshot is not None and str(snapshot) != self.snapshot:
            self.use_snapshot(snapshot)
        if updates:
            if self._driver_updates is None or refresh:
                self._driver_updates = driver_updates(runner=self.runner)
            return self._driver_updates
        if self._drivers is None or refresh:
            self._drivers = drivers(runner=self.runner)
        return self._drivers

    def driver_report(self, *, refresh: bool = False):
        """The driver report (statistics, available updates, sources) as ``techcare drivers`` shows it."""
        from .tools.drivers import report

        if self._driver_report is None or refresh:
            self._driver_report = report(runner=self.runner)
        return self._driver_report

    def __repr__(self) -> str:
        where = tr("Snapshot {s}", "snapshot {s}", s=self.snapshot) if self.snapshot else tr("dieser PC", "this PC")
        plan = ""
        if self.plan is not None:
            n = len(self.plan.steps)
            steps = tr("1 Schritt", "1 step") if n == 1 else tr("{n} Schritte", "{n} steps", n=n)
            plan = tr(", Plan {id} ({s})", ", plan {id} ({s})", id=self.plan.id, s=steps)
        return tr("<TechCare-Sitzung: {w}{p}>", "<TechCare session: {w}{p}>", w=where, p=plan)


_session: Session | None = None


def get_session() -> Session:
    global _session
    if _session is None:
        _session = Session()
    return _session


def reset_session(session: Session | None = None) -> Session:
    global _session
    _session = session or Session()
    return _session
