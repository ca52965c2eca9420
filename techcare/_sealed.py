"""Small JSON state files that must survive damage: sealed with a checksum and kept in more than one place.

A file holds ``{"data": {...}, "sum": "<32 hex>"}`` (SHA-256 of the data in canonical JSON, first 128 bits).
:func:`read_copies` says for each place whether the copy is ``ok``, ``legacy`` (a plain JSON object written by an
older version: read, not proven), ``missing`` or ``damaged`` (cut, flipped, garbage, binary, a directory, not
readable) with the reason. A damaged copy is never taken for an empty one: the caller decides what a safe default
is, and says it. :func:`write_copies` writes every place atomically and never raises: it returns the problems.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Copy", "read_copies", "write_copies"]


def _digest(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass
class Copy:
    path: Path
    status: str   # ok | legacy | missing | damaged
    data: dict[str, Any] | None = None
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.status in ("ok", "legacy")


def read_copy(path: Path) -> Copy:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Copy(path, "missing")
    except OSError as exc:   # a directory, no permission, an I/O error
        return Copy(path, "damaged", problem=exc.strerror or type(exc).__name__)
    try:
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Copy(path, "damaged", problem="not UTF-8 text")
    except ValueError:
        return Copy(path, "damaged", problem="not JSON (cut or garbled)")
    if not isinstance(value, dict):
        return Copy(path, "damaged", problem="not a JSON object")
    if set(value) == {"data", "sum"}:
        data = value["data"]
        if not isinstance(data, dict) or not isinstance(value["sum"], str) or _digest(data) != value["sum"]:
            return Copy(path, "damaged", problem="checksum mismatch")
        return Copy(path, "ok", data)
    return Copy(path, "legacy", value)


def read_copies(paths: list[Path]) -> list[Copy]:
    return [read_copy(Path(p)) for p in paths]


def write_copies(paths: list[Path], data: dict[str, Any]) -> list[str]:
    """Write ``data`` sealed to every path (atomic, mode 0600). Returns ``"<path>: <reason>"`` per failure."""
    from ._fs import atomic_write

    text = json.dumps({"data": data, "sum": _digest(data)}, sort_keys=True, ensure_ascii=False)
    problems = []
    for path in paths:
        try:
            atomic_write(Path(path), text, mode=0o600)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or type(exc).__name__}")
    return problems
