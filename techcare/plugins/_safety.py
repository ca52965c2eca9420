"""Who may change a plugin's code, and its content hash.

TechCare runs plugin code with the technician's (or the sensor service's) rights. Code that another account can
change would hand that account those rights — the sensor service refuses a user-writable interpreter for the same
reason (``monitoring.service.unsafe_install_paths``). So a plugin file, its folder and ``TECHCARE_HOME`` must be
owned by the user running TechCare (or root) and writable by nobody else (no group/other write bit). On Windows
the profile's ACLs protect ``TECHCARE_HOME``; the POSIX bits are not checked there.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from ..i18n import Message, msg

__all__ = ["package_files", "tree_sha256", "unsafe"]


def unsafe(paths: list[Path], *, uid: int | None = None) -> Message | None:
    """Why code at ``paths`` must not run (the first problem), or ``None`` when only its owner or root can
    change it. ``uid``: the account TechCare runs as (default: this process's effective user)."""
    if os.name != "posix":
        return None
    me = os.geteuid() if uid is None else uid
    seen: set[str] = set()
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        try:
            info = os.stat(real)
        except OSError as exc:
            return msg("{p} nicht lesbar ({e})", "{p} not readable ({e})", p=real, e=exc.strerror or exc)
        if info.st_uid not in (me, 0):
            return msg("{p} gehört einem anderen Benutzer (uid {u}); erlaubt sind nur eigene Dateien oder die von root",
                       "{p} is owned by another user (uid {u}); only your own files or root's are allowed",
                       p=real, u=info.st_uid)
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            who = msg("alle", "everyone") if info.st_mode & stat.S_IWOTH else msg("die Gruppe", "the group")
            return msg("{p} ist für {w} beschreibbar (Rechte {m}); erlaubt: nur der Eigentümer darf schreiben "
                       "(chmod go-w {p})", "{p} is writable by {w} (mode {m}); allowed: only the owner may write "
                       "(chmod go-w {p})", p=real, w=who, m=oct(info.st_mode & 0o777))
    return None


def package_files(origin: Path) -> list[Path]:
    """The source files of a module: the file itself, or every ``.py`` file below a package's folder."""
    if origin.name == "__init__.py":
        return sorted(p for p in origin.parent.rglob("*.py") if "__pycache__" not in p.parts)
    return [origin]


def tree_sha256(files: list[Path], root: Path) -> str:
    """SHA-256 over each file's path (relative to ``root``) and bytes, in sorted order: the same code gives the
    same hash on every machine."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
