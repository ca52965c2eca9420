"""Typed records the probes return, identical on every OS.

Per-OS modules (``_linux.py``, ``_windows.py``, ``_macos.py``) build these from raw command output; the
public ``techcare.system`` layer and the diagnosis only ever see these types.

A probe always answers with a :class:`ProbeResult`:
- ``status="ok"``: ``data`` holds the record(s) below;
- ``status="unknown"``: the probe could not find out; ``reason_code`` + ``reason`` say why (never "healthy");
- ``status="unsupported"``: this probe does not exist on this platform (``reason`` says so).

Reasons and other explanations the probes write (``detail``, ``issues``) are messages (:class:`~techcare.i18n.Message`):
German and English, shown in the reader's language; what the machine reported goes in unchanged.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from ..i18n import Message, localize, msg
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
    "command_problem",
    "command_unknown",
    "unknown",
    "unsupported",
    "visible",
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
    reason: Message | None = None      # why it is not ok, in German and English (a plain str is taken as data)
    reason_code: str | None = None     # needs_admin | tool_missing | timeout | no_systemd | not_recorded | parse_error | failed
    source: str | None = None          # which tool answered ("ufw", "Get-MpComputerStatus", "smartctl")
    duration: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.reason, str):
            self.reason = Message.data(self.reason)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """Plain data; ``reason`` in ``lang`` (default: the active language), both languages beside it."""
        reason = self.reason
        return {"probe": self.probe, "status": self.status, "reason": localize(reason, lang) if reason else None,
                "reason_de": reason.de if reason else None, "reason_en": reason.en if reason else None,
                "reason_code": self.reason_code, "source": self.source, "duration": round(self.duration, 4),
                "data": to_jsonable(self.data, lang)}

    def to_frame(self):  # -> pandas.DataFrame
        import pandas as pd

        data = self.data
        if data is None:
            return pd.DataFrame([{"probe": self.probe, "status": self.status, "reason": localize(self.reason)}])
        if hasattr(data, "to_rows"):
            return pd.DataFrame(data.to_rows())
        if isinstance(data, list):
            return pd.DataFrame([to_jsonable(item) for item in data])
        return pd.DataFrame([to_jsonable(data)])


def to_jsonable(value: Any, lang: str | None = None) -> Any:
    """Records as plain JSON data; a :class:`Message` becomes its text in ``lang`` (default: the active one)."""
    if isinstance(value, Message):
        return value.text(lang)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), lang) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, lang) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, lang) for k, v in value.items()}
    return value


def unknown(probe: str, reason_code: str, reason: Message | str, *, source: str | None = None,
            data: Any = None) -> ProbeResult:
    """An explained ``unknown``: ``reason`` is a :func:`~techcare.i18n.msg` (a plain str is shown as it is)."""
    return ProbeResult(probe, "unknown", data, reason, reason_code, source)


def unsupported(probe: str, platform: str) -> ProbeResult:
    return ProbeResult(probe, "unsupported", None, msg("auf {p} nicht verfügbar", "not available on {p}", p=platform),
                       UNSUPPORTED)


def command_problem(result: CommandResult, tool: str | None = None) -> tuple[str, Message]:
    """Why a command gave no usable answer: a reason code and a German/English message (the tool's own error
    line goes in unchanged). For probes, driver sources and anything else that shows a failed command."""
    tool = tool or (result.argv[0] if result.argv else "?")
    text = f"{result.stderr} {result.stdout}".lower()
    if result.error == NOT_FOUND:
        return TOOL_MISSING, msg("{t} ist nicht installiert", "{t} is not installed", t=tool)
    if result.error == TIMEOUT:
        return TIMED_OUT, msg("{t} hat nicht rechtzeitig geantwortet", "{t} did not answer in time", t=tool)
    if result.error == NOT_RECORDED:
        return NOT_IN_SNAPSHOT, msg("Ausgabe von {t} ist nicht im Snapshot", "{t} output is not in the snapshot", t=tool)
    if result.error == PERMISSION_DENIED or any(word in text for word in (
            "permission denied", "access is denied", "access denied", "must be root", "need to be root",
            "requires root", "operation not permitted", "administrator", "requested operation requires elevation",
            "zugriff verweigert")):
        return NEEDS_ADMIN, msg("{t} braucht Administratorrechte (TechCare als Administrator/root starten)",
                                "{t} needs elevation (run TechCare as administrator/root)", t=tool)
    if "has not been booted with systemd" in text or "failed to connect to bus" in text:
        return NO_SYSTEMD, msg("systemd läuft auf diesem Rechner nicht", "systemd is not running on this machine")
    detail = (result.stderr or result.stdout).strip().splitlines()
    if not detail:
        return FAILED, msg("{t} ist fehlgeschlagen (Exit {c}) ohne Ausgabe", "{t} failed (exit {c}): no output", t=tool,
                           c=result.returncode)
    return FAILED, msg("{t} ist fehlgeschlagen (Exit {c}): {d}", "{t} failed (exit {c}): {d}", t=tool,
                       c=result.returncode, d=detail[0][:200])


def command_unknown(probe: str, result: CommandResult, *, source: str | None = None) -> ProbeResult:
    """Turn a command that did not give a usable answer into an explained ``unknown``."""
    tool = source or (result.argv[0] if result.argv else "?")
    code, reason = command_problem(result, tool)
    return unknown(probe, code, reason, source=tool)


# Control characters (C0 but tab and newline, DEL, C1) and the bidirectional overrides: a value read from a machine or
# a snapshot that contains them could move the cursor, recolour or retitle the technician's terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(value: Any, limit: int = 2000) -> str:
    """``value`` as text safe to print in a terminal: control characters shown as escapes (``\\x1b``) instead of
    acting, and at most ``limit`` characters (the rest cut off with a mark saying how much)."""
    text = str(value)
    cut = len(text) - limit if len(text) > limit else 0
    if cut:
        text = text[:limit]
    text = _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if cut:
        text += localize(msg(" … [{n} Zeichen abgeschnitten]", " … [{n} characters cut off]", n=cut))
    return text


def json_visible(text: str) -> str:
    """JSON text safe to print in a terminal and the same JSON to a parser: C1 controls and bidirectional overrides
    (which ``json.dumps(..., ensure_ascii=False)`` writes as they are; C0 it escapes itself) as ``\\uXXXX``."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# ---- records -------------------------------------------------------------------------------------------

@dataclass
class DiskUsage:
    mount: str
    total: int | None                  # None: not measured (never read as 0)
    used: int | None
    free: int | None
    percent: float | None
    device: str = ""
    fstype: str = ""


def _gb(value: int | None) -> float | None:
    return round(value / 1e9, 2) if value is not None else None


@dataclass
class Metrics:
    cpu_percent: float | None          # None: not measured, the diagnosis says "unknown" (never "0 %, ok")
    ram_percent: float | None
    ram_total: int = 0
    ram_available: int = 0
    swap_percent: float | None = None
    disks: list[DiskUsage] = field(default_factory=list)
    uptime_seconds: float | None = None
    load_avg: list[float] | None = None
    cpu_count: int = 1

    def to_rows(self) -> list[dict[str, Any]]:
        return [{"mount": d.mount, "device": d.device, "fstype": d.fstype, "total_gb": _gb(d.total),
                 "used_gb": _gb(d.used), "free_gb": _gb(d.free), "percent": d.percent}
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
    detail: Message | str = ""          # an explanation (Message); plain str is data


@dataclass
class AntivirusProduct:
    name: str
    enabled: bool | None = None
    realtime: bool | None = None
    up_to_date: bool | None = None
    signature_age_days: int | None = None
    detail: Message | str = ""


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
    detail: Message | str = ""


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
    summary: str = ""                  # one line as the manager wrote it (a zypper patch: "Security update for qemu")


@dataclass
class PendingUpdates:
    manager: str                       # apt | dnf | zypper | pacman | apk | windows_update | softwareupdate
    updates: list[PackageUpdate] = field(default_factory=list)
    detail: Message | str = ""         # e.g. "package lists last refreshed 12 days ago"
    #: Advisories that group package updates (zypper patches: name = patch id, severity, security by category).
    patches: list[PackageUpdate] = field(default_factory=list)
    #: False when nothing here can tell security updates apart (pacman, apk; or the advisory list was not
    #: readable): ``security_count`` is then not a measurement and must not be shown as "0 security".
    security_known: bool = True

    @property
    def count(self) -> int:
        return len(self.updates)

    @property
    def security_count(self) -> int:
        return sum(1 for u in (*self.updates, *self.patches) if u.security)

    def to_rows(self) -> list[dict[str, Any]]:
        return [{"manager": self.manager, "kind": kind, **to_jsonable(u)}
                for kind, items in (("package", self.updates), ("patch", self.patches)) for u in items]


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
    issues: list[Message | str] = field(default_factory=list)  # explanations (Message) or data
    exit_status: int | None = None
