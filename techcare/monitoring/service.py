"""Install the sensor as an OS service.

    python -m techcare.monitoring.service install|uninstall|status|start|stop [--dry-run] [--platform P]

- Linux: systemd unit ``techcare-sensor.service`` (Restart=on-failure, sandboxed: NoNewPrivileges, ProtectSystem=strict,
  ...), logs to the journal (``journalctl -u techcare-sensor -f``).
- macOS: LaunchDaemon ``com.techcare.sensor`` (``/Library/LaunchDaemons/com.techcare.sensor.plist``), logs to
  ``/var/log/techcare-sensor.log``.
- Windows: service ``TechCareSensor`` created with ``sc.exe`` (so ``sc start TechCareSensor`` works). The service
  process is ``python -m techcare.monitoring.service run-windows-service``, which talks to the service control
  manager through pywin32 and logs to the Application event log.

``--dry-run`` prints the files and the commands instead of writing/running them. Commands run through the
CommandRunner (argv lists, no shell).

Remote jobs (``docs/remote-jobs.md``): ``install`` sets ``REMOTE_JOBS`` in the service's environment —
``--remote-jobs on|off``, asked when installing from a terminal, else ``off`` — and pins the technicians'
signing keys given with ``--trust-key KEY`` (repeatable) in the service's ``TECHCARE_HOME``; later changes with
``techcare sensor trust list|add|remove``.

Groups (``docs/remote-jobs.md`` §5): ``install --tag TAG`` (repeatable, e.g. ``--tag kunde:baeckerei-mueller
--tag rolle:kasse``) sets ``SENSOR_TAGS`` in the service's environment; the sensor sends them with every sample.
"""

from __future__ import annotations

import argparse
import os
import plistlib
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..i18n import tr
from ..i18n_argparse import Parser

__all__ = ["LAUNCHD_LABEL", "LAUNCHD_PLIST", "LOG_FILE_MACOS", "SYSTEMD_UNIT", "SYSTEMD_UNIT_PATH", "WINDOWS_SERVICE",
           "ServicePlan", "build_parser", "launchd_plist", "main", "plan", "systemd_unit", "windows_commands"]

SYSTEMD_UNIT = "techcare-sensor.service"
SYSTEMD_UNIT_PATH = "/etc/systemd/system/techcare-sensor.service"
LAUNCHD_LABEL = "com.techcare.sensor"
LAUNCHD_PLIST = "/Library/LaunchDaemons/com.techcare.sensor.plist"
LOG_FILE_MACOS = "/var/log/techcare-sensor.log"
WINDOWS_SERVICE = "TechCareSensor"
WINDOWS_DISPLAY = "TechCare Sensor"
DESCRIPTION = "TechCare Sensor: system metrics to the TechCare backend"
DEFAULT_HOME = {"linux": "/var/lib/techcare-sensor", "darwin": "/Library/Application Support/TechCare/sensor",
                "windows": r"C:\ProgramData\TechCare\sensor"}
ACTIONS = ("install", "uninstall", "status", "start", "stop")


def _systemd_quote(arg: str) -> str:
    if arg and all(c not in arg for c in ' \t"\'\\;$%'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$") + '"'


def _service_env(home: str, env_file: str | None, remote_jobs: str | None,
                 tags: list[str] | None = None) -> list[str]:
    env = [f"TECHCARE_HOME={home}", "PYTHONUNBUFFERED=1"]
    if env_file:
        env.insert(0, f"TECHCARE_ENV_FILE={env_file}")
    if remote_jobs is not None:  # the service's environment wins over its .env: only a local admin changes it
        env.append(f"REMOTE_JOBS={remote_jobs}")
    if tags:
        env.append("SENSOR_TAGS=" + ",".join(tags))
    return env


def systemd_unit(*, python: str, env_file: str | None, home: str = DEFAULT_HOME["linux"],
                 interval: int | None = None, remote_jobs: str | None = None, tags: list[str] | None = None) -> str:
    """The unit file text. The sensor runs as root (SMART and update checks need it) inside a sandbox."""
    exec_start = " ".join(_systemd_quote(a) for a in [python, "-m", "techcare.monitoring.sensor",
                                                       *(["--interval", str(interval)] if interval else [])])
    env = _service_env(home, env_file, remote_jobs, tags)
    env_lines = "".join(f"Environment={_systemd_quote(e)}\n" for e in env)
    state_dir = PurePosixPath(home)
    state_lines = (f"StateDirectory={state_dir.name}\nStateDirectoryMode=0700\n"
                   if str(state_dir.parent) == "/var/lib" else f"ReadWritePaths={_systemd_quote(home)}\n")
    unit = f"""[Unit]
Description={DESCRIPTION}
Documentation=man:systemd.service(5)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart={exec_start}
{env_lines}{state_lines}Restart=on-failure
RestartSec=30
# 2 = configuration error, 3 = license error: restarting cannot fix them
RestartPreventExitStatus=2 3
TimeoutStopSec=30
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=CAP_SYS_RAWIO CAP_SYS_ADMIN CAP_DAC_READ_SEARCH CAP_NET_ADMIN

[Install]
WantedBy=multi-user.target
"""
    if remote_jobs != "on":
        return unit
    # Approved remote repairs change the system (packages, units, firewall, /tmp): the read-only file-system
    # sandbox and the narrow capability set would make every such step fail. What a job may do is bounded by
    # the signed catalogue actions instead (docs/remote-jobs.md).
    relaxed = [line for line in unit.splitlines(keepends=True)
               if line.split("=", 1)[0] not in RELAXED_FOR_REMOTE_JOBS]
    at = relaxed.index("NoNewPrivileges=yes\n")
    relaxed.insert(at, "# REMOTE_JOBS=on: approved repairs change the system (packages, units, files), so no read-only\n"
                       "# file-system sandbox, capability bound or umask here\n")
    return "".join(relaxed)


#: systemd sandbox settings left out when the sensor runs remote jobs (repairs must be able to change the system)
RELAXED_FOR_REMOTE_JOBS = frozenset({"ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet",
                                     "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups",
                                     "ReadWritePaths", "UMask", "RestrictSUIDSGID"})


def launchd_plist(*, python: str, env_file: str | None, home: str = DEFAULT_HOME["darwin"],
                  interval: int | None = None, remote_jobs: str | None = None,
                  tags: list[str] | None = None) -> bytes:
    env = dict(item.split("=", 1) for item in _service_env(home, env_file, remote_jobs, tags))
    data: dict[str, Any] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": [python, "-m", "techcare.monitoring.sensor",
                             *(["--interval", str(interval)] if interval else [])],
        "EnvironmentVariables": env,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},  # restart when it fails, like Restart=on-failure
        "ThrottleInterval": 30,
        "ProcessType": "Background",
        "StandardOutPath": LOG_FILE_MACOS,
        "StandardErrorPath": LOG_FILE_MACOS,
        "WorkingDirectory": "/",
        "UserName": "root",
    }
    return plistlib.dumps(data, fmt=plistlib.FMT_XML, sort_keys=False)


def _windows_quote(arg: str) -> str:
    return f'"{arg}"' if (" " in arg or "\t" in arg) and not arg.startswith('"') else arg


def windows_commands(*, python: str, env_file: str | None, home: str = DEFAULT_HOME["windows"],
                     remote_jobs: str | None = None, tags: list[str] | None = None) -> list[list[str]]:
    """``sc.exe``/``reg.exe`` argv lists that create the service (sc's ``key= value`` pairs are two elements)."""
    bin_path = f'{_windows_quote(python)} -m techcare.monitoring.service run-windows-service'
    env = _service_env(home, env_file, remote_jobs, tags)
    return [
        ["sc.exe", "create", WINDOWS_SERVICE, "binPath=", bin_path, "start=", "auto", "DisplayName=", WINDOWS_DISPLAY],
        ["sc.exe", "description", WINDOWS_SERVICE, DESCRIPTION],
        ["sc.exe", "failure", WINDOWS_SERVICE, "reset=", "86400", "actions=", "restart/60000/restart/60000/restart/300000"],
        ["reg.exe", "add", rf"HKLM\SYSTEM\CurrentControlSet\Services\{WINDOWS_SERVICE}", "/v", "Environment", "/t",
         "REG_MULTI_SZ", "/d", "\\0".join(env), "/f"],
    ]


@dataclass
class ServicePlan:
    """What an action would do: files to write/remove and commands to run, in order."""

    platform: str
    action: str
    files: list[tuple[str, bytes]] = field(default_factory=list)     # path, content (written before commands)
    remove: list[str] = field(default_factory=list)                  # paths removed after the commands
    commands: list[list[str]] = field(default_factory=list)
    commands_after: list[list[str]] = field(default_factory=list)    # run after files are removed
    home: str = ""                                                   # the service's TECHCARE_HOME
    trust_keys: list[str] = field(default_factory=list)              # signer keys pinned there (before commands)

    def describe(self) -> str:
        lines = []
        for path, content in self.files:
            lines.append(tr("# Datei {path}:", "# file {path}:", path=path))
            lines.append(content.decode("utf-8").rstrip("\n"))
        if self.trust_keys:
            from ..signing import key_id_for, parse_public_key

            for key in self.trust_keys:
                lines.append(tr("# Signaturschlüssel {k} hinterlegen in {p}", "# pin signing key {k} in {p}",
                                k=key_id_for(parse_public_key(key)), p=_trust_file(self)))
        for argv in self.commands:
            lines.append("$ " + " ".join(_display(a) for a in argv))
        for path in self.remove:
            lines.append(tr("# entfernen: {path}", "# remove: {path}", path=path))
        for argv in self.commands_after:
            lines.append("$ " + " ".join(_display(a) for a in argv))
        return "\n".join(lines)


def _trust_file(p: ServicePlan) -> str:
    sep = "\\" if p.platform == "windows" else "/"
    return p.home.rstrip(sep) + sep + "trusted_signers.json"


def _display(arg: str) -> str:
    return arg if arg and not any(c in arg for c in " \"'\\$") else repr(arg)


def plan(action: str, *, platform: str, python: str | None = None, env_file: str | None = None,
         home: str | None = None, interval: int | None = None, remote_jobs: str | None = None,
         trust_keys: list[str] | tuple[str, ...] = (), tags: list[str] | tuple[str, ...] = ()) -> ServicePlan:
    """The files and commands for ``action`` on ``platform`` (``linux``, ``darwin``, ``windows``).

    ``install`` only: ``remote_jobs`` (``on``/``off``) and ``tags`` (``SENSOR_TAGS``; ``ValueError`` naming a tag
    that is not allowed) go into the service's environment, ``trust_keys`` (technicians' public keys) are pinned
    in the service's home before it starts."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
    if platform not in DEFAULT_HOME:
        raise ValueError(f"unknown platform {platform!r}; allowed: {', '.join(DEFAULT_HOME)}")
    if remote_jobs not in (None, "on", "off"):
        raise ValueError(f"remote_jobs must be 'on' or 'off', not {remote_jobs!r}")
    from ..config import parse_tags

    tag_list = parse_tags(list(tags)) if action == "install" else []
    python = python or sys.executable
    home = home or DEFAULT_HOME[platform]
    p = ServicePlan(platform, action, home=home, trust_keys=list(trust_keys) if action == "install" else [])
    if platform == "linux":
        if action == "install":
            p.files.append((SYSTEMD_UNIT_PATH, systemd_unit(python=python, env_file=env_file, home=home,
                                                             interval=interval, remote_jobs=remote_jobs,
                                                             tags=tag_list).encode()))
            p.commands += [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", SYSTEMD_UNIT]]
        elif action == "uninstall":
            p.commands.append(["systemctl", "disable", "--now", SYSTEMD_UNIT])
            p.remove.append(SYSTEMD_UNIT_PATH)
            p.commands_after.append(["systemctl", "daemon-reload"])
        elif action == "status":
            p.commands.append(["systemctl", "status", "--no-pager", SYSTEMD_UNIT])
        else:
            p.commands.append(["systemctl", action, SYSTEMD_UNIT])
    elif platform == "darwin":
        if action == "install":
            p.files.append((LAUNCHD_PLIST, launchd_plist(python=python, env_file=env_file, home=home, interval=interval,
                                                         remote_jobs=remote_jobs, tags=tag_list)))
            p.commands += [["mkdir", "-p", home], ["chmod", "700", home], ["chown", "root:wheel", LAUNCHD_PLIST],
                           ["chmod", "644", LAUNCHD_PLIST], ["launchctl", "bootstrap", "system", LAUNCHD_PLIST],
                           ["launchctl", "enable", f"system/{LAUNCHD_LABEL}"]]
        elif action == "uninstall":
            p.commands.append(["launchctl", "bootout", f"system/{LAUNCHD_LABEL}"])
            p.remove.append(LAUNCHD_PLIST)
        elif action == "status":
            p.commands.append(["launchctl", "print", f"system/{LAUNCHD_LABEL}"])
        else:
            p.commands.append(["launchctl", action, LAUNCHD_LABEL])
    else:
        if action == "install":
            p.commands += windows_commands(python=python, env_file=env_file, home=home, remote_jobs=remote_jobs,
                                           tags=tag_list)
            p.commands.append(["sc.exe", "start", WINDOWS_SERVICE])
        elif action == "uninstall":
            p.commands += [["sc.exe", "stop", WINDOWS_SERVICE], ["sc.exe", "delete", WINDOWS_SERVICE]]
        elif action == "status":
            p.commands.append(["sc.exe", "query", WINDOWS_SERVICE])
        else:
            p.commands.append(["sc.exe", action, WINDOWS_SERVICE])
    return p


def execute(p: ServicePlan, runner: Any, *, out: Any = sys.stdout) -> int:
    """Write the files, run the commands (stopping at the first failure). Returns an exit status."""
    tolerant = p.action in ("uninstall",)  # a half-installed service must still be removable
    for path, content in p.files:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
        print(tr("geschrieben: {path}", "written: {path}", path=path), file=out)
    if p.trust_keys:
        from ..signing import TrustStore

        store = TrustStore(p.home)
        for key in p.trust_keys:
            signer = store.add(key)
            print(tr("Signaturschlüssel {k} hinterlegt: {path}", "signing key {k} pinned: {path}", k=signer.key_id,
                     path=store.path), file=out)
    status = 0
    for argv in p.commands:
        result = runner.run(argv, timeout=60)
        text = (result.stdout or "") + (result.stderr or "")
        if text.strip():
            print(text.rstrip(), file=out)
        if not result.ok:
            status = result.returncode if isinstance(result.returncode, int) and result.returncode > 0 else 1
            if not tolerant and p.action != "status":
                print(tr("Befehl fehlgeschlagen: {cmd}", "command failed: {cmd}", cmd=" ".join(argv)), file=sys.stderr)
                return status
    for path in p.remove:
        try:
            Path(path).unlink()
            print(tr("entfernt: {path}", "removed: {path}", path=path), file=out)
        except FileNotFoundError:
            pass
    for argv in p.commands_after:
        runner.run(argv, timeout=60)
    return status if p.action == "status" else (0 if tolerant else status)


# ---- Windows service host -------------------------------------------------------------------------------

def run_windows_service() -> int:  # pragma: no cover - needs Windows + pywin32
    """Entry of the Windows service process: hand control to the service control manager."""
    try:
        import servicemanager
        import win32event  # noqa: F401
        import win32service
        import win32serviceutil
    except ImportError:
        print(tr("pywin32 fehlt: pip install pywin32", "pywin32 is missing: pip install pywin32"), file=sys.stderr)
        return 2

    class TechCareSensorService(win32serviceutil.ServiceFramework):
        _svc_name_ = WINDOWS_SERVICE
        _svc_display_name_ = WINDOWS_DISPLAY
        _svc_description_ = DESCRIPTION

        def __init__(self, args: Any) -> None:
            super().__init__(args)
            self.sensor: Any = None

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
            if self.sensor is not None:
                self.sensor.stop()

        def SvcDoRun(self) -> None:
            os.environ["TECHCARE_WINDOWS_SERVICE"] = "1"
            from .sensor import main as sensor_main

            def started(sensor: Any) -> None:
                self.sensor = sensor

            code = sensor_main([], started=started)
            if code:
                servicemanager.LogErrorMsg(f"TechCare sensor stopped with exit status {code}")

    servicemanager.Initialize()
    servicemanager.PrepareToHostSingle(TechCareSensorService)
    servicemanager.StartServiceCtrlDispatcher()
    return 0


# ---- command line --------------------------------------------------------------------------------------

def unsafe_install_paths(python: str, package_dir: str | None = None) -> list[str]:
    """POSIX: paths of the service's interpreter and of the installed techcare package (and their parents) that a
    non-root user could change — a root service running code from there hands that user root. Empty = safe."""
    if os.name != "posix":
        return []
    import stat as st

    if package_dir is None:
        package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    problems: list[str] = []
    seen: set[str] = set()
    for start in (os.path.realpath(python), os.path.realpath(package_dir)):
        path = start
        while path not in seen:
            seen.add(path)
            try:
                info = os.stat(path)
            except OSError:
                break
            sticky_tmp = st.S_ISDIR(info.st_mode) and info.st_mode & st.S_ISVTX
            if info.st_uid != 0:
                problems.append(f"{path} (owner uid {info.st_uid})")
            elif info.st_mode & (st.S_IWGRP | st.S_IWOTH) and not sticky_tmp:
                problems.append(f"{path} (writable by group/others)")
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
    return problems


def _ask_remote_jobs(ask: Any, out: Any) -> tuple[str, list[str]]:
    """Interactive install: allow remote jobs? and which technicians' keys to pin."""
    answer = ask(tr("Fernaufträge erlauben (vom Techniker signierte Diagnosen und Reparaturen)? [j/N] ",
                    "Allow remote jobs (diagnoses and repairs signed by a technician)? [y/N] ")).strip().lower()
    if answer not in ("j", "ja", "y", "yes"):
        return "off", []
    print(tr("Öffentliche Schlüssel der Techniker (`techcare fleet key` zeigt ihn), einer pro Zeile; leere Zeile "
             "beendet:", "The technicians' public keys (`techcare fleet key` shows it), one per line; an empty line "
             "ends:"), file=out)
    keys: list[str] = []
    while True:
        line = ask("> ").strip()
        if not line:
            return "on", keys
        keys.append(line)


def _tag_ok(tag: str) -> bool:
    from ..config import parse_tags

    try:
        return not tag.strip() or bool(parse_tags([tag]))
    except ValueError:
        return False


def _check_keys(keys: list[str]) -> str | None:
    """None when every key is a valid Ed25519 public key, else the message for the first bad one."""
    from ..signing import SignatureError, parse_public_key

    for key in keys:
        try:
            parse_public_key(key)
        except SignatureError as exc:
            return f"--trust-key {key[:60]!r}: {exc.message}"
    return None


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``techcare service``, its texts in the active language."""
    parser = Parser(prog="techcare service",
                    description=tr("Den TechCare-Sensor als Dienst einrichten.",
                                   "Install the TechCare sensor as an OS service."))
    parser.add_argument("action", nargs="?", default="install", choices=[*ACTIONS, "run-windows-service"],
                        help=tr("was zu tun ist (Standard: install); run-windows-service startet ihn unter Windows "
                                "als Dienst", "what to do (default: install); run-windows-service runs it as a "
                                "Windows service"))
    parser.add_argument("--dry-run", action="store_true", help=tr("Dateien und Befehle nur anzeigen",
                                                                  "print the files and commands only"))
    parser.add_argument("--platform", choices=sorted(DEFAULT_HOME), default=None,
                        help=tr("Zielplattform (Standard: dieses System)", "target platform (default: this system)"))
    parser.add_argument("--python", default=None, help=tr("Python des Dienstes", "the service's Python"))
    parser.add_argument("--env-file", default=None, help=tr(".env des Dienstes", "the service's .env"))
    parser.add_argument("--home", default=None, help=tr("TECHCARE_HOME des Dienstes", "TECHCARE_HOME of the service"))
    parser.add_argument("--interval", type=int, default=None, help=tr(
        "install: Sekunden zwischen Messungen (SENSOR_INTERVAL)", "install: seconds between samples (SENSOR_INTERVAL)"))
    parser.add_argument("--remote-jobs", choices=["on", "off"], default=None,
                        help=tr("install: Fernaufträge ausführen (REMOTE_JOBS; Standard: fragen, ohne Terminal off)",
                                "install: run remote jobs (REMOTE_JOBS; default: ask, without a terminal off)"))
    parser.add_argument("--trust-key", action="append", default=[], metavar="KEY",
                        help=tr("install: öffentlicher Signaturschlüssel eines Technikers (mehrfach möglich)",
                                "install: a technician's public signing key (repeatable)"))
    parser.add_argument("--tag", action="append", default=[], metavar="TAG",
                        help=tr("install: Gruppe dieses Rechners wie kunde:baeckerei-mueller (mehrfach möglich; "
                                "setzt SENSOR_TAGS)", "install: a group of this host such as kunde:baeckerei-mueller "
                                "(repeatable; sets SENSOR_TAGS)"))
    parser.add_argument("--allow-user-python", action="store_true",
                        help=tr("auch aus einer Python-Umgebung installieren, die Nicht-root-Benutzer ändern können",
                                "install even from a Python environment non-root users can change"))
    return parser


def main(argv: list[str] | None = None, *, runner: Any = None, out: Any = None, ask: Any = None) -> int:
    """``ask(prompt) -> str`` answers the install questions (default: ``input`` when stdin is a terminal)."""
    out = out or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.action == "run-windows-service":
        return run_windows_service()
    if args.action != "install" and (args.remote_jobs is not None or args.trust_key or args.tag):
        print(tr("--remote-jobs, --trust-key und --tag gibt es nur bei install (später: techcare sensor trust ..., "
                 "SENSOR_TAGS in der .env des Dienstes).",
                 "--remote-jobs, --trust-key and --tag belong to install only (later: techcare sensor trust ..., "
                 "SENSOR_TAGS in the service's .env)."), file=sys.stderr)
        return 2
    from ..config import MAX_SENSOR_TAGS, parse_tags

    try:
        parse_tags(args.tag)
    except ValueError:
        bad = next((t for t in args.tag if not _tag_ok(t)), None)
        print(tr("--tag {t!r} ist ungültig. Erlaubt: Tags wie kunde:baeckerei-mueller oder rolle:kasse (klein: a-z "
                 "0-9 _ . -, höchstens ein „:“, je Teil bis 63 Zeichen), höchstens {n}.",
                 "--tag {t!r} is not valid. Allowed: tags such as kunde:baeckerei-mueller or rolle:kasse (lowercase: "
                 "a-z 0-9 _ . -, at most one ':', up to 63 characters per part), at most {n}.",
                 t=bad if bad is not None else f"({len(args.tag)})", n=MAX_SENSOR_TAGS), file=sys.stderr)
        return 2
    remote_jobs, trust_keys = args.remote_jobs, list(args.trust_key)
    if args.action == "install" and remote_jobs is None:
        if ask is None and not args.dry_run and sys.stdin is not None and sys.stdin.isatty():
            ask = input
        if ask is not None:
            try:
                remote_jobs, asked_keys = _ask_remote_jobs(ask, out)
            except (EOFError, KeyboardInterrupt):
                print(tr("Abgebrochen.", "Cancelled."), file=sys.stderr)
                return 2
            trust_keys += asked_keys
        else:
            remote_jobs = "off"
    problem = _check_keys(trust_keys)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if remote_jobs == "on" and not trust_keys:
        print(tr("Hinweis: kein Signaturschlüssel angegeben – der Sensor lehnt jeden Fernauftrag ab, bis einer "
                 "hinterlegt ist (techcare sensor trust add KEY).",
                 "Note: no signing key given – the sensor refuses every remote job until one is pinned "
                 "(techcare sensor trust add KEY)."), file=sys.stderr)
    from ..system.runner import LocalRunner, current_platform

    platform = args.platform or current_platform()
    env_file = args.env_file
    if env_file is None:
        from ..config import resolve_env_file

        candidate = resolve_env_file()
        env_file = str(candidate.resolve()) if candidate.exists() else None
    if args.action == "install" and env_file is None:
        print(tr("Warnung: keine .env gefunden – der Dienst braucht BACKEND_URL, LICENSE_KEY und TECHCARE_API_KEY "
                 "(--env-file angeben).",
                 "Warning: no .env found – the service needs BACKEND_URL, LICENSE_KEY and TECHCARE_API_KEY "
                 "(pass --env-file)."), file=sys.stderr)
    p = plan(args.action, platform=platform, python=args.python, env_file=env_file, home=args.home,
             interval=args.interval, remote_jobs=remote_jobs if args.action == "install" else None,
             trust_keys=trust_keys, tags=args.tag)
    unsafe = unsafe_install_paths(args.python or sys.executable) if args.action == "install" and platform != "windows" \
        else []
    if unsafe:
        print(tr("Warnung: der Dienst läuft als root, aber diese Pfade können Nicht-root-Benutzer ändern – wer sie "
                 "ändert, bekommt root-Rechte. TechCare für den Dienst z.B. nach /opt/techcare (root-eigen) "
                 "installieren:\n  ", "Warning: the service runs as root, but non-root users can change these paths – "
                 "whoever changes them gets root. Install TechCare for the service into e.g. /opt/techcare "
                 "(root-owned):\n  ") + "\n  ".join(unsafe), file=sys.stderr)
    if args.dry_run:
        print(p.describe(), file=out)
        return 0
    if unsafe and not args.allow_user_python:
        print(tr("Abgebrochen (--allow-user-python erzwingt es).", "Refused (--allow-user-python forces it)."),
              file=sys.stderr)
        return 2
    if platform != current_platform():
        print(tr("{p} kann nur auf {p} eingerichtet werden; --dry-run zeigt die Dateien.",
                 "{p} can only be set up on {p}; --dry-run shows the files.", p=platform), file=sys.stderr)
        return 2
    if args.action in ("install", "uninstall") and platform != "windows" and os.geteuid() != 0:
        print(tr("Dafür sind root-Rechte nötig (sudo).", "This needs root (sudo)."), file=sys.stderr)
        return 2
    return execute(p, runner or LocalRunner())


if __name__ == "__main__":
    sys.exit(main())
