"""Running an approved plan: check -> prepare (undo data) -> apply -> verify, with write-ahead changelog,
undo of a failed step, stop, and rollback of completed steps on request."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RepairError, TechCareError
from ..i18n import tr
from ..system.runner import CommandResult, CommandRunner, DryRunRunner, LocalRunner, RecordingRunner, ReplayRunner
from ._catalog import get_action
from ._changelog import ChangelogWriter, Interrupted, JournalError, describe_machine, interrupted, read_entries, \
    read_journal
from ._model import Check, StepContext, StepFailed, shell_word, truncate

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ._plan import Approval, Plan, Step

__all__ = ["RunResult", "StepOutcome", "UndoResult", "changelog_written", "dismiss_interrupted", "machine_of",
           "on_changelog_written", "on_run_finished", "purge_backups", "require_same_machine", "rollback_session",
           "run_plan", "undo_interrupted", "undo_step"]

log = logging.getLogger("techcare.repairs")

#: Callables ``(plan, run_result)`` called after every real (non-dry) run, e.g. to record a case.
on_run_finished: list[Callable[[Plan, RunResult], None]] = []

#: Callables ``(session)`` called whenever a session's changelog gained entries outside a dry run: after a real
#: run, a rollback, and the undo or dismissal of an interrupted step. The team-backend upload hangs here, so the
#: dashboard sees an undone repair as rolled back, not only completed ones. A failing hook is logged, never raised.
on_changelog_written: list[Callable[[str], None]] = []


def changelog_written(session: str) -> None:
    """Tell the :data:`on_changelog_written` hooks that ``session``'s changelog has new entries."""
    for hook in list(on_changelog_written):
        try:
            hook(session)
        except Exception:
            log.exception("on_changelog_written hook %r failed", hook)


@dataclass
class StepOutcome:
    number: int
    action_id: str
    status: str  # finished | failed | skipped | dry_run | not_confirmed | not_run | undone | undo_failed
    detail: str = ""
    commands: list[dict[str, Any]] = field(default_factory=list)
    undo: str | None = None  # None | "undone" | "undo_failed: ..." | "not_undoable: ..."
    #: of a failed step: undone | undo_failed | not_undoable, or None when it failed before changing anything
    undo_status: str | None = None


@dataclass
class RunResult:
    session: str
    plan_id: str
    dry_run: bool
    steps: list[StepOutcome]
    status: str  # completed | failed | dry_run
    changelog_path: Path
    runner: CommandRunner | None = None
    failed_step: int | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "dry_run")

    @property
    def completed(self) -> list[int]:
        return [s.number for s in self.steps if s.status == "finished"]

    @property
    def rollback_available(self) -> list[int]:
        """Completed steps that can be undone (``plan.rollback()`` undoes them in reverse order)."""
        out = []
        for s in self.steps:
            if s.status == "finished":
                step_state = _prepared_state(self.session, s.number)
                if step_state is not None and get_action(s.action_id).undo_reason(step_state[0]) is None:
                    out.append(s.number)
        return out

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"step": s.number, "action": s.action_id, "status": s.status, "detail": s.detail,
                              "undo": s.undo or "", "commands": len(s.commands)} for s in self.steps],
                            columns=["step", "action", "status", "detail", "undo", "commands"])

    def summary(self, undo_hint: str = "%repair --undo") -> str:
        """The run in the session language: a line per step (status and detail), the result and the changelog,
        and after a failed run with completed steps how to undo them (``undo_hint``: the command of the interface
        that shows it). A detail read from the machine is escaped (shown, never obeyed by the terminal)."""
        from ..system.records import visible

        lines = [f"{STEP_ICONS.get(s.status, '?')} {s.number}. {s.action_id}: {status_words(s.status)}"
                 + (f" – {visible(s.detail, limit=500)}" if s.detail else "") for s in self.steps]
        lines.append(tr("Ergebnis: {s} · Protokoll: {p}", "Result: {s} · changelog: {p}", s=status_words(self.status),
                        p=self.changelog_path))
        if self.status == "failed" and self.rollback_available:
            lines.append(tr("Erledigte Schritte zurücknehmen: {c}", "Undo the completed steps: {c}", c=undo_hint))
        return "\n".join(lines)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows a run as its summary
        printer.text(self.summary())

    def __repr__(self) -> str:
        return f"<RunResult {self.session} {self.status} {[(s.number, s.status) for s in self.steps]}>"


STEP_ICONS = {"finished": "✔", "undone": "↺", "skipped": "–", "dry_run": "·", "failed": "✖", "undo_failed": "✖",
              "not_confirmed": "✋", "not_run": "–", "nothing_to_undo": "–", "not_undoable": "–"}
_STATUS_WORDS = {
    "finished": ("erledigt", "finished"), "undone": ("rückgängig gemacht", "undone"),
    "skipped": ("übersprungen", "skipped"), "dry_run": ("Probelauf", "dry run"),
    "failed": ("fehlgeschlagen", "failed"), "undo_failed": ("Rückgängig fehlgeschlagen", "undo failed"),
    "not_confirmed": ("nicht bestätigt", "not confirmed"), "not_run": ("nicht ausgeführt", "not run"),
    "nothing_to_undo": ("nichts rückgängig zu machen", "nothing to undo"),
    "not_undoable": ("nicht rückgängig zu machen", "cannot be undone"), "completed": ("erledigt", "completed")}


def status_words(value: Any) -> str:
    """A run or step status in the session language (an unknown code is shown as it is)."""
    words = _STATUS_WORDS.get(str(value))
    return tr(*words) if words else str(value)


def _cmd_dict(result: CommandResult) -> dict[str, Any]:
    return {"argv": list(result.argv), "returncode": result.returncode, "stdout": truncate(result.stdout),
            "stderr": truncate(result.stderr), "duration": round(result.duration, 3), "error": result.error}


def _default_progress() -> Callable[[str], None]:
    try:
        from rich.console import Console
    except ImportError:  # pragma: no cover - rich is a dependency
        return print
    from ..system.records import visible

    console = Console(highlight=False)
    # a step's line can carry a command's output or a name read from the machine: shown, never obeyed
    return lambda line: console.print(visible(line, limit=10**6), markup=False)


def _new_session(plan_id: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{plan_id[:12]}-{secrets.token_hex(3)}"


def _session_dir(session: str) -> Path:
    from ..config import get_settings

    return Path(get_settings().sessions_dir) / session


def _is_admin(runner: CommandRunner) -> bool | None:
    """Is the machine the runner talks to elevated? ``None`` when nobody can tell.

    The ``is_admin`` fact when there is one (a live machine answers it), else the ``host`` fact's ``is_admin``:
    snapshots (capture.sh, capture.ps1, ``save_snapshot``) record elevation only there. Recorded values may be
    JSON booleans or their text form.
    """
    for name in ("is_admin", "host"):
        try:
            value = runner.fact(name)
        except (LookupError, OSError):
            continue
        if name == "host":
            value = value.get("is_admin") if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        if isinstance(value, (bool, int)):
            return bool(value)
    return None


def machine_of(runner: CommandRunner) -> dict[str, Any]:
    """The machine a runner talks to: ``{"host", "platform", "id", "replay"}``, recorded with every changelog
    entry and compared before any undo.

    A live machine is identified by its machine fingerprint (:func:`techcare.license.machine_fingerprint`, an
    HMAC of the OS machine id), so PC B never passes for PC A even when both share a data directory on a USB
    stick. A replayed snapshot is identified by a digest of its recorded host fact: the replay of PC A is
    neither this machine nor PC A itself.
    """
    inner = runner
    while isinstance(inner, (DryRunRunner, RecordingRunner)):
        inner = inner.inner
    try:
        host = inner.fact("host")
    except (LookupError, OSError):
        host = None
    host = host if isinstance(host, dict) else {}
    name = str(host.get("hostname") or "")
    if isinstance(inner, ReplayRunner):
        digest = hashlib.sha256(json.dumps(host, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]
        return {"host": name or "unknown", "platform": inner.platform, "id": f"snapshot:{digest}", "replay": True}
    from ..license import machine_fingerprint

    return {"host": name or socket.gethostname(), "platform": inner.platform,
            "id": "machine:" + machine_fingerprint(inner)[:16], "replay": False}


def require_same_machine(writer: ChangelogWriter, runner: CommandRunner | None, step: int) -> CommandRunner:
    """The runner to undo ``step`` of the writer's session with (default: this machine), or :class:`RepairError`
    naming both machines when it is not the machine (or replayed snapshot) the step ran on."""
    runner = runner or LocalRunner()
    here = machine_of(runner)
    recorded = writer.common.get("machine")
    if isinstance(recorded, dict) and recorded.get("id"):
        same = recorded["id"] == here["id"]
    else:  # written before machines were recorded: the host name and platform are all there is
        recorded = {"host": writer.common.get("host") or "?", "platform": writer.common.get("platform") or "?"}
        same = (str(recorded["platform"]) == here["platform"]
                and str(recorded["host"]).casefold() == here["host"].casefold())
    if not same:
        raise RepairError(tr(
            "Schritt {n} der Sitzung {s} lief auf {there}; dies ist {here}. Zurückgenommen wird nur dort, wo der "
            "Schritt lief – TechCare dort starten (bei einem Snapshot: denselben Snapshot wiedergeben).",
            "Step {n} of session {s} ran on {there}; this is {here}. It is undone only where it ran – start "
            "TechCare there (for a snapshot: replay the same snapshot).",
            n=step, s=writer.session, there=describe_machine(recorded), here=describe_machine(here)))
    return runner


def run_plan(plan: Plan, approval: Approval, *, runner: CommandRunner | None = None, dry_run: bool = False,
             confirm: Callable[[Step], bool] | None = None, progress: Callable[[str], None] | None = None,
             technician: str | None = None, company: str | None = None) -> RunResult:
    """The end of the Chat flow: the approved steps run one by one — pre-check, prepare (undo data), apply,
    verify, undo on failure — each written ahead to the session's changelog.

    A real run: :func:`_check_approval` -> :func:`_refusals` (nothing runs unless every step may) ->
    :func:`_open_journal` -> per step :func:`_run_step` (or :func:`_skipped`) -> :func:`_finish` -> quota and
    hooks. A dry run (:func:`_dry_run`) shares the approval check, the journal and the finish, and runs nothing.
    """
    steps, base = _check_approval(plan, approval, runner)
    say = progress or _default_progress()
    journal_fields = {"technician": technician, "company": company}
    if dry_run:
        return _dry_run(plan, approval, steps, base, say, **journal_fields)
    from ..features import record_repairs

    declined = _refusals(steps, base, confirm)
    pending = interrupted()
    for item in pending:
        say("⚠ " + item.message())
    _purge_old_backups(say)
    writer = _open_journal(plan, approval, base, dry_run=False, pending=pending, **journal_fields)
    outcomes: list[StepOutcome] = []
    failed_at: int | None = None
    applied = 0
    journal_error: JournalError | None = None
    for tag, step in _tagged(steps):
        if failed_at is not None:
            outcomes.append(_skipped(step, "not_run", None, say, tag))
            continue
        try:
            if step.number in declined:
                outcomes.append(_skipped(step, "not_confirmed", writer, say, tag))
                continue
            outcome, reached_apply = _run_step(step, base, writer, say, tag)
        except JournalError as exc:   # the journal cannot be written: no further step may run
            journal_error = exc
            outcome, reached_apply = _journal_stop(step, exc, say, tag)
        outcomes.append(outcome)
        applied += reached_apply
        if outcome.status == "failed":
            failed_at = step.number
    result = _finish(plan, writer, outcomes, base, say, pending=pending, journal_error=journal_error)
    record_repairs(applied)
    for hook in list(on_run_finished):
        try:
            hook(plan, result)
        except Exception:
            log.exception("on_run_finished hook %r failed", hook)
    changelog_written(writer.session)
    return result


def _check_approval(plan: Plan, approval: Approval, runner: CommandRunner | None) -> tuple[list[Step], CommandRunner]:
    """The approved steps (the approval must belong to this plan) and the runner, which must talk to a machine
    of the plan's platform."""
    steps = plan.approved(approval)
    base = runner or LocalRunner()
    if base.platform != plan.platform:
        raise RepairError(tr("Der Plan ist für {p}, dieses System ist {r}.", "The plan is for {p}, this system is {r}.",
                             p=plan.platform, r=base.platform))
    return steps, base


def _admin_steps(steps: list[Step], runner: CommandRunner) -> list[int]:
    """Steps that need elevation the runner's machine does not have (or cannot prove)."""
    needing = [s.number for s in steps if s.needs_admin]
    return needing if needing and _is_admin(runner) is not True else []


def _refusals(steps: list[Step], runner: CommandRunner, confirm: Callable[[Step], bool] | None) -> set[int]:
    """Refuse before anything runs: steps that need admin rights on a machine that is not elevated, then the
    edition's quota for the steps that will run. Asks ``confirm`` for each high-risk step; returns the numbers
    of the declined ones (they are skipped, not refused)."""
    from ..features import require_repairs

    missing = _admin_steps(steps, runner)
    if missing:
        raise RepairError(tr("Schritt(e) {s} brauchen Administrator-/root-Rechte; TechCare läuft nicht erhöht. "
                             "Nichts wurde ausgeführt.",
                             "Step(s) {s} need administrator/root rights; TechCare is not elevated. Nothing ran.",
                             s=", ".join(map(str, missing))))
    declined = {s.number for s in steps if s.risk == "high" and not (confirm(s) if confirm is not None else False)}
    require_repairs(len([s for s in steps if s.number not in declined]))
    return declined


def _purge_old_backups(say: Callable[[str], None]) -> None:
    """Moved-away temp files keep disk space until their backup expires (undo window: 30 days)."""
    try:
        purge_backups(BACKUP_RETENTION_DAYS)
    except OSError as exc:
        say("⚠ " + tr("Alte Sicherungen konnten nicht entfernt werden: {e}", "Old backups could not be removed: {e}",
                      e=exc))


def _host_name(plan: Plan, runner: CommandRunner) -> str:
    if plan.host:
        return plan.host
    try:
        host = str((runner.fact("host") or {}).get("hostname") or "")
    except (LookupError, OSError, AttributeError):
        host = ""
    return host or (socket.gethostname() if isinstance(runner, LocalRunner) else "unknown")


def _open_journal(plan: Plan, approval: Approval, runner: CommandRunner, *, dry_run: bool,
                  pending: list[Interrupted], technician: str | None, company: str | None) -> ChangelogWriter:
    """A new session's changelog, opened with its ``run`` entry: who runs which plan on which machine, the
    approval, and the interrupted steps of earlier runs that are still open."""
    from ..config import get_settings

    settings = get_settings()
    writer = ChangelogWriter(_new_session(plan.id), {
        "plan_id": plan.id, "technician": technician if technician is not None else settings.technician_name,
        "company": company if company is not None else settings.company, "host": _host_name(plan, runner),
        "platform": plan.platform, "machine": machine_of(runner)})
    writer.write("run", dry_run=dry_run, interrupted=[(i.session, i.step) for i in pending], approval=approval.text,
                 approved=list(approval.steps),
                 plan={"source": plan.source, "symptom": plan.symptom, "findings": plan.findings, "notes": plan.notes,
                       "steps": [s.to_dict() for s in plan.steps]})
    return writer


def _tagged(steps: list[Step]) -> list[tuple[str, Step]]:
    """Each step with its progress tag ``[2/3] 4. Title``."""
    return [(f"[{index}/{len(steps)}] {step.number}. {step.title()}", step) for index, step in enumerate(steps, 1)]


def _dry_run(plan: Plan, approval: Approval, steps: list[Step], base: CommandRunner, say: Callable[[str], None], *,
             technician: str | None, company: str | None) -> RunResult:
    """Show and journal what a real run would do; nothing executes (a :class:`DryRunRunner` catches every
    command), no quota is used and no hook is told. Missing admin rights are a warning here, not a refusal."""
    missing = _admin_steps(steps, base)
    if missing:
        say("⚠ " + tr("Für den echten Lauf brauchen Schritt(e) {s} Administrator-/root-Rechte.",
                      "For the real run step(s) {s} need administrator/root rights.", s=", ".join(map(str, missing))))
    writer = _open_journal(plan, approval, base, dry_run=True, pending=[], technician=technician, company=company)
    catcher = DryRunRunner(base)
    outcomes = [_dry_step(step, catcher, writer, say, tag) for tag, step in _tagged(steps)]
    return _finish(plan, writer, outcomes, base, say, dry_run=True)


def _dry_step(step: Step, runner: DryRunRunner, writer: ChangelogWriter, say: Callable[[str], None],
              tag: str) -> StepOutcome:
    """One step of a dry run: the commands its ``apply`` would run, captured and shown."""
    argvs = _dry_apply(step, runner, writer.session)
    cmds = [" ".join(shell_word(a) for a in argv) for argv in argvs]
    writer.write("dry_run", step=step.number, action_id=step.action_id, params=step.params, dry_run=True,
                 commands=[{"argv": a, "returncode": None} for a in argvs],
                 detail=tr("Probelauf – nichts ausgeführt.", "Dry run – nothing executed."))
    say(f"{tag}: " + tr("Probelauf", "dry run"))
    for c in cmds:
        say(f"    $ {c}")
    return StepOutcome(step.number, step.action_id, "dry_run", "\n".join(cmds), [{"argv": a} for a in argvs])


def _skipped(step: Step, status: str, writer: ChangelogWriter | None, say: Callable[[str], None],
             tag: str) -> StepOutcome:
    """A step that does not run: ``not_confirmed`` (a declined high-risk step; journaled and said) or
    ``not_run`` (an earlier step failed; the run stops, so it is neither journaled nor said)."""
    if status == "not_run":
        return StepOutcome(step.number, step.action_id, "not_run",
                           tr("Nicht ausgeführt (vorheriger Schritt fehlgeschlagen).", "Not run (an earlier step failed)."))
    detail = tr("Hohes Risiko – nicht bestätigt, übersprungen.", "High risk – not confirmed, skipped.")
    if writer is not None:
        writer.write("skipped", step=step.number, action_id=step.action_id, params=step.params, detail=detail,
                     reason="not_confirmed")
    say(f"{tag}: {detail}")
    return StepOutcome(step.number, step.action_id, status, detail)


def _finish(plan: Plan, writer: ChangelogWriter, outcomes: list[StepOutcome], runner: CommandRunner,
            say: Callable[[str], None], *, dry_run: bool = False, pending: list[Interrupted] | None = None,
            journal_error: JournalError | None = None) -> RunResult:
    """The run's result and its ``run_finished`` entry; after a failure, what can be rolled back is said. After
    a journal that could not be written, that is said (and ``run_finished`` is tried, not required)."""
    failed = next((o for o in outcomes if o.status == "failed"), None)
    failed_at = failed.number if failed is not None else None
    status = "dry_run" if dry_run else "failed" if failed_at is not None else "completed"
    result = RunResult(session=writer.session, plan_id=plan.id, dry_run=dry_run, steps=outcomes, status=status,
                       changelog_path=writer.path, runner=runner, failed_step=failed_at)
    if journal_error is not None:
        result.messages.append(str(journal_error))
    elif failed is not None:
        result.messages.append(_failure_message(failed, result.rollback_available))
    for message in result.messages:
        say(message)
    result.messages[:0] = [i.message() for i in pending or []]
    try:
        writer.write("run_finished", status=status, failed_step=failed_at, dry_run=dry_run,
                     summary={o.number: o.status for o in outcomes})
    except JournalError:
        if journal_error is None:
            raise
    return result


def _journal_stop(step: Step, exc: JournalError, say: Callable[[str], None], tag: str) -> tuple[StepOutcome, int]:
    """The outcome of the step whose journal entry could not be written: before it ran (``started``,
    ``prepared``, a skip) nothing of it ran; after (``finished``, ``failed``) it ran, but its end is not on
    the disk, so it shows as interrupted on the next start (undo offered there)."""
    event = getattr(exc, "event", "")
    if event in ("finished", "failed"):
        detail = tr("Ausgeführt, aber das Ergebnis konnte nicht protokolliert werden: beim nächsten Start als "
                    "unterbrochen gemeldet (Undo dort). {m}",
                    "Ran, but its result could not be journaled: reported as interrupted on the next start (undo "
                    "there). {m}", m=exc.message)
        ran = 1
    else:
        detail = tr("Nicht ausgeführt: sein Protokolleintrag konnte nicht geschrieben werden. {m}",
                    "Not run: its changelog entry could not be written. {m}", m=exc.message)
        ran = 0
    say(f"{tag}: ✖ {detail}")
    return StepOutcome(step.number, step.action_id, "failed", detail), ran


def _failure_message(failed: StepOutcome, can: list[int]) -> str:
    """What happened to the failed step (undone only when its undo ran) and what can be rolled back."""
    f = failed.number
    head = {
        "undone": tr("Schritt {f} ist fehlgeschlagen und wurde zurückgenommen.", "Step {f} failed and was undone.",
                     f=f),
        "not_undoable": tr("Schritt {f} ist fehlgeschlagen; er hat kein Undo – bitte von Hand prüfen ({u}).",
                           "Step {f} failed; it has no undo – please check by hand ({u}).", f=f, u=failed.undo),
        "undo_failed": tr("Schritt {f} ist fehlgeschlagen; das Zurücknehmen schlug fehl – bitte von Hand prüfen "
                          "({u}).", "Step {f} failed; undoing it failed – please check by hand ({u}).", f=f,
                          u=failed.undo),
    }.get(failed.undo_status or "", tr("Schritt {f} ist fehlgeschlagen, bevor er etwas geändert hat.",
                                       "Step {f} failed before it changed anything.", f=f))
    if not can:
        return head + " " + tr("Der Lauf wurde angehalten.", "The run was stopped.")
    if len(can) > 1:
        return head + " " + tr("Erledigte Schritte {c} können mit plan.rollback() in umgekehrter Reihenfolge "
                               "zurückgenommen werden.", "Completed steps {c} can be undone in reverse order with "
                               "plan.rollback().", c=", ".join(map(str, can)))
    return head + " " + tr("Der erledigte Schritt {c} kann mit plan.rollback() zurückgenommen werden.",
                           "Completed step {c} can be undone with plan.rollback().", c=can[0])


def _dry_apply(step: Step, runner: DryRunRunner, session: str) -> list[list[str]]:
    """The commands ``apply`` would run, captured by the DryRunRunner (nothing executes)."""
    start = len(runner.commands)
    ctx = StepContext(runner=runner, params=dict(step.params), backup_dir=_session_dir(session) / f"step-{step.number}",
                      timeout=step.action.timeout)
    try:
        _call(step.action.apply, ctx)
    except TechCareError:
        pass  # an apply that needs real answers stops early; the declared commands are shown instead
    captured = [list(argv) for argv in runner.commands[start:]]
    return captured or step.commands()


def _run_step(step: Step, runner: CommandRunner, writer: ChangelogWriter, say: Callable[[str], None],
              tag: str) -> tuple[StepOutcome, int]:
    """One step. Returns the outcome and 1 when ``apply`` was reached (counts against the quota)."""
    action = step.action
    backup = _session_dir(writer.session) / f"step-{step.number}"
    ctx = StepContext(runner=runner, params=dict(step.params), backup_dir=backup, timeout=action.timeout)
    base = {"step": step.number, "action_id": step.action_id, "params": step.params}
    writer.write("started", **base, risk=step.risk, planned=step.command_text())
    began = time.monotonic()
    phase = "check"
    seen = 0

    def new_commands() -> list[dict[str, Any]]:
        nonlocal seen
        out = [_cmd_dict(c) for c in ctx.commands[seen:]]
        seen = len(ctx.commands)
        return out

    try:
        say(f"{tag}: " + tr("prüfe, ob nötig …", "checking whether needed …"))
        check = _call(action.check, ctx)
        if check.needed is False:
            writer.write("skipped", **base, reason="not_needed", detail=check.detail, commands=new_commands())
            say(f"{tag}: " + tr("nicht nötig – ", "not needed – ") + check.detail)
            return StepOutcome(step.number, step.action_id, "skipped", check.detail, []), 0
        phase = "prepare"
        try:
            backup.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StepFailed(tr("Sicherungsordner {p} nicht anlegbar: {e}", "backup directory {p} cannot be made: "
                                "{e}", p=backup, e=exc.strerror or exc)) from None
        _call(action.prepare, ctx)
        writer.write("prepared", **base, state=ctx.state, check=check.detail, commands=new_commands())
        phase = "apply"
        say(f"{tag}: " + tr("wird ausgeführt …", "running …"))
        _call(action.apply, ctx)
        phase = "verify"
        verdict = _call(action.verify, ctx)
        if verdict.needed is True:
            raise StepFailed(verdict.detail or tr("Problem besteht weiter.", "The problem persists."))
    except JournalError:
        raise   # not a step failure: the run stops (run_plan), nothing more may run
    except (TechCareError, KeyboardInterrupt) as exc:
        message = exc.message if isinstance(exc, TechCareError) else tr("vom Benutzer abgebrochen", "cancelled by the user")
        cmds = new_commands()
        undo_note = undo_status = None
        if phase in ("apply", "verify"):
            undo_status, undo_note = _undo_failed_step(action, ctx)
            cmds += new_commands()
        detail = tr("{p} fehlgeschlagen: {m}", "{p} failed: {m}", p=tr(*_PHASES[phase]), m=message)
        writer.write("failed", **base, phase=phase, detail=detail, undo=undo_note, undo_status=undo_status,
                     state=ctx.state, commands=cmds)
        say(f"{tag}: ✖ {detail}" + (f" ({undo_note})" if undo_note else ""))
        return StepOutcome(step.number, step.action_id, "failed", detail, cmds, undo_note, undo_status), int(
            phase in ("apply", "verify"))
    if verdict.needed is False:
        detail = verdict.detail
    else:  # the check could not tell; say why when it knows
        detail = tr("nicht nachprüfbar: {d}", "could not verify: {d}", d=verdict.detail) if verdict.detail \
            else tr("nicht nachprüfbar.", "could not verify.")
    cmds = new_commands()
    writer.write("finished", **base, detail=detail, verified=verdict.needed is False, state=ctx.state, commands=cmds)
    say(f"{tag}: ✔ {detail} ({time.monotonic() - began:.1f} s)")
    return StepOutcome(step.number, step.action_id, "finished", detail, cmds), 1


_PHASES = {"check": ("Vorprüfung", "Check"), "prepare": ("Vorbereitung", "Preparation"),
           "apply": ("Ausführung", "Apply"), "verify": ("Nachprüfung", "Verification")}


def _call(part: Callable[[StepContext], Any], ctx: StepContext) -> Any:
    """Run an action part; any unexpected exception (e.g. a plugin bug) becomes a step failure."""
    try:
        result = part(ctx)
    except TechCareError:
        raise
    except Exception as exc:
        log.exception("repair part %s raised", getattr(part, "__qualname__", part))
        raise StepFailed(f"{type(exc).__name__}: {exc}") from exc
    if result is None:
        return Check(None, "")
    return result


def _undo_failed_step(action: Any, ctx: StepContext) -> tuple[str, str]:
    """Undo the step that just failed: (status, text) with status undone | undo_failed | not_undoable."""
    reason = action.undo_reason(ctx.params)
    if reason is not None:
        return "not_undoable", tr("kein Undo: ", "no undo: ") + reason
    try:
        _call(action.undo, ctx)
    except TechCareError as exc:
        return "undo_failed", tr("Undo fehlgeschlagen: ", "undo failed: ") + exc.message
    return "undone", tr("zurückgenommen", "undone")


# ---- undo after the fact ---------------------------------------------------------------------------------------

def _prepared_state(session: str, step: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(params, state) of a step from its ``finished`` (or ``prepared``) entry."""
    found = None
    for e in read_entries(session):
        if e.get("step") == step and e.get("event") in ("prepared", "finished"):
            found = (e.get("params") or {}, e.get("state") or {})
    return found


def undo_step(writer: ChangelogWriter, number: int, action_id: str, params: dict[str, Any], state: dict[str, Any],
              runner: CommandRunner | None, *, note: str = "") -> dict[str, Any]:
    """Undo one step of the writer's session from its recorded state, on the machine it ran on only."""
    runner = require_same_machine(writer, runner, number)
    action = get_action(action_id)
    reason = action.undo_reason(params)
    base = {"step": number, "action_id": action_id, "params": params}
    if reason is not None:
        writer.write("undo_skipped", **base, detail=reason)
        return {"step": number, "action_id": action_id, "status": "not_undoable", "detail": reason}
    ctx = StepContext(runner=runner, params=dict(params), state=dict(state),
                      backup_dir=_session_dir(writer.session) / f"step-{number}", timeout=action.timeout)
    writer.write("undo_started", **base)
    try:
        _call(action.undo, ctx)
    except TechCareError as exc:
        writer.write("undo_failed", **base, detail=exc.message, commands=[_cmd_dict(c) for c in ctx.commands])
        return {"step": number, "action_id": action_id, "status": "undo_failed", "detail": exc.message}
    detail = tr("zurückgenommen", "undone") + (f" ({note})" if note else "")
    writer.write("undone", **base, detail=detail, commands=[_cmd_dict(c) for c in ctx.commands])
    return {"step": number, "action_id": action_id, "status": "undone", "detail": detail}


# ---- interrupted steps (a process that died mid-step) ------------------------------------------------------

def _writer_for(item: Interrupted) -> ChangelogWriter:
    """A writer that goes on with the interrupted step's session, as the step's ``started`` entry was written."""
    first = next((e for e in read_entries(item.session) if e.get("event") == "started" and e.get("step") == item.step),
                 {})
    return ChangelogWriter.continuing(item.session, first)


def undo_interrupted(item: Interrupted, runner: CommandRunner | None = None) -> dict[str, Any]:
    """Run the undo of an interrupted step from its recorded state, only on the machine (or replayed snapshot)
    it ran on (:func:`require_same_machine`); writes ``undone`` or ``undo_failed``."""
    if not item.proven:   # what the step did cannot be proven from a damaged journal: never guessed
        raise RepairError(item.message())
    writer = _writer_for(item)
    runner = require_same_machine(writer, runner, item.step)
    if not item.prepared:
        detail = tr("Vor der Änderung abgebrochen – nichts zurückzunehmen.", "Stopped before any change – nothing to undo.")
        writer.write("abandoned", step=item.step, action_id=item.action_id, params=item.params, detail=detail)
        result = {"step": item.step, "action_id": item.action_id, "status": "nothing_to_undo", "detail": detail}
    else:
        result = undo_step(writer, item.step, item.action_id, item.params, item.state, runner,
                           note=tr("nach Unterbrechung", "after interruption"))
    changelog_written(item.session)
    return result


def dismiss_interrupted(item: Interrupted, note: str = "") -> None:
    """Close an interrupted step without undo (after the technician checked it by hand)."""
    _writer_for(item).write("abandoned", step=item.step, action_id=item.action_id, params=item.params,
                            detail=note or tr("Vom Techniker geschlossen.", "Closed by the technician."))
    changelog_written(item.session)


class UndoResult(list):
    """What :func:`rollback_session` returns: a list with one dict per step (``step``, ``action_id``, ``status``,
    ``detail``). IPython shows it as one line in words: each step was already printed as it was undone."""

    def summary(self) -> str:
        if not self:
            return tr("Nichts rückgängig zu machen.", "Nothing to undo.")
        undone = sum(1 for row in self if row.get("status") == "undone")
        text = tr("Rücknahme: {u} von {n} Schritten zurückgenommen", "Rollback: {u} of {n} steps undone",
                  u=undone, n=len(self))
        if undone < len(self):
            text += tr(" – die übrigen siehe oben", " – the others: see above")
        return text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())


def rollback_session(session: str, runner: CommandRunner | None = None, *,
                     progress: Callable[[str], None] | None = None) -> UndoResult:
    """Undo every finished (and not yet undone) step of a session, last first. Returns one dict per step (an
    :class:`UndoResult`, a list)."""
    say = progress or _default_progress()
    journal = read_journal(session)
    entries = read_entries(session)
    if journal.damaged:   # a lost "undone" would undo a step twice, a lost "finished" hide one: refuse to guess
        raise RepairError(journal.message())   # also a journal deleted while its .head remains: not "no entries"
    if not entries:
        raise RepairError(tr("Keine Einträge für Sitzung {s}.", "No entries for session {s}.", s=session))
    finished: dict[int, dict[str, Any]] = {}
    for e in entries:
        if e.get("event") == "finished":
            finished[e["step"]] = e
        elif e.get("event") in ("undone", "undo_skipped") and e.get("step") in finished:
            del finished[e["step"]]   # undone, or said once to have no undo: not again on every rollback
    writer = ChangelogWriter.continuing(session, entries[0])
    if finished:
        runner = require_same_machine(writer, runner, max(finished))
    results = UndoResult()
    for number in sorted(finished, reverse=True):
        e = finished[number]
        res = undo_step(writer, number, e["action_id"], e.get("params") or {}, e.get("state") or {}, runner,
                        note=tr("Rollback", "rollback"))
        mark = {"undone": "↺", "not_undoable": "–"}.get(res["status"], "✖")  # the detail says it in words
        say(f"{mark} {number}. {e['action_id']}: {res['detail']}")
        results.append(res)
    if results:
        changelog_written(session)
    return results




BACKUP_RETENTION_DAYS = 30.0


def purge_backups(older_than_days: float = BACKUP_RETENTION_DAYS) -> list[str]:
    """Delete session backup directories (moved temp files, quarantines) older than N days.

    Sessions with an interrupted step are kept whatever their age (their undo needs the backup). Returns the
    removed session ids. Until purged, moved temp files stay restorable by ``rollback_session``.
    """
    import shutil

    from ..config import get_settings
    if older_than_days < 0:
        raise RepairError(tr("older_than_days={d} ist ungültig. Erlaubt: 0 oder mehr.",
                             "older_than_days={d} is not valid. Allowed: 0 or more.", d=older_than_days))
    folder = Path(get_settings().sessions_dir)
    if not folder.is_dir():
        return []
    keep = {item.session for item in interrupted()}
    cutoff = time.time() - older_than_days * 86400
    removed = []
    for path in sorted(folder.iterdir()):
        if path.is_dir() and path.name not in keep and path.stat().st_mtime < cutoff:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed
