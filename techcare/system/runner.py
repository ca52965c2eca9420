"""CommandRunner: the one door to the operating system.

Every external command, file read and system fact goes through a runner, which is how TechCare
- tests Windows and macOS code on Linux (replaying real recorded outputs),
- dry-runs repairs (a runner that records and runs nothing),
- takes and replays snapshots of a whole machine.

Rules enforced here: argv lists only (never a shell string, never ``shell=True``), a timeout per command,
``LC_ALL=C`` on Linux/macOS so tools print unlocalised text, stdout/stderr/exit code always captured.

Variants:
- :class:`LocalRunner` runs for real on this machine.
- :class:`RecordingRunner` wraps another runner and keeps every request and answer (snapshots, dry-run logs).
- :class:`ReplayRunner` answers from recorded entries and never touches the machine; unrecorded requests get
  an explicit ``not_recorded`` answer (or a ``fallback`` callable's answer) and every request is kept in ``calls``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "CommandResult",
    "CommandRunner",
    "DryRunRunner",
    "FileResult",
    "LocalRunner",
    "RecordingRunner",
    "ReplayRunner",
    "current_platform",
    "decode_output",
]

DEFAULT_TIMEOUT = 30.0
MAX_FILE_BYTES = 2_000_000

# error codes a result may carry
NOT_FOUND = "not_found"            # the program or file does not exist
PERMISSION_DENIED = "permission_denied"
TIMEOUT = "timeout"
NOT_RECORDED = "not_recorded"      # replay: this request is not in the snapshot
DRY_RUN = "dry_run"                # dry-run: the command was not executed


def current_platform() -> str:
    """``linux``, ``windows`` or ``darwin`` (what the per-OS probe modules are keyed by)."""
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "darwin"
    return "linux"


def decode_output(data: bytes | str | None) -> str:
    """Decode command output the same way everywhere: UTF-8 (BOM stripped), undecodable bytes replaced.

    Line endings are kept as they came (CRLF from Windows stays CRLF) so parsers see the real bytes.
    """
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class CommandResult:
    """What one command did. ``returncode`` is ``None`` when it did not run (see ``error``)."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0

    @property
    def ran(self) -> bool:
        return self.returncode is not None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CommandResult:
        return cls(argv=tuple(data["argv"]), returncode=data.get("returncode"), stdout=data.get("stdout") or "",
                   stderr=data.get("stderr") or "", duration=float(data.get("duration") or 0.0),
                   error=data.get("error"))


@dataclass(frozen=True)
class FileResult:
    """A text file's content, or why it could not be read."""

    path: str
    content: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.content is not None


class CommandRunner:
    """Interface every runner implements. Probes and repairs only ever talk to this."""

    platform: str = current_platform()

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, input: str | None = None) -> CommandResult:
        raise NotImplementedError

    def read_file(self, path: str) -> FileResult:
        raise NotImplementedError

    def list_dir(self, path: str) -> list[str] | None:
        """Sorted entry names, or ``None`` if the directory does not exist or cannot be read."""
        raise NotImplementedError

    def read_link(self, path: str) -> str | None:
        """The target of a symlink, or ``None``."""
        raise NotImplementedError

    def which(self, program: str) -> str | None:
        raise NotImplementedError

    def fact(self, name: str) -> Any:
        """A system fact gathered in Python (``host``, ``metrics``, ``is_admin``, ``kernel``): JSON-ready data."""
        raise NotImplementedError

    def now(self) -> float:
        """The moment the machine is looked at (epoch seconds), the reference for ages: the clock here; a
        replay answers the capture time of its snapshot."""
        return time.time()

    @staticmethod
    def _check_argv(argv: Sequence[str]) -> tuple[str, ...]:
        if isinstance(argv, (str, bytes)) or not argv:
            raise TypeError("argv must be a non-empty list of strings, never a shell string")
        if not all(isinstance(part, str) for part in argv):
            raise TypeError(f"every argv element must be a str: {argv!r}")
        return tuple(argv)


class LocalRunner(CommandRunner):
    """Runs commands on this machine for real."""

    def __init__(self, *, platform: str | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.platform = platform or current_platform()
        self._env = dict(os.environ)
        if self.platform in ("linux", "darwin"):
            self._env.update({"LC_ALL": "C", "LANG": "C", "LANGUAGE": "C"})
        if extra_env:
            self._env.update(extra_env)

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, input: str | None = None) -> CommandResult:
        args = self._check_argv(argv)
        start = time.monotonic()
        kwargs: dict[str, Any] = {}
        if self.platform == "windows":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0) | getattr(
                subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        else:
            kwargs["start_new_session"] = True  # so a timeout kills the whole process group
        try:
            proc = subprocess.Popen(list(args), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._env, **kwargs)
        except FileNotFoundError:
            return CommandResult(args, None, "", f"{args[0]}: command not found", 0.0, NOT_FOUND)
        except PermissionError as exc:
            return CommandResult(args, None, "", str(exc), 0.0, PERMISSION_DENIED)
        except OSError as exc:
            return CommandResult(args, None, "", str(exc), 0.0, f"os_error: {exc.strerror or exc}")
        try:
            out, err = proc.communicate(input.encode() if input is not None else None, timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            out, err = proc.communicate()
            return CommandResult(args, None, decode_output(out), decode_output(err), time.monotonic() - start, TIMEOUT)
        return CommandResult(args, proc.returncode, decode_output(out), decode_output(err), time.monotonic() - start)

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        try:
            if self.platform == "windows":
                proc.kill()
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, OSError):
            proc.kill()

    def read_file(self, path: str) -> FileResult:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES)
        except FileNotFoundError:
            return FileResult(path, None, NOT_FOUND)
        except PermissionError:
            return FileResult(path, None, PERMISSION_DENIED)
        except IsADirectoryError:
            return FileResult(path, None, "is_a_directory")
        except OSError as exc:
            return FileResult(path, None, f"os_error: {exc.strerror or exc}")
        return FileResult(path, decode_output(data))

    def list_dir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None

    def read_link(self, path: str) -> str | None:
        try:
            return os.readlink(path)
        except OSError:
            return None

    def which(self, program: str) -> str | None:
        return shutil.which(program, path=self._env.get("PATH"))

    def fact(self, name: str) -> Any:
        from . import _facts

        provider = _facts.PROVIDERS.get(name)
        if provider is None:
            raise KeyError(f"unknown fact {name!r}; known: {', '.join(sorted(_facts.PROVIDERS))}")
        return provider()


def _key(kind: str, subject: Any) -> tuple[str, Any]:
    return (kind, tuple(subject) if isinstance(subject, (list, tuple)) else subject)


@dataclass
class Entry:
    """One recorded request and its answer (the unit of a snapshot)."""

    kind: str           # cmd | file | dir | link | which | fact
    key: Any            # argv tuple or path or name
    value: Any          # CommandResult | FileResult | list | str | None | JSON

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "cmd":
            return {"kind": "cmd", **self.value.to_dict()}
        if self.kind == "file":
            return {"kind": "file", "path": self.key, "content": self.value.content, "error": self.value.error}
        if self.kind == "fact":
            return {"kind": "fact", "name": self.key, "value": self.value}
        return {"kind": self.kind, "name": self.key, "value": self.value}


def entry_from_dict(data: dict[str, Any]) -> Entry:
    kind = data["kind"]
    if kind == "cmd":
        result = CommandResult.from_dict(data)
        return Entry("cmd", result.argv, result)
    if kind == "file":
        return Entry("file", data["path"], FileResult(data["path"], data.get("content"), data.get("error")))
    if kind in ("dir", "link", "which", "fact"):
        return Entry(kind, data["name"], data.get("value"))
    raise ValueError(f"unknown entry kind {kind!r}")


class RecordingRunner(CommandRunner):
    """Passes every request to ``inner`` and records request and answer, in order (thread-safe)."""

    def __init__(self, inner: CommandRunner | None = None) -> None:
        self.inner = inner or LocalRunner()
        self.platform = self.inner.platform
        self.entries: list[Entry] = []
        self._seen: set[tuple[str, Any]] = set()
        self._lock = threading.Lock()

    def _record(self, kind: str, key: Any, value: Any) -> Any:
        with self._lock:
            k = _key(kind, key)
            if k not in self._seen:
                self._seen.add(k)
                self.entries.append(Entry(kind, tuple(key) if isinstance(key, (list, tuple)) else key, value))
        return value

    @property
    def commands(self) -> list[CommandResult]:
        return [e.value for e in self.entries if e.kind == "cmd"]

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, input: str | None = None) -> CommandResult:
        args = self._check_argv(argv)
        result = self.inner.run(args, timeout=timeout, input=input)
        # Several identical commands (e.g. a repair's verify after apply) are all kept for dry-run logs.
        with self._lock:
            self.entries.append(Entry("cmd", args, result))
            self._seen.add(_key("cmd", args))
        return result

    def read_file(self, path: str) -> FileResult:
        return self._record("file", path, self.inner.read_file(path))

    def list_dir(self, path: str) -> list[str] | None:
        return self._record("dir", path, self.inner.list_dir(path))

    def read_link(self, path: str) -> str | None:
        return self._record("link", path, self.inner.read_link(path))

    def which(self, program: str) -> str | None:
        return self._record("which", program, self.inner.which(program))

    def fact(self, name: str) -> Any:
        return self._record("fact", name, self.inner.fact(name))

    def now(self) -> float:
        return self.inner.now()


class ReplayRunner(CommandRunner):
    """Answers from recorded entries; never touches the machine.

    ``fallback(argv) -> CommandResult`` answers commands that were not recorded (tests of repairs use it to
    script successes and failures); without it they get ``error="not_recorded"``. Every request is appended
    to ``calls`` as ``(kind, key)`` so tests can assert exactly what would have run.
    Identical commands recorded several times are answered in recorded order (the last answer repeats).
    """

    def __init__(self, entries: Iterable[Entry] = (), *, platform: str = "linux",
                 fallback: Callable[[tuple[str, ...]], CommandResult] | None = None) -> None:
        self.platform = platform
        self.fallback = fallback
        self.calls: list[tuple[str, Any]] = []
        self._answers: dict[tuple[str, Any], list[Any]] = {}
        self._served: dict[tuple[str, Any], int] = {}
        self._lock = threading.Lock()
        for entry in entries:
            self.add(entry)

    def add(self, entry: Entry) -> None:
        self._answers.setdefault(_key(entry.kind, entry.key), []).append(entry.value)

    def add_command(self, argv: Sequence[str], returncode: int | None = 0, stdout: str = "", stderr: str = "",
                    error: str | None = None) -> None:
        args = tuple(argv)
        self.add(Entry("cmd", args, CommandResult(args, returncode, stdout, stderr, 0.0, error)))

    def recorded(self, kind: str, key: Any) -> bool:
        """Whether the snapshot holds an answer to ``(kind, key)`` (e.g. a directory recorded as missing, which
        ``list_dir`` answers ``None`` just like one never recorded). Not counted as a request."""
        with self._lock:
            return bool(self._answers.get(_key(kind, key)))

    def _answer(self, kind: str, key: Any) -> tuple[bool, Any]:
        k = _key(kind, key)
        with self._lock:
            self.calls.append(k)
            answers = self._answers.get(k)
            if not answers:
                return False, None
            index = self._served.get(k, 0)
            self._served[k] = index + 1
            return True, answers[min(index, len(answers) - 1)]

    @property
    def commands_run(self) -> list[tuple[str, ...]]:
        return [key for kind, key in self.calls if kind == "cmd"]

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, input: str | None = None) -> CommandResult:
        args = self._check_argv(argv)
        found, value = self._answer("cmd", args)
        if found:
            return value
        if self.fallback is not None:
            return self.fallback(args)
        return CommandResult(args, None, "", "not recorded in this snapshot", 0.0, NOT_RECORDED)

    def read_file(self, path: str) -> FileResult:
        found, value = self._answer("file", path)
        return value if found else FileResult(path, None, NOT_RECORDED)

    def list_dir(self, path: str) -> list[str] | None:
        return self._answer("dir", path)[1]

    def read_link(self, path: str) -> str | None:
        return self._answer("link", path)[1]

    def which(self, program: str) -> str | None:
        found, value = self._answer("which", program)
        if found:
            return value
        # A snapshot knows a program exists when one of its commands was recorded as having run.
        for kind, key in list(self._answers):
            if kind == "cmd" and key and os.path.basename(key[0]).lower() in (program.lower(), program.lower() + ".exe"):
                return key[0]
        return None

    def fact(self, name: str) -> Any:
        found, value = self._answer("fact", name)
        if not found:
            raise LookupError(f"fact {name!r} is not recorded in this snapshot")
        return value

    def now(self) -> float:
        """The capture time: the recorded ``metrics`` fact's ``timestamp`` (not counted as a request); a
        snapshot without one is looked at now."""
        with self._lock:
            recorded = self._answers.get(_key("fact", "metrics")) or [None]
        stamp = recorded[0].get("timestamp") if isinstance(recorded[0], dict) else None
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            return float(stamp)
        return time.time()


class DryRunRunner(CommandRunner):
    """Reads through to ``inner`` (reads are harmless) but never executes a command: it records the argv
    and answers ``error="dry_run"``. Used by ``Plan.run(dry_run=True)``."""

    def __init__(self, inner: CommandRunner | None = None) -> None:
        self.inner = inner or LocalRunner()
        self.platform = self.inner.platform
        self.commands: list[tuple[str, ...]] = []

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, input: str | None = None) -> CommandResult:
        args = self._check_argv(argv)
        self.commands.append(args)
        return CommandResult(args, None, "", "", 0.0, DRY_RUN)

    def read_file(self, path: str) -> FileResult:
        return self.inner.read_file(path)

    def list_dir(self, path: str) -> list[str] | None:
        return self.inner.list_dir(path)

    def read_link(self, path: str) -> str | None:
        return self.inner.read_link(path)

    def which(self, program: str) -> str | None:
        return self.inner.which(program)

    def fact(self, name: str) -> Any:
        return self.inner.fact(name)

    def now(self) -> float:
        return self.inner.now()

