"""capture.ps1 runs exactly the scripts of _windows.py and writes a snapshot TechCare can replay.

PowerShell cannot run here, so the tests pin the script texts (verbatim, byte for byte), the argv prefix,
the fact shapes, and replay a snapshot in exactly the shape capture.ps1 writes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import techcare
from techcare.system import _facts
from techcare.system import _windows as win
from techcare.system.snapshot import load_snapshot

CAPTURE = Path(win.__file__).parent / "capture" / "capture.ps1"
FIXTURES = Path(__file__).parent / "fixtures" / "windows"
HERE_STRING = re.compile(r"^\$Scripts\['(\w+)'\] = @'\r?\n(.*?)\r?\n'@\r?$", re.M | re.S)


@pytest.fixture(scope="module")
def capture_text() -> str:
    return CAPTURE.read_bytes().decode("ascii")     # ASCII only: 5.1 reads BOM-less scripts in the ANSI code page


def test_every_probe_script_appears_verbatim(capture_text):
    for name, script in win.SCRIPTS.items():
        assert script in capture_text, f"capture.ps1 does not carry the {name} script verbatim"


def test_capture_scripts_are_exactly_the_module_scripts(capture_text):
    found = dict(HERE_STRING.findall(capture_text))
    assert found == win.SCRIPTS                      # same names, same order-independent texts, nothing extra
    assert list(found) == list(win.SCRIPTS)          # same order as the probes run


def test_capture_carries_the_driver_inventory_scripts_verbatim(capture_text):
    """``techcare snapshot save`` records the driver inventory too; a capture.ps1 snapshot must carry it."""
    from techcare.tools.drivers import _windows as drivers

    found = dict(re.findall(r"^\$DriverScripts\['(\w+)'\] = @'\r?\n(.*?)\r?\n'@\r?$", capture_text, re.M | re.S))
    assert found == {"inventory": drivers.INVENTORY_ARGV[-1], "windows_update": drivers.WU_ARGV[-1]}
    assert tuple(drivers.INVENTORY_ARGV[:-1]) == win.POWERSHELL and tuple(drivers.WU_ARGV[:-1]) == win.POWERSHELL


def _quote_like_capture_ps1(argument: str) -> str:
    """Line-by-line Python twin of ConvertTo-CommandLineArgument in capture.ps1."""
    if argument and not re.search(r'[\s"]', argument):
        return argument
    out, backslashes = ['"'], 0
    for ch in argument:
        if ch == "\\":
            backslashes += 1
            continue
        if ch == '"':
            out.append("\\" * (2 * backslashes + 1))
        elif backslashes:
            out.append("\\" * backslashes)
        out.append(ch)
        backslashes = 0
    out.append("\\" * (2 * backslashes))
    out.append('"')
    return "".join(out)


def test_capture_quotes_script_arguments_like_python_subprocess(capture_text):
    import subprocess

    from techcare.tools.drivers import _windows as drivers

    assert "function ConvertTo-CommandLineArgument([string]$Argument)" in capture_text
    assert "(ConvertTo-CommandLineArgument $Script)" in capture_text
    samples = [*win.SCRIPTS.values(), drivers.INVENTORY_ARGV[-1], drivers.WU_ARGV[-1], 'a "b" c\\', "x\\\\y z"]
    for text in samples:
        assert _quote_like_capture_ps1(text) == subprocess.list2cmdline([text])


def test_capture_uses_the_same_argv_prefix(capture_text):
    match = re.search(r"\$PowerShellArgv = @\(([^)]*)\)", capture_text)
    assert match is not None
    argv = tuple(part.strip().strip("'") for part in match.group(1).split(","))
    assert argv == win.POWERSHELL
    assert "argv = @($PowerShellArgv + $Script)" in capture_text


def test_capture_timeouts_match_the_module(capture_text):
    match = re.search(r"\$Timeouts = @\{([^}]*)\}", capture_text)
    assert match is not None
    pairs = dict(re.findall(r"'(\w+)' = (\d+)", match.group(1)))
    assert {k: float(v) for k, v in pairs.items()} == win.TIMEOUTS
    assert f"$DefaultTimeout = {win.DEFAULT_SCRIPT_TIMEOUT:g}" in capture_text


def _hashtable_keys(text: str, function: str) -> set[str]:
    body = text[text.index(f"function {function}"):]
    body = body[body.index("return [ordered]@{"):]
    body = body[:body.index("\n    }")]
    return set(re.findall(r"^\s+(\w+) = ", body, re.M))


def test_capture_facts_have_the_python_shapes(capture_text):
    metric_keys = _hashtable_keys(capture_text, "Get-MetricsFact")
    python_metrics = set(_facts.metrics())
    assert metric_keys == python_metrics
    host_keys = _hashtable_keys(capture_text, "Get-HostFact")
    python_host = set(_facts.host()) - {"distro", "mac_version"} | {"win_edition"}
    assert python_host <= host_keys
    disk_keys = set(re.findall(r"(\w+) = ", capture_text[capture_text.index("$disks += [ordered]@{"):
                                                          capture_text.index("$boot = ")]))
    assert {"mount", "device", "fstype", "total", "used", "free", "percent"} <= disk_keys


def test_capture_writes_format_v1(capture_text):
    assert "$FormatName = 'techcare-snapshot'" in capture_text
    assert "$FormatVersion = 1" in capture_text
    assert "platform = 'windows'" in capture_text
    for key in ("kind = 'cmd'", "returncode = $null", "stdout = ''", "stderr = ''", "error = $null"):
        assert key in capture_text
    assert "ConvertTo-Json -InputObject $snapshot -Depth 12" in capture_text


def _ps51_json(value) -> str:
    """Roughly what ConvertTo-Json in Windows PowerShell 5.1 writes (CRLF, 4 spaces, '":  ')."""
    text = json.dumps(value, indent=4, ensure_ascii=False).replace('": ', '":  ')
    return text.replace("\n", "\r\n")


def capture_shaped_snapshot(tmp_path: Path, answers: dict[str, tuple[int | None, str, str, str | None]]) -> Path:
    """A snapshot exactly as capture.ps1 lays it out (facts first, one cmd entry per script, PS 5.1 JSON)."""
    host = {"hostname": "PC-KUNDE", "os": "windows", "os_release": "10", "os_version": "10.0.19045",
            "arch": "AMD64", "python": None, "user": "Admin", "is_admin": True, "win_edition": "Professional",
            "caption": "Microsoft Windows 10 Pro"}
    metrics = {"cpu_percent": 12.0, "cpu_count": 4, "ram_total": 8_589_934_592, "ram_available": 4_294_967_296,
               "ram_percent": 50.0, "swap": None,
               "disks": [{"mount": "C:\\", "device": "C:\\", "fstype": "NTFS", "total": 255_000_000_000,
                          "used": 100_000_000_000, "free": 155_000_000_000, "percent": 39.2}],
               "boot_time": 1694700000.0, "uptime_seconds": 3600.0, "load_avg": None, "timestamp": 1694703600.0}
    entries: list[dict] = [{"kind": "fact", "name": "host", "value": host},
                           {"kind": "fact", "name": "metrics", "value": metrics}]
    for name in win.SCRIPTS:
        code, out, err, error = answers[name]
        entries.append({"kind": "cmd", "argv": list(win.ps_argv(name)), "returncode": code, "stdout": out,
                        "stderr": err, "duration": 0.5, "error": error})
    # then the driver inventory, as capture.ps1 runs it (outputs: the drivers part's fixtures)
    from techcare.tools.drivers import _windows as drivers

    driver_fixtures = Path(__file__).parent.parent / "drivers" / "fixtures"
    for argv, fixture in ((drivers.INVENTORY_ARGV, "win_pnpsigneddriver_ps7.json"),
                          (drivers.WU_ARGV, "win_wu_drivers_ps51.json")):
        entries.append({"kind": "cmd", "argv": list(argv), "returncode": 0, "duration": 2.0, "error": None,
                        "stdout": (driver_fixtures / fixture).read_bytes().decode("utf-8-sig"), "stderr": ""})
    snap = {"format": "techcare-snapshot", "version": 1, "created": "2023-09-15T08:00:00+00:00",
            "platform": "windows", "host": host, "capture": {"tool": "capture.ps1 1", "powershell": "5.1.19041.3393"},
            "entries": entries}
    path = tmp_path / "pc.json"
    path.write_bytes(_ps51_json(snap).encode("utf-8"))
    return path


def ok(name: str) -> tuple[int, str, str, None]:
    return (0, (FIXTURES / name).read_bytes().decode("utf-8"), "", None)


def test_capture_shaped_snapshot_of_a_healthy_windows10_loads_and_diagnoses(tmp_path):
    path = capture_shaped_snapshot(tmp_path, {
        "firewall": ok("firewall_win10_ps51.json"), "defender": ok("defender_win10_ps51.json"),
        "security_center": ok("securitycenter_win10_defender_ps51.json"),
        "update_service": ok("wuauserv_win10_ps51.json"), "services": ok("services_none_ps7.json"),
        "pending_updates": ok("updates_none_ps7.json"), "pending_reboot": ok("reboot_none_ps7.json"),
        "events": ok("events_none_ps51.json"), "smart": ok("disks_win10_admin_healthy_ps51.json")})
    snap = load_snapshot(path)
    assert snap.platform == "windows" and snap.hostname == "PC-KUNDE"
    diagnosis = techcare.diagnose(snapshot=path)
    assert diagnosis.os == "windows"
    assert all(res.ok for res in diagnosis.probes.values()), {n: r.reason for n, r in diagnosis.probes.items()}
    not_ok = [(f.check, f.severity) for f in diagnosis.items if f.severity != "ok" and f.area != "drivers"]
    assert not_ok == []                                 # (the driver check belongs to the drivers part)
    assert {f.check for f in diagnosis.items} >= {"firewall", "antivirus", "update_service", "services",
                                                  "pending_updates", "pending_reboot", "events",
                                                  "smart:PhysicalDisk0", "smart:PhysicalDisk1", "disk_usage:C:\\"}


def test_capture_shaped_snapshot_with_timeout_and_missing_entries(tmp_path):
    answers = {name: ok("firewall_win10_ps51.json") for name in win.SCRIPTS}
    answers["pending_updates"] = (None, "", "", "timeout")          # capture.ps1 killed the search
    answers["events"] = (1, "", (FIXTURES / "events_none_en.stderr").read_text(encoding="utf-8"), None)
    answers["smart"] = (None, "", "The system cannot find the file specified", "not_found")
    path = capture_shaped_snapshot(tmp_path, answers)
    diagnosis = techcare.diagnose(snapshot=path)
    probes = diagnosis.probes
    assert probes["pending_updates"].reason_code == "timeout"
    assert probes["events"].ok and probes["events"].data == []
    assert probes["smart"].reason_code == "tool_missing"
    # the firewall JSON is no answer for the other scripts: parse errors, never "healthy"
    assert probes["pending_reboot"].status == "unknown"
    assert diagnosis.by_check("pending_updates").severity == "unknown"


def test_capture_has_no_case_only_variable_clashes_or_automatic_variable_writes(capture_text):
    """PowerShell variable names ignore case ($Limit is $limit) and some names are taken ($Host, $Error, $Input)."""
    for match in re.finditer(r"^function ([\w-]+).*?^\}", capture_text, re.M | re.S):
        spellings: dict[str, set[str]] = {}
        for name in re.findall(r"\$(\w+)", match.group(0)):
            spellings.setdefault(name.lower(), set()).add(name)
        assert not {k: v for k, v in spellings.items() if len(v) > 1}, match.group(1)
    automatic = ("host", "error", "input", "args", "psitem", "pid", "home", "true", "false", "matches",
                 "profile", "pwd", "this", "event", "sender", "ofs", "shellid", "stacktrace")   # ($null = x discards)
    assigned = {name.lower() for name in re.findall(r"\$(\w+)\s*=(?!=)", capture_text)}
    assert not assigned & set(automatic)
