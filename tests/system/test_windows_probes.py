"""Windows probes end to end: exact argv through a ReplayRunner fed with the fixtures, failures included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from techcare import system
from techcare.diagnosis import findings_from_results
from techcare.system import _windows as win
from techcare.system.records import PROBES
from techcare.system.runner import NOT_FOUND, TIMEOUT, Entry, ReplayRunner

FIXTURES = Path(__file__).parent / "fixtures" / "windows"


def raw(name: str) -> str:
    """Fixture text as a recorded command would carry it (a BOM, if any, left in for the parser)."""
    return (FIXTURES / name).read_bytes().decode("utf-8")


def replay(*, admin: bool | None = True, **answers) -> ReplayRunner:
    """A Windows replay runner. ``answers``: script name -> fixture file, or (returncode, stdout, stderr[, error])."""
    runner = ReplayRunner(platform="windows")
    if admin is not None:
        runner.add(Entry("fact", "host", {"hostname": "PC", "os": "windows", "is_admin": admin}))
    for name, answer in answers.items():
        if isinstance(answer, str):
            answer = (0, raw(answer), "")
        code, out, err, *error = answer
        runner.add_command(win.ps_argv(name), code, out, err, error[0] if error else None)
    return runner


def finding(name: str, result, os_name: str = "windows"):
    items = findings_from_results({name: result}, os_name)
    return items


# ---- the commands ------------------------------------------------------------------------------------------

def test_every_probe_exists_and_runs_only_powershell_scripts():
    runner = ReplayRunner(platform="windows")
    for name in PROBES:
        assert callable(getattr(win, name)), name
        system.probe(name, runner)
    asked = runner.commands_run
    assert asked, "the probes ran no command"
    assert all(argv[:-1] == win.POWERSHELL for argv in asked)
    assert {argv[-1] for argv in asked} == set(win.SCRIPTS.values())


def test_scripts_follow_the_contract():
    for name, script in win.SCRIPTS.items():
        assert script.startswith(win.PREAMBLE), name
        assert "[Console]::OutputEncoding=[Text.Encoding]::UTF8" in script
        assert "ConvertTo-Json -InputObject" in script and script.endswith(("-Depth 4", "exit 1 }")), name
        assert '"' not in script, f"{name}: a double quote would be mangled by Windows command-line quoting"
        assert "\n" not in script and not script.endswith("\\") and script.isascii(), name
        assert win.ps_argv(name) == (*win.POWERSHELL, script)
        assigned = {v.lower() for v in re.findall(r"\$(\w+)\s*=(?!=)", script)}
        assert not assigned & {"host", "error", "input", "args", "psitem", "matches", "this", "event"}, name
    assert win.POWERSHELL == ("powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
                              "-Command")


@pytest.mark.parametrize("name", [p for p in PROBES if p != "metrics"])
def test_not_recorded_is_an_explained_unknown(name):
    result = system.probe(name, ReplayRunner(platform="windows"))
    assert result.status == "unknown" and result.reason_code == "not_recorded"
    assert "not in the snapshot" in result.reason


@pytest.mark.parametrize("name", [p for p in PROBES if p != "metrics"])
def test_powershell_missing_and_timeout(name):
    scripts = ["defender", "security_center"] if name == "antivirus" else [name]
    missing = replay(**{s: (None, "", "powershell.exe: command not found", NOT_FOUND) for s in scripts})
    assert system.probe(name, missing).reason_code == "tool_missing"
    slow = replay(**{s: (None, "", "", TIMEOUT) for s in scripts})
    assert system.probe(name, slow).reason_code == "timeout"


def test_metrics_from_the_fact():
    runner = replay()
    assert win.metrics(runner).reason_code == "not_recorded"
    runner.add(Entry("fact", "metrics", {"cpu_percent": 5.0, "ram_percent": 40.0, "disks": [
        {"mount": "C:\\", "total": 100, "used": 50, "free": 50, "percent": 50.0}]}))
    result = win.metrics(runner)
    assert result.ok and result.data.disks[0].mount == "C:\\"


# ---- firewall ----------------------------------------------------------------------------------------------

def test_firewall_probe_ok_and_off():
    on = system.probe("firewall", replay(firewall="firewall_win10_ps51.json"))
    assert on.ok and on.data.enabled is True and on.source == "Get-NetFirewallProfile"
    off = system.probe("firewall", replay(firewall="firewall_win11_ps7_public_off.json"))
    [item] = finding("firewall", off)
    assert item.severity == "critical" and item.repair_params == {"win.enable_firewall": {"profiles": ["Public"]}}


def test_firewall_access_denied_in_clixml_needs_admin():
    result = system.probe("firewall", replay(firewall=(1, "", raw("events_clixml_progress.stderr"))))
    assert result.status == "unknown" and result.reason_code == "needs_admin"


def test_firewall_garbage_is_parse_error():
    result = system.probe("firewall", replay(firewall=(0, "Name : Domain\r\nEnabled : True\r\n", "")))
    assert result.status == "unknown" and result.reason_code == "parse_error"


def test_empty_output_with_exit_zero_is_not_healthy():
    result = system.probe("firewall", replay(firewall=(0, "", "")))
    assert result.status == "unknown" and result.reason_code == "parse_error"


# ---- antivirus ---------------------------------------------------------------------------------------------

def test_antivirus_defender_normal():
    result = system.probe("antivirus", replay(defender="defender_win10_ps51.json",
                                              security_center="securitycenter_win10_defender_ps51.json"))
    assert result.ok and [p.name for p in result.data.products] == ["Microsoft Defender Antivirus"]
    assert result.source == "Get-MpComputerStatus+SecurityCenter2"
    assert finding("antivirus", result)[0].severity == "ok"


def test_antivirus_passive_defender_with_third_party_is_not_a_problem():
    result = system.probe("antivirus", replay(defender="defender_passive_ps51.json",
                                              security_center="securitycenter_win11_thirdparty_ps7.json"))
    assert result.ok and result.data.protected is True
    [item] = finding("antivirus", result)
    assert item.severity == "ok" and "Avast Antivirus" in item.summary_en


def test_antivirus_defender_unavailable_third_party_found():
    result = system.probe("antivirus", replay(defender=(1, "", raw("defender_unavailable_de.stderr")),
                                              security_center="securitycenter_win11_thirdparty_ps7.json"))
    assert result.ok and result.source == "SecurityCenter2"
    assert [p.name for p in result.data.products if p.enabled] == ["Avast Antivirus"]


def test_antivirus_outdated_signatures_warn_with_repair():
    result = system.probe("antivirus", replay(defender="defender_win11_ps7_outdated.json",
                                              security_center="securitycenter_win10_defender_ps51.json"))
    [item] = finding("antivirus", result)
    assert item.severity == "warning" and item.repairs == ["win.update_defender_signatures"]


def test_antivirus_third_party_outdated():
    result = system.probe("antivirus", replay(defender="defender_passive_ps51.json",
                                              security_center="securitycenter_thirdparty_outdated_ps51.json"))
    [item] = finding("antivirus", result)
    assert item.severity == "warning" and "Norton 360" in item.summary_en


def test_antivirus_realtime_off_warns():
    result = system.probe("antivirus", replay(defender="defender_realtime_off_ps51.json",
                                              security_center="securitycenter_win10_defender_ps51.json"))
    [item] = finding("antivirus", result)
    assert item.severity == "warning" and "Real-time protection is off" in item.summary_en


def test_antivirus_server_without_security_center_but_defender_on():
    result = system.probe("antivirus", replay(defender="defender_win10_ps51.json",
                                              security_center=(1, "", raw("securitycenter_server_invalid_namespace.stderr"))))
    assert result.ok and result.source == "Get-MpComputerStatus"


def test_antivirus_defender_passive_and_security_center_missing_is_unknown_not_unprotected():
    result = system.probe("antivirus", replay(defender="defender_passive_ps51.json",
                                              security_center=(1, "", raw("securitycenter_server_invalid_namespace.stderr"))))
    assert result.status == "unknown" and "cannot be listed" in result.reason
    assert finding("antivirus", result)[0].severity == "unknown"


def test_antivirus_both_sources_fail():
    result = system.probe("antivirus", replay(defender=(1, "", raw("defender_unavailable_de.stderr")),
                                              security_center=(1, "", raw("securitycenter_server_invalid_namespace.stderr"))))
    assert result.status == "unknown" and result.reason_code == "failed"
    assert "Get-MpComputerStatus failed (exit 1)" in result.reason


# ---- update service ----------------------------------------------------------------------------------------

def test_update_service_probe():
    normal = system.probe("update_service", replay(update_service="wuauserv_win10_ps51.json"))
    assert normal.ok and finding("update_service", normal)[0].severity == "ok"
    disabled = system.probe("update_service", replay(update_service="wuauserv_win11_ps7_disabled.json"))
    [item] = finding("update_service", disabled)
    assert item.severity == "critical" and item.repairs == ["win.set_service_start_type", "win.reset_windows_update"]


# ---- services ----------------------------------------------------------------------------------------------

def test_services_probe_findings():
    result = system.probe("services", replay(services="services_win10_ps51.json"))
    assert result.ok and result.source == "Win32_Service"
    items = finding("services", result)
    assert [(f.check, f.severity, f.repair_params) for f in items] == [
        ("service:Spooler", "warning", {"win.restart_service": {"name": "Spooler"}}),
        ("service:Audiosrv", "warning", {"win.restart_service": {"name": "Audiosrv"}})]


def test_services_none_ok():
    result = system.probe("services", replay(services="services_none_ps7.json"))
    assert result.ok and result.data == [] and finding("services", result)[0].severity == "ok"


# ---- pending updates ---------------------------------------------------------------------------------------

def test_pending_updates_probe_security():
    result = system.probe("pending_updates", replay(pending_updates="updates_win11_security_ps51.json"))
    assert result.ok and result.data.security_count == 2
    [item] = finding("pending_updates", result)
    assert item.severity == "critical" and item.repairs == ["win.install_updates"]


def test_pending_updates_none():
    result = system.probe("pending_updates", replay(pending_updates="updates_none_ps7.json"))
    assert result.ok and finding("pending_updates", result)[0].severity == "ok"


def test_pending_updates_hresult_is_unknown_with_the_code_explained():
    result = system.probe("pending_updates",
                          replay(pending_updates=(1, "", raw("updates_error_8024402C.stderr"))))
    assert result.status == "unknown" and result.reason_code == "failed"
    assert "0x8024402C" in result.reason and "no connection" in result.reason


def test_pending_updates_german_uncaught_error_and_disabled_service():
    german = system.probe("pending_updates", replay(pending_updates=(1, "", raw("updates_error_uncaught_de.stderr"))))
    assert "0x80072EE2" in german.reason
    off = system.probe("pending_updates", replay(pending_updates=(1, "", raw("updates_error_service_disabled.stderr"))))
    assert "0x80070422" in off.reason and "disabled" in off.reason


def test_pending_updates_access_denied_needs_admin():
    result = system.probe("pending_updates", replay(pending_updates=(1, "", "HRESULT 0x80070005 Access is denied.")))
    assert result.reason_code == "needs_admin"


# ---- pending reboot ----------------------------------------------------------------------------------------

def test_pending_reboot_probe():
    result = system.probe("pending_reboot", replay(pending_reboot="reboot_pending_ps51.json"))
    assert result.ok and len(result.data.sources) == 3
    assert finding("pending_reboot", result)[0].severity == "warning"
    none = system.probe("pending_reboot", replay(pending_reboot="reboot_none_ps7.json"))
    assert none.ok and none.data.required is False


# ---- events ------------------------------------------------------------------------------------------------

def test_events_probe():
    result = system.probe("events", replay(events="events_win10_ps51.json"))
    assert result.ok and len(result.data) == 5 and result.source == "Get-WinEvent"
    [item] = finding("events", result)
    assert item.severity == "warning"          # a Critical (Kernel-Power 41) is among them


@pytest.mark.parametrize("stderr_fixture", ["events_none_en.stderr", "events_none_de_ps7.stderr"])
def test_no_events_message_is_an_empty_list_not_an_error(stderr_fixture):
    result = system.probe("events", replay(events=(1, "", raw(stderr_fixture))))
    assert result.ok and result.data == []
    assert finding("events", result)[0].severity == "ok"


def test_events_none_from_the_script():
    result = system.probe("events", replay(events="events_none_ps51.json"))
    assert result.ok and result.data == []


def test_events_other_errors_stay_errors():
    result = system.probe("events", replay(events=(1, "", raw("events_clixml_progress.stderr"))))
    assert result.status == "unknown" and result.reason_code == "needs_admin"
    broken = system.probe("events", replay(events=(1, "", "Get-WinEvent : The RPC server is unavailable")))
    assert broken.status == "unknown" and broken.reason_code == "failed" and "RPC server" in broken.reason


# ---- smart -------------------------------------------------------------------------------------------------

def test_smart_failing_disk():
    result = system.probe("smart", replay(smart="disks_win11_failing_ps51.json"))
    assert result.ok and result.source == "Get-PhysicalDisk"
    items = finding("smart", result)
    assert [(f.check, f.severity) for f in items] == [("smart:PhysicalDisk0", "ok"), ("smart:PhysicalDisk1", "critical")]


def test_smart_without_admin_unknown_per_disk():
    result = system.probe("smart", replay(admin=False, smart="disks_win11_nonadmin_ps7.json"))
    assert result.ok
    [item] = finding("smart", result)
    assert item.severity == "unknown" and "elevation" in item.summary_en


def test_smart_admin_from_host_fact_for_bare_arrays():
    text = '[{"DeviceId":"0","FriendlyName":"X","HealthStatus":0,"OperationalStatus":[2],"Reliability":null}]'
    assert system.probe("smart", replay(admin=False, smart=(0, text, ""))).data[0].health == "unknown"
    assert system.probe("smart", replay(admin=None, smart=(0, text, ""))).data[0].health == "passed"


def test_smart_no_disks_is_unknown():
    result = system.probe("smart", replay(smart=(0, '{"IsAdmin": true, "Disks": []}', "")))
    assert result.status == "unknown" and "no disks" in result.reason


def test_smart_warning_disk():
    result = system.probe("smart", replay(smart="disks_warning_strings_ps7.json"))
    items = finding("smart", result)
    assert [(f.check, f.severity) for f in items] == [("smart:PhysicalDisk0", "warning"), ("smart:PhysicalDisk1", "ok")]
    assert items[0].repairs == ["win.schedule_chkdsk"]


# ---- DataFrame form and stderr cleaning --------------------------------------------------------------------

def test_results_have_a_dataframe_form():
    runner = replay(defender="defender_passive_ps51.json", security_center="securitycenter_win11_thirdparty_ps7.json",
                    pending_updates="updates_win11_security_ps51.json", services="services_win10_ps51.json",
                    events="events_win11_ps7.json", smart="disks_win11_failing_ps51.json",
                    firewall="firewall_win11_ps7_public_off.json")
    av = system.probe("antivirus", runner).to_frame()
    assert list(av["name"]) == ["Microsoft Defender Antivirus", "Avast Antivirus"]
    updates = system.probe("pending_updates", runner).to_frame()
    assert len(updates) == 4 and set(updates["manager"]) == {"windows_update"}
    assert list(updates["security"]) == [True, True, False, False]
    assert list(system.probe("services", runner).to_frame()["name"]) == ["Spooler", "Audiosrv"]
    assert list(system.probe("events", runner).to_frame()["event_id"]) == [7023, 41, 1000, 10010, 129]
    assert list(system.probe("smart", runner).to_frame()["health"]) == ["passed", "failing"]
    assert len(system.probe("firewall", runner).to_frame()) == 1


def test_clean_stderr_reduces_clixml_to_the_error_text():
    assert win.clean_stderr(raw("events_clixml_progress.stderr")) == "Get-WinEvent : Access is denied"
    assert win.clean_stderr("  plain error\r\n") == "plain error"
    progress_only = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\"><Obj S=\"progress\" RefId=\"0\"></Obj></Objs>"
    assert win.clean_stderr(progress_only) == ""


def test_progress_noise_on_stderr_does_not_spoil_good_output():
    noise = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\"><Obj S=\"progress\" RefId=\"0\"></Obj></Objs>"
    result = system.probe("firewall", replay(firewall=(0, raw("firewall_win10_ps51.json"), noise)))
    assert result.ok and result.data.enabled is True


@pytest.mark.parametrize("name", ["firewall", "update_service", "services", "pending_updates", "pending_reboot",
                                  "events", "smart"])
def test_no_output_is_never_a_healthy_empty_answer(name):
    result = system.probe(name, replay(**{name: (0, "\ufeff\r\n", "")}))
    assert result.status == "unknown" and result.reason_code == "parse_error"
    assert "printed nothing" in result.reason


def test_slow_probes_get_more_time_than_the_default():
    assert win.PROBE_TIMEOUTS["pending_updates"] > win.TIMEOUTS["pending_updates"]
    for name, seconds in win.PROBE_TIMEOUTS.items():
        assert name in PROBES and seconds >= 20
