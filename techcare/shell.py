"""The ``techcare`` start sequence and the IPython shell.

1. no ``.env`` yet -> setup wizard (interactive consoles only; scripts use ``techcare setup --non-interactive``),
2. technician password if set (3 tries, prompts never echo, then exit non-zero),
3. license check for licensed editions,
4. banner (edition, host, OS, backend status, language),
5. an IPython shell with the ``techcare`` extension loaded and ``tc`` (the session) in the namespace — or the plain
   chat REPL with ``--plain``.
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
import sys
from collections.abc import Callable
from typing import Any

from .i18n import get_language, tr

__all__ = ["banner", "check_license", "os_line", "prepare_session", "start"]


def _backend_status(settings: Any) -> str:
    if not settings.backend_url:
        return tr("kein Backend konfiguriert", "no backend configured")
    try:
        from .backend_client import BackendClient

        with BackendClient(settings=settings, timeout=1.5, retries=0) as client:
            health = client.health()
        return f"{settings.backend_url} ({health.get('status', '?')})"
    except Exception as exc:  # noqa: BLE001 - the banner only reports
        return f"{settings.backend_url} ({tr('nicht erreichbar', 'unreachable')}: {type(exc).__name__})"


_OS_NAMES = {"windows": "Windows", "linux": "Linux", "darwin": "macOS"}


def os_line(host: dict[str, Any]) -> str:
    """The operating system as people name it: "Microsoft Windows 11 Pro", "Debian GNU/Linux 12 (bookworm)",
    "macOS 14.6.1" — from a host record (``techcare.system.host_info``), never from this machine."""
    os_name = str(host.get("os") or "")
    if host.get("caption"):
        return str(host["caption"])
    if os_name == "darwin" and host.get("mac_version"):
        return f"macOS {host['mac_version']}"
    distro = host.get("distro") or {}
    if os_name == "linux" and distro.get("PRETTY_NAME"):
        return f"{distro['PRETTY_NAME']} · Linux {host.get('os_release', '')}".rstrip()
    return f"{_OS_NAMES.get(os_name, os_name or '?')} {host.get('os_release') or ''}".rstrip()


def _machine_line(session: Any) -> str:
    """Which machine the session works on: this one, or the PC a snapshot was captured on."""
    if session is None:
        return f"{tr('Rechner', 'Host')}: {socket.gethostname()} · {platform.system()} {platform.release()}"
    from .system import host_info
    from .system.records import visible  # a snapshot's words are shown, never obeyed by the terminal

    host = host_info(session.runner)
    line = f"{tr('Rechner', 'Host')}: {visible(host.get('hostname', '?'), 255)} · {visible(os_line(host), 255)}"
    if session.snapshot:
        line += " · " + tr("Snapshot {f} (nur lesend abgespielt, nicht dieser PC)",
                           "snapshot {f} (replayed read-only, not this PC)", f=os.path.basename(session.snapshot))
    return line


def banner(settings: Any, license_status: str | None = None, *, session: Any = None, plain: bool = False) -> str:
    """The start banner: edition, the machine the session works on, backend, language and the commands of the
    interface that follows (the IPython magics, or the words of the plain REPL with ``plain``)."""
    from ._version import __version__
    from .features import EDITION_NAMES, current_edition

    edition = EDITION_NAMES.get(current_edition(), settings.edition)
    if plain:
        commands = tr("Befehle: <Frage> · diagnose · treiber · plan · GO REPAIR: <Schritte> · undo · report · hilfe · exit",
                      "Commands: <question> · diagnose · drivers · plan · GO REPAIR: <steps> · undo · report · help · exit")
    else:
        commands = tr("Befehle: %techcare <Frage> · %diagnose · %repair · %drivers · %changelog · tc (Sitzung) · exit",
                      "Commands: %techcare <question> · %diagnose · %repair · %drivers · %changelog · tc (session) · exit")
    lines = [
        f"TechCare {__version__} · {edition}" + (f" · {license_status}" if license_status else ""),
        _machine_line(session),
        f"Backend: {_backend_status(settings)}",
        f"{tr('Sprache', 'Language')}: {get_language()} · {tr('Techniker', 'Technician')}: "
        f"{settings.technician_name or '-'}" + (f" ({settings.company})" if settings.company else ""),
        commands,
    ]
    return "\n".join(lines)


def check_license(settings: Any) -> str | None:
    """Validate the license of licensed editions at start (raises LicenseError). Returns a status line."""
    if settings.edition == "community":
        return None
    try:
        from . import license as lic
    except ImportError:  # license layer not installed: the edition is read from settings
        return None
    status = lic.ensure_license()
    return getattr(status, "summary", None) or str(status)


def prepare_session(*, password_prompt: Callable[[str], str] = getpass.getpass, say: Callable[[str], None] = print,
                    interactive: bool | None = None, snapshot: str | None = None):
    """Steps 1-3 of the start sequence; returns ``(session, settings, license_status)``."""
    from .auth import SessionLock, require_password
    from .config import get_settings, resolve_env_file
    from .errors import ConfigError
    from .session import reset_session

    interactive = sys.stdin.isatty() if interactive is None else interactive
    env_file = resolve_env_file()
    if not env_file.exists():
        if not interactive:
            raise ConfigError(tr("Noch keine Konfiguration ({p}). Einrichten mit: techcare setup --non-interactive …",
                                 "No configuration yet ({p}). Set up with: techcare setup --non-interactive …",
                                 p=env_file), key="TECHCARE_ENV_FILE", value=str(env_file))
        from .setup_wizard import run_setup

        run_setup(env_file=env_file, ask=input, ask_secret=password_prompt, say=say)
    settings = get_settings()
    if "TECHCARE_LANG" not in os.environ:
        from .i18n import set_language

        set_language(settings.techcare_lang)
    if settings.technician_password_hash:  # a terminal asks (3 tries); without one only TECHCARE_PASSWORD opens it
        require_password(settings.technician_password_hash, prompt=password_prompt, interactive=interactive, say=say)
    license_status = check_license(settings)
    session = reset_session()
    if snapshot:
        session.use_snapshot(snapshot)
    session.lock = SessionLock(settings.technician_password_hash, settings.session_timeout)
    return session, settings, license_status


def _install_timeout_hook(ipython: Any, session: Any) -> None:
    from .auth import AuthError

    def before_cell(info: Any = None) -> None:
        if info is not None and not getattr(info, "store_history", True):
            return  # start-up lines and internal cells are not technician input
        try:
            session.lock.check(getpass.getpass)
        except AuthError as exc:
            print(f"✖ {exc}", file=sys.stderr)
            sys.stdout.flush()
            os._exit(1)
        except BaseException:  # noqa: BLE001 - Ctrl-C/EOF at the prompt: IPython would run the cell anyway
            print(tr("✖ Anmeldung abgebrochen – TechCare wird beendet.", "✖ Sign-in cancelled – TechCare exits."),
                  file=sys.stderr)
            sys.stdout.flush()
            os._exit(1)

    ipython.events.register("pre_run_cell", before_cell)
    session.lock.touch()  # the timeout counts from the first prompt, not from a slow start


def interrupted_notice() -> str:
    """Lines about repair steps a killed process left unfinished, with how to undo them (empty when none)."""
    from .repairs import startup_check

    messages = startup_check()
    if not messages:
        return ""
    return "\n".join(["⚠ " + m for m in messages] + [tr(
        "Rückgängig machen: tc.undo_interrupted() (Shell) bzw. \"undo\" (--plain).",
        "Undo them: tc.undo_interrupted() (shell) or \"undo\" (--plain).")])


def start(*, plain: bool = False, approve: str | None = None, snapshot: str | None = None) -> int:
    session, settings, license_status = prepare_session(snapshot=snapshot)
    text = banner(settings, license_status, session=session, plain=plain)
    notice = interrupted_notice()
    if notice:
        text = f"{text}\n{notice}"
    if plain:
        from .repl import run_repl

        print(text)
        return run_repl(session, approve=approve, password_prompt=getpass.getpass)
    from IPython import start_ipython
    from traitlets.config import Config

    config = Config()
    config.InteractiveShellApp.extensions = ["techcare"]
    config.TerminalInteractiveShell.banner1 = text + "\n"
    config.TerminalInteractiveShell.confirm_exit = False
    config.TerminalIPythonApp.display_banner = True
    _pending_hook.append(session)
    start_ipython(argv=[], config=config, user_ns={"tc": session})
    return 0


_pending_hook: list[Any] = []


def _on_extension_load(ipython: Any) -> None:
    """Called by the extension loader in the ``techcare`` shell to arm the session timeout."""
    while _pending_hook:
        _install_timeout_hook(ipython, _pending_hook.pop())
