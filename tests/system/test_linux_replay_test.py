"""Whole-machine replay: a Debian problem machine (snapshot built from the Linux fixtures) through diagnose()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import techcare
from techcare.system import _linux as L
from techcare.system.snapshot import load_snapshot

SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "linux-debian-problems.json"
FIXTURES = Path(__file__).parent / "fixtures" / "linux"

EXPECTED = {
    # check: (severity, suggested repair ids)
    "disk_usage:/": ("warning", ["linux.apt_clean", "linux.journal_vacuum", "linux.clear_temp_files"]),
    "disk_usage:/boot/efi": ("ok", []),
    "ram": ("ok", []),
    "cpu": ("ok", []),
    "firewall": ("critical", ["linux.enable_ufw"]),
    "antivirus": ("warning", []),
    "update_service": ("critical", []),
    "service:nginx.service": ("warning", ["linux.restart_unit"]),
    "service:backup.service": ("warning", ["linux.restart_unit"]),
    "pending_updates": ("warning", ["linux.install_updates"]),
    "pending_reboot": ("warning", []),
    "events": ("warning", []),
    "smart:/dev/nvme0n1": ("ok", []),
    "smart:/dev/sda": ("critical", []),
}


@pytest.fixture(scope="module")
def diagnosis():
    return techcare.diagnose(snapshot=SNAPSHOT)


def test_snapshot_outputs_are_the_fixtures_byte_for_byte():
    snap = load_snapshot(SNAPSHOT)
    outputs = {e.key: e.value.stdout for e in snap.entries if e.kind == "cmd"}
    expected = {
        L.UFW_STATUS: "ufw-status-inactive.stdout",
        L.systemctl_show(L.CLAMAV_UNITS): "systemctl-show-clamav.txt",
        L.systemctl_show(L.UPDATE_UNITS): "systemctl-show-update-units-debian-masked.txt",
        L.FAILED_UNITS_JSON: "systemctl-failed.json",
        L.APT_UPGRADABLE: "apt-upgradable-debian12.stdout",
        L.JOURNAL_ERRORS: "journal-errors-debian.jsonl",
        L.smartctl_argv("/dev/nvme0n1"): "smartctl-nvme-passed.json",
        L.smartctl_argv("/dev/sda"): "smartctl-ata-failing-now.json",
    }
    for argv, name in expected.items():
        assert outputs[argv] == (FIXTURES / name).read_bytes().decode("utf-8"), name


def test_every_probe_answers(diagnosis):
    assert diagnosis.os == "linux" and diagnosis.hostname == "werkstatt-pc-07"
    assert {name: res.status for name, res in diagnosis.probes.items()} == {name: "ok" for name in techcare.system.PROBES}


def test_findings_severity_and_repairs(diagnosis):
    # the system probes' findings; the drivers area has its own replay tests
    got = {f.check: (f.severity, f.repairs) for f in diagnosis if f.probe in techcare.system.PROBES}
    assert got == EXPECTED


def test_finding_details(diagnosis):
    assert diagnosis.by_check("firewall").evidence["product"] == "ufw"
    svc = diagnosis.by_check("service:nginx.service")
    assert svc.repair_params == {"linux.restart_unit": {"unit": "nginx.service"}}
    updates = diagnosis.by_check("pending_updates").evidence
    assert (updates["manager"], updates["count"], updates["security"]) == ("apt", 126, 71)
    assert "libc6" in diagnosis.by_check("pending_reboot").summary_en
    disk = diagnosis.by_check("smart:/dev/sda")
    assert disk.evidence["failing_attributes"] == ["Reallocated_Sector_Ct"]
    assert "DISK FAILING" in disk.summary_en
    av = diagnosis.by_check("antivirus").evidence
    assert av["signature_age_days"] == {"ClamAV": 113}           # Jul 24 signatures, captured Nov 14
    events = diagnosis.by_check("events").evidence["events"]
    assert events[0]["level"] == "critical" and events[0]["source"] == "kernel"
    assert diagnosis.worst == "critical"


def test_repairs_of_the_problem_machine(diagnosis):
    assert diagnosis.repair_ids() == ["linux.enable_ufw", "linux.apt_clean", "linux.journal_vacuum",
                                      "linux.clear_temp_files", "linux.restart_unit", "linux.install_updates"]


def test_json_report(diagnosis):
    data = json.loads(diagnosis.to_json(lang="de"))
    assert data["host"] == "werkstatt-pc-07" and data["os"] == "linux"
    firewall = next(f for f in data["findings"] if f["check"] == "firewall")
    assert firewall["severity"] == "critical" and firewall["summary"] == "Firewall (ufw) ist aus."


def test_the_probes_ask_only_for_what_the_snapshot_holds():
    snap = load_snapshot(SNAPSHOT)
    runner = snap.runner()
    results = techcare.system.run_probes(runner=runner)
    assert all(r.reason_code != "not_recorded" for r in results.values())
    recorded = {(e.kind, e.key) for e in snap.entries}
    asked = {(kind, key) for kind, key in runner.calls if kind != "which"}
    assert asked <= recorded, asked - recorded
