"""The bytes of the write-ahead repair journal: sealed lines, complete durable appends, and reading with proof.

One entry is one line of JSON ending in ``, "sum": "<32 hex>"}``: the first 128 bits of SHA-256 of the line
without that field (the entry as it was before sealing). So a line is either exactly what was written, or it is
damage — a flipped bit, a cut page, garbage — and never a different, believable entry.

Appending (:func:`append`):
- the whole line is written (``os.write`` may write less: the rest is written, a write of 0 bytes is an error),
  then ``fsync``; only then does :func:`append` return, so a step runs only after its entry is on the disk;
- a failed write (full disk, I/O error, read-only) cuts the file back to its size before (no half entry stays)
  and raises :class:`JournalError`, naming the file and what to do;
- a file whose last line is torn (a crash mid-write) is first closed with a newline and a ``torn_tail`` entry
  (how many bytes the fragment had), so the new entry never merges into the fragment and a reader can tell a
  crash's fragment from damage.

Chain: :func:`append` seals each entry again with its place ``seq`` (1, 2, …) and the ``sum`` of the entry before
it as ``prev``, found under the file's lock, so a missing, swapped or repeated whole line is damage too
(:attr:`JournalRead.broken`). Lines cut off the end are seen through ``<journal>.head`` (the last entry's place
and checksum, written after each append); without that file they cannot be (docs/durability.md). The head is
replaced atomically (a temp file in the same folder, fsync, rename, fsync of the folder): a crash leaves the old
record or the new one, never a torn or mixed one (a mixed one would name a checksum no entry has: false damage).

Reading (:func:`read`): entries in write order plus what could not be proven: ``damaged`` line numbers (not
UTF-8, not JSON, a checksum that does not match, an entry without checksum after sealed ones), ``unverified``
entries (journals of versions before checksums: read, not counted as damage), and whether the last line is torn
(a crash mid-write: the entry was never complete, so it did not count; not damage either). A fragment closed by a
later append stays what it was, even one that lacks only its newline (all of an entry before the fsync returned):
not an entry, not damage. A ``.head`` naming a place the file no longer has is damage even when no chained line
is left (a journal cut to nothing, or back to its lines from before the chain), and so is a journal that is gone
while its ``.head`` is still there (deleted or moved: :attr:`JournalRead.missing`; undo must not read it as a
session with nothing to undo).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._fs import atomic_write
from ..errors import RepairError
from ..i18n import tr

__all__ = ["JournalError", "JournalRead", "append", "read", "seal"]

_SUM = re.compile(rb', "sum": "([0-9a-f]{32})"\}$')
_HEAD = re.compile(rb"([0-9]{12}) ([0-9a-f]{32})\n")
_lock = threading.Lock()
#: event of the entry that closes a torn last line before the next append
TORN_TAIL = "torn_tail"
#: the chain fields of a sealed entry: its place (1, 2, …) and the ``sum`` of the entry before it
SEQ, PREV = "seq", "prev"


class JournalError(RepairError):
    """The journal cannot be written completely and durably: nothing may run. ``kind``: ``full``, ``readonly``,
    ``unavailable`` or ``io``."""

    exit_code = 2

    def __init__(self, message: str, *, path: Path | str, kind: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = str(path)
        self.kind = kind


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def seal(entry: dict[str, Any]) -> bytes:
    """The journal line of ``entry`` (UTF-8, ending in a newline) with its checksum as the last field."""
    body = json.dumps(entry, ensure_ascii=False, default=str).encode("utf-8")
    if not body.endswith(b"}") or body == b"{}":
        raise ValueError("a journal entry is a non-empty JSON object")
    return body[:-1] + b', "sum": "' + _digest(body).encode() + b'"}\n'


def _unseal(line: bytes) -> tuple[bytes, bool | None]:
    """``(json_bytes, proven)``: proven True (checksum matches), False (it does not), None (no checksum)."""
    match = _SUM.search(line)
    if match is None:
        return line, None
    body = line[:match.start()] + b"}"
    return body, _digest(body) == match.group(1).decode()


def _error(exc: OSError, path: Path, action: tuple[str, str]) -> JournalError:
    import errno

    code = exc.errno
    kind = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EFBIG: "full", errno.EROFS: "readonly",
            errno.EACCES: "unavailable", errno.EPERM: "unavailable", errno.EISDIR: "unavailable",
            errno.ENOTDIR: "unavailable"}.get(code if code is not None else -1, "io")
    fix = {"full": ("Der Datenträger ist voll: Platz schaffen, dann den Plan erneut ausführen.",
                    "The disk is full: free some space, then run the plan again."),
           "readonly": ("Der Datenträger ist schreibgeschützt: Schreibrechte herstellen, dann erneut ausführen.",
                        "The disk is read-only: make it writable, then run again."),
           "unavailable": ("Der Pfad muss eine schreibbare Datei sein (kein Ordner); Rechte prüfen.",
                           "The path must be a writable file (not a directory); check the permissions."),
           "io": ("Datenträger prüfen (Ereignisanzeige/dmesg), dann erneut ausführen.",
                  "Check the disk (event log/dmesg), then run again.")}[kind]
    return JournalError(tr("Änderungsprotokoll {p}: {a} fehlgeschlagen ({e}). Ohne vollständigen Eintrag läuft "
                           "kein Schritt.", "Changelog {p}: {a} failed ({e}). Without a complete entry no step "
                           "runs.", p=path, a=tr(*action), e=exc.strerror or exc),
                        path=path, kind=kind, hint=tr(*fix))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            import errno

            raise OSError(errno.EIO, "short write (0 bytes)")
        view = view[written:]


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def append(path: Path, line: bytes, *, torn_entry: dict[str, Any] | None = None) -> None:
    """Append one sealed ``line`` completely and durably, or raise :class:`JournalError` leaving the file as it
    was. ``torn_entry``: the fields of the ``torn_tail`` entry written first when the last line is torn."""
    if not line.endswith(b"\n"):
        raise ValueError("a journal line ends with a newline")
    with _lock:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists()
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise _error(exc, path, ("Öffnen", "opening")) from None
        try:
            try:
                _lock_exclusive(fd)   # another process (the sensor's job thread, a technician's shell) may append
                size = os.fstat(fd).st_size
                fragment = _torn_length(fd, size) if size else 0
            except OSError as exc:
                raise _error(exc, path, ("Lesen des Endes", "reading the end")) from None
            try:
                seq, prev = _chain_end(fd, size - fragment)
            except OSError as exc:
                raise _error(exc, path, ("Lesen des Endes", "reading the end")) from None
            data = b""
            folder_synced = False
            if fragment:
                marker = dict(torn_entry or {})
                marker.update(event=TORN_TAIL, bytes=fragment)
                data, prev = _chained(seal(marker), seq + 1, prev)
                data, seq = b"\n" + data, seq + 1
            chained, digest = _chained(line, seq + 1, prev)
            data += chained
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError as exc:
                try:   # no half entry may stay: back to the size before (a torn fragment stays a torn tail)
                    os.ftruncate(fd, size)
                    os.fsync(fd)
                except OSError:
                    pass
                raise _error(exc, path, ("Schreiben eines Eintrags", "writing an entry")) from None
            if chained is not line:
                folder_synced = _write_head(path, seq + 1, digest)
        finally:
            os.close(fd)
        if new and not folder_synced:   # the head's folder fsync made the new journal's name durable as well
            _fsync_dir(path.parent)


def _lock_exclusive(fd: int) -> None:
    """Hold an exclusive lock on the journal while its tail is checked and the entry appended (released with
    the descriptor). Where there is no ``flock`` (Windows) appends of one process are serialised by ``_lock``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def _chained(line: bytes, seq: int, prev: str) -> tuple[bytes, str]:
    """``line`` sealed again with its place in the chain (``seq``, the previous entry's ``sum`` as ``prev``);
    a line that is not a sealed entry is written as it is (and read as damage). Returns the line and its sum."""
    body, proven = _unseal(line.rstrip(b"\n"))
    try:
        entry = json.loads(body.decode("utf-8")) if proven else None
    except (UnicodeDecodeError, ValueError):
        entry = None
    if not isinstance(entry, dict):
        return line, prev
    entry = {k: v for k, v in entry.items() if k not in (SEQ, PREV)}
    entry[SEQ], entry[PREV] = seq, prev
    sealed = seal(entry)
    match = _SUM.search(sealed.rstrip(b"\n"))
    return sealed, match.group(1).decode() if match else prev


def head_path(path: Path) -> Path:
    """``<journal>.head``: the place and checksum of the last entry appended (lines cut off the end show)."""
    return path.with_name(path.name + ".head")


def _write_head(path: Path, seq: int, digest: str) -> bool:
    """Record the chain's end after the entry is on the disk, atomically: a temp file in the same folder, fsync,
    ``os.replace``, then the folder fsynced (:func:`techcare._fs.atomic_write`). A crash or a failed write (full
    disk) midway leaves the previous record whole, never a torn one or half old, half new. A failure is not an
    error: the entry counts; an older head only means less is checked. Returns whether the folder was fsynced
    after the rename (which also makes a new journal's own name durable)."""
    try:
        atomic_write(head_path(path), f"{seq:012d} {digest}\n".encode(), mode=0o600)
    except OSError:
        return False
    _fsync_dir(path.parent)
    return True


def _read_head(path: Path) -> tuple[int, str] | None:
    try:
        match = _HEAD.fullmatch(head_path(path).read_bytes())
    except OSError:
        return None
    return (int(match.group(1)), match.group(2).decode()) if match else None


def _chain_end(fd: int, end: int) -> tuple[int, str]:
    """``(seq, sum)`` of the last chained entry in the first ``end`` bytes (``(0, sum of the last sealed
    line or "")`` when there is none: a journal of an earlier version goes on with a new chain)."""
    if end <= 0:
        return 0, ""
    data = os.pread(fd, end, 0) if hasattr(os, "pread") else _read_at(fd, 0, end)
    last_sum = ""
    for raw in reversed(data.split(b"\n")):
        if not raw.strip():
            continue
        entry, proven = _parse(raw)
        if entry is None or not proven:
            continue
        match = _SUM.search(raw)
        digest = match.group(1).decode() if match else ""
        if isinstance(entry.get(SEQ), int) and not isinstance(entry.get(SEQ), bool):
            return entry[SEQ], digest
        return 0, digest
    return 0, last_sum


def _torn_length(fd: int, size: int) -> int:
    """Bytes after the last newline (0: the file ends with a complete line)."""
    tail = b""
    offset = size
    while offset > 0:
        start = max(0, offset - 4096)
        chunk = os.pread(fd, offset - start, start) if hasattr(os, "pread") else _read_at(fd, start, offset - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return len(chunk) - newline - 1 + len(tail)
        tail = chunk + tail
        offset = start
    return len(tail)


def _read_at(fd: int, start: int, length: int) -> bytes:  # Windows: no pread
    os.lseek(fd, start, os.SEEK_SET)
    return os.read(fd, length)


@dataclass
class JournalRead:
    """What one journal file says, and what of it cannot be proven."""

    path: Path
    entries: list[dict[str, Any]] = field(default_factory=list)
    #: line numbers (from 1) that are damage: not UTF-8, not JSON, wrong checksum, unsealed after sealed ones
    damaged: list[int] = field(default_factory=list)
    #: lines whose place in the chain is wrong (one missing before it, swapped, repeated); also in ``damaged``
    broken: list[int] = field(default_factory=list)
    #: entries cut off the end (the ``.head`` record names a later place than the last entry in the file)
    cut_off: int = 0
    #: the journal carries a chain (``seq``/``prev``); journals sealed before the chain do not
    chained: bool = False
    #: entries without checksum (written before checksums existed): read, not proven
    unverified: int = 0
    #: the last line is incomplete (a crash mid-write): that entry never counted
    torn_tail: bool = False
    #: torn fragments closed by a later append (each followed by a ``torn_tail`` entry): crashes, not damage
    torn_closed: int = 0
    #: the file is gone although its ``.head`` shows that entries were written (deleted or moved): damage
    #: (``damaged == [1]``, ``cut_off`` = the entries the head names), never an empty session
    missing: bool = False

    @property
    def ok(self) -> bool:
        return not self.damaged

    def message(self, lang: str | None = None) -> str:
        """One sentence for the changelog, the undo and the report: which lines are damaged and what follows."""
        if not self.damaged:
            return ""
        if self.missing:
            written = tr("{n} Einträge geschrieben wurden", "{n} entries were written", lang, n=self.cut_off) \
                if self.cut_off else tr("Einträge geschrieben wurden", "entries were written", lang)
            return tr("Das Änderungsprotokoll {f} fehlt, obwohl {h} belegt, dass {w} (gelöscht oder verschoben?). "
                      "Was diese Sitzung getan hat, ist nicht belegt; ein automatisches Zurücknehmen ist gesperrt. "
                      "Bitte die Datei aus einer Sicherung zurückholen oder die Schritte von Hand prüfen.",
                      "The changelog {f} is missing, although {h} shows that {w} (deleted or moved?). What this "
                      "session did cannot be proven; automatic undo is blocked. Please restore the file from a "
                      "backup or check the steps by hand.", lang, f=self.path.name, h=head_path(self.path).name,
                      w=written)
        lines = ", ".join(str(n) for n in self.damaged[:10]) + (" …" if len(self.damaged) > 10 else "")
        return tr("Das Änderungsprotokoll {f} ist beschädigt (Zeile {l}): was dort stand, ist verloren. Die "
                  "Angaben dieser Sitzung sind unvollständig; ein automatisches Zurücknehmen ist gesperrt, weil "
                  "der Zustand der Schritte nicht belegt ist. Bitte von Hand prüfen.",
                  "The changelog {f} is damaged (line {l}): what stood there is lost. This session's record is "
                  "incomplete; automatic undo is blocked because the steps' state cannot be proven. Please check "
                  "by hand.", lang, f=self.path.name, l=lines) + (
            " " + tr("Vor Zeile {b} fehlt ein Eintrag, oder Einträge wurden vertauscht oder verdoppelt.",
                     "Before line {b} an entry is missing, or entries were swapped or repeated.", lang,
                     b=", ".join(str(n) for n in self.broken[:10])) if self.broken else "") + (
            " " + tr("Am Ende fehlen {n} Einträge, die geschrieben worden waren.",
                     "{n} entries that had been written are missing at the end.", lang, n=self.cut_off)
            if self.cut_off else "")


def read(path: Path) -> JournalRead:
    """Read one journal file (missing: empty, unless its ``.head`` is there: then entries were written and the
    file is damage, :attr:`JournalRead.missing`). Never raises for damage; an unreadable file (a directory, no
    permission) raises :class:`JournalError`."""
    result = JournalRead(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if head_path(path).is_file():   # written only after an entry reached the disk: there was a journal
            head = _read_head(path)
            result.missing = True
            result.cut_off = head[0] if head is not None else 0
            result.broken, result.damaged = [1], [1]
        return result
    except OSError as exc:
        raise _error(exc, path, ("Lesen", "reading")) from None
    lines = data.split(b"\n")
    if lines and lines[-1]:
        result.torn_tail = True
    lines = lines[:-1]   # the part after the last newline: empty, or the torn tail
    parsed = [_parse(raw) for raw in lines]
    sealed_seen = False
    last_seq: int | None = 0      # the chain so far: last seq (None: unknown after a damaged line) and sum
    last_sum = ""
    max_seq = 0
    seq_lines: dict[int, tuple[int, str]] = {}   # seq -> (line, sum), checked against the head
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if _closed_by_next(parsed, number, len(raw)):
            result.torn_closed += 1   # a crash's fragment (even all of an entry but its newline): it never counted
            continue
        entry, proven = parsed[number - 1]
        if entry is None or proven is False or (proven is None and sealed_seen):
            result.damaged.append(number)
            last_seq = None           # what the damaged line was is unknown: the chain goes on from the next entry
            continue
        if proven:
            sealed_seen = True
            seq = entry.pop(SEQ, None)
            prev = entry.pop(PREV, None)
            match = _SUM.search(raw)
            digest = match.group(1).decode() if match else ""
            if isinstance(seq, int) and not isinstance(seq, bool):
                if last_seq is not None and (seq != last_seq + 1 or prev != last_sum):
                    result.broken.append(number)      # a line missing before it, lines swapped or repeated
                last_seq = seq
                result.chained = True
                max_seq = max(max_seq, seq)
                seq_lines[seq] = (number, digest)
            elif result.chained:
                result.broken.append(number)          # an entry without its place after chained ones
            last_sum = digest
        else:
            result.unverified += 1
        result.entries.append(entry)
    head = _read_head(path)
    end_damaged = bool(result.damaged) and max(result.damaged) > (seq_lines[max_seq][0] if max_seq else 0)
    if head is not None and end_damaged:
        pass   # the last lines are damage already: said once, not again as lines cut off
    elif head is not None and head[0] > max_seq:   # entries cut off the end (all chained ones, or every line)
        result.broken.append(len(lines) + 1)
        result.cut_off = head[0] - max_seq
    elif head is not None and head[0] in seq_lines and seq_lines[head[0]][1] != head[1]:
        result.broken.append(seq_lines[head[0]][0])
    result.damaged = sorted(set(result.damaged) | set(result.broken))
    return result


def _closed_by_next(parsed: list[tuple[dict[str, Any] | None, bool | None]], number: int, size: int) -> bool:
    """Line ``number`` (``size`` bytes) is a torn fragment that a later append closed: the line after it is the
    proven ``torn_tail`` entry naming its size. The fragment may even be all of an entry but its newline (a power
    cut before the fsync returned): that entry never counted, and the chain goes on from the entry before it."""
    if number >= len(parsed):
        return False
    marker, proven = parsed[number]
    return marker is not None and proven is True and marker.get("event") == TORN_TAIL and marker.get("bytes") == size


def _parse(raw: bytes) -> tuple[dict[str, Any] | None, bool | None]:
    body, proven = _unseal(raw)
    try:
        entry = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(entry, dict):
        return None, None
    return entry, proven
