"""Windows: ``Win32_PnPSignedDriver`` inventory and Windows Update driver updates, as PowerShell JSON.

PowerShell 5.1 and 7 differ in what they print (``"Key":  1`` vs ``"Key": 1``, dates as ``\\/Date(ms)\\/`` vs
ISO, enums as numbers); the parsers accept both, and the WMI date form ``20230815000000.000000-000``.
Device names and manufacturers are localised (``(Standardsystemgeräte)``); the parsers never depend on them.
Output is forced to UTF-8 so umlauts survive the console code page.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...i18n import msg
from ...system.records import command_problem
from ...system.runner import CommandRunner
from .hwids import normalise_hardware_id
from .records import InstalledDriver, SourceStatus, UpdateOffer
from .versions import parse_date

PLATFORM = "windows"
POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command")
_UTF8 = "[Console]::OutputEncoding = [System.Text.Encoding]::UTF8; "

INVENTORY_SCRIPT = _UTF8 + (
    "ConvertTo-Json -Depth 4 -InputObject @(Get-CimInstance -ClassName Win32_PnPSignedDriver | "
    "Select-Object DeviceName,DriverVersion,DriverDate,HardWareID,Manufacturer,DeviceClass,InfName,IsSigned,"
    "DriverProviderName,DeviceID)"
)

WU_SCRIPT = _UTF8 + (
    "$s = New-Object -ComObject Microsoft.Update.Session; $q = $s.CreateUpdateSearcher(); "
    "$r = $q.Search(\"IsInstalled=0 and IsHidden=0 and Type='Driver'\"); "
    "ConvertTo-Json -Depth 4 -InputObject @($r.Updates | ForEach-Object { [pscustomobject]@{ "
    "Title = $_.Title; UpdateID = $_.Identity.UpdateID; DriverClass = $_.DriverClass; "
    "DriverHardwareID = $_.DriverHardwareID; DriverManufacturer = $_.DriverManufacturer; "
    "DriverModel = $_.DriverModel; DriverProvider = $_.DriverProvider; DriverVerDate = $_.DriverVerDate; "
    "MsrcSeverity = $_.MsrcSeverity; SupportUrl = $_.SupportUrl; RebootRequired = $_.RebootRequired } })"
)

INVENTORY_ARGV = (*POWERSHELL, INVENTORY_SCRIPT)
WU_ARGV = (*POWERSHELL, WU_SCRIPT)

#: Windows ships its own ("inbox") drivers with this date; they are never "outdated" by date.
INBOX_DATE = "2006-06-21"

_CLASSES = {
    "DISPLAY": "Display",
    "NET": "Network",
    "MEDIA": "Audio",
    "HDC": "Storage",
    "SCSIADAPTER": "Storage",
    "DISKDRIVE": "Storage",
    "SYSTEM": "System",
    "USB": "USB",
    "HIDCLASS": "Input",
    "KEYBOARD": "Input",
    "MOUSE": "Input",
    "BLUETOOTH": "Bluetooth",
    "FIRMWARE": "Firmware",
    "CAMERA": "Camera",
    "IMAGE": "Camera",
    "PRINTER": "Printer",
    "MONITOR": "Monitor",
    "PROCESSOR": "Processor",
    "SECURITYDEVICES": "Security",
    "VOLUME": "Storage",
    "SOFTWAREDEVICE": "Software",
    "BIOMETRIC": "Biometric",
    "AUDIOENDPOINT": "Audio",
}
_MSRC = {"critical": "CRITICAL", "important": "CRITICAL", "moderate": "RECOMMENDED", "low": "RECOMMENDED"}
_HRESULT = re.compile(r"0x8024[0-9A-Fa-f]{4}|-214[0-9]{7}")


_JSON_START = re.compile(r"^[ \t]*[\[{]", re.M)


def _json_list(text: str) -> list[dict[str, Any]]:
    """The objects of a PowerShell JSON answer: one object or a list; text lines printed before the JSON (a
    module's ``WARNING:`` line on stdout) are skipped, the JSON itself must be complete."""
    text = text.lstrip("\ufeff").strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        match = _JSON_START.search(text)
        if match is None or match.start() == 0 or any(c in text[:match.start()] for c in "[{"):
            raise
        data = json.loads(text[match.start():])
    if isinstance(data, dict):
        data = [data]
    return [d for d in data or [] if isinstance(d, dict)]


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def category_of(device_class: str | None) -> str:
    text = (device_class or "").strip()
    return _CLASSES.get(text.upper(), text.title() if text.isupper() else text)


def parse_pnp_signed_drivers(text: str) -> list[InstalledDriver]:
    """Rows of ``Win32_PnPSignedDriver``; rows without a device name are skipped."""
    out: list[InstalledDriver] = []
    for row in _json_list(text):
        name = (row.get("DeviceName") or "").strip()
        if not name:
            continue
        raw_date = row.get("DriverDate")
        when = parse_date(raw_date)
        hwid = normalise_hardware_id(row.get("HardWareID"))
        inf = (row.get("InfName") or "").strip()
        provider = (row.get("DriverProviderName") or "").strip()
        inbox = when is not None and when.isoformat() == INBOX_DATE
        out.append(
            InstalledDriver(
                device=name,
                hardware_id=hwid,
                vendor=(row.get("Manufacturer") or provider or "").strip(),
                category=category_of(row.get("DeviceClass")),
                driver=inf,
                installed_version=row.get("DriverVersion"),
                driver_date=when,
                inbox=inbox,
                signed=_bool(row.get("IsSigned")),
                details={
                    "provider": provider,
                    "device_class": row.get("DeviceClass"),
                    "device_id": row.get("DeviceID"),
                    "raw_hardware_id": row.get("HardWareID"),
                },
            )
        )
    return out


_TITLE_VERSION = re.compile(r"(\d+(?:\.\d+){1,3})\s*$")


def version_from_title(title: str | None) -> str | None:
    """Windows Update driver titles end with the version: ``NVIDIA - Display - 31.0.15.2849``."""
    match = _TITLE_VERSION.search((title or "").strip())
    return match.group(1) if match else None


def parse_wu_driver_updates(text: str) -> list[UpdateOffer]:
    out: list[UpdateOffer] = []
    for row in _json_list(text):
        title = (row.get("Title") or "").strip()
        severity = row.get("MsrcSeverity") or ""
        severity = severity.strip().lower() if isinstance(severity, str) else ""
        category = category_of(row.get("DriverClass"))
        out.append(
            UpdateOffer(
                source="windows_update",
                name=(row.get("DriverModel") or title or "").strip(),
                hardware_id=normalise_hardware_id(row.get("DriverHardwareID")),
                latest_version=version_from_title(title),
                vendor=(row.get("DriverManufacturer") or row.get("DriverProvider") or "").strip(),
                category=category,
                release_date=parse_date(row.get("DriverVerDate")),
                importance=_MSRC.get(severity),
                download_url=(row.get("SupportUrl") or "").strip(),
                update_id=(row.get("UpdateID") or "").strip(),
                notes=title,
                source_says_newer=True,
                details={
                    "msrc_severity": row.get("MsrcSeverity"),
                    "provider": row.get("DriverProvider"),
                    "reboot_required": row.get("RebootRequired"),
                },
            )
        )
    return out


def _failure(name: str, result) -> SourceStatus:
    if result.error:
        return SourceStatus(name, "unavailable", command_problem(result, "powershell")[1])
    text = (result.stderr or result.stdout or "").strip()
    code = _HRESULT.search(text)
    if not text:
        return SourceStatus(name, "error", msg("PowerShell ist fehlgeschlagen (Exit {c})", "PowerShell failed (exit {c})",
                                               c=result.returncode))
    detail = text.splitlines()[0][:200]
    if code and code.group(0) not in detail:
        detail = f"{code.group(0)}: {detail}"
    return SourceStatus(name, "error", msg("PowerShell meldet: {d}", "PowerShell says: {d}", d=detail))


def inventory(runner: CommandRunner) -> tuple[list[InstalledDriver], list[SourceStatus]]:
    result = runner.run(list(INVENTORY_ARGV), timeout=90)
    if not result.ok:
        return [], [_failure("Win32_PnPSignedDriver", result)]
    try:
        items = parse_pnp_signed_drivers(result.stdout)
    except ValueError as exc:
        return [], [SourceStatus("Win32_PnPSignedDriver", "error", msg("unlesbares JSON: {e}", "unreadable JSON: {e}", e=exc))]
    return items, [SourceStatus("Win32_PnPSignedDriver", "ok", count=len(items))]


def update_offers(runner: CommandRunner) -> tuple[list[UpdateOffer], list[SourceStatus]]:
    result = runner.run(list(WU_ARGV), timeout=300)
    if not result.ok:
        return [], [_failure("windows_update", result)]
    try:
        offers = parse_wu_driver_updates(result.stdout)
    except ValueError as exc:
        return [], [SourceStatus("windows_update", "error", msg("unlesbares JSON: {e}", "unreadable JSON: {e}", e=exc))]
    return offers, [SourceStatus("windows_update", "ok", count=len(offers))]
