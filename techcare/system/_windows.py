"""Probes for Windows (read only).

Every probe runs one PowerShell script through the runner::

    powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -Command <script>

Each script projects the objects it needs (``Select-Object`` of named fields, enums cast to numbers) and
prints them with ``ConvertTo-Json ... -Depth 4`` so the parsers never read localised console text. The
parsers accept both Windows PowerShell 5.1 and PowerShell 7 output: ``"\\/Date(ms)\\/"``, ISO and WMI dates,
numeric or named enums, a single object where an array was expected, a UTF-8 BOM and CRLF line ends.

The script texts live in :data:`SCRIPTS` and nowhere else: the standalone ``capture/capture.ps1`` carries
byte-identical copies (a test enforces it) because a snapshot is replayed by exact argv. Scripts contain no
double quote, so they survive Windows command-line quoting unchanged.

Pure parsers (``parse_<thing>(text)``) are separate from the probe functions so recorded outputs test them
directly; the probe functions only add running the command and turning failures into explained unknowns.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from ..i18n import Message, msg
from ._common import ParseError, loads_json, metrics_from_fact, time_sort_key, to_int
from .records import (
    FAILED,
    NEEDS_ADMIN,
    PARSE_ERROR,
    AntivirusProduct,
    AntivirusStatus,
    DiskHealth,
    EventRecord,
    FirewallProfile,
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
from .runner import CommandResult, CommandRunner

PLATFORM = "windows"

__all__ = [
    "POWERSHELL",
    "SCRIPTS",
    "antivirus",
    "events",
    "firewall",
    "metrics",
    "parse_antivirus",
    "parse_defender",
    "parse_disks",
    "parse_events",
    "parse_firewall",
    "parse_pending_reboot",
    "parse_security_center",
    "parse_services",
    "parse_update_service",
    "parse_updates",
    "pending_reboot",
    "pending_updates",
    "ps_argv",
    "services",
    "smart",
    "update_service",
]

# ---- the commands ----------------------------------------------------------------------------------------

#: argv prefix of every probe command; the script text is the last argument.
POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command")

#: Every script starts with this: no progress records (they arrive as CLIXML on stderr) and no warning lines
#: (the console host prints them to stdout, in front of the JSON), errors terminate (exit code 1), and stdout
#: is UTF-8 whatever the console code page.
PREAMBLE = ("$ProgressPreference='SilentlyContinue'; $WarningPreference='SilentlyContinue'; "
            "$ErrorActionPreference='Stop'; [Console]::OutputEncoding=[Text.Encoding]::UTF8; ")

SCRIPTS: dict[str, str] = {
    # Enabled is a GpoBoolean (0 False, 1 True, 2 NotConfigured); cast to its name, which cannot fail whichever
    # form the NetSecurity type data hands out. The parser reads names and numbers.
    "firewall": PREAMBLE + (
        "ConvertTo-Json -InputObject @(Get-NetFirewallProfile -PolicyStore ActiveStore | "
        "Select-Object Name, @{n='Enabled';e={[string]$_.Enabled}}, "
        "@{n='DefaultInboundAction';e={[string]$_.DefaultInboundAction}}) -Depth 4"),
    "defender": PREAMBLE + (
        "ConvertTo-Json -InputObject @(Get-MpComputerStatus | Select-Object AMServiceEnabled, AntivirusEnabled, "
        "RealTimeProtectionEnabled, AntispywareEnabled, AntivirusSignatureAge, AntivirusSignatureLastUpdated, "
        "DefenderSignaturesOutOfDate, AMRunningMode, IsTamperProtected, FullScanAge, QuickScanAge, "
        "AMProductVersion) -Depth 4"),
    "security_center": PREAMBLE + (
        "ConvertTo-Json -InputObject @(Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct | "
        "Select-Object displayName, productState, pathToSignedProductExe, timestamp) -Depth 4"),
    # Status: 1 Stopped .. 4 Running; StartType: 2 Automatic, 3 Manual, 4 Disabled. Empty array: not installed.
    "update_service": PREAMBLE + (
        "ConvertTo-Json -InputObject @(Get-Service -Name wuauserv -ErrorAction SilentlyContinue | "
        "Select-Object Name, DisplayName, @{n='Status';e={[int]$_.Status}}, "
        "@{n='StartType';e={[int]$_.StartType}}) -Depth 4"),
    # Automatic services that are not running; trigger-start services are marked (they stop when idle).
    "services": PREAMBLE + (
        "ConvertTo-Json -InputObject @(Get-CimInstance -ClassName Win32_Service | "
        "Where-Object { $_.StartMode -eq 'Auto' -and $_.State -ne 'Running' } | "
        "Select-Object Name, DisplayName, State, StartMode, ExitCode, ServiceSpecificExitCode, DelayedAutoStart, "
        "@{n='TriggerStart';e={Test-Path -LiteralPath ('HKLM:\\SYSTEM\\CurrentControlSet\\Services\\' + $_.Name + "
        "'\\TriggerInfo')}}) -Depth 4"),
    # Windows Update Agent COM search; a COM failure prints its HRESULT on stderr and exits 1.
    "pending_updates": PREAMBLE + (
        "try { $s = New-Object -ComObject Microsoft.Update.Session; $s.ClientApplicationID = 'TechCare'; "
        "$r = $s.CreateUpdateSearcher().Search('IsInstalled=0 and IsHidden=0'); "
        "$u = @(foreach ($x in $r.Updates) { [pscustomobject]@{ Title = $x.Title; KB = @($x.KBArticleIDs); "
        "MsrcSeverity = $x.MsrcSeverity; Categories = @(foreach ($c in $x.Categories) { $c.Name }); "
        "CategoryIDs = @(foreach ($c in $x.Categories) { $c.CategoryID }); IsMandatory = $x.IsMandatory; "
        "RebootRequired = $x.RebootRequired; Type = [int]$x.Type } }); "
        "ConvertTo-Json -InputObject ([pscustomobject]@{ ResultCode = [int]$r.ResultCode; Updates = $u }) -Depth 4 } "
        "catch { $e = $_.Exception; while ($e.InnerException) { $e = $e.InnerException }; "
        "[Console]::Error.WriteLine(('HRESULT 0x{0:X8} {1}' -f $e.HResult, $e.Message)); exit 1 }"),
    "pending_reboot": PREAMBLE + (
        "$k = 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion'; "
        "$p = (Get-ItemProperty -LiteralPath 'HKLM:\\SYSTEM\\CurrentControlSet\\Control\\Session Manager' "
        "-Name PendingFileRenameOperations -ErrorAction SilentlyContinue).PendingFileRenameOperations; "
        "ConvertTo-Json -InputObject @([pscustomobject]@{ "
        "CBSRebootPending = (Test-Path -LiteralPath ($k + '\\Component Based Servicing\\RebootPending')); "
        "WURebootRequired = (Test-Path -LiteralPath ($k + '\\WindowsUpdate\\Auto Update\\RebootRequired')); "
        "PendingFileRenameOperations = @($p | Where-Object { $_ }) }) -Depth 4"),
    # Newest 5 Critical(1)/Error(2) events of each log, merged newest first; no match is an empty list.
    "events": PREAMBLE + (
        "$e = @(foreach ($l in 'System', 'Application') { try { "
        "Get-WinEvent -FilterHashtable @{LogName=$l; Level=1,2} -MaxEvents 5 -ErrorAction Stop } "
        "catch { if ($_.FullyQualifiedErrorId -notlike 'NoMatchingEventsFound*') { throw } } }); "
        "ConvertTo-Json -InputObject @($e | Sort-Object TimeCreated -Descending | Select-Object -First 5 "
        "TimeCreated, Id, Level, LevelDisplayName, ProviderName, LogName, Message) -Depth 4"),
    # HealthStatus (0 Healthy, 1 Warning, 2 Unhealthy, 5 Unknown) and OperationalStatus arrive as numbers or, through
    # the Storage module's type data, as names: both are parsed. Reliability counters need elevation.
    "smart": PREAMBLE + (
        "$a = ([Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent())"
        ".IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator); "
        "$d = @(Get-PhysicalDisk | Sort-Object { $_.DeviceId -as [int] } | ForEach-Object { $p = $_; $c = $null; "
        "$f = $null; try { $c = $p | Get-StorageReliabilityCounter -ErrorAction Stop | Select-Object Temperature, "
        "TemperatureMax, Wear, ReadErrorsUncorrected, ReadErrorsTotal, WriteErrorsUncorrected, WriteErrorsTotal, "
        "PowerOnHours } catch { $f = [string]$_.FullyQualifiedErrorId + ': ' + $_.Exception.Message }; "
        "[pscustomobject]@{ DeviceId = $p.DeviceId; FriendlyName = $p.FriendlyName; SerialNumber = $p.SerialNumber; "
        "MediaType = $p.MediaType; BusType = $p.BusType; HealthStatus = $p.HealthStatus; "
        "OperationalStatus = @($p.OperationalStatus); Size = $p.Size; Reliability = $c; ReliabilityError = $f } }); "
        "ConvertTo-Json -InputObject ([pscustomobject]@{ IsAdmin = $a; Disks = $d }) -Depth 4"),
}

#: Seconds each script may take (the Windows Update search contacts the update server).
TIMEOUTS = {"pending_updates": 300.0, "events": 60.0, "smart": 60.0, "services": 60.0}
DEFAULT_SCRIPT_TIMEOUT = 45.0

#: How long ``run_probes`` waits for a probe whose scripts are slow by nature (a cold PowerShell start alone
#: can take seconds on an old disk); the others get the configured probe timeout.
PROBE_TIMEOUTS = {"pending_updates": TIMEOUTS["pending_updates"] + 5, "events": TIMEOUTS["events"] + 5,
                  "smart": TIMEOUTS["smart"] + 5, "services": TIMEOUTS["services"] + 5,
                  "antivirus": DEFAULT_SCRIPT_TIMEOUT + 5}

#: The tool named in ``ProbeResult.source`` per script.
SOURCES = {"firewall": "Get-NetFirewallProfile", "defender": "Get-MpComputerStatus",
           "security_center": "SecurityCenter2", "update_service": "Get-Service wuauserv",
           "services": "Win32_Service", "pending_updates": "Windows Update Agent", "pending_reboot": "registry",
           "events": "Get-WinEvent", "smart": "Get-PhysicalDisk"}


def ps_argv(name: str) -> tuple[str, ...]:
    """The exact argv of the script ``name`` (snapshots are replayed by exact argv)."""
    return (*POWERSHELL, SCRIPTS[name])


def _run(runner: CommandRunner, name: str) -> CommandResult:
    return runner.run(ps_argv(name), timeout=TIMEOUTS.get(name, DEFAULT_SCRIPT_TIMEOUT))


# ---- shared value helpers ----------------------------------------------------------------------------------

_JSON_START = re.compile(r"^[ \t]*[\[{]", re.M)


def _load(text: str) -> Any:
    """The JSON a script printed. No output at all is an error, never an empty (healthy) answer.

    Text lines in front of the JSON (a ``WARNING:`` a module printed despite the preamble) are skipped; the
    JSON itself must be complete.
    """
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ParseError("the script printed nothing")
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        first_error = exc
    match = _JSON_START.search(text)
    if match and match.start() > 0 and not any(c in text[:match.start()] for c in "[{"):
        try:      # only plain text lines before the first JSON line: never a fragment of cut-off JSON
            return json.loads(text[match.start():])
        except json.JSONDecodeError:
            pass
    raise ParseError(f"output is not JSON ({first_error.msg} at line {first_error.lineno})")


def _items(value: Any) -> list[dict[str, Any]]:
    """PowerShell arrays may arrive as one object, ``null`` or a list that holds ``null``."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        out = [item for item in value if item is not None]
        if not all(isinstance(item, dict) for item in out):
            raise ParseError("expected a list of objects")
        return out
    raise ParseError(f"expected an object or a list of objects, not {type(value).__name__}")


def _one(value: Any) -> dict[str, Any] | None:
    items = _items(value)
    return items[0] if items else None


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [str(v) for v in value if v is not None and str(v) != ""]


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
    return None


def _enum(value: Any, names: dict[int, str], aliases: dict[str, str] | None = None) -> str | None:
    """A numeric or named .NET/CIM enum value as our lower-case name (``None`` if absent)."""
    if value is None:
        return None
    number = to_int(value)
    if number is not None:
        return names.get(number, f"unknown({number})")
    key = re.sub(r"[\s_-]", "", str(value)).lower()
    if aliases and key in aliases:
        return aliases[key]
    for name in names.values():
        if re.sub(r"[\s_-]", "", name) == key:
            return name
    return key or None


_MS_DATE = re.compile(r"^\\?/Date\((-?\d+)([+-]\d{4})?\)\\?/$")
_WMI_DATE = re.compile(r"^(\d{14})(?:\.(\d{1,6}))?([+-])(\d{3})$")


def parse_ps_date(value: Any) -> str | None:
    """A PowerShell/WMI date as ISO 8601 (with offset when the source had one).

    Accepts ``"/Date(1692057600000)/"`` (5.1; the ``\\/`` escape is already gone after JSON decoding),
    ``{"value": "/Date(..)/", "DateTime": ".."}`` (5.1 with an ETS-wrapped DateTime), ISO strings (7) and WMI
    ``20230815000000.000000-000``. Anything else is returned as text (never guessed).
    """
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return parse_ps_date(value.get("value") if "value" in value else value.get("DateTime"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, timezone.utc).isoformat()
    text = str(value).strip()
    match = _MS_DATE.match(text)
    if match:
        # The milliseconds are UTC; an optional +hhmm only says which zone the value was displayed in.
        return datetime.fromtimestamp(int(match.group(1)) / 1000, timezone.utc).isoformat()
    match = _WMI_DATE.match(text)
    if match:
        stamp = datetime.strptime(match.group(1), "%Y%m%d%H%M%S")
        micro = int((match.group(2) or "0").ljust(6, "0"))
        minutes = int(match.group(4)) * (1 if match.group(3) == "+" else -1)
        return stamp.replace(microsecond=micro, tzinfo=timezone(timedelta(minutes=minutes))).isoformat()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return text


# ---- failures ----------------------------------------------------------------------------------------------

_CLIXML_STRING = re.compile(r"<S S=\"(?:Error|error)\">(.*?)</S>", re.S)
_XML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ADMIN_HINTS = ("access is denied", "access denied", "zugriff verweigert", "accès refusé", "0x80070005",
                "unauthorizedaccess", "permissiondenied", "mi result 2,", "requires elevation",
                "administrator", "administrativ")


def clean_stderr(text: str) -> str:
    """stderr without CLIXML noise: ``#< CLIXML`` blocks reduced to their error strings."""
    if "#< CLIXML" not in text:
        return text.strip()
    parts = [html.unescape(_XML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), s)) for s in _CLIXML_STRING.findall(text)]
    plain = re.sub(r"#< CLIXML\s*<Objs.*?</Objs>", "", text, flags=re.S).strip()
    return "".join(parts).strip() or plain


def _failure(probe: str, result: CommandResult, source: str) -> ProbeResult:
    """An explained unknown for a script that did not give usable output."""
    stderr = clean_stderr(result.stderr)
    text = f"{stderr} {result.stdout}".lower()
    if result.ran and any(hint in text for hint in _ADMIN_HINTS):
        return unknown(probe, NEEDS_ADMIN, msg("{s} braucht Administratorrechte (TechCare als Administrator starten)",
                                               "{s} needs elevation (run TechCare as administrator)", s=source),
                       source=source)
    return command_unknown(probe, dataclasses.replace(result, stderr=stderr), source=source)


def _parsed(probe: str, source: str, parse: Any, text: str) -> ProbeResult:
    try:
        data = parse(text)
    except (ParseError, ValueError, TypeError, KeyError, AttributeError) as exc:
        return unknown(probe, PARSE_ERROR, msg("Ausgabe von {s} nicht lesbar: {e}", "{s} output could not be read: {e}",
                                               s=source, e=exc), source=source)
    return ProbeResult(probe, "ok", data, source=source)


# ---- metrics -----------------------------------------------------------------------------------------------

def metrics(runner: CommandRunner) -> ProbeResult:
    return metrics_from_fact(runner)


# ---- firewall ----------------------------------------------------------------------------------------------

_GPO_BOOLEAN = {0: False, 1: True, 2: None}   # 2 = NotConfigured (not a state of the active store)


def parse_firewall(text: str) -> FirewallStatus:
    """``Get-NetFirewallProfile -PolicyStore ActiveStore`` projected to Name, Enabled (0/1/2 or names)."""
    profiles: list[FirewallProfile] = []
    for item in _items(_load(text)):
        raw = item.get("Enabled")
        number = to_int(raw)
        enabled = _GPO_BOOLEAN.get(number) if number is not None else _bool(raw)
        profiles.append(FirewallProfile(name=str(item.get("Name") or "?"), enabled=enabled))
    if not profiles:
        raise ParseError("no firewall profiles in the output")
    states = [p.enabled for p in profiles]
    overall = False if False in states else (None if None in states else True)
    off = [p.name for p in profiles if p.enabled is False]
    unset = [p.name for p in profiles if p.enabled is None]
    detail = Message.join("; ", ([msg("aus: {p}", "off: {p}", p=", ".join(off))] if off else [])
                          + ([msg("Zustand unbekannt: {p}", "state not known: {p}", p=", ".join(unset))] if unset else []))
    return FirewallStatus(enabled=overall, product="Windows Firewall", profiles=profiles, detail=detail)


def firewall(runner: CommandRunner) -> ProbeResult:
    result = _run(runner, "firewall")
    if not result.ok:
        return _failure("firewall", result, SOURCES["firewall"])
    return _parsed("firewall", SOURCES["firewall"], parse_firewall, result.stdout)


# ---- antivirus ---------------------------------------------------------------------------------------------

DEFENDER_NAME = "Microsoft Defender Antivirus"
#: Defender itself counts signatures older than this as out of date when DefenderSignaturesOutOfDate is absent.
SIGNATURE_MAX_AGE_DAYS = 7
_NEVER = 65535        # AntivirusSignatureAge when signatures were never updated
_PASSIVE_MODES = ("passive", "sxs passive", "edr block")


def parse_defender(text: str) -> AntivirusProduct | None:
    """``Get-MpComputerStatus`` projection -> one product (``None`` when the output holds no object).

    Passive mode (another antivirus is registered and active) is reported as not the active engine
    (``enabled=False``) with the mode in ``detail``: that is not a problem when the other product is on.
    """
    item = _one(_load(text))
    if item is None:
        return None
    service = _bool(item.get("AMServiceEnabled"))
    av = _bool(item.get("AntivirusEnabled"))
    mode = str(item.get("AMRunningMode") or "").strip()
    passive = any(mode.lower().startswith(m) for m in _PASSIVE_MODES)
    if passive:
        enabled: bool | None = False
    elif service is False or av is False:
        enabled = False
    elif service is None or av is None:
        enabled = None
    else:
        enabled = True
    age = to_int(item.get("AntivirusSignatureAge"))
    out_of_date = _bool(item.get("DefenderSignaturesOutOfDate"))
    if age is not None and age >= _NEVER:
        up_to_date: bool | None = False
        age = None
    elif out_of_date is not None:
        up_to_date = not out_of_date
    else:
        up_to_date = None if age is None else age <= SIGNATURE_MAX_AGE_DAYS
    details: list[Message] = []
    if mode:
        details.append(msg("Modus: {m} (ein anderer Virenschutz ist aktiv)", "mode: {m} (another antivirus is active)",
                           m=mode) if passive else msg("Modus: {m}", "mode: {m}", m=mode))
    if service is False:
        details.append(msg("Antimalware-Dienst deaktiviert", "antimalware service disabled"))
    updated = parse_ps_date(item.get("AntivirusSignatureLastUpdated"))
    if updated:
        details.append(msg("Signaturen vom {d}", "signatures from {d}", d=updated))
    if _bool(item.get("IsTamperProtected")) is False:
        details.append(msg("Manipulationsschutz aus", "tamper protection off"))
    return AntivirusProduct(name=DEFENDER_NAME, enabled=enabled, realtime=_bool(item.get("RealTimeProtectionEnabled")),
                            up_to_date=up_to_date, signature_age_days=age, detail=Message.join("; ", details))


def decode_product_state(state: int) -> tuple[bool | None, bool, str]:
    """SecurityCenter2 ``productState`` -> (enabled, up_to_date, state name).

    Bits 12-15: 0 off, 1 on, 2 snoozed, 3 expired; bits 4-7: 0 signatures up to date, 1 out of date.
    """
    scanner = (state >> 12) & 0xF
    name = {0: "off", 1: "on", 2: "snoozed", 3: "expired"}.get(scanner, f"state {scanner}")
    enabled = True if scanner == 1 else False if scanner in (0, 2, 3) else None
    up_to_date = ((state >> 4) & 0xF) == 0
    return enabled, up_to_date, name


def _is_defender(item: dict[str, Any]) -> bool:
    path = str(item.get("pathToSignedProductExe") or "").lower()
    return path.startswith("windowsdefender://") or "msmpeng.exe" in path


def parse_security_center(text: str, *, skip_defender: bool = False) -> list[AntivirusProduct]:
    """``root/SecurityCenter2 AntiVirusProduct`` projection -> products (Defender's entry optional)."""
    products = []
    for item in _items(_load(text)):
        if skip_defender and _is_defender(item):
            continue
        state = to_int(item.get("productState"))
        name = str(item.get("displayName") or "?")
        if state is None:
            products.append(AntivirusProduct(name=name, detail=msg("productState fehlt", "productState missing")))
            continue
        enabled, up_to_date, state_name = decode_product_state(state)
        products.append(AntivirusProduct(name=name, enabled=enabled, up_to_date=up_to_date,
                                         detail=msg("Sicherheitscenter: {n}, productState 0x{s:06X}",
                                                    "Security Center: {n}, productState 0x{s:06X}", n=state_name,
                                                    s=state)))
    return products


def parse_antivirus(defender_text: str | None, security_center_text: str | None) -> AntivirusStatus:
    """Defender (authoritative for itself) plus every other product Security Center knows."""
    products: list[AntivirusProduct] = []
    defender = parse_defender(defender_text) if defender_text is not None else None
    if defender is not None:
        products.append(defender)
    if security_center_text is not None:
        products.extend(parse_security_center(security_center_text, skip_defender=defender is not None))
    return AntivirusStatus(products=products)


def antivirus(runner: CommandRunner) -> ProbeResult:
    # Two independent PowerShell starts: run them side by side.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="techcare-av") as pool:
        d_future = pool.submit(_run, runner, "defender")
        s_future = pool.submit(_run, runner, "security_center")
        d_res, s_res = d_future.result(), s_future.result()
    if not d_res.ok and not s_res.ok:
        # Neither source answered: say why (Defender's reason first, it exists on every Windows).
        return _failure("antivirus", d_res, SOURCES["defender"])
    try:
        status = parse_antivirus(d_res.stdout if d_res.ok else None, s_res.stdout if s_res.ok else None)
    except (ParseError, ValueError, TypeError) as exc:
        return unknown("antivirus", PARSE_ERROR, msg("Ausgabe zum Virenschutz nicht lesbar: {e}",
                                                     "antivirus output could not be read: {e}", e=exc),
                       source="Get-MpComputerStatus+SecurityCenter2")
    if not s_res.ok and not any(p.enabled for p in status.products):
        # Without Security Center a third-party antivirus would be invisible: do not call the machine unprotected.
        why = _failure("antivirus", s_res, SOURCES["security_center"])
        return unknown("antivirus", why.reason_code or FAILED,
                       msg("Defender ist nicht aktiv und andere Virenschutzprodukte lassen sich nicht auflisten: {w}",
                           "Defender is not active and other antivirus products cannot be listed: {w}",
                           w=why.reason or ""),
                       source="Get-MpComputerStatus+SecurityCenter2", data=status)
    sources = [SOURCES["defender"]] if d_res.ok else []
    sources += [SOURCES["security_center"]] if s_res.ok else []
    return ProbeResult("antivirus", "ok", status, source="+".join(sources))


# ---- update service ----------------------------------------------------------------------------------------

SERVICE_STATUS = {1: "stopped", 2: "start_pending", 3: "stop_pending", 4: "running", 5: "continue_pending",
                  6: "pause_pending", 7: "paused"}
START_TYPE = {0: "boot", 1: "system", 2: "auto", 3: "manual", 4: "disabled", 10: "auto"}
_START_ALIASES = {"automatic": "auto", "automaticdelayedstart": "auto", "auto": "auto"}


def parse_update_service(text: str) -> UpdateServiceStatus:
    """``Get-Service wuauserv`` projection. Only Disabled (or a missing service) stops updates.

    wuauserv is Manual (trigger start) on Windows 10/11 and mostly stopped: that is normal.
    """
    # ``detail`` stays empty: the diagnosis puts it into both the German and the English summary, and state /
    # start type already say what is wrong.
    item = _one(_load(text))
    if item is None:
        return UpdateServiceStatus("wuauserv", "missing", None, True)
    state = _enum(item.get("Status"), SERVICE_STATUS)
    start = _enum(item.get("StartType"), START_TYPE, _START_ALIASES)
    if start not in START_TYPE.values():   # the verdict rests on the start type: not read is not "fine"
        raise ParseError(f"wuauserv start type not understood: {item.get('StartType')!r}")
    return UpdateServiceStatus(str(item.get("Name") or "wuauserv"), state, start, start == "disabled")


def update_service(runner: CommandRunner) -> ProbeResult:
    result = _run(runner, "update_service")
    if not result.ok:
        return _failure("update_service", result, SOURCES["update_service"])
    return _parsed("update_service", SOURCES["update_service"], parse_update_service, result.stdout)


# ---- services ----------------------------------------------------------------------------------------------

#: Automatic services that stop by design once their work is done (updaters, delayed/trigger-start helpers).
#: Per-user service templates (``CDPUserSvc`` -> instances ``CDPUserSvc_4a7f3``) are matched by prefix.
NORMALLY_STOPPED_SERVICES = frozenset(name.lower() for name in (
    "gupdate", "gupdatem", "GoogleUpdaterService", "GoogleUpdaterInternalService", "edgeupdate", "edgeupdatem",
    "MicrosoftEdgeElevationService", "MozillaMaintenance", "brave", "bravem", "AdobeARMservice",
    "sppsvc", "RemoteRegistry", "MapsBroker", "TrustedInstaller", "tiledatamodelsvc", "WbioSrvc", "BITS", "DoSvc",
    "UsoSvc", "wuauserv", "WaaSMedicSvc", "TabletInputService", "ShellHWDetection", "CDPSvc", "stisvc",
    "clr_optimization_v2.0.50727_32", "clr_optimization_v2.0.50727_64", "clr_optimization_v4.0.30319_32",
    "clr_optimization_v4.0.30319_64", "Intel(R) TPM Provisioning Service", "WMPNetworkSvc", "SysMain",
    "OneSyncSvc", "CDPUserSvc", "WpnUserService", "PimIndexMaintenanceSvc", "UnistoreSvc", "UserDataSvc",
    "MessagingService", "cbdhsvc", "BcastDVRUserService", "CaptureService", "DevicePickerUserSvc",
    "DevicesFlowUserSvc", "PrintWorkflowUserSvc", "ConsentUxUserSvc", "CredentialEnrollmentManagerUserSvc",
    "BluetoothUserService", "AarSvc", "NPSMSvc", "P9RdrService", "PenService", "UdkUserSvc", "webthreatdefusersvc",
    "CloudBackupRestoreSvc", "GameInputSvc",
))
ERROR_SERVICE_NEVER_STARTED = 1077
ERROR_SERVICE_SPECIFIC_ERROR = 1066


def _normally_stopped(name: str) -> bool:
    low = name.lower()
    if low in NORMALLY_STOPPED_SERVICES:
        return True
    base, sep, suffix = low.rpartition("_")
    return bool(sep) and base in NORMALLY_STOPPED_SERVICES and re.fullmatch(r"[0-9a-f]{4,8}", suffix) is not None


def parse_services(text: str) -> list[ServiceState]:
    """``Win32_Service`` (StartMode Auto, not Running) projection -> the services that really are down.

    Left out: services in :data:`NORMALLY_STOPPED_SERVICES`, trigger-start services, and delayed-start
    services that ended cleanly (exit 0) or have not been started yet (1077). A non-zero exit code is
    ``failed``; a plain automatic service that is not running is ``stopped``.
    """
    out: list[ServiceState] = []
    for item in _items(_load(text)):
        name = str(item.get("Name") or "")
        mode = str(item.get("StartMode") or "").lower()
        state = str(item.get("State") or "unknown").strip().lower().replace(" ", "_")
        if not name or state == "running" or (mode and mode not in ("auto", "automatic")):
            continue
        if _normally_stopped(name) or _bool(item.get("TriggerStart")):
            continue
        exit_code = to_int(item.get("ExitCode")) or 0
        delayed = _bool(item.get("DelayedAutoStart"))
        if delayed and exit_code in (0, ERROR_SERVICE_NEVER_STARTED):
            continue
        failed = exit_code not in (0, ERROR_SERVICE_NEVER_STARTED)
        if exit_code == ERROR_SERVICE_SPECIFIC_ERROR:
            why = f"exit code {exit_code}, service-specific code {to_int(item.get('ServiceSpecificExitCode'))}"
        elif exit_code == ERROR_SERVICE_NEVER_STARTED:
            why = "has not been started since boot"
        else:
            why = f"exit code {exit_code}"
        out.append(ServiceState(name=name, state="failed" if failed and state == "stopped" else state,
                                start_type="delayed-auto" if delayed else "auto",     # sc.exe's words
                                display_name=str(item.get("DisplayName") or ""), description=why))
    return out


def services(runner: CommandRunner) -> ProbeResult:
    result = _run(runner, "services")
    if not result.ok:
        return _failure("services", result, SOURCES["services"])
    return _parsed("services", SOURCES["services"], parse_services, result.stdout)


# ---- pending updates ---------------------------------------------------------------------------------------

#: Windows Update category ids (not localised, unlike the names).
SECURITY_CATEGORY = "0fa1201d-4330-4fa8-8ae9-b877473b6441"
CRITICAL_CATEGORY = "e6cf1350-c01b-414d-a61f-263d14d133b4"
DEFINITION_CATEGORY = "e0789628-ce08-4437-be74-2495b842f43b"
_SECURITY_NAMES = ("security updates", "sicherheitsupdates", "mises à jour de la sécurité", "security update")

#: Windows Update Agent HRESULTs a technician meets, with what they mean (WU error code reference).
WU_ERRORS = {
    0x8024402C: msg("keine Verbindung: der Name des Proxys oder Update-Servers lässt sich nicht auflösen",
                    "no connection: the proxy or update server name cannot be resolved"),
    0x8024401C: msg("keine Verbindung: der Update-Server hat nicht rechtzeitig geantwortet",
                    "no connection: the update server did not answer in time"),
    0x8024402F: msg("keine Verbindung: externe CAB-Verarbeitung fehlgeschlagen (oft ein Proxy oder eine Firewall)",
                    "no connection: external cab processing failed (often a proxy or firewall)"),
    0x80244022: msg("der Update-Server ist nicht verfügbar (HTTP 503)", "the update server is unavailable (HTTP 503)"),
    0x80244018: msg("der Update-Server oder Proxy hat die Anfrage abgelehnt (HTTP 403)",
                    "the update server or proxy refused the request (HTTP 403)"),
    0x80244017: msg("der Update-Server verlangt eine Anmeldung (HTTP 401)",
                    "the update server needs authentication (HTTP 401)"),
    0x8024401B: msg("der Proxy verlangt eine Anmeldung (HTTP 407)", "the proxy needs authentication (HTTP 407)"),
    0x80244010: msg("zu viele Anfragen an den Update-Server", "too many round trips to the update server"),
    0x8024001E: msg("der Update-Dienst oder das System fährt herunter",
                    "the update service or the system is shutting down"),
    0x8024002E: msg("Windows Update ist per Richtlinie abgeschaltet", "Windows Update is disabled by policy"),
    0x8024500C: msg("Verbindungen zu Windows Update sind per Richtlinie gesperrt",
                    "connections to Windows Update are blocked by policy"),
    0x80240438: msg("der Endpunkt des Update-Dienstes ist nicht erreichbar", "the update service endpoint is unreachable"),
    0x8024000B: msg("die Suche wurde abgebrochen", "the search was cancelled"),
    0x80240032: msg("ungültige Suchkriterien", "invalid search criteria"),
    0x80072EE2: msg("keine Verbindung: Zeitüberschreitung bei der Verbindung zum Update-Server",
                    "no connection: the connection to the update server timed out"),
    0x80072EE7: msg("keine Verbindung: der Servername lässt sich nicht auflösen (DNS)",
                    "no connection: the server name cannot be resolved (DNS)"),
    0x80072EFD: msg("keine Verbindung: der Update-Server ist nicht erreichbar",
                    "no connection: the update server cannot be reached"),
    0x80070422: msg("der Windows-Update-Dienst ist deaktiviert", "the Windows Update service is disabled"),
    0x80070005: msg("Zugriff verweigert", "access denied"),
}
_HRESULT = re.compile(r"0x([0-9A-Fa-f]{8})")


def explain_hresult(text: str) -> tuple[int, Message] | None:
    """The first HRESULT in ``text`` and its meaning (``None`` when there is none)."""
    for match in _HRESULT.finditer(text):
        code = int(match.group(1), 16)
        if code in WU_ERRORS or (code & 0xFFFF0000) in (0x80240000, 0x80070000):
            facility = msg("Fehler des Windows-Update-Agenten", "Windows Update Agent error") \
                if (code & 0xFFFF0000) == 0x80240000 else msg("Systemfehler", "system error")
            return code, WU_ERRORS.get(code, facility)
    return None


def parse_updates(text: str) -> PendingUpdates:
    """Windows Update Agent search projection -> pending updates (software and driver)."""
    data = _one(_load(text))
    if data is None:
        raise ParseError("no search result object")
    if "Updates" not in data and "Title" in data:      # a bare list of updates
        rows = _items(_load(text))
    else:
        code = to_int(data.get("ResultCode"))
        if code not in (None, 2, 3):    # 2 succeeded, 3 succeeded with errors
            raise ParseError(f"search ResultCode {code} (2 = succeeded)")
        if "Updates" not in data:       # null is PowerShell's empty list; no field at all is no answer
            raise ParseError("the search result has no Updates field")
        rows = _items(data.get("Updates"))
    updates = []
    for row in rows:
        categories = _strings(row.get("Categories"))
        category_ids = [c.lower() for c in _strings(row.get("CategoryIDs"))]
        severity = str(row.get("MsrcSeverity") or "").strip() or None
        kind = to_int(row.get("Type"))
        security = (bool(severity) or SECURITY_CATEGORY in category_ids
                    or any(c.strip().lower() in _SECURITY_NAMES for c in categories))
        source = ", ".join(categories) or ("Drivers" if kind == 2 else "")
        updates.append(PackageUpdate(name=str(row.get("Title") or "?"), source=source, security=security,
                                     severity=severity, kb=[f"KB{k}" if k.isdigit() else k for k in
                                                            _strings(row.get("KB"))],
                                     reboot_required=_bool(row.get("RebootRequired"))))
    return PendingUpdates(manager="windows_update", updates=updates)


def pending_updates(runner: CommandRunner) -> ProbeResult:
    source = SOURCES["pending_updates"]
    result = _run(runner, "pending_updates")
    if not result.ok:
        known = explain_hresult(f"{result.stderr} {result.stdout}") if result.ran else None
        if known is not None:
            code, meaning = known
            reason_code = NEEDS_ADMIN if code == 0x80070005 else FAILED
            return unknown("pending_updates", reason_code, msg("Suche nach Windows-Updates fehlgeschlagen: 0x{c:08X} {m}",
                                                               "Windows Update search failed: 0x{c:08X} {m}", c=code,
                                                               m=meaning), source=source)
        return _failure("pending_updates", result, source)
    return _parsed("pending_updates", source, parse_updates, result.stdout)


# ---- pending reboot ----------------------------------------------------------------------------------------

REBOOT_SOURCES = {
    "CBSRebootPending": "Component Based Servicing\\RebootPending",
    "WURebootRequired": "WindowsUpdate\\Auto Update\\RebootRequired",
    "PendingFileRenameOperations": "Session Manager\\PendingFileRenameOperations",
}


def parse_pending_reboot(text: str) -> PendingReboot:
    """The three registry signals; each one that is set is named in ``sources``."""
    item = _one(_load(text))
    if item is None:
        raise ParseError("no object in the output")
    missing = [key for key in REBOOT_SOURCES if key not in item]
    if missing:
        raise ParseError(f"missing fields: {', '.join(missing)}")
    sources = [REBOOT_SOURCES[k] for k in ("CBSRebootPending", "WURebootRequired") if _bool(item.get(k))]
    renames = item.get("PendingFileRenameOperations")
    count = to_int(renames) if isinstance(renames, (int, float)) else len(_strings(renames))
    if count:
        sources.append(REBOOT_SOURCES["PendingFileRenameOperations"])
    return PendingReboot(required=bool(sources), sources=sources)


def pending_reboot(runner: CommandRunner) -> ProbeResult:
    result = _run(runner, "pending_reboot")
    if not result.ok:
        return _failure("pending_reboot", result, SOURCES["pending_reboot"])
    return _parsed("pending_reboot", SOURCES["pending_reboot"], parse_pending_reboot, result.stdout)


# ---- events ------------------------------------------------------------------------------------------------

EVENT_LEVELS = {1: "critical", 2: "error"}
_LEVEL_NAMES = {"critical": "critical", "kritisch": "critical", "critique": "critical",
                "error": "error", "fehler": "error", "erreur": "error"}
#: "No events were found that match the specified selection criteria." in the languages we meet, plus the
#: language-neutral error id. Not an error: the log simply has no such event.
NO_EVENTS_MARKERS = ("nomatchingeventsfound", "no events were found", "es wurden keine ereignisse gefunden",
                     "aucun événement", "no se encontraron eventos")
MAX_EVENTS = 5


def parse_events(text: str) -> list[EventRecord]:
    """``Get-WinEvent`` projection -> the newest :data:`MAX_EVENTS` critical/error events, newest first."""
    out = []
    for item in _items(_load(text)):
        number = to_int(item.get("Level"))
        if number is not None:
            level = EVENT_LEVELS.get(number)
            if level is None:           # 3 Warning, 4 Information, ...: not an error event
                continue
        else:
            level = _LEVEL_NAMES.get(str(item.get("LevelDisplayName") or "").strip().lower(), "error")
        message = str(item.get("Message") or "").replace("\r\n", "\n").strip()
        out.append(EventRecord(time=parse_ps_date(item.get("TimeCreated")), level=level,
                               source=str(item.get("ProviderName") or "?"), message=message,
                               event_id=to_int(item.get("Id")), log=item.get("LogName")))
    out.sort(key=lambda e: time_sort_key(e.time), reverse=True)
    return out[:MAX_EVENTS]


def is_no_events(result: CommandResult) -> bool:
    text = f"{clean_stderr(result.stderr)} {result.stdout}".lower()
    return any(marker in text for marker in NO_EVENTS_MARKERS)


def events(runner: CommandRunner) -> ProbeResult:
    source = SOURCES["events"]
    result = _run(runner, "events")
    if not result.ok:
        if result.ran and is_no_events(result):
            return ProbeResult("events", "ok", [], source=source)
        return _failure("events", result, source)
    return _parsed("events", source, parse_events, result.stdout)


# ---- SMART / disk health -----------------------------------------------------------------------------------

HEALTH_STATUS = {0: "healthy", 1: "warning", 2: "unhealthy", 5: "unknown"}
OPERATIONAL_STATUS = {
    0: "unknown", 1: "other", 2: "ok", 3: "degraded", 4: "stressed", 5: "predictive failure", 6: "error",
    7: "non-recoverable error", 8: "starting", 9: "stopping", 10: "stopped", 11: "in service", 12: "no contact",
    13: "lost communication", 14: "aborted", 15: "dormant", 16: "supporting entity in error", 17: "completed",
    18: "power mode", 19: "relocating", 0xD004: "failed media", 0xD005: "split", 0xD006: "stale metadata",
    0xD007: "io error", 0xD008: "unrecognized metadata",
}   # MSFT_StorageFaultDomain.OperationalStatus
_FAILING_OPS = {"predictive failure", "error", "non-recoverable error", "failed media", "io error"}
_WARNING_OPS = {"degraded", "stressed", "no contact", "lost communication", "aborted", "supporting entity in error",
                "split", "stale metadata", "unrecognized metadata"}
BUS_TYPE = {0: "Unknown", 1: "SCSI", 2: "ATAPI", 3: "ATA", 4: "1394", 5: "SSA", 6: "Fibre Channel", 7: "USB",
            8: "RAID", 9: "iSCSI", 10: "SAS", 11: "SATA", 12: "SD", 13: "MMC", 15: "File Backed Virtual",
            16: "Storage Spaces", 17: "NVMe"}
MEDIA_TYPE = {0: "Unspecified", 3: "HDD", 4: "SSD", 5: "SCM"}
#: Thresholds for the reliability counters.
WEAR_WARNING_PERCENT = 90
TEMPERATURE_WARNING_C = 70


def _bus_name(value: Any) -> str:
    number = to_int(value)
    if number is not None:
        return BUS_TYPE.get(number, f"bus {number}")
    return str(value or "")


def parse_disks(text: str, *, is_admin: bool | None = None) -> list[DiskHealth]:
    """``Get-PhysicalDisk`` + ``Get-StorageReliabilityCounter`` projection -> one record per disk.

    Failing: HealthStatus Unhealthy or an OperationalStatus such as Predictive Failure. Warning: HealthStatus
    Warning, Degraded/Stressed, uncorrected read/write errors, wear >= 90 %, temperature >= 70 °C. A disk whose
    counters could not be read because TechCare is not elevated is ``unknown`` (needs_admin), never healthy.
    """
    data = _load(text)
    wrapper = _one(data) if isinstance(data, (dict, list)) else None
    if wrapper is not None and "Disks" in wrapper:
        disks = _items(wrapper.get("Disks"))
        admin = _bool(wrapper.get("IsAdmin"))
        if admin is None:
            admin = is_admin
    else:
        disks, admin = _items(data), is_admin
    out = []
    for disk in disks:
        device_id = str(disk.get("DeviceId") if disk.get("DeviceId") is not None else "?")
        health = _enum(disk.get("HealthStatus"), HEALTH_STATUS) or "unknown"
        raw_ops = disk.get("OperationalStatus")
        ops = [_enum(v, OPERATIONAL_STATUS) or "" for v in (raw_ops if isinstance(raw_ops, list) else [raw_ops])
               if v is not None]
        rel = disk.get("Reliability") if isinstance(disk.get("Reliability"), dict) else None
        rel_error = str(disk.get("ReliabilityError") or "")
        issues: list[Message] = []
        failing_attrs: list[str] = []
        record = DiskHealth(device=f"PhysicalDisk{device_id}", health="unknown",
                            model=str(disk.get("FriendlyName") or "").strip(),
                            serial=str(disk.get("SerialNumber") or "").strip(), protocol=_bus_name(disk.get("BusType")),
                            smart_passed={"healthy": True, "unhealthy": False}.get(health))
        if health == "unhealthy":
            issues.append(msg("Windows meldet HealthStatus Unhealthy (fehlerhaft)", "Windows reports HealthStatus Unhealthy"))
        elif health == "warning":
            issues.append(msg("Windows meldet HealthStatus Warning (Warnung)", "Windows reports HealthStatus Warning"))
        bad_ops = [op for op in ops if op in _FAILING_OPS or op in _WARNING_OPS]
        if bad_ops:
            issues.append(msg("Betriebszustand (OperationalStatus): {o}", "OperationalStatus: {o}", o=", ".join(bad_ops)))
            failing_attrs.extend(f"OperationalStatus={op}" for op in bad_ops)
        counters_read = rel is not None and any(v is not None for v in rel.values())
        warn_counters = False
        if counters_read:
            assert rel is not None
            temp = to_int(rel.get("Temperature"))
            record.temperature_c = float(temp) if temp else None       # 0 = not reported
            record.power_on_hours = to_int(rel.get("PowerOnHours"))
            record.percentage_used = to_int(rel.get("Wear"))
            for key, label in (("ReadErrorsUncorrected", ("{n} nicht korrigierte Lesefehler", "{n} uncorrected read errors")),
                               ("WriteErrorsUncorrected", ("{n} nicht korrigierte Schreibfehler",
                                                           "{n} uncorrected write errors"))):
                count = to_int(rel.get(key))
                if count:
                    issues.append(msg(*label, n=count))
                    failing_attrs.append(f"{key}={count}")
                    warn_counters = True
            if record.percentage_used is not None and record.percentage_used >= WEAR_WARNING_PERCENT:
                issues.append(msg("Verschleiß {w} % der Nennlebensdauer", "wear {w} % of rated life",
                                  w=record.percentage_used))
                failing_attrs.append(f"Wear={record.percentage_used}")
                warn_counters = True
            if record.temperature_c is not None and record.temperature_c >= TEMPERATURE_WARNING_C:
                issues.append(msg("Temperatur {t:.0f} °C", "temperature {t:.0f} °C", t=record.temperature_c))
                warn_counters = True
        needs_admin = not counters_read and (admin is False or any(h in rel_error.lower() for h in _ADMIN_HINTS))
        if health == "unhealthy" or any(op in _FAILING_OPS for op in ops):
            record.health = "failing"
        elif health == "warning" or any(op in _WARNING_OPS for op in ops) or warn_counters:
            record.health = "warning"
        elif health == "healthy" and counters_read:
            record.health = "passed"
        elif health == "healthy" and needs_admin:
            issues.append(msg("braucht Administratorrechte: TechCare als Administrator starten, um die "
                              "Zuverlässigkeitszähler zu lesen (Temperatur, Fehler, Verschleiß)",
                              "needs elevation: run TechCare as administrator to read the reliability counters "
                              "(temperature, errors, wear)"))
        elif health == "healthy":
            # Counters not supported (USB bridge, virtual disk): Windows' own health verdict is the evidence.
            record.health = "passed"
            if rel_error:
                issues.append(msg("Zuverlässigkeitszähler nicht verfügbar: {e}", "reliability counters not available: {e}",
                                  e=rel_error.splitlines()[0][:160]))
        else:
            issues.append(msg("Windows meldet HealthStatus {h}", "Windows reports HealthStatus {h}",
                              h=disk.get("HealthStatus")))
        record.issues = issues
        record.failing_attributes = failing_attrs
        out.append(record)
    return out


def smart(runner: CommandRunner) -> ProbeResult:
    source = SOURCES["smart"]
    result = _run(runner, "smart")
    if not result.ok:
        return _failure("smart", result, source)
    try:
        admin = runner.fact("host").get("is_admin")
    except (LookupError, AttributeError, KeyError):
        admin = None
    res = _parsed("smart", source, lambda text: parse_disks(text, is_admin=_bool(admin)), result.stdout)
    if res.ok and not res.data:
        return unknown("smart", FAILED, msg("Get-PhysicalDisk meldete keine Datenträger (läuft der Speicherdienst?)",
                                            "Get-PhysicalDisk reported no disks (is the Storage service running?)"),
                       source=source)
    return res
