"""Upload repair changelogs to the team backend (``POST /api/changelogs``) so the dashboard shows them.

The local JSON-lines changelog stays the record of truth: an upload that fails is logged and changes nothing
locally; uploading again later is safe because the backend stores each entry once (same session, same content).

The repairs engine calls :func:`on_changelog_written` whenever a session's changelog gains entries — after a run,
a rollback, the undo or dismissal of an interrupted step (``techcare.repairs`` registers it; it uploads only when
``BACKEND_URL`` and ``TECHCARE_API_KEY`` are set) — so the dashboard shows an undone repair as rolled back::

    from techcare import repairs
    from techcare.changelog_upload import on_changelog_written
    repairs.on_changelog_written.append(on_changelog_written)
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import BackendError, TechCareError
from .i18n import tr

__all__ = ["BATCH", "configured", "for_job", "for_occurrence", "on_changelog_written", "on_run_finished",
           "upload_session", "upload_sessions"]

log = logging.getLogger("techcare.changelog_upload")
BATCH = 1000  # the backend accepts at most 1,000 entries per request
_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("techcare_changelog_job_id", default=None)
_occurrence: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("techcare_changelog_occurrence",
                                                                                     default=None)


@contextmanager
def for_job(job_id: str) -> Iterator[None]:
    """Uploads made inside this block (also by the ``on_run_finished`` hook) carry ``job_id``: the sensor's
    executor runs a remote job's steps inside it so the backend links the changelog to the job."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


@contextmanager
def for_occurrence(schedule_id: str, occurrence: str) -> Iterator[None]:
    """Uploads made inside this block carry ``schedule_id`` and ``occurrence``: the steps of a maintenance
    occurrence the sensor runs (docs/remote-jobs.md §5)."""
    token = _occurrence.set((schedule_id, occurrence))
    try:
        yield
    finally:
        _occurrence.reset(token)


def configured(settings: Any = None) -> bool:
    """True when both ``BACKEND_URL`` and ``TECHCARE_API_KEY`` are set."""
    if settings is None:
        from .config import get_settings

        settings = get_settings()
    return bool(getattr(settings, "backend_url", None)) and bool(getattr(settings, "techcare_api_key", None))


def upload_session(session: str, *, client: Any = None, job_id: str | None = None) -> dict[str, Any]:
    """Upload all entries of one local session. Returns ``{"session", "created", "duplicates"}``.

    ``job_id`` (default: the one of an enclosing :func:`for_job`) links the entries to a remote job.

    Raises :class:`techcare.errors.BackendError` when the backend is unreachable or refuses, and
    :class:`techcare.errors.RepairError` for an invalid session id. ``client`` is a
    :class:`techcare.backend_client.BackendClient` (default: one from the settings).
    """
    from .repairs._changelog import read_entries

    entries = read_entries(session, as_written=True)  # the bytes that were written: stable entry hashes
    job_id = job_id or _job_id.get()
    occurrence = None if job_id else _occurrence.get()
    if not entries:
        raise BackendError(tr("Sitzung {s} hat keine lokalen Protokolleinträge.",
                              "Session {s} has no local changelog entries.", s=session))
    own = client is None
    if own:
        from .backend_client import BackendClient

        client = BackendClient(retries=1, timeout=10.0)
    try:
        created = duplicates = 0
        for start in range(0, len(entries), BATCH):
            body: dict[str, Any] = {"session": session, "entries": entries[start:start + BATCH]}
            if job_id:
                body["job_id"] = job_id
            elif occurrence:
                body["schedule_id"], body["occurrence"] = occurrence
            answer = client.post_json("/api/changelogs", body)
            created += int(answer.get("created", 0))
            duplicates += int(answer.get("duplicates", 0))
    finally:
        if own:
            client.close()
    return {"session": session, "created": created, "duplicates": duplicates}


def upload_sessions(sessions: list[str] | None = None, *, client: Any = None) -> dict[str, Any]:
    """Upload several sessions (default: every local one); failures are collected, not raised.

    Returns ``{"uploaded": [result, ...], "failed": {session: message}}``.
    """
    from .repairs._changelog import sessions as local_sessions

    names = local_sessions() if sessions is None else sessions
    uploaded, failed = [], {}
    for name in names:
        try:
            uploaded.append(upload_session(name, client=client))
        except TechCareError as exc:
            failed[name] = str(exc)
    return {"uploaded": uploaded, "failed": failed}


def on_changelog_written(session: str, *, client: Any = None) -> dict[str, Any] | None:
    """``techcare.repairs.on_changelog_written`` hook: upload the session's changelog if a backend is configured.

    Called after a run, a rollback and the undo or dismissal of an interrupted step; everything already stored
    counts as a duplicate, so only the new entries (``undone``, ...) are added. Never raises: a repair or an undo
    must not fail because the upload did. Returns the upload result or ``None``.
    """
    try:
        if client is None and not configured():
            return None
        if not session:
            return None
        result = upload_session(session, client=client)
        log.info("changelog %s uploaded (%d new, %d already there)", session, result["created"],
                 result["duplicates"])
        return result
    except Exception as exc:  # noqa: BLE001 - the local changelog is kept; the upload can be repeated
        log.warning(tr("Reparatur-Protokoll {s} nicht hochgeladen (bleibt lokal gespeichert): {e}",
                       "Repair changelog {s} not uploaded (kept locally): {e}", s=session or "?", e=exc))
        return None


def on_run_finished(plan: Any, run_result: Any, *, client: Any = None) -> dict[str, Any] | None:
    """The same upload as :func:`on_changelog_written`, in the ``techcare.repairs.on_run_finished`` shape."""
    return on_changelog_written(str(getattr(run_result, "session", None) or ""), client=client)
