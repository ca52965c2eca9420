"""Small file-system helpers shared by the client (no third-party imports)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically: a temp file in the same directory, fsync, then rename.

    A reader never sees a half-written file and a crash leaves the old file intact. ``mode`` (e.g. ``0o600``)
    is applied to the temp file before any data is written, so secrets are never readable by others.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        if mode is not None and hasattr(os, "fchmod"):  # Windows has no fchmod (ACLs protect the profile)
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if mode is not None:
        os.chmod(target, mode)
    return target
