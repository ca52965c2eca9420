"""Whole-machine replay: a Windows 11 problem PC (snapshot in capture.ps1's shape) through ``diagnose()``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import techcare
from techcare.system import _windows as win
from techcare.system.records import PROBES
from techcare.system.snapshot import load_snapshot

HERE = Path(__file__).parent
SNAPSHOT = HERE / "fixtures" / "snapshots" / "windows11-problems.json"
FIXTURES = HERE / "fixtures" / "windows"

#: Which fixture answered each script when the snapshot was assembled (kept in sync by a test below).
FROM_FIXTURES = {"firewall": "firewall_win11_ps7_public_off.json", "defender": "defender_win10_ps51.json",
                 "security_center": "securitycenter_win10_defender_ps51.json",
                 "update_service": "wuauserv_win11_ps7_disabled.json", "services": "services_win10_ps51.json",
                 "pending_updates": "updates_win11_security_ps51.json", "pending_reboot": "reboot_pending_ps51.json",
                 "events": "events_win11_ps7.json", "smart": "disks_win11_failing_ps51.json"}


@pytest.fixture(scope="module")
def diagnosis():
    return techcare.diagnose(snapshot=SNAPSHOT)


def probe_findings(diagnosis):
    """The findings of the system probes (the driver check, area ``drivers``, belongs to the drivers part)."""
    return [f for f in diagnosis.items if f.area != "drivers"]


def test_snapshot_is_built_from_the_fixtures_with_the_exact_argv():
    data = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    commands = {tuple(e["argv"]): e for e in data["entries"] if e["kind"] == "cmd"}
    assert len(commands) == len(win.SCRIPTS) + 2           # + the driver inventory and driver update search
    for name, fixture in FROM_FIXTURES.items():
        entry = commands[win.ps_argv(name)]
        assert entry["stdout"] == (FIXTURES / fixture).read_bytes().decode("utf-8-sig")
        assert entry["returncode"] == 0 and entry["error"] is None
    facts = {e["name"]: e["value"] for e in data["entries"] if e["kind"] == "fact"}
    assert set(facts) == {"host", "metrics"}
    assert data["capture"]["tool"].startswith("capture.ps1")


def test_every_probe_answered_from_the_snapshot(diagnosis):
    assert diagnosis.os == "windows" and diagnosis.hostname == "WS-EMPFANG-01"
    assert list(diagnosis.probes) == list(PROBES)
    for name, result in diagnosis.probes.items():
        assert result.ok, f"{name}: {result.reason}"


def test_replay_asks_every_recorded_command():
    from techcare.tools.drivers import _windows as drivers

    runner = load_snapshot(SNAPSHOT).runner()
    techcare.diagnose(runner=runner)
    asked = set(runner.commands_run)
    recorded = {win.ps_argv(name) for name in win.SCRIPTS} | {tuple(drivers.INVENTORY_ARGV), tuple(drivers.WU_ARGV)}
    assert asked == recorded                                # nothing asked that capture.ps1 does not record


def test_findings_severity_per_check(diagnosis):
    severity = {f.check: f.severity for f in probe_findings(diagnosis)}
    assert severity == {
        "disk_usage:C:\\": "warning",
        "disk_usage:D:\\": "ok",
        "ram": "ok",
        "cpu": "ok",
        "firewall": "critical",
        "antivirus": "ok",
        "update_service": "critical",
        "service:Spooler": "warning",
        "service:Audiosrv": "warning",
        "pending_updates": "critical",
        "pending_reboot": "warning",
        "events": "warning",
        "smart:PhysicalDisk0": "ok",
        "smart:PhysicalDisk1": "critical",
    }
    assert diagnosis.worst == "critical"
    counts = {sev: sum(1 for f in probe_findings(diagnosis) if f.severity == sev) for sev in ("ok", "info", "warning",
                                                                                            "critical", "unknown")}
    assert counts == {"ok": 5, "info": 0, "warning": 5, "critical": 4, "unknown": 0}


def test_suggested_repairs(diagnosis):
    by = diagnosis.by_check
    assert by("firewall").repairs == ["win.enable_firewall"]
    assert by("firewall").repair_params == {"win.enable_firewall": {"profiles": ["Public"]}}
    assert by("update_service").repairs == ["win.set_service_start_type", "win.reset_windows_update"]
    assert by("update_service").repair_params == {
        "win.set_service_start_type": {"name": "wuauserv", "start_type": "manual"}}
    assert by("service:Spooler").repairs == ["win.restart_service"]
    assert by("service:Spooler").repair_params == {"win.restart_service": {"name": "Spooler"}}
    assert by("pending_updates").repairs == ["win.install_updates"]
    assert by("disk_usage:C:\\").repairs == ["win.clear_temp_files"]
    assert by("smart:PhysicalDisk1").repairs == []        # a failing disk is replaced, not repaired
    expected = ["win.enable_firewall", "win.set_service_start_type", "win.reset_windows_update", "win.install_updates",
                "win.clear_temp_files", "win.restart_service"]
    assert [rid for rid in diagnosis.repair_ids() if rid in expected] == expected


def test_evidence_and_summaries(diagnosis):
    by = diagnosis.by_check
    assert by("pending_updates").evidence["security"] == 2 and by("pending_updates").evidence["count"] == 4
    assert by("pending_reboot").evidence["sources"] == ["Component Based Servicing\\RebootPending",
                                                        "WindowsUpdate\\Auto Update\\RebootRequired",
                                                        "Session Manager\\PendingFileRenameOperations"]
    events = by("events").evidence["events"]
    assert [e["event_id"] for e in events] == [7023, 41, 1000, 10010, 129]
    disk = by("smart:PhysicalDisk1")
    assert "WDC WD10EZEX-08WN4A0" in disk.summary_en and "Datenträger" in disk.summary_de
    assert disk.evidence["power_on_hours"] == 38112
    payload = json.loads(diagnosis.to_json(lang="en"))
    assert payload["os"] == "windows"
    assert len([f for f in payload["findings"] if f["area"] != "drivers"]) == 14
