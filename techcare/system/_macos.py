"""Read-only probes for macOS.

Every command goes through the :class:`~techcare.system.runner.CommandRunner`; the exact argv of each command
is a module-level constant (or built by a small helper) because the standalone capture script
(``capture/capture.sh``) must run exactly the same argv for a snapshot to replay. Tools are called by absolute
path so a restricted ``PATH`` (launchd, MDM agents) cannot hide them.

Each probe is split into a pure parser (``parse_<thing>(text) -> records``, tested on real published outputs)
and a probe function that runs the command and explains every case where the truth cannot be found out as
``status="unknown"`` (tool missing, needs admin, timeout, not recorded in a snapshot, unparseable output).

Rules worth knowing (see the docstrings for the details):
- firewall: Application Firewall ``socketfilterfw --getglobalstate`` (State 0 off, 1 on, 2 block all).
- antivirus: XProtect (bundle version from its Info.plist; the age of its last update from the install
  history) plus third-party products recognised by their application bundle in ``/Applications``.
- update service: ``softwareupdate --schedule``; automatic checking turned off is the problem.
- services: ``launchctl list``; a job counts as failed only when it is not running now and its last exit says
  it failed — a positive exit status for third-party jobs, a crash signal for any job (see :func:`parse_launchctl_list`).
- pending updates / reboot: ``softwareupdate -l`` in the 10.15+ and the older format ("No new software
  available." arrives on stderr with exit 0). Firmware and device-driver packages Apple ships through the same
  channel (:func:`apple_update_kind`) are driver updates: the driver report lists them, pending updates do not.
- events: ``log show --last 1h --predicate 'messageType == error' --style json``, newest 5.
- SMART: ``diskutil list -plist`` -> physical whole disks -> ``diskutil info -plist diskN`` (SMARTStatus,
  plus the NVMe health keys Apple publishes under ``SMARTDeviceSpecificKeysMayVaryNotGuaranteed``).
"""

from __future__ import annotations

import json
import plistlib
import re
import threading
import time
import weakref
from datetime import datetime, timezone
from typing import Any

from ..i18n import Message, msg
from ._common import ParseError, metrics_from_fact, time_sort_key, to_int, version_key
from .records import (
    FAILED,
    NEEDS_ADMIN,
    NOT_IN_SNAPSHOT,
    PARSE_ERROR,
    AntivirusProduct,
    AntivirusStatus,
    DiskHealth,
    EventRecord,
    FirewallStatus,
    PackageUpdate,
    PendingReboot,
    PendingUpdates,
    ProbeResult,
    ServiceState,
    UpdateServiceStatus,
    command_unknown,
    unknown,
)
from .runner import NOT_FOUND, NOT_RECORDED, PERMISSION_DENIED, CommandResult, CommandRunner

PLATFORM = "darwin"

# ---- argv (mirrored byte for byte by capture/capture.sh) ------------------------------------------------

SOCKETFILTERFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"
SOFTWAREUPDATE = "/usr/sbin/softwareupdate"
LAUNCHCTL = "/bin/launchctl"
LOG = "/usr/bin/log"
DISKUTIL = "/usr/sbin/diskutil"
SYSTEM_PROFILER = "/usr/sbin/system_profiler"

FIREWALL_ARGV = (SOCKETFILTERFW, "--getglobalstate")
UPDATE_SCHEDULE_ARGV = (SOFTWAREUPDATE, "--schedule")
UPDATE_LIST_ARGV = (SOFTWAREUPDATE, "-l")
LAUNCHCTL_LIST_ARGV = (LAUNCHCTL, "list")
LOG_SHOW_ARGV = (LOG, "show", "--last", "1h", "--predicate", "messageType == error", "--style", "json")
DISKUTIL_LIST_ARGV = (DISKUTIL, "list", "-plist")
INSTALL_HISTORY_ARGV = (SYSTEM_PROFILER, "SPInstallHistoryDataType", "-json")


def diskutil_info_argv(disk: str) -> tuple[str, ...]:
    """``diskutil info -plist diskN`` for one whole disk (``disk`` as listed by ``diskutil list -plist``)."""
    return (DISKUTIL, "info", "-plist", disk)


#: XProtect's version lives in one of these plists, newest layout first (10.15+, 10.14, 10.13 and older).
XPROTECT_PLISTS = (
    "/Library/Apple/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist",
    "/System/Library/CoreServices/XProtect.bundle/Contents/Info.plist",
    "/System/Library/CoreServices/CoreTypes.bundle/Contents/Resources/XProtect.meta.plist",
)
APPLICATIONS_DIR = "/Applications"

#: Application bundles of third-party antivirus products (name in /Applications -> product name).
THIRD_PARTY_AV = {
    "Avast.app": "Avast Security",
    "AVG AntiVirus.app": "AVG AntiVirus",
    "Avira Security.app": "Avira Security",
    "Bitdefender Virus Scanner.app": "Bitdefender Virus Scanner",
    "Antivirus for Mac.app": "Bitdefender Antivirus for Mac",
    "Bitdefender": "Bitdefender",
    "ClamXAV.app": "ClamXAV",
    "ESET Endpoint Antivirus.app": "ESET Endpoint Antivirus",
    "ESET Cyber Security.app": "ESET Cyber Security",
    "ESET Endpoint Security.app": "ESET Endpoint Security",
    "Falcon.app": "CrowdStrike Falcon",
    "Intego": "Intego VirusBarrier",
    "VirusBarrier.app": "Intego VirusBarrier",
    "Kaspersky Security.app": "Kaspersky Security",
    "Kaspersky Internet Security.app": "Kaspersky Internet Security",
    "Malwarebytes.app": "Malwarebytes",
    "McAfee Endpoint Security for Mac.app": "McAfee Endpoint Security",
    "McAfee LiveSafe Internet Security.app": "McAfee LiveSafe",
    "Microsoft Defender.app": "Microsoft Defender",
    "Microsoft Defender ATP.app": "Microsoft Defender",
    "Norton 360.app": "Norton 360",
    "Norton Security.app": "Norton Security",
    "SentinelOne": "SentinelOne",
    "Sophos": "Sophos",
    "Sophos Home.app": "Sophos Home",
    "Trend Micro Antivirus.app": "Trend Micro Antivirus",
    "Webroot SecureAnywhere.app": "Webroot SecureAnywhere",
}

# What a capture records of these requests (and of the drivers module's) is declared once, in
# techcare/system/recorded.py (DARWIN): one ``diskutil_info_argv(disk)`` per whole disk of ``diskutil list -plist``
# (all ``WholeDisks`` may be recorded; synthesized APFS containers are simply never asked), each path of
# ``XPROTECT_PLISTS`` (a missing file recorded as ``error: not_found``), the facts ``host`` and ``metrics``.

#: XProtect data normally changes every few weeks; older than this (by the install history) is "out of date".
XPROTECT_MAX_AGE_DAYS = 60

#: launchd reports a job killed by a signal as the negative signal number. These signals mean the program
#: crashed (SIGILL, SIGTRAP, SIGABRT, SIGFPE, SIGBUS, SIGSEGV, SIGSYS); SIGKILL (-9, jetsam / idle exit) and
#: SIGTERM (-15, logout / normal stop) are routine and never count as a failure.
CRASH_SIGNALS = {4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 8: "SIGFPE", 10: "SIGBUS", 11: "SIGSEGV", 12: "SIGSYS"}

#: How long a shared ``softwareupdate -l`` answer is reused by pending_updates and pending_reboot.
_SHARED_TTL = 120.0
UPDATE_LIST_TIMEOUT = 90.0
LOG_SHOW_TIMEOUT = 60.0
#: Read by techcare.system.run_probes: these probes may take longer than the global PROBE_TIMEOUT.
PROBE_TIMEOUTS = {"pending_updates": UPDATE_LIST_TIMEOUT + 5, "pending_reboot": UPDATE_LIST_TIMEOUT + 5,
                  "events": LOG_SHOW_TIMEOUT + 5}


# ---- shared helpers -----------------------------------------------------------------------------------------

_shared: weakref.WeakKeyDictionary[CommandRunner, dict[tuple[str, ...], tuple[float, CommandResult]]] = \
    weakref.WeakKeyDictionary()
_locks: weakref.WeakKeyDictionary[CommandRunner, threading.Lock] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def _run_shared(runner: CommandRunner, argv: tuple[str, ...], timeout: float) -> CommandResult:
    """Run ``argv`` once for several probes of the same diagnosis (``softwareupdate -l`` is slow and may go
    to the network): concurrent callers wait for the first, later ones reuse its answer for a short while."""
    try:
        with _shared_lock:
            lock = _locks.setdefault(runner, threading.Lock())
    except TypeError:  # a runner that cannot be weakly referenced: no sharing
        return runner.run(argv, timeout=timeout)
    with lock:
        with _shared_lock:
            cached = _shared.get(runner, {}).get(argv)
        if cached and time.monotonic() - cached[0] < _SHARED_TTL:
            return cached[1]
        result = runner.run(argv, timeout=timeout)
        with _shared_lock:
            _shared.setdefault(runner, {})[argv] = (time.monotonic(), result)
        return result


def _text(result: CommandResult) -> str:
    return f"{result.stdout}\n{result.stderr}"


def _needs_admin(result: CommandResult) -> bool:
    text = _text(result).lower()
    return result.error == PERMISSION_DENIED or any(word in text for word in (
        "must be admin", "must be run as root", "must be root", "requires root", "not permitted",
        "permission denied", "you need to be root", "need administrator"))


def _unknown_from(probe: str, result: CommandResult, source: str) -> ProbeResult:
    if result.error is None and _needs_admin(result):
        return unknown(probe, NEEDS_ADMIN, msg("{s} braucht Administratorrechte (TechCare als Admin/root starten)",
                                               "{s} needs administrator rights (run TechCare as admin/root)", s=source),
                       source=source)
    return command_unknown(probe, result, source=source)


def _not_understood(probe: str, source: str, exc: Exception) -> ProbeResult:
    """An explained unknown for output of the documented tool that had another shape."""
    return unknown(probe, PARSE_ERROR, msg("Ausgabe von {s} nicht verstanden: {e}", "{s} output not understood: {e}",
                                           s=source, e=exc), source=source)


def _plist(text: str) -> Any:
    """Parse an XML (or binary-as-text) property list; raises :class:`ParseError`."""
    data = text.lstrip("\ufeff").strip()
    if not data:
        raise ParseError("empty plist")
    try:
        return plistlib.loads(data.encode("utf-8"))
    except (plistlib.InvalidFileException, ValueError, TypeError, AttributeError) as exc:  # expat errors are ValueError
        raise ParseError(f"not a property list: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - xml.parsers.expat.ExpatError and friends
        raise ParseError(f"not a property list: {exc}") from None


# ---- firewall -------------------------------------------------------------------------------------------

_FW_STATE = re.compile(r"\(State\s*=\s*(\d+)\)")


def parse_firewall_state(text: str) -> FirewallStatus:
    """``socketfilterfw --getglobalstate``: ``Firewall is enabled. (State = 1)``, ``Firewall is disabled.
    (State = 0)`` or ``Firewall is blocking all non-essential incoming connections. (State = 2)``."""
    match = _FW_STATE.search(text)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if match:
        state = int(match.group(1))
        if state == 0:
            return FirewallStatus(False, "Application Firewall", detail=line)
        if state in (1, 2):
            detail = msg("{l} (blockiert alle eingehenden Verbindungen)", "{l} (blocks all incoming connections)",
                         l=line) if state == 2 else line
            return FirewallStatus(True, "Application Firewall", detail=detail)
        raise ParseError(f"unknown firewall state {state}")
    lowered = text.lower()
    if "firewall is disabled" in lowered:
        return FirewallStatus(False, "Application Firewall", detail=line)
    if "firewall is enabled" in lowered or "blocking all" in lowered:
        return FirewallStatus(True, "Application Firewall", detail=line)
    raise ParseError(f"unexpected socketfilterfw output: {line[:120]!r}")


def firewall(runner: CommandRunner) -> ProbeResult:
    result = runner.run(FIREWALL_ARGV, timeout=15)
    if not result.ok:
        return _unknown_from("firewall", result, "socketfilterfw")
    try:
        return ProbeResult("firewall", "ok", parse_firewall_state(result.stdout or result.stderr),
                           source="socketfilterfw")
    except ParseError as exc:
        return _not_understood("firewall", "socketfilterfw", exc)


# ---- antivirus ------------------------------------------------------------------------------------------

def parse_xprotect_version(text: str) -> str:
    """XProtect's version from its ``Info.plist`` (CFBundleShortVersionString) or, before 10.14, from
    ``XProtect.meta.plist`` (``Version``)."""
    data = _plist(text)
    if not isinstance(data, dict):
        raise ParseError("XProtect plist is not a dictionary")
    for key in ("CFBundleShortVersionString", "CFBundleVersion", "Version"):
        value = data.get(key)
        if value not in (None, ""):
            return str(value)
    raise ParseError("XProtect plist has no version key")


def parse_install_history(text: str) -> list[dict[str, Any]]:
    """``system_profiler SPInstallHistoryDataType -json`` -> ``[{name, version, date (aware datetime), source}]``."""
    try:
        data = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise ParseError(f"install history is not JSON: {exc.msg}") from None
    items = data.get("SPInstallHistoryDataType") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ParseError("install history JSON lacks SPInstallHistoryDataType")
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        when = _iso_date(item.get("install_date"))
        out.append({"name": str(item.get("_name", "")), "version": str(item.get("install_version", "") or ""),
                    "date": when, "source": str(item.get("package_source", "") or "")})
    return out


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def xprotect_status(version: str | None, history: list[dict[str, Any]] | None, now: float,
                    *, max_age_days: int = XPROTECT_MAX_AGE_DAYS) -> AntivirusProduct:
    """XProtect as an :class:`AntivirusProduct`.

    XProtect cannot be switched off by the user, so a present bundle is ``enabled``. Its age comes from the
    newest ``XProtectPlistConfigData`` install in the install history — but only when that entry is the
    installed version: since macOS 15 XProtect also updates itself outside the install history, so an
    installed version newer than the newest record means the age is simply not known (never "outdated").
    """
    first = msg("Version {v}", "version {v}", v=version)
    product = AntivirusProduct("XProtect", enabled=True, realtime=True, detail=first)
    records = [h for h in history or [] if h["name"].lower().startswith("xprotect") and h["date"] is not None]
    if not records:
        product.detail = first + msg("; letztes Update unbekannt (keine Installationshistorie)",
                                     "; last update unknown (no install history)")
        return product
    if version:  # records of versions newer than the installed one say nothing about its age
        records = [h for h in records if not h["version"] or version_key(h["version"]) <= version_key(version)]
    if not records:
        product.detail = first + msg("; kein Installationseintrag dieser Version, Alter unbekannt",
                                     "; no install record of this version, age unknown")
        return product
    newest = max(records, key=lambda h: h["date"])
    if version and newest["version"] and version_key(version) > version_key(newest["version"]):
        product.detail = first + msg("; außerhalb der Installationshistorie aktualisiert (neuester Eintrag {n}), "
                                     "Alter unbekannt", "; updated outside the install history (newest record {n}), "
                                     "age unknown", n=newest["version"])
        return product
    age_days = max(0, int((now - newest["date"].timestamp()) // 86400))
    product.signature_age_days = age_days
    product.up_to_date = age_days <= max_age_days
    product.detail = first + msg("; letztes Update {d} (vor {a} Tagen)", "; last update {d} ({a} days ago)",
                                 d=newest["date"].date().isoformat(), a=age_days)
    return product


def detect_third_party_av(entries: list[str] | None) -> list[AntivirusProduct]:
    """Third-party antivirus recognised by its bundle in /Applications. Whether it is switched on cannot be
    read without the vendor's tools, so ``enabled`` stays unknown (``None``)."""
    found: dict[str, AntivirusProduct] = {}
    for entry in entries or []:
        name = THIRD_PARTY_AV.get(entry)
        if name and name not in found:
            found[name] = AntivirusProduct(name, enabled=None, detail=msg("{p} installiert", "{p} installed",
                                                                          p=f"{APPLICATIONS_DIR}/{entry}"))
    return list(found.values())


def antivirus(runner: CommandRunner) -> ProbeResult:
    version: str | None = None
    reasons: list[str] = []
    missing = 0
    for path in XPROTECT_PLISTS:
        file = runner.read_file(path)
        if file.ok:
            try:
                version = parse_xprotect_version(file.content or "")
                break
            except ParseError as exc:
                reasons.append(f"{path}: {exc}")
        elif file.error == NOT_FOUND:
            missing += 1
        elif file.error == NOT_RECORDED:
            return unknown("antivirus", NOT_IN_SNAPSHOT, msg("Info.plist von XProtect ist nicht im Snapshot",
                                                             "XProtect's Info.plist is not in the snapshot"),
                           source="XProtect")
        else:
            reasons.append(f"{path}: {file.error}")
    products: list[AntivirusProduct] = []
    if version is not None:
        history = None
        result = runner.run(INSTALL_HISTORY_ARGV, timeout=60)
        if result.ok:
            try:
                history = parse_install_history(result.stdout)
            except ParseError:
                history = None  # age unknown (macOS 10.14's system_profiler has no -json)
        products.append(xprotect_status(version, history, runner.now()))
    elif missing != len(XPROTECT_PLISTS):
        return unknown("antivirus", FAILED, msg("Version von XProtect nicht lesbar: {r}",
                                                "XProtect version could not be read: {r}", r="; ".join(reasons)),
                       source="XProtect")
    products.extend(detect_third_party_av(runner.list_dir(APPLICATIONS_DIR)))
    return ProbeResult("antivirus", "ok", AntivirusStatus(products), source="XProtect")


# ---- update service ---------------------------------------------------------------------------------------

def parse_update_schedule(text: str) -> UpdateServiceStatus:
    """``softwareupdate --schedule``: ``Automatic checking for updates is turned on|off`` (10.14 and older:
    ``Automatic check is on|off``). Off is a problem: the Mac no longer looks for (security) updates."""
    lowered = " ".join(text.lower().split())
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    if re.search(r"automatic check(ing for updates)? is (turned )?on\b", lowered):
        return UpdateServiceStatus("softwareupdate", "on", "auto", False, detail=line)
    if re.search(r"automatic check(ing for updates)? is (turned )?off\b", lowered):
        return UpdateServiceStatus("softwareupdate", "off", "disabled", True, detail=line)
    raise ParseError(f"unexpected softwareupdate --schedule output: {line[:120]!r}")


def update_service(runner: CommandRunner) -> ProbeResult:
    result = runner.run(UPDATE_SCHEDULE_ARGV, timeout=30)
    if result.error is not None or not (result.stdout.strip() or result.stderr.strip()):
        return _unknown_from("update_service", result, "softwareupdate")
    try:
        status = parse_update_schedule(_text(result))
    except ParseError as exc:
        if result.returncode != 0:
            return _unknown_from("update_service", result, "softwareupdate")
        return _not_understood("update_service", "softwareupdate", exc)
    return ProbeResult("update_service", "ok", status, source="softwareupdate")


# ---- services (launchd) -----------------------------------------------------------------------------------

def parse_launchctl_list(text: str) -> list[dict[str, Any]]:
    """``launchctl list``: a ``PID<TAB>Status<TAB>Label`` header, then one job a line; PID and Status are
    ``-`` when the job is not running / never exited. Returns ``[{pid, status, label}]`` (ints or None)."""
    rows = []
    seen_header = False
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            parts = line.split(None, 2)
        if len(parts) < 3:
            raise ParseError(f"unexpected launchctl line: {line[:120]!r}")
        pid, status, label = parts[0].strip(), parts[1].strip(), parts[2].strip()
        if (pid, status, label) == ("PID", "Status", "Label"):
            seen_header = True
            continue
        try:
            rows.append({"pid": None if pid == "-" else int(pid), "status": None if status == "-" else int(status),
                         "label": label})
        except ValueError:
            raise ParseError(f"unexpected launchctl line: {line[:120]!r}") from None
    if not seen_header and not rows:
        raise ParseError("launchctl list printed nothing")
    return rows


def failed_launchd_jobs(rows: list[dict[str, Any]]) -> list[ServiceState]:
    """The jobs a technician should look at, by this rule:

    - a job that is running now (it has a PID) is not failed, whatever its last exit was;
    - GUI application instances (``application.*``) are apps, not services: ignored;
    - a crash signal (SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGTRAP, SIGFPE, SIGSYS) counts for every job;
    - a positive exit status counts for third-party jobs only; Apple's own agents (``com.apple.*``) exit
      non-zero routinely (e.g. 78 = EX_CONFIG when a feature is unused) and are not actionable;
    - SIGKILL (-9) and SIGTERM (-15) are routine (memory pressure, idle exit, logout) and never count.
    """
    failed = []
    for row in rows:
        label, status = row["label"], row["status"]
        if row["pid"] is not None or status in (None, 0) or label.startswith("application."):
            continue
        if status < 0:
            signal = CRASH_SIGNALS.get(-status)
            if signal is None:
                continue
            detail = f"crashed ({signal}, signal {-status})"
        elif label.startswith("com.apple."):
            continue
        else:
            detail = f"last exit status {status}"
        failed.append(ServiceState(name=label, state="failed", start_type=None, display_name=label,
                                   description=detail))
    return failed


def services(runner: CommandRunner) -> ProbeResult:
    """Failed launchd jobs (see :func:`failed_launchd_jobs`). ``launchctl list`` shows the caller's domain:
    run as root it lists the system daemons, as a user that user's agents."""
    result = runner.run(LAUNCHCTL_LIST_ARGV, timeout=20)
    if not result.ok:
        return _unknown_from("services", result, "launchctl")
    try:
        rows = parse_launchctl_list(result.stdout)
    except ParseError as exc:
        return _not_understood("services", "launchctl", exc)
    return ProbeResult("services", "ok", failed_launchd_jobs(rows), source="launchctl")


# ---- pending updates / reboot -------------------------------------------------------------------------------

_NEW_LABEL = re.compile(r"^\s*[*-]\s+Label:\s*(?P<label>.*?)\s*$")
_OLD_NAME = re.compile(r"^\s+[*-]\s+(?P<name>.*?)\s*$")
_OLD_DETAIL = re.compile(r"^(?P<title>.*?),?\s*\((?P<version>[^()]*)\),\s*(?P<size>\d+\s*[KMG]i?B?)?,?\s*(?P<flags>.*)$")
_SECURITY_WORDS = ("security", "xprotect", "mrt", "gatekeeper")


#: Apple ships firmware (EFI/SMC/Boot ROM, the T2's bridgeOS, displays, Thunderbolt) and device drivers
#: (printer and scanner software) through Software Update too. Labels are language-independent identifiers in
#: CamelCase (``MacBookAirEFIUpdate2.4-2.4``, ``BridgeOSUpdateCustomer``, ``HewlettPackardPrinterDrivers-5.1``);
#: titles are in the Mac's language (``Firmware-Update``, ``Druckersoftware``), so both are read.
_FIRMWARE_LABEL = re.compile(r"EFI|SMC|BridgeOS|Firmware|BootROM|Bootrom")
_FIRMWARE_TITLE = re.compile(r"\b(firmware\w*|efi|smc|bridgeos|boot ?rom)\b", re.I)
_DRIVER_LABEL = re.compile(r"Printer|Drivers?(?![a-z])|Scanner")
_DRIVER_TITLE = re.compile(r"\b(printer|drivers?|scanner|drucker\w*|\w*treiber\w*|scan\w*software)\b", re.I)


def apple_update_kind(label: str, title: str = "") -> str | None:
    """``"firmware"`` or ``"driver"`` when a Software Update item is a firmware or device-driver package,
    ``None`` for everything else (macOS updates and upgrades, Safari, security and data updates, apps, tools):
    those are pending updates, never driver updates."""
    label, title = label or "", title or ""
    if _FIRMWARE_LABEL.search(label) or _FIRMWARE_TITLE.search(title):
        return "firmware"
    if _DRIVER_LABEL.search(label) or _DRIVER_TITLE.search(title):
        return "driver"
    return None


def _field(details: str, name: str) -> str | None:
    match = re.search(rf"(?:^|,)\s*{name}:\s*([^,]*)", details)
    return match.group(1).strip() if match else None


def _is_security(name: str, title: str, version: str | None, os_version: str | None) -> bool:
    """Apple marks no update as "security" in the listing, so:

    - by name: Security Update / Rapid Security Response / Background Security Improvement and the XProtect,
      MRT and Gatekeeper data updates;
    - a macOS update within the installed major version (e.g. 14.7.2 on 14.6.1): Apple publishes security
      content for every such release. An upgrade to a new major version is not counted as a security fix.
    """
    text = f"{name} {title}".lower()
    if any(word in text for word in _SECURITY_WORDS):
        return True
    if version and re.search(r"\([a-z]\)\s*$", version):  # Rapid Security Response, e.g. "26.7.1 (a)"
        return True
    if os_version and version and re.match(r"^(macos|os x|mac os x)\b", title.strip().lower()):
        new, current = version_key(version), version_key(os_version)
        major = 2 if current[:1] == version_key("10") else 1  # 10.14 is a major version, 14 is one
        return new[:major] == current[:major] and new > current
    return False


def parse_softwareupdate_list(text: str, os_version: str | None = None) -> list[PackageUpdate]:
    """``softwareupdate -l`` in both formats.

    macOS 10.15+::

        * Label: macOS Sonoma 14.6.1-23G93
        <TAB>Title: macOS Sonoma 14.6.1, Version: 14.6.1, Size: 6327722K, Recommended: YES, Action: restart,

    macOS 10.14 and older::

           * macOS 10.14.1 Update
               macOS 10.14.1 Update (10.14.1), 199140K [recommended] [restart]

    ``reboot_required`` is True for ``Action: restart`` / ``[restart]`` and ``shut down`` actions;
    ``os_version`` (the installed macOS version) lets same-major macOS updates count as security updates.
    "No new software available." (on stderr) and an empty listing are both "no updates".
    """
    lines = text.splitlines()
    updates: list[PackageUpdate] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        new = _NEW_LABEL.match(line)
        if new:
            label = new.group("label")
            details = ""
            if i + 1 < len(lines) and "Title:" in lines[i + 1]:
                details = lines[i + 1].strip()
                i += 1
            title = _field(details, "Title") or label
            action = (_field(details, "Action") or "").lower()
            size = _field(details, "Size")
            version = _field(details, "Version")
            updates.append(PackageUpdate(
                name=label, new_version=version, source=title,
                security=_is_security(label, title, version, os_version),
                reboot_required=action in ("restart", "shut down"), size=size or None))
            i += 1
            continue
        old = _OLD_NAME.match(line)
        if old and "Label:" not in line:
            name = old.group("name")
            detail_line = lines[i + 1].strip() if i + 1 < len(lines) else ""
            detail = _OLD_DETAIL.match(detail_line) if detail_line and not _OLD_NAME.match(lines[i + 1]) else None
            flags = detail.group("flags").lower() if detail else ""
            title = detail.group("title").strip().rstrip(",") if detail else name
            version = (detail.group("version").strip() or None) if detail else None
            updates.append(PackageUpdate(
                name=name, new_version=version, source=title,
                security=_is_security(name, title, version, os_version),
                size=(detail.group("size") or None) if detail else None,
                reboot_required=("[restart]" in flags or "[shut down]" in flags) if detail else None))
            i += 2 if detail else 1
            continue
        i += 1
    return updates


def _mac_version(runner: CommandRunner) -> str | None:
    try:
        host = runner.fact("host") or {}
    except (LookupError, KeyError):
        return None
    version = host.get("mac_version") if isinstance(host, dict) else None
    return str(version) if version else None


def _listing_state(result: CommandResult) -> str:
    """``updates`` | ``none`` | ``failed`` for a ``softwareupdate -l`` run."""
    text = _text(result)
    if "no new software available" in text.lower() or "keine neue software verfügbar" in text.lower():
        return "none"
    if "Software Update found the following" in text or re.search(r"(?m)^\s*[*-]\s+Label:|^\s+\*\s", text):
        return "updates"
    return "failed"


def _update_listing(runner: CommandRunner, probe: str) -> tuple[list[PackageUpdate] | None, ProbeResult | None]:
    result = _run_shared(runner, UPDATE_LIST_ARGV, UPDATE_LIST_TIMEOUT)
    if result.error is not None:
        return None, _unknown_from(probe, result, "softwareupdate")
    state = _listing_state(result)
    if state == "none":
        return [], None
    if state == "failed":
        if _needs_admin(result):
            return None, _unknown_from(probe, result, "softwareupdate")
        detail = (result.stderr or result.stdout).strip().splitlines()
        return None, unknown(probe, FAILED, msg("softwareupdate konnte keine Updates auflisten (Exit {c}): {d}",
                                                "softwareupdate could not list updates (exit {c}): {d}",
                                                c=result.returncode, d=detail[-1][:200] if detail else
                                                msg("keine Ausgabe", "no output")), source="softwareupdate")
    updates = parse_softwareupdate_list(result.stdout + "\n" + result.stderr, _mac_version(runner))
    if not updates:  # it said it found software but nothing could be read: never report "no updates" then
        return None, unknown(probe, PARSE_ERROR, msg("softwareupdate listete Updates in einem unbekannten Format",
                                                     "softwareupdate listed updates in an unknown format"),
                             source="softwareupdate")
    return updates, None


def softwareupdate_listing(runner: CommandRunner) -> CommandResult:
    """The ``softwareupdate -l`` answer, shared by the probes and the driver report's Apple source (one run
    per diagnosis; concurrent callers wait for the first)."""
    return _run_shared(runner, UPDATE_LIST_ARGV, UPDATE_LIST_TIMEOUT)


def pending_updates(runner: CommandRunner) -> ProbeResult:
    """Offered updates without the firmware and driver packages (:func:`apple_update_kind`): those are the
    driver report's, and nothing is reported twice; ``detail`` says how many were left to it."""
    updates, problem = _update_listing(runner, "pending_updates")
    if problem is not None:
        return problem
    system = [u for u in updates or [] if apple_update_kind(u.name, u.source) is None]
    drivers = len(updates or []) - len(system)
    if drivers == 1:
        detail: Message | str = msg("1 Firmware-/Treiber-Update steht im Treiberbericht.",
                                    "1 firmware/driver update is listed in the driver report.")
    elif drivers:
        detail = msg("{n} Firmware-/Treiber-Updates stehen im Treiberbericht.",
                     "{n} firmware/driver updates are listed in the driver report.", n=drivers)
    else:
        detail = ""
    return ProbeResult("pending_updates", "ok", PendingUpdates("softwareupdate", system, detail=detail),
                       source="softwareupdate")


def pending_reboot(runner: CommandRunner) -> ProbeResult:
    """A restart is pending when an offered update says ``Action: restart`` / ``[restart]`` (or shut down)."""
    updates, problem = _update_listing(runner, "pending_reboot")
    if problem is not None:
        return problem
    sources = [f"softwareupdate: {u.name}" for u in updates or [] if u.reboot_required]
    return ProbeResult("pending_reboot", "ok", PendingReboot(bool(sources), sources), source="softwareupdate")


# ---- events (unified log) ------------------------------------------------------------------------------------

_LOG_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2}):?(\d{2})$")


def log_time_iso(stamp: str) -> str | None:
    """``2026-05-07 19:48:34.701580-0500`` -> ``2026-05-07T19:48:34.701580-05:00``."""
    match = _LOG_TIME.match(stamp.strip()) if isinstance(stamp, str) else None
    if not match:
        return None
    date, clock, hours, minutes = match.groups()
    return f"{date}T{clock}{hours}:{minutes}"


def parse_log_show(text: str, limit: int = 5) -> list[EventRecord]:
    """``log show --style json``: an array of entry objects (the tool may print "Filtering the log data..."
    lines before it). Errors become ``error`` records, faults ``critical``; the newest ``limit`` first."""
    start = re.search(r"(?m)^\s*\[", text)
    if start is None:
        if not text.strip() or "no log messages" in text.lower():
            return []
        raise ParseError("log show printed no JSON array")
    try:
        entries, _ = json.JSONDecoder().raw_decode(text[start.start():].lstrip())
    except json.JSONDecodeError as exc:
        raise ParseError(f"log show JSON is broken: {exc.msg} (truncated?)") from None
    if not isinstance(entries, list):
        raise ParseError("log show JSON is not an array")
    records = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind = str(entry.get("messageType") or "").lower()
        if kind not in ("error", "fault"):
            continue
        process = str(entry.get("processImagePath") or "").rsplit("/", 1)[-1]
        source = process or str(entry.get("subsystem") or "") or "unknown"
        subsystem = str(entry.get("subsystem") or "")
        if subsystem and process:
            source = f"{process} ({subsystem})"
        records.append(EventRecord(time=log_time_iso(str(entry.get("timestamp") or "")),
                                   level="critical" if kind == "fault" else "error", source=source,
                                   message=str(entry.get("eventMessage") or "").strip(), event_id=None,
                                   log="unified log"))
    records.sort(key=lambda r: time_sort_key(r.time), reverse=True)
    return records[:limit]


def events(runner: CommandRunner) -> ProbeResult:
    result = runner.run(LOG_SHOW_ARGV, timeout=LOG_SHOW_TIMEOUT)
    if result.error is not None or (result.returncode != 0 and _needs_admin(result)):
        return _unknown_from("events", result, "log")
    try:
        records = parse_log_show(result.stdout)
    except ParseError as exc:
        if result.returncode != 0:
            return _unknown_from("events", result, "log")
        return _not_understood("events", "log", exc)
    return ProbeResult("events", "ok", records, source="log show")


# ---- SMART ---------------------------------------------------------------------------------------------------

def parse_diskutil_list(text: str) -> list[str]:
    """``diskutil list -plist`` -> the whole disks that can be physical, in order.

    APFS containers (entries with ``APFSPhysicalStores``) are synthesized from a partition of a real disk and
    are skipped; disk images are filtered later by ``diskutil info`` (``VirtualOrPhysical``/``BusProtocol``).
    """
    data = _plist(text)
    if not isinstance(data, dict) or not isinstance(data.get("WholeDisks"), list):
        raise ParseError("diskutil list -plist has no WholeDisks")
    synthesized = {str(d.get("DeviceIdentifier")) for d in data.get("AllDisksAndPartitions") or []
                   if isinstance(d, dict) and d.get("APFSPhysicalStores")}
    return [str(disk) for disk in data["WholeDisks"] if str(disk) not in synthesized]


def parse_diskutil_info(text: str) -> DiskHealth | None:
    """``diskutil info -plist diskN`` -> :class:`DiskHealth`, or ``None`` for a virtual disk (disk image,
    synthesized APFS container) that has no SMART of its own.

    SMARTStatus ``Verified`` -> passed, ``Failing`` -> failing, ``Not Supported`` (typical for USB
    enclosures) or missing -> unknown. NVMe disks also publish health keys (``AVAILABLE_SPARE``,
    ``PERCENTAGE_USED``, ``MEDIA_ERRORS_*``, ``TEMPERATURE`` in Kelvin...) that can turn a passed disk into
    a warning.
    """
    info = _plist(text)
    if not isinstance(info, dict):
        raise ParseError("diskutil info -plist is not a dictionary")
    if str(info.get("VirtualOrPhysical", "")).lower() == "virtual" or info.get("BusProtocol") == "Disk Image" \
            or info.get("APFSPhysicalStores"):
        return None
    device = str(info.get("DeviceNode") or f"/dev/{info.get('DeviceIdentifier', '?')}")
    model = str(info.get("MediaName") or info.get("IORegistryEntryName") or "").strip()
    protocol = str(info.get("BusProtocol") or "")
    status = str(info.get("SMARTStatus") or "").strip()
    disk = DiskHealth(device=device, health="unknown", model=model, protocol=protocol)
    lowered = status.lower()
    if lowered == "verified":
        disk.health, disk.smart_passed = "passed", True
    elif lowered == "failing":
        disk.health, disk.smart_passed = "failing", False
        disk.issues.append(msg("SMART-Status: Failing (Defekt)", "SMART status: Failing"))
    elif lowered in ("not supported", "unsupported"):
        disk.issues.append(msg("SMART wird von diesem Datenträger oder seinem Gehäuse nicht unterstützt (z.B. USB)",
                               "SMART is not supported by this disk or its enclosure (e.g. USB)"))
    elif status:
        disk.issues.append(msg("unbekannter SMART-Status {s!r}", "unknown SMART status {s!r}", s=status))
    else:
        disk.issues.append(msg("diskutil meldet keinen SMART-Status", "diskutil reports no SMART status"))

    keys = info.get("SMARTDeviceSpecificKeysMayVaryNotGuaranteed")
    if isinstance(keys, dict) and keys:
        _apply_nvme_keys(disk, keys)
    return disk


def _apply_nvme_keys(disk: DiskHealth, keys: dict[str, Any]) -> None:
    disk.protocol = disk.protocol or "NVMe"
    temperature = to_int(keys.get("TEMPERATURE"))
    if temperature is not None:
        disk.temperature_c = round(temperature - 273.15, 1) if temperature > 200 else float(temperature)
    used = to_int(keys.get("PERCENTAGE_USED"))
    if used is not None:
        disk.percentage_used = used
    hours = [to_int(keys.get(k)) for k in ("POWER_ON_HOURS_0", "POWER_ON_HOURS")]
    disk.power_on_hours = next((h for h in hours if h is not None), None)
    if disk.health == "failing":
        return
    warnings: list[tuple[str, Message]] = []
    spare, threshold = to_int(keys.get("AVAILABLE_SPARE")), to_int(keys.get("AVAILABLE_SPARE_THRESHOLD"))
    if spare is not None and threshold is not None and threshold > 0 and spare <= threshold:
        warnings.append(("available_spare", msg("Reserve {s} % an oder unter der Schwelle {t} %",
                                                "available spare {s} % at or below threshold {t} %", s=spare, t=threshold)))
    if used is not None and used >= 100:
        warnings.append(("percentage_used", msg("Nennlebensdauer aufgebraucht ({u} %)", "rated endurance used up ({u} %)",
                                                u=used)))
    media = (to_int(keys.get("MEDIA_ERRORS_0")) or 0) + ((to_int(keys.get("MEDIA_ERRORS_1")) or 0) << 64)
    if media:
        warnings.append(("media_errors", msg("{m} Medienfehler", "{m} media errors", m=media)))
    critical = to_int(keys.get("CRITICAL_WARNING"))
    if critical:
        warnings.append(("critical_warning", msg("NVMe-Warnung 0x{c:02x}", "NVMe critical warning 0x{c:02x}", c=critical)))
    if warnings:
        disk.failing_attributes.extend(name for name, _ in warnings)
        disk.issues.extend(text for _, text in warnings)
        if disk.health == "passed":
            disk.health = "warning"


def smart(runner: CommandRunner) -> ProbeResult:
    listing = runner.run(DISKUTIL_LIST_ARGV, timeout=30)
    if not listing.ok:
        return _unknown_from("smart", listing, "diskutil")
    try:
        disks = parse_diskutil_list(listing.stdout)
    except ParseError as exc:
        return _not_understood("smart", "diskutil", exc)
    results: list[DiskHealth] = []
    for disk in disks:
        info = runner.run(diskutil_info_argv(disk), timeout=30)
        if not info.ok:
            why = command_unknown("smart", info, source="diskutil").reason or msg("fehlgeschlagen", "failed")
            results.append(DiskHealth(device=f"/dev/{disk}", health="unknown", issues=[why]))
            continue
        try:
            health = parse_diskutil_info(info.stdout)
        except ParseError as exc:
            results.append(DiskHealth(device=f"/dev/{disk}", health="unknown", issues=[msg(
                "Ausgabe von diskutil info nicht verstanden: {e}", "diskutil info output not understood: {e}", e=exc)]))
            continue
        if health is not None:
            results.append(health)
    if not results:
        return unknown("smart", FAILED, msg("diskutil listet keine physischen Datenträger (virtuelle Maschine?)",
                                            "diskutil lists no physical disks (virtual machine?)"), source="diskutil")
    return ProbeResult("smart", "ok", results, source="diskutil")


def metrics(runner: CommandRunner) -> ProbeResult:
    return metrics_from_fact(runner)
