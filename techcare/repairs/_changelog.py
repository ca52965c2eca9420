"""Write-ahead, append-only changelog: one JSON object per line, one file per run session.

``<changelogs_dir>/<session>.jsonl``. Before a step touches the machine a ``started`` entry is written and
fsynced; the undo state follows as ``prepared`` (fsynced) before ``apply``; the step ends with ``finished``,
``failed``, ``skipped`` or ``dry_run``, and later possibly ``undone`` / ``undo_failed``. A step's catalogue action
is the field ``action_id`` (journals of older versions call it ``action``; :func:`read_entries` reads both as
``action_id``). A step with ``started``
and no end belongs to a process that died mid-step: :func:`interrupted` finds it; the engine
(``_execute.undo_interrupted`` / ``dismiss_interrupted``) undoes or closes it. This module only writes and reads
the journal: it runs nothing.

The bytes are :mod:`._journal`'s: every line sealed with a checksum, every append complete and fsynced before
:meth:`ChangelogWriter.write` returns (or :class:`~._journal.JournalError`, and the file as it was), a torn last
line closed before the next entry. A session whose journal has damaged lines (:func:`read_journal`) says so
wherever it is read: :func:`changelog` shows a ``damaged`` row per line, its :class:`Interrupted` steps are not
``proven`` (their automatic undo is refused), and the report and rollback refuse to guess.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..i18n import tr
from ._journal import JournalError, JournalRead, append, read, seal

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


__all__ = ["COMMON_FIELDS", "END_EVENTS", "ChangelogWriter", "Interrupted", "JournalError", "JournalRead", "changelog",
           "describe_machine", "interrupted", "read_entries", "read_journal", "sessions", "startup_check"]

END_EVENTS = frozenset({"finished", "failed", "skipped", "dry_run", "undone", "undo_failed", "abandoned"})
SESSION_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6,16}-[0-9a-f]{4,8}$")
_write_lock = threading.Lock()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def changelogs_dir() -> Path:
    from ..config import get_settings

    return Path(get_settings().changelogs_dir)


def session_path(session: str) -> Path:
    if not SESSION_PATTERN.fullmatch(str(session)):
        from ..errors import RepairError

        raise RepairError(tr("Ungültige Sitzungs-ID {s!r} (Format 20260101T120000Z-<plan>-<zufall>).",
                             "Invalid session id {s!r} (format 20260101T120000Z-<plan>-<random>).", s=session))
    return changelogs_dir() / f"{session}.jsonl"


#: Fields every entry of a session repeats: who ran it, for whom, and on which machine (``machine``: host,
#: platform, id, replay — see ``_execute.machine_of``; an undo runs only where the step ran).
COMMON_FIELDS = ("plan_id", "technician", "company", "host", "platform", "machine")


class ChangelogWriter:
    """Appends entries for one session; every entry is flushed and fsynced before ``write`` returns."""

    def __init__(self, session: str, common: dict[str, Any]) -> None:
        self.session = session
        self.common = dict(common)
        self.path = session_path(session)

    @classmethod
    def continuing(cls, session: str, entry: dict[str, Any]) -> ChangelogWriter:
        """A writer that goes on with a session, repeating the common fields of one of its entries."""
        return cls(session, {k: entry.get(k) for k in COMMON_FIELDS if k in entry})

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one entry, complete and on the disk when this returns; else :class:`JournalError` (its
        ``event`` names the entry) and the file stays as it was: whatever the entry announces must not happen."""
        entry = {"ts": now_iso(), "session": self.session, "event": event, **self.common, **fields}
        line = seal(entry)
        with _write_lock:
            try:
                append(self.path, line, torn_entry={"ts": entry["ts"], "session": self.session, **self.common})
            except JournalError as exc:
                exc.event = event
                raise
        return entry


def sessions() -> list[str]:
    """All session ids with a changelog, oldest first."""
    folder = changelogs_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.jsonl") if SESSION_PATTERN.fullmatch(p.stem))


def read_entries(session: str | None = None, *, as_written: bool = False) -> list[dict[str, Any]]:
    """Entries of one session or of all sessions, in write order. A torn last line (crash mid-write) is skipped.

    Entries come in today's field names (an older journal's ``action`` is read as ``action_id``);
    ``as_written=True`` gives them exactly as they are in the file (the upload sends those, so an entry keeps its
    identity on the backend whichever version reads it)."""
    names = [session] if session else sessions()
    out: list[dict[str, Any]] = []
    for name in names:
        for entry in read_journal(name).entries:
            out.append(entry if as_written else _upgraded(entry))
    return out


def read_journal(session: str) -> JournalRead:
    """One session's journal with what cannot be proven in it (damaged line numbers, unverified entries of
    older versions, a torn last line). A file that cannot be read at all raises :class:`JournalError`."""
    return read(session_path(session))


def _upgraded(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry in today's field names: older versions wrote a step's catalogue action as ``action``."""
    if "action" in entry and "action_id" not in entry:
        entry["action_id"] = entry.pop("action")
    return entry


def changelog(session: str | None = None) -> pd.DataFrame:
    """The changelog as a DataFrame (one row per entry): ts, session, event, step, action, params, status
    detail, technician, company, host, commands (count), exit_codes, dry_run.

    A session with damaged lines gets one row ``event="damaged"`` after its entries, the line numbers and what
    follows in ``detail``; ``frame.attrs["damaged"]`` maps such sessions to their damaged line numbers."""
    import pandas as pd

    columns = ["ts", "session", "plan_id", "event", "step", "action", "params", "detail", "technician", "company",
               "host", "commands", "exit_codes", "dry_run"]
    rows = []
    damaged: dict[str, list[int]] = {}
    for name in [session] if session else sessions():
        journal = read_journal(name)
        for e in journal.entries:
            e = _upgraded(e)
            cmds = e.get("commands") or []
            rows.append({"ts": e.get("ts"), "session": e.get("session"), "plan_id": e.get("plan_id"),
                         "event": e.get("event"), "step": e.get("step"), "action": e.get("action_id"),
                         "params": e.get("params"), "detail": e.get("detail", ""),
                         "technician": e.get("technician", ""), "company": e.get("company", ""),
                         "host": e.get("host", ""), "commands": len(cmds),
                         "exit_codes": [c.get("returncode") for c in cmds], "dry_run": bool(e.get("dry_run"))})
        if journal.damaged:
            damaged[name] = list(journal.damaged)
            rows.append({"ts": None, "session": name, "event": "damaged", "detail": journal.message(),
                         "commands": 0, "exit_codes": [], "dry_run": False})
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601")
    frame.attrs["damaged"] = damaged
    return frame


@dataclass(frozen=True)
class Interrupted:
    """A step that was started but never ended (the process died)."""

    session: str
    step: int
    action_id: str
    params: dict[str, Any]
    started: str
    prepared: bool
    state: dict[str, Any]
    platform: str
    kind: str = "step"  # "step": killed while running the step; "undo": killed while undoing it
    host: str = ""
    machine: dict[str, Any] | None = None  # where the step ran; its undo runs only there
    #: damaged lines of the session's journal: what the step did cannot be proven, so it is never undone
    #: automatically (``undo_interrupted`` refuses; check by hand, then ``dismiss_interrupted``)
    damaged_lines: tuple[int, ...] = ()

    @property
    def proven(self) -> bool:
        return not self.damaged_lines

    @property
    def where(self) -> str:
        """The machine the step ran on, for messages (``PC-A (windows, replay of a snapshot)``)."""
        return self.where_in()

    def where_in(self, lang: str | None = None) -> str:
        return describe_machine(self.machine or {"host": self.host, "platform": self.platform}, lang)

    def message(self, lang: str | None = None) -> str:
        from ..errors import RepairError
        from ._catalog import get_action

        try:
            reason = get_action(self.action_id).undo_reason(self.params, lang)
        except RepairError:
            reason = tr("Aktion nicht mehr im Katalog.", "Action no longer in the catalogue.", lang)
        if not self.proven:
            offer = tr("Das Änderungsprotokoll dieser Sitzung ist beschädigt (Zeile {l}): was der Schritt getan hat, "
                       "ist nicht belegt – kein automatisches Zurücknehmen. Bitte von Hand prüfen, dann "
                       "dismiss_interrupted.",
                       "This session's changelog is damaged (line {l}): what the step did cannot be proven – no "
                       "automatic undo. Please check by hand, then dismiss_interrupted.", lang,
                       l=", ".join(str(n) for n in self.damaged_lines))
        elif not self.prepared:
            offer = tr("Vor der Änderung abgebrochen – nichts zurückzunehmen (dismiss_interrupted schließt ihn).",
                       "Stopped before any change – nothing to undo (dismiss_interrupted closes it).", lang)
        elif reason is None:
            offer = tr("Undo möglich, nur auf {w}: techcare.repairs.undo_interrupted(...)",
                       "Undo available, on {w} only: techcare.repairs.undo_interrupted(...)", lang, w=self.where_in(lang))
        else:
            offer = tr("Kein Undo: {r} Bitte von Hand prüfen.", "No undo: {r} Please check by hand.", lang, r=reason)
        if self.kind == "undo":
            return tr("Unterbrochenes Zurücknehmen von Schritt {n} ({a}) der Sitzung {s}, gestartet {t}. {o}",
                      "Interrupted undo of step {n} ({a}) of session {s}, started {t}. {o}", lang,
                      n=self.step, a=self.action_id, s=self.session, t=self.started, o=offer)
        return tr("Unterbrochener Reparaturschritt {n} ({a}) der Sitzung {s}, gestartet {t}. {o}",
                  "Interrupted repair step {n} ({a}) of session {s}, started {t}. {o}", lang,
                  n=self.step, a=self.action_id, s=self.session, t=self.started, o=offer)


def interrupted(session: str | None = None) -> list[Interrupted]:
    """Steps with a ``started`` entry and no end entry, and undos with ``undo_started`` and no end."""
    open_steps: dict[tuple[str, int], dict[str, Any]] = {}
    last_state: dict[tuple[str, int], dict[str, Any]] = {}
    damaged: dict[str, tuple[int, ...]] = {}
    entries: list[dict[str, Any]] = []
    for name in [session] if session else sessions():
        journal = read_journal(name)
        if journal.damaged:
            damaged[name] = tuple(journal.damaged)
        entries += [_upgraded(e) for e in journal.entries]
    for e in entries:
        step = e.get("step")
        if not isinstance(step, int):
            continue
        key = (str(e.get("session")), step)
        event = e.get("event")
        if event in ("prepared", "finished", "failed") and "state" in e:
            last_state[key] = e.get("state") or {}
        if event == "started":
            open_steps[key] = {"started": e, "prepared": False, "kind": "step"}
        elif event == "undo_started":
            open_steps[key] = {"started": e, "prepared": key in last_state, "kind": "undo"}
        elif event == "prepared" and key in open_steps:
            open_steps[key]["prepared"] = True
        elif event in END_EVENTS and key in open_steps and not (
                open_steps[key]["kind"] == "undo" and event in ("finished", "failed", "skipped", "dry_run")):
            del open_steps[key]
    out = []
    for (sess, step), data in open_steps.items():
        started = data["started"]
        out.append(Interrupted(session=sess, step=step, action_id=started.get("action_id", ""),
                               params=started.get("params") or {}, started=started.get("ts", ""),
                               prepared=data["prepared"], state=last_state.get((sess, step), {}),
                               platform=started.get("platform", ""), kind=data["kind"],
                               host=str(started.get("host") or ""),
                               machine=started["machine"] if isinstance(started.get("machine"), dict) else None,
                               damaged_lines=damaged.get(sess, ())))
    return out


def describe_machine(machine: dict[str, Any], lang: str | None = None) -> str:
    """``host (platform)``, marked when it was the replay of a snapshot rather than a machine."""
    name = str(machine.get("host") or "?")
    platform = str(machine.get("platform") or "?")
    if machine.get("replay"):
        return f"{name} ({platform}, " + tr("Wiedergabe eines Snapshots", "replay of a snapshot", lang) + ")"
    return f"{name} ({platform})"


def startup_check(lang: str | None = None) -> list[str]:
    """Messages about interrupted steps, for the shell/CLI to show on start (empty when all is well). A journal
    that cannot be read at all is one message (naming the file and the fix), not a failed start."""
    try:
        return [item.message(lang) for item in interrupted()]
    except JournalError as exc:
        return [str(exc)]
