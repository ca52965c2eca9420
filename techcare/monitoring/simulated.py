"""A simulated customer PC for demos, runbooks and tests: a replayed snapshot answers every diagnosis probe, the
simulation answers the repair commands and remembers what changed.

    from techcare.monitoring.simulated import SimulatedPC
    pc = SimulatedPC.from_snapshot("notebooks/data/windows11-problems.json", state_file=home / "simulated-pc.json")
    runner = pc.runner()            # a ReplayRunner: snapshot answers + the simulation; is_admin like a service
    ...; pc.services["wuauserv"]     # what the repairs changed

It is the customer PC of runbook 02 (``KundenPC``) made reusable: Windows services (``sc.exe`` query/qc/config,
``net.exe`` start/stop, ``Restart-Service``), restore points, the component store (DISM), ``sfc``, firewall
profiles, pending Windows updates (search and install through the Windows Update API; an install leaves a
pending restart), the volumes' dirty bit (``fsutil dirty set``: chkdsk at the next start), and the macOS
application firewall. Commands it does not model succeed without output (repairs then
say "could not verify"). With ``state_file`` the state survives between processes, so a sensor started with
``--once --snapshot`` sees a later rollback job undo what an earlier repair job changed. Nothing here touches
the machine it runs on.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..system.runner import CommandResult, Entry, ReplayRunner

__all__ = ["SimulatedPC"]

_START_CODES = {"auto": "2   AUTO_START", "demand": "3   DEMAND_START", "disabled": "4   DISABLED",
                "delayed-auto": "2   AUTO_START  (DELAYED)"}
_SOCKETFILTERFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"


def _initial_state() -> dict[str, Any]:
    # The problems of the recorded customer PCs (runbook 02): Windows Update disabled, firewall partly off.
    return {"services": {"wuauserv": "STOPPED", "bits": "STOPPED", "cryptsvc": "RUNNING", "msiserver": "STOPPED",
                         "spooler": "RUNNING", "audiosrv": "STOPPED"},
            "start_types": {"wuauserv": "disabled", "bits": "demand", "cryptsvc": "auto", "msiserver": "demand",
                            "spooler": "auto", "audiosrv": "auto"},
            "restore_points": 3, "component_store": "Repairable",
            "firewall": {"domain": True, "private": True, "public": False}, "mac_firewall": False,
            "windows_updates": 4, "reboot_pending": False, "dirty_volumes": []}


class SimulatedPC:
    """Answers repair commands like the recorded customer PC would and keeps the changed state."""

    def __init__(self, *, platform: str = "windows", hostname: str = "", snapshot: Any = None,
                 state_file: str | os.PathLike[str] | None = None, admin: bool = True) -> None:
        self.platform = platform
        self.hostname = hostname
        self.snapshot = snapshot
        self.admin = admin
        self.state_file = Path(state_file) if state_file is not None else None
        self.commands: list[tuple[str, ...]] = []
        self._lock = threading.Lock()
        self.state = _initial_state()
        for entry in (snapshot.entries if snapshot is not None else []):  # the recorded macOS firewall state
            if entry.kind == "cmd" and entry.key[:2] == (_SOCKETFILTERFW, "--getglobalstate"):
                self.state["mac_firewall"] = "enabled" in (entry.value.stdout or "")
        if self.state_file is not None and self.state_file.exists():
            try:
                loaded = json.loads(self.state_file.read_text(encoding="utf-8"))
                if isinstance(loaded, dict):
                    self.state.update(loaded)  # a state file of an older version keeps the new keys' defaults
            except (OSError, ValueError):
                pass  # a damaged state file starts the simulation afresh

    @classmethod
    def from_snapshot(cls, path: str | os.PathLike[str], **kwargs: Any) -> SimulatedPC:
        """The PC recorded in ``path`` (host name and OS from the snapshot). Raises ``SnapshotError``."""
        from ..system.snapshot import load_snapshot

        snap = load_snapshot(path)
        return cls(platform=snap.platform, hostname=snap.hostname, snapshot=snap, **kwargs)

    @property
    def services(self) -> dict[str, str]:
        return self.state["services"]

    @property
    def start_types(self) -> dict[str, str]:
        return self.state["start_types"]

    def runner(self) -> ReplayRunner:
        """A ReplayRunner over the snapshot (if any) whose unrecorded commands the simulation answers; the macOS
        firewall state, which the snapshot recorded and a repair changes, comes from the simulation too.
        ``is_admin`` is the simulation's (a sensor service runs elevated)."""
        entries = [e for e in (self.snapshot.entries if self.snapshot is not None else [])
                   if not (e.kind == "fact" and e.key == "is_admin")]
        entries.append(Entry("fact", "is_admin", self.admin))
        pc = self

        class _Runner(ReplayRunner):
            def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
                args = self._check_argv(argv)
                if args and args[0] == _SOCKETFILTERFW:
                    with self._lock:
                        self.calls.append(("cmd", args))
                    return pc(args)
                return super().run(args, **kwargs)

        return _Runner(entries, platform=self.platform, fallback=self)

    def _save(self) -> None:
        if self.state_file is None:
            return
        from .._fs import atomic_write

        atomic_write(self.state_file, json.dumps(self.state, indent=1), mode=0o600)

    def __call__(self, argv: Sequence[str]) -> CommandResult:
        with self._lock:
            args = tuple(argv)
            self.commands.append(args)
            before = json.dumps(self.state, sort_keys=True)
            result = self._answer(args)
            if json.dumps(self.state, sort_keys=True) != before:  # queries (tzutil, ...) leave no state file
                self._save()
            return result

    def _answer(self, argv: tuple[str, ...]) -> CommandResult:  # noqa: C901 - one branch per modelled command
        def ok(out: str = "") -> CommandResult:
            return CommandResult(argv, 0, out, "", 0.0)

        exe, script = argv[0].lower(), argv[-1]
        services, start_types = self.services, self.start_types
        if exe == "sc.exe" and len(argv) >= 3 and argv[1] == "query":
            state = services.get(argv[2].lower(), "STOPPED")
            return ok(f"SERVICE_NAME: {argv[2]}\r\n        STATE              : 1  {state}\r\n")
        if exe == "sc.exe" and len(argv) >= 3 and argv[1] == "qc":
            code = _START_CODES.get(start_types.get(argv[2].lower(), "demand"), _START_CODES["demand"])
            return ok(f"[SC] QueryServiceConfig SUCCESS\r\n\r\nSERVICE_NAME: {argv[2]}\r\n"
                      f"        START_TYPE         : {code}\r\n")
        if exe == "sc.exe" and len(argv) >= 5 and argv[1] == "config":
            start_types[argv[2].lower()] = argv[4]
            return ok("[SC] ChangeServiceConfig SUCCESS\r\n")
        if exe == "net.exe" and len(argv) >= 3:
            name = argv[2].lower()
            if argv[1] == "start" and start_types.get(name) == "disabled":
                return CommandResult(argv, 2, "", "System error 1058 has occurred.", 0.0)
            if argv[1] == "start" and services.get(name) == "RUNNING":
                return CommandResult(argv, 2, "", "The requested service has already been started.", 0.0)
            services[name] = "RUNNING" if argv[1] == "start" else "STOPPED"
            return ok()
        if exe == "fsutil.exe" and argv[1:3] == ("dirty", "set") and len(argv) >= 4:
            drive = argv[3].upper()
            if drive not in self.state["dirty_volumes"]:
                self.state["dirty_volumes"].append(drive)
            return ok(f"Volume - {drive} is now marked as dirty\r\n")
        if exe == "powershell.exe":
            if "Win32_Volume" in script and "DirtyBitSet" in script:
                drive = script.split("DriveLetter='", 1)[1][:2].upper() if "DriveLetter='" in script else ""
                return ok("True\r\n" if drive in self.state["dirty_volumes"] else "False\r\n")
            if "Microsoft.Update.Session" in script and "CreateUpdateInstaller" in script:
                count = int(self.state["windows_updates"])
                self.state["windows_updates"] = 0
                self.state["reboot_pending"] = self.state["reboot_pending"] or count > 0
                return ok(json.dumps({"installed": count, "result": 2, "reboot": count > 0}))
            if "Microsoft.Update.Session" in script and "Updates.Count" in script:
                return ok(json.dumps({"count": int(self.state["windows_updates"])}))
            if "Checkpoint-Computer" in script:
                self.state["restore_points"] += 1
                return ok()
            if "Get-ComputerRestorePoint" in script:
                return ok(json.dumps({"SequenceNumber": self.state["restore_points"], "Description": "TechCare",
                                      "AgeHours": 0.1}))
            if "CheckHealth" in script:
                return ok(self.state["component_store"] + "\r\n")
            if "Set-NetFirewallProfile" in script:
                on = "-Enabled True" in script
                for name in ("domain", "private", "public"):
                    if name.capitalize() in script.split("-Profile", 1)[1].split("-Enabled")[0]:
                        self.state["firewall"][name] = on
                return ok()
            if "Get-NetFirewallProfile" in script:
                return ok(json.dumps([{"Name": n.capitalize(), "Enabled": str(v)}
                                      for n, v in self.state["firewall"].items()]))
            for verb, state in (("Restart-Service", "RUNNING"), ("Start-Service", "RUNNING"),
                                ("Stop-Service", "STOPPED")):
                if verb in script:
                    name = script.split("-Name", 1)[1].split()[0].strip("'\"").lower() if "-Name" in script else ""
                    if name:
                        services[name] = state
                    return ok()
        if exe == "dism.exe":
            self.state["component_store"] = "Healthy"
            return ok("The restore operation completed successfully.\r\n")
        if exe == "sfc.exe":
            return ok("Windows Resource Protection did not find any integrity violations.\r\n")
        if argv[0] == _SOCKETFILTERFW and len(argv) >= 2:
            if argv[1] == "--setglobalstate" and len(argv) >= 3:
                self.state["mac_firewall"] = argv[2] == "on"
                return ok(f"Firewall is {'enabled' if self.state['mac_firewall'] else 'disabled'}. (State = "
                          f"{int(self.state['mac_firewall'])})\n")
            if argv[1] == "--getglobalstate":
                return ok(f"Firewall is {'enabled' if self.state['mac_firewall'] else 'disabled'}. (State = "
                          f"{int(self.state['mac_firewall'])})\n")
        return ok()
