"""``techcare --uninstall``: delete exactly the product's files, nothing else.

Deleted (as the product document lists): the ``.env`` file, the data directory (sessions, changelogs, cases) and
``TECHCARE_HOME`` (user config, cache, license lease, sensor spool). The Python package stays; it is removed with
``pip uninstall techcare``.

A setup protected by the technician password is deleted only after the password was given (asked 3 times on a
terminal, or ``TECHCARE_PASSWORD`` — see :func:`techcare.auth.require_password`); ``yes`` skips the confirmation
question, never the password.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from .config import Settings, get_settings, resolve_env_file
from .i18n import tr

__all__ = ["planned_paths", "uninstall"]


def planned_paths(settings: Settings | None = None) -> list[Path]:
    """The existing paths uninstall would delete, in deletion order."""
    settings = settings or get_settings()
    candidates = [resolve_env_file(), settings.data_dir, settings.techcare_home]
    out: list[Path] = []
    for path in candidates:
        resolved = Path(path).expanduser().absolute()
        if resolved.exists() and resolved not in out:
            out.append(resolved)
    return out


def _refuse_dangerous(path: Path) -> None:
    home = Path.home().absolute()
    if path in (Path("/"), home, Path.cwd().absolute()) or len(path.parts) <= 2:
        raise ValueError(tr("Verweigert: {p} ist zu allgemein zum Löschen (Einstellung prüfen).",
                            "Refused: {p} is too general to delete (check the setting).", p=path))


def uninstall(*, yes: bool = False, ask: Callable[[str], str] = input, say: Callable[[str], None] = print,
              settings: Settings | None = None, password_prompt: Callable[[str], str] | None = None,
              interactive: bool | None = None) -> list[Path]:
    """List what will be deleted, ask (unless ``yes``), delete it. Returns the deleted paths.

    A protected setup needs the technician password first (``password_prompt``, default getpass, on a terminal;
    ``interactive`` overrides the terminal check); :class:`techcare.auth.AuthError` when it is not given.
    """
    from .auth import configured_hash, require_password

    password_hash = (settings.technician_password_hash if settings is not None else None) or configured_hash()
    require_password(password_hash, prompt=password_prompt, interactive=interactive, say=say)
    paths = planned_paths(settings)
    if not paths:
        say(tr("Nichts zu löschen: keine TechCare-Dateien gefunden.", "Nothing to delete: no TechCare files found."))
        return []
    say(tr("Folgendes wird gelöscht:", "This will be deleted:"))
    for path in paths:
        kind = tr("Verzeichnis", "directory") if path.is_dir() else tr("Datei", "file")
        say(f"  - {path} ({kind})")
    for path in paths:
        _refuse_dangerous(path)
    if not yes:
        try:
            answer = ask(tr("Wirklich löschen? [j/N] ", "Really delete? [y/N] ")).strip().lower()
        except EOFError:
            answer = ""
        if answer not in ("j", "ja", "y", "yes"):
            say(tr("Abgebrochen – nichts gelöscht.", "Cancelled – nothing deleted."))
            return []
    deleted = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        deleted.append(path)
    say(tr("Gelöscht. Das Python-Paket selbst entfernen Sie mit: pip uninstall techcare",
           "Deleted. Remove the Python package itself with: pip uninstall techcare"))
    return deleted
