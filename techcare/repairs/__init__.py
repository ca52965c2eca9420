"""Repairs: a vetted catalogue per OS, numbered plans, ``GO REPAIR`` approval, verify, undo, changelog, report.

    import techcare
    from techcare import repairs
    d = techcare.diagnose()
    plan = repairs.plan(d)                       # numbered steps from the findings
    plan.show()                                  # number, action, params, risk, admin, undo, exact commands
    ok = repairs.parse_approval("GO REPAIR: 1,3", plan)
    result = plan.run(ok, confirm=lambda step: input(f"{step.title()}? [y/N] ") == "y")
    plan.rollback()                              # after a failure: undo completed steps, last first
    repairs.changelog()                          # DataFrame of every changelog entry
    repairs.report()                             # Reparaturprotokoll (HTML + Markdown)
    repairs.read_journal_file(path)              # a journal's entries, damaged lines, unverified ones

Every command goes through a CommandRunner; ``plan.run(..., dry_run=True)`` prints and records without running.
Importing this package changes nothing: hooks (changelog upload, case recording) are registered by the
composition root :func:`techcare._wiring.install`, which the session façade and the assistant call.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._catalog import (
                         ENTRY_POINT_GROUP,
                         actions,
                         catalog,
                         get_action,
                         plugin_errors,
                         reload_catalog,
)
from ._changelog import (
                         Interrupted,
                         changelog,
                         interrupted,
                         read_entries,
                         sessions,
                         startup_check,
)
from ._execute import (
                         RunResult,
                         StepOutcome,
                         UndoResult,
                         dismiss_interrupted,
                         on_changelog_written,
                         on_run_finished,
                         purge_backups,
                         rollback_session,
                         undo_interrupted,
)
from ._journal import JournalError, JournalRead
from ._journal import read as _read_journal
from ._model import Action, Check, Param, StepContext, StepFailed, ps_command, ps_quote
from ._plan import Approval, Plan, Step, parse_approval, plan
from ._report import Report, report

__all__ = [
    "ENTRY_POINT_GROUP",
    "Action",
    "Approval",
    "Check",
    "Interrupted",
    "JournalError",
    "JournalRead",
    "Param",
    "Plan",
    "Report",
    "RunResult",
    "Step",
    "StepContext",
    "StepFailed",
    "StepOutcome",
    "UndoResult",
    "actions",
    "catalog",
    "changelog",
    "dismiss_interrupted",
    "get_action",
    "interrupted",
    "on_changelog_written",
    "on_run_finished",
    "parse_approval",
    "plan",
    "plugin_errors",
    "ps_command",
    "ps_quote",
    "purge_backups",
    "read_entries",
    "read_journal_file",
    "reload_catalog",
    "report",
    "rollback_session",
    "sessions",
    "startup_check",
    "undo_interrupted",
]


def read_journal_file(path: str | os.PathLike[str]) -> JournalRead:
    """One repair journal file (any ``*.jsonl`` in the changelogs folder, not only a well-named session's) and
    what of it cannot be proven: ``damaged`` line numbers (with ``broken`` and ``cut_off`` of the chain),
    ``unverified`` entries of versions before checksums, a ``torn_tail`` (a crash mid-write, not damage).

    A missing file reads as empty and damage never raises; a file that cannot be read at all (a directory, no
    permission) raises :class:`JournalError` naming it. ``techcare doctor`` checks every journal with it."""
    return _read_journal(Path(path))
