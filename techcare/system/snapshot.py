"""Snapshots: a machine's raw probe outputs in one file, replayable on any OS.

``techcare snapshot save FILE`` (:func:`techcare.diagnosis.save_snapshot`) runs every probe and the driver
check through a :class:`RecordingRunner` and writes what each command, file read and fact returned. ``techcare.diagnose(snapshot=FILE)`` replays it through a
:class:`ReplayRunner`, so a Windows PC can be analysed on a Linux laptop. The standalone capture scripts
(``capture/capture.ps1``, ``capture/capture.sh``) write the same format without Python.
The format is documented in ``docs/snapshot-format.md``.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import SnapshotError
from ..i18n import tr
from .runner import CommandRunner, Entry, RecordingRunner, ReplayRunner, entry_from_dict

__all__ = ["FORMAT", "VERSION", "Snapshot", "load_snapshot", "save_snapshot"]

FORMAT = "techcare-snapshot"
VERSION = 1
PLATFORMS = ("linux", "windows", "darwin")


@dataclass
class Snapshot:
    platform: str
    entries: list[Entry]
    created: str = ""
    host: dict[str, Any] = field(default_factory=dict)
    capture: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def runner(self, **kwargs: Any) -> ReplayRunner:
        return ReplayRunner(self.entries, platform=self.platform, **kwargs)

    @property
    def hostname(self) -> str:
        """The recorded ``host`` fact's name (the top-level ``host`` object when no fact was recorded)."""
        fact = next((e.value for e in self.entries if e.kind == "fact" and e.key == "host"), None)
        host = fact if isinstance(fact, dict) else self.host
        return str(host.get("hostname") or "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, "created": self.created, "platform": self.platform,
                "host": self.host, "capture": self.capture, "entries": [e.to_dict() for e in self.entries]}


def save_snapshot(path: str | os.PathLike[str], *, runner: CommandRunner | None = None,
                  probes: list[str] | None = None,
                  captures: Sequence[Callable[[CommandRunner], Any]] = ()) -> Snapshot:
    """Run the probes (all, or ``probes``) read-only, recording every raw output, and write them to ``path``
    atomically. Each of ``captures`` (e.g. the driver inventory, ``fn(runner)``) then runs through the same
    recording runner; one that fails leaves out only what it did not record.

    A path ending in ``.gz`` is gzip-compressed.
    """
    from .._version import __version__
    from ._probes import run_probes

    recorder = RecordingRunner(runner)
    try:
        host = recorder.fact("host")
    except LookupError:
        host = {"hostname": "unknown", "os": recorder.platform}
    run_probes(probes, recorder)
    for capture in captures:
        try:
            capture(recorder)
        except Exception:  # noqa: BLE001 - an extra capture must never spoil the snapshot
            pass
    snap = Snapshot(platform=recorder.platform, entries=list(recorder.entries),
                    created=datetime.now(timezone.utc).isoformat(timespec="seconds"), host=host,
                    capture={"tool": f"techcare {__version__}"}, path=str(path))
    _write_atomic(Path(path), json.dumps(snap.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"))
    return snap


def _write_atomic(target: Path, data: bytes) -> None:
    from .._fs import atomic_write

    atomic_write(target, gzip.compress(data) if target.suffix == ".gz" else data)


def _bad(path: Any, de: str, en: str, **fmt: Any) -> SnapshotError:
    return SnapshotError(tr("Snapshot {path}: ", "Snapshot {path}: ", path=path) + tr(de, en, **fmt))


def _b64(value: Any, path: Any, where: str) -> str:
    try:
        if not isinstance(value, str):
            raise TypeError("not a string")
        raw = base64.b64decode("".join(value.split()), validate=True)
    except (ValueError, TypeError):
        raise _bad(path, "{where} ist kein gültiges Base64.", "{where} is not valid base64.", where=where) from None
    from .runner import decode_output

    return decode_output(raw)


def _normalise_entry(raw: Any, index: int, path: Any) -> Entry:
    if not isinstance(raw, dict) or "kind" not in raw:
        raise _bad(path, "Eintrag {i} ist kein Objekt mit 'kind'.", "entry {i} is not an object with 'kind'.", i=index)
    data = dict(raw)
    where = f"entries[{index}]"
    for key in ("stdout", "stderr", "content"):
        if f"{key}_b64" in data:
            data[key] = _b64(data.pop(f"{key}_b64"), path, f"{where}.{key}_b64")
    for key in ("stdout", "stderr", "content", "error"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise _bad(path, "{w}.{k} muss ein Text oder null sein.", "{w}.{k} must be a string or null.", w=where, k=key)
    if data["kind"] == "cmd":
        argv = data.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise _bad(path, "{w}.argv muss eine Liste von Texten sein.", "{w}.argv must be a list of strings.", w=where)
        if data.get("returncode") is not None and not isinstance(data["returncode"], int):
            raise _bad(path, "{w}.returncode muss eine Zahl oder null sein.", "{w}.returncode must be an integer or null.",
                       w=where)
    elif data["kind"] == "file":
        if not isinstance(data.get("path"), str):
            raise _bad(path, "{w}.path fehlt.", "{w}.path is missing.", w=where)
    elif data["kind"] in ("dir", "link", "which", "fact"):
        if not isinstance(data.get("name"), str):
            raise _bad(path, "{w}.name fehlt.", "{w}.name is missing.", w=where)
        value = data.get("value")
        if data["kind"] == "dir" and value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) and v not in ("", ".", "..") and "/" not in v
                                                for v in value)):
            raise _bad(path, "{w}.value muss eine Liste von Namen (ohne '/', nicht '.' oder '..') oder null sein.",
                       "{w}.value must be a list of names (no '/', not '.' or '..') or null.", w=where)
        if data["kind"] in ("link", "which") and value is not None and not isinstance(value, str):
            raise _bad(path, "{w}.value muss ein Text oder null sein.", "{w}.value must be a string or null.", w=where)
        if data["kind"] == "fact":
            data["value"] = _check_fact(data["name"], value, path, f"{where}.value")
    else:
        raise _bad(path, "{w}.kind={k!r} ist unbekannt (erlaubt: cmd, file, dir, link, which, fact).",
                   "{w}.kind={k!r} is unknown (allowed: cmd, file, dir, link, which, fact).", w=where, k=data["kind"])
    return entry_from_dict(data)


#: Most drives a metrics fact may list (a real machine has a few dozen at most; more is a crafted file).
MAX_DISKS = 1000
#: Longest host name kept; a longer one is cut with a mark (DNS names have at most 253 characters).
MAX_HOSTNAME = 253


def _check_fact(name: str, value: Any, path: Any, where: str) -> Any:
    """The ``host`` and ``metrics`` facts have the shapes the probes read (docs/snapshot-format.md); others are
    kept as they are. Refuses what a replay could not use, naming the entry and what is allowed."""
    if name == "host":
        if not isinstance(value, dict):
            raise _bad(path, "{w} (Fakt host) muss ein Objekt sein.", "{w} (fact host) must be an object.",
                       w=where)
        hostname = value.get("hostname")
        if hostname is not None and not isinstance(hostname, str):
            raise _bad(path, "{w}.hostname muss ein Text sein.", "{w}.hostname must be a string.", w=where)
        if hostname is not None and len(hostname) > MAX_HOSTNAME:
            value = {**value, "hostname": hostname[:MAX_HOSTNAME] + tr(" … [{n} Zeichen abgeschnitten]",
                                                                       " … [{n} characters cut off]",
                                                                       n=len(hostname) - MAX_HOSTNAME)}
    elif name == "metrics":
        if not isinstance(value, dict):
            raise _bad(path, "{w} (Fakt metrics) muss ein Objekt sein.",
                       "{w} (fact metrics) must be an object.", w=where)
        disks = value.get("disks")
        if disks is not None and not (isinstance(disks, list) and all(isinstance(d, dict) for d in disks)):
            raise _bad(path, "{w}.disks muss eine Liste von Objekten oder null sein.",
                       "{w}.disks must be a list of objects or null.", w=where)
        if disks is not None and len(disks) > MAX_DISKS:
            raise _bad(path, "{w}.disks hat {n} Einträge; erlaubt sind höchstens {m}.",
                       "{w}.disks has {n} entries; at most {m} are allowed.", w=where, n=len(disks), m=MAX_DISKS)
        swap = value.get("swap") if isinstance(value.get("swap"), dict) else {}
        for key, number in [*((f"{where}.{k}", v) for k, v in value.items()),
                            *((f"{where}.swap.{k}", v) for k, v in swap.items()),
                            *((f"{where}.disks[{i}].{k}", v) for i, d in enumerate(disks or []) for k, v in d.items())]:
            if isinstance(number, (int, float)) and not isinstance(number, bool) and abs(number) >= 2 ** 63:
                raise _bad(path, "{k} ist außerhalb des Bereichs (erlaubt: eine Zahl zwischen -2^63 und 2^63).",
                           "{k} is out of range (allowed: a number between -2^63 and 2^63).", k=key)
    return value


def load_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read and validate a snapshot. Raises :class:`SnapshotError` naming the problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise _bad(p, "Datei nicht gefunden.", "file not found.") from None
    except OSError as exc:
        raise _bad(p, "nicht lesbar ({e}).", "cannot be read ({e}).", e=exc.strerror or exc) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError):
            raise _bad(p, "gzip-Datei ist beschädigt oder abgeschnitten.", "gzip data is corrupt or truncated.") from None
    if not raw.strip():
        raise _bad(p, "Datei ist leer.", "file is empty.")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise _bad(p, "kein UTF-8-Text (beschädigt?).", "not UTF-8 text (corrupt?).") from None
    except RecursionError:
        raise _bad(p, "JSON ist zu tief verschachtelt (ein Snapshot braucht nur wenige Ebenen).",
                   "JSON is nested too deeply (a snapshot needs only a few levels).") from None
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(raw.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        raise _bad(p, "kein gültiges JSON ({msg} in Zeile {line}){t}.", "not valid JSON ({msg} at line {line}){t}.",
                   msg=exc.msg, line=exc.lineno,
                   t=tr(" – die Datei ist abgeschnitten", " – the file is truncated") if truncated else "") from None
    except ValueError:  # not a JSONDecodeError: a number with more digits than Python reads (over 4,300)
        raise _bad(p, "kein lesbares JSON (eine Zahl hat zu viele Ziffern).",
                   "not readable JSON (a number has too many digits).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _bad(p, "keine TechCare-Snapshot-Datei (format muss {f!r} sein).",
                   "not a TechCare snapshot (format must be {f!r}).", f=FORMAT)
    version = data.get("version")
    if version != VERSION:
        raise _bad(p, "Version {v!r} wird nicht unterstützt (unterstützt: {ok}). TechCare aktualisieren oder neu erfassen.",
                   "version {v!r} is not supported (supported: {ok}). Update TechCare or capture again.",
                   v=version, ok=VERSION)
    platform = data.get("platform")
    if platform not in PLATFORMS:
        raise _bad(p, "platform={v!r} ist ungültig (erlaubt: {ok}).", "platform={v!r} is not valid (allowed: {ok}).",
                   v=platform, ok=", ".join(PLATFORMS))
    entries_raw = data.get("entries")
    if not isinstance(entries_raw, list):
        raise _bad(p, "'entries' fehlt oder ist keine Liste.", "'entries' is missing or not a list.")
    entries = [_normalise_entry(item, i, p) for i, item in enumerate(entries_raw)]
    host = _check_fact("host", data["host"], p, "host") if isinstance(data.get("host"), dict) else {}
    if not any(e.kind == "fact" and e.key == "host" for e in entries):
        entries.append(Entry("fact", "host", {**host, "os": host.get("os", platform)}))
    return Snapshot(platform=platform, entries=entries, created=str(data.get("created", "")), host=host,
                    capture=data.get("capture") if isinstance(data.get("capture"), dict) else {}, path=str(p))
