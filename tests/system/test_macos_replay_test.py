"""Whole-machine replay: a macOS 14 problem machine captured as a v1 snapshot, diagnosed on this Linux box."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import techcare
from techcare.system import _macos as M
from techcare.system.snapshot import load_snapshot

FIX = Path(__file__).parent / "fixtures"
SNAPSHOT = FIX / "snapshots" / "macos14-problems.json"


def _builder():
    spec = importlib.util.spec_from_file_location("macos_make_snapshot", FIX / "macos" / "make_snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def diagnosis():
    return techcare.diagnose(snapshot=SNAPSHOT, drivers=False)


def test_snapshot_is_built_from_the_fixtures_and_current_argv():
    # a changed fixture or argv constant must be followed by re-running make_snapshot.py
    assert SNAPSHOT.read_text(encoding="utf-8") == _builder().render()


def test_snapshot_loads_as_darwin_v1():
    snap = load_snapshot(SNAPSHOT)
    assert snap.platform == "darwin" and snap.hostname == "MacBook-Pro-Praxis"
    assert {e.kind for e in snap.entries} == {"cmd", "file", "dir", "fact"}


def test_every_recorded_command_is_asked_and_nothing_else(diagnosis):
    snap = load_snapshot(SNAPSHOT)
    runner = snap.runner()
    techcare.diagnose(runner=runner, drivers=False)
    recorded = {e.key for e in snap.entries if e.kind == "cmd"}
    assert set(runner.commands_run) == recorded
    assert runner.commands_run.count(M.UPDATE_LIST_ARGV) == 1


def test_probes_ask_only_for_the_declared_capture_requests():
    from techcare.system import recorded

    runner = load_snapshot(SNAPSHOT).runner()
    techcare.diagnose(runner=runner, drivers=False)
    assert ("cmd", M.diskutil_info_argv("disk4")) in runner.calls           # the per-disk pattern is asked
    assert recorded.undeclared("darwin", runner.calls) == []


def test_host_and_os(diagnosis):
    assert diagnosis.os == "darwin" and diagnosis.hostname == "MacBook-Pro-Praxis"
    assert all(res.status == "ok" for res in diagnosis.probes.values()), {
        name: res.reason for name, res in diagnosis.probes.items() if res.status != "ok"}


EXPECTED = {
    # check: (severity, suggested repairs)
    "firewall": ("critical", ["macos.enable_firewall"]),
    "update_service": ("warning", []),
    "antivirus": ("warning", []),
    "service:com.docker.mobile-relay": ("warning", []),
    "pending_updates": ("warning", ["macos.install_updates"]),
    "pending_reboot": ("warning", []),
    "events": ("info", []),
    "smart:/dev/disk0": ("critical", []),
    "smart:/dev/disk4": ("unknown", []),
    "disk_usage:/": ("warning", ["macos.clear_user_caches"]),
    "disk_usage:/Volumes/Backup": ("ok", []),
    "ram": ("ok", []),
    "cpu": ("ok", []),
}


def test_findings(diagnosis):
    found = {f.check: (f.severity, f.repairs) for f in diagnosis.items}
    assert found == EXPECTED


def test_finding_details(diagnosis):
    pending = diagnosis.by_check("pending_updates")
    assert pending.evidence["count"] == 4 and pending.evidence["security"] == 1
    assert "macOS Sonoma 14.7.2-23H311" in pending.evidence["updates"]
    reboot = diagnosis.by_check("pending_reboot")
    assert reboot.evidence["sources"] == ["softwareupdate: macOS Sonoma 14.7.2-23H311",
                                          "softwareupdate: macOS Sequoia 15.2-24C101"]
    assert diagnosis.by_check("antivirus").evidence["signature_age_days"] == {"XProtect": 149}
    smart = diagnosis.by_check("smart:/dev/disk0")
    assert "OWC Mercury Extreme Pro RE SSD" in smart.summary_en and smart.evidence["smart_passed"] is False
    events = diagnosis.by_check("events").evidence["events"]
    assert len(events) == 5 and events[0]["time"] == "2026-11-20T10:58:31.662310+01:00"
    assert diagnosis.worst == "critical"
    assert diagnosis.repair_ids() == ["macos.enable_firewall", "macos.clear_user_caches", "macos.install_updates"]


def test_json_output(diagnosis):
    data = json.loads(diagnosis.to_json(lang="de"))
    assert data["host"] == "MacBook-Pro-Praxis" and data["os"] == "darwin"
    firewall = next(f for f in data["findings"] if f["check"] == "firewall")
    assert firewall["summary"] == "Firewall (Application Firewall) ist aus."


def test_healthy_mojave_machine_has_no_problems(tmp_path):
    """A 10.14 Mac built from the old-format fixtures: nothing may be flagged, nothing may stay unknown."""
    builder = _builder()
    macos = FIX / "macos"

    def fixture(name):
        return (macos / name).read_bytes().decode("utf-8")

    launchctl = "".join(line for line in fixture("launchctl_list_user_26.txt").splitlines(keepends=True)
                        if "com.docker.mobile-relay" not in line)
    host = {**builder.HOST, "os_release": "18.7.0", "mac_version": "10.14.6", "arch": "x86_64"}
    metrics = {**builder.METRICS, "disks": [{**builder.METRICS["disks"][0], "percent": 41.0}]}
    entries = [
        {"kind": "fact", "name": "host", "value": host},
        {"kind": "fact", "name": "metrics", "value": metrics},
        builder.cmd(M.FIREWALL_ARGV, fixture("socketfilterfw_enabled.txt")),
        {"kind": "file", "path": M.XPROTECT_PLISTS[0], "content": None, "error": "not_found"},
        {"kind": "file", "path": M.XPROTECT_PLISTS[1], "content": fixture("xprotect_info_14.plist"), "error": None},
        builder.cmd(M.INSTALL_HISTORY_ARGV, "", "system_profiler: illegal option -- json\n", 1),
        {"kind": "dir", "name": M.APPLICATIONS_DIR, "value": ["App Store.app", "Safari.app"]},
        builder.cmd(M.UPDATE_SCHEDULE_ARGV, fixture("softwareupdate_schedule_10.14_on.txt")),
        builder.cmd(M.LAUNCHCTL_LIST_ARGV, launchctl),
        builder.cmd(M.UPDATE_LIST_ARGV, fixture("softwareupdate_l_none.stdout.txt"),
                    fixture("softwareupdate_l_none.stderr.txt")),
        builder.cmd(M.LOG_SHOW_ARGV, fixture("log_show_empty.json")),
        builder.cmd(M.DISKUTIL_LIST_ARGV, fixture("diskutil_list_aws_testdata.plist")),
        builder.cmd(M.diskutil_info_argv("disk0"), fixture("diskutil_info_disk0_10.14_verified_sata.plist")),
    ]
    path = tmp_path / "mojave.json"
    path.write_text(json.dumps({"format": "techcare-snapshot", "version": 1, "platform": "darwin", "host": host,
                                "entries": entries}), encoding="utf-8")
    result = techcare.diagnose(snapshot=path, drivers=False)
    assert {f.check: f.severity for f in result.items} == {
        "disk_usage:/": "ok", "ram": "ok", "cpu": "ok", "firewall": "ok", "antivirus": "ok", "update_service": "ok",
        "services": "ok", "pending_updates": "ok", "pending_reboot": "ok", "events": "ok", "smart:/dev/disk0": "ok"}
    assert result.problems == [] and result.repair_ids() == []
