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
    return techcare.diagnose(snapshot=SNAPSHOT)


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
    techcare.diagnose(runner=runner)
    recorded = {e.key for e in snap.entries if e.kind == "cmd"}
    assert set(runner.commands_run) == recorded
    assert runner.commands_run.count(M.UPDATE_LIST_ARGV) == 1


def test_probes_ask_only_for_the_declared_capture_requests():
    runner = load_snapshot(SNAPSHOT).runner()
    techcare.diagnose(runner=runner)
    info = {M.diskutil_info_argv(disk) for disk in ("disk0", "disk4")}
    for kind, key in runner.calls:
        if kind == "cmd":
            assert key in M.CAPTURE_COMMANDS or key in info, key
        elif kind == "file":
            assert key in M.CAPTURE_FILES, key
        elif kind == "dir":
            assert key in M.CAPTURE_DIRS, key
        else:
            assert kind == "fact" and key in M.CAPTURE_FACTS, (kind, key)


def test_host_and_os(diagnosis):
    assert diagnosis.os == "darwin" and diagnosis.hostname == "MacBook-Pro-Praxis"
    assert all(res.status == "ok" for res in diagnosis.probes.values()), {
        name: res.reason for name, res in diagnosis.probes.items() if res.status != "ok"}


EXPECTED = {
    # check: (severity, suggested repairs)
    "firewall": ("critical", ["macos.enable_firewall"]),
    "update_service": ("critical", []),
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
