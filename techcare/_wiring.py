"""The composition root: the one place that connects the rooms by hooks.

No module registers a hook when it is imported. The programs that run repairs for a technician call
:func:`install` once — the :class:`techcare.session.Session` façade behind the shell, the REPL, the magics and the
widgets, and the :class:`techcare.assistant.Assistant` — and get:

- ``repairs.on_changelog_written`` -> :func:`techcare.changelog_upload.on_changelog_written`: a session's
  changelog goes to the team backend whenever it gains entries (after a run, a rollback, an undo), when
  ``BACKEND_URL`` and ``TECHCARE_API_KEY`` are set (checked at call time; a failed upload never fails a repair);
- ``repairs.on_run_finished`` -> :func:`techcare.assistant.cases.record_run`: every real run of a plan with a
  symptom becomes a case for the learning database.

The sensor's job executor uploads its changelogs itself (with its own client and the job's id) and records no
cases, so it does not call this. A script that uses ``techcare.repairs`` directly calls it to get the same
behaviour (or appends the hooks it wants).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["install"]


def _add(hooks: list[Callable[..., Any]], hook: Callable[..., Any]) -> None:
    if hook not in hooks:
        hooks.append(hook)


def install() -> None:
    """Register the default hooks (idempotent: calling it again adds nothing)."""
    from .assistant.cases import record_run
    from .changelog_upload import on_changelog_written as upload_changelog
    from .repairs._execute import on_changelog_written, on_run_finished

    _add(on_changelog_written, upload_changelog)
    _add(on_run_finished, record_run)
