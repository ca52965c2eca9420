"""Typed records the probes return, identical on every OS.

Per-OS modules (``_linux.py``, ``_windows.py``, ``_macos.py``) build these from raw command output; the
public ``techcare.system`` layer and the diagnosis only ever see these types.

A probe always answers with a :class:`ProbeResult`:
- ``status="ok"``: ``data`` holds the record(s) below;
- ``status="unknown"``: the probe could not find out; ``reason_code`` + ``reason`` say why (never "healthy");
- ``status="unsupported"``: this probe does not exist on this platform (``reason`` says so).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .runner import NOT_FOUND, NOT_RECORDED, PERMISSION_DENIED, TIMEOUT, CommandResult

__all__ = [
    "PROBES",
    "AntivirusProduct",
    "AntivirusStatus",
    "DiskHealth",
    "DiskUsage",
    "EventRecord",
    "FirewallProfile",
    "FirewallStatus",
    "Metrics",
    "PackageUpdate",
    "PendingReboot",
    "PendingUpdates",
    "ProbeResult",
    "ServiceState",
    "UpdateServiceStatus",
    "command_unknown",
    "unknown",
    "unsupported",
]

#: Every probe, in display order. Each per-OS module defines a function of each name taking a runner.
PROBES = ("metrics", "firewall", "antivirus", "update_service", "services", "pending_updates", "pending_reboot",
          "events", "smart")

# reason codes for status="unknown"
NEEDS_ADMIN = "needs_admin"
TOOL_MISSING = "tool_missing"
TIMED_OUT = "timeout"
NO_SYSTEMD = "no_systemd"
NOT_IN_SNAPSHOT = "not_recorded"
PARSE_ERROR = "parse_error"
FAILED = "failed"
UNSUPPORTED = "unsupported"


@dataclass
class ProbeResult:
    probe: str
    status: str = "ok"                 # ok | unknown | unsupported
    data: Any = None
    reason: str | None = None          # human-readable English reason when not ok ("needs elevation: run as admin")
    reason_code: str | None = None     # needs_admin | tool_missing | timeout | no_systemd | not_recorded | parse_error | failed
    source: str | None = None          # which tool answered ("ufw", "Get-MpComputerStatus", "smartctl")
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe, "status": self.status, "reason": self.reason, "reason_code": self.reason_code,
                "source": self.source, "duration": round(self.duration, 4), "data": to_jsonable(self.data)}

    def to_frame(self):  # -> pandas.DataFrame
        import pandas as pd

        data = self.data
        if data is None:
            return pd.DataFrame([{"probe": self.probe, "status": self.status, "reason": self.reason}])
        if hasattr(data, "to_rows"):
            return pd.DataFrame(data.to_rows())
        if isinstance(data, list):
            return pd.DataFrame([to_jsonable(item) for item in data])
        return pd.DataFrame([to_jsonable(data)])


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value


def unknown(probe: str, reason_code: str, reason: str, *, source: str | None = None, data: Any = None) -> ProbeResult:
    return ProbeResult(probe, "unknown", data, reason, reason_code, source)


def unsupported(probe: str, platform: str) -> ProbeResult:
    return ProbeResult(probe, "unsupported", None, f"not available on {platform}", UNSUPPORTED)


def command_unknown(probe: str, result: CommandResult, *, source: str | None = None) -> ProbeResult:
    """Turn a command that did not give a usable answer into an explained ``unknown``."""
    tool = source or (result.argv[0] if result.argv else "?")
    text = f"{result.stderr} {result.stdout}".lower()
    if result.error == NOT_FOUND:
        return unknown(probe, TOOL_MISSING, f"{tool} is not installed", source=tool)
    if result.error == TIMEOUT:
        return unknown(probe, TIMED_OUT, f"{tool} did not answer in time", source=tool)
    if result.error == NOT_RECORDED:
        return unknown(probe, NOT_IN_SNAPSHOT, f"{tool} output is not in the snapshot", source=tool)
    if result.error == PERMISSION_DENIED or any(word in text for word in (
            "permission denied", "access is denied", "access denied", "must be root", "need to be root",
            "requires root", "operation not permitted", "administrator", "requested operation requires elevation",
            "zugriff verweigert")):
        return unknown(probe, NEEDS_ADMIN, f"{tool} needs elevation (run TechCare as administrator/root)", source=tool)
    if "has not been booted with systemd" in text or "failed to connect to bus" in text:
        return unknown(probe, NO_SYSTEMD, "systemd is not running on this machine", source=tool)
    detail = (result.stderr or result.stdout).strip().splitlines()
    return unknown(probe, FAILED, f"{tool} failed (exit {result.returncode}): {detail[0][:200] if detail else 'no output'}",
                   source=tool)


# ---- records -------------------------------------------------------------------------------------------

@dataclass
class DiskUsage:
    mount: str
    total: int
    used: int
    free: int
    percent: float
    device: str = ""
    fstype: str = ""


@dataclass
class Metrics:
    cpu_percent: float
    ram_percent: float
    ram_total: int = 0
    ram_available: int = 0
    swap_percent: float | None = None
    disks: list[DiskUsage] = field(default_factory=list)
    uptime_seconds: float | None = None
    load_avg: list[float] | None = None
    cpu_count: int = 1

    def to_rows(self) -> list[dict[str, Any]]:
        return [{"mount": d.mount, "device": d.device, "fstype": d.fstype, "total_gb": round(d.total / 1e9, 2),
                 "used_gb": round(d.used / 1e9, 2), "free_gb": round(d.free / 1e9, 2), "percent": d.percent}
                for d in self.disks]


@dataclass
class FirewallProfile:
    name: str
    enabled: bool | None


@dataclass
class FirewallStatus:
    enabled: bool | None               # None: present but state unknown
    product: str                       # ufw | firewalld | nftables | iptables | Windows Firewall | Application Firewall | none
    profiles: list[FirewallProfile] = field(default_factory=list)
    detail: str = ""


@dataclass
class AntivirusProduct:
    name: str
    enabled: bool | None = None
    realtime: bool | None = None
    up_to_date: bool | None = None
    signature_age_days: int | None = None
    detail: str = ""


@dataclass
class AntivirusStatus:
    products: list[AntivirusProduct] = field(default_factory=list)

    @property
    def protected(self) -> bool | None:
        if not self.products:
            return False
        states = [p.enabled for p in self.products]
        if any(s is True for s in states):
            return True
        return None if any(s is None for s in states) else False

    def to_rows(self) -> list[dict[str, Any]]:
        return [to_jsonable(p) for p in self.products]


@dataclass
class ServiceState:
    name: str
    state: str                         # running | stopped | failed | ... (lower case)
    start_type: str | None = None      # auto | manual | disabled | ... (lower case)
    display_name: str = ""
    description: str = ""


@dataclass
class UpdateServiceStatus:
    name: str                          # wuauserv | unattended-upgrades | softwareupdated | ...
    state: str | None                  # running | stopped | ...
    start_type: str | None             # auto | manual | disabled
    problem: bool                      # True only when it cannot deliver updates (wuauserv: Disabled)
    detail: str = ""


@dataclass
class PackageUpdate:
    name: str
    current_version: str | None = None
    new_version: str | None = None
    source: str = ""                   # suite/repo/category
    security: bool = False
    severity: str | None = None        # MSRC severity on Windows (Critical/Important/Moderate/Low)
    kb: list[str] = field(default_factory=list)
    reboot_required: bool | None = None
    size: str | None = None


@dataclass
class PendingUpdates:
    manager: str                       # apt | dnf | zypper | pacman | windows_update | softwareupdate
    updates: list[PackageUpdate] = field(default_factory=list)
    detail: str = ""                   # e.g. "package lists last refreshed 12 days ago"

    @property
    def count(self) -> int:
        return len(self.updates)

    @property
    def security_count(self) -> int:
        return sum(1 for u in self.updates if u.security)

    def to_rows(self) -> list[dict[str, Any]]:
        return [{"manager": self.manager, **to_jsonable(u)} for u in self.updates]


@dataclass
class PendingReboot:
    required: bool
    sources: list[str] = field(default_factory=list)   # which signals said so


@dataclass
class EventRecord:
    time: str | None                   # ISO 8601 with offset
    level: str                         # critical | error
    source: str                        # provider / unit / subsystem
    message: str
    event_id: int | None = None
    log: str | None = None             # System | Application | journal | unified log


@dataclass
class DiskHealth:
    device: str
    health: str                        # passed | warning | failing | unknown
    model: str = ""
    serial: str = ""
    protocol: str = ""                 # ATA | NVMe | SCSI | ...
    smart_passed: bool | None = None
    temperature_c: float | None = None
    power_on_hours: int | None = None
    percentage_used: int | None = None # NVMe wear
    failing_attributes: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    exit_status: int | None = None
