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


def fedora_workstation():
    """A Fedora 39 machine replayed from the fixtures (firewalld on, dnf updates, reboot pending, NVMe wear)."""
    from techcare.system.runner import Entry, FileResult, ReplayRunner

    def fx(name: str) -> str:
        return (FIXTURES / name).read_bytes().decode("utf-8")

    runner = ReplayRunner(platform="linux")
    present = {"firewall-cmd": "/usr/bin/firewall-cmd", "dnf": "/usr/bin/dnf", "smartctl": "/usr/sbin/smartctl",
               "needs-restarting": "/usr/bin/needs-restarting"}
    for tool in ("ufw", "firewall-cmd", "nft", "iptables", "clamscan", "smartctl", "apt", "dnf", "zypper", "pacman",
                 "checkupdates", "needs-restarting"):
        runner.add(Entry("which", tool, present.get(tool)))
    runner.add(Entry("fact", "host", {"hostname": "fedora-ws", "os": "linux", "os_release": "6.5.6-300.fc39.x86_64",
                                      "distro": {"ID": "fedora", "VERSION_ID": "39"}}))
    runner.add(Entry("fact", "metrics", {"cpu_percent": 3.0, "ram_percent": 31.0, "cpu_count": 8, "timestamp": 1699953400,
                                         "disks": [{"mount": "/", "total": 10**12, "used": 4 * 10**11, "free": 6 * 10**11,
                                                    "percent": 40.0, "device": "/dev/nvme0n1p3", "fstype": "btrfs"}]}))
    runner.add_command(L.FIREWALLD_STATE, 0, "running\n")
    clamav_absent = fx("systemctl-show-clamav-absent.txt")
    runner.add_command(L.systemctl_show(L.CLAMAV_UNITS), 0, clamav_absent)
    runner.add_command(L.systemctl_show(L.UPDATE_UNITS), 0, fx("systemctl-show-update-units-fedora.txt"))
    runner.add_command(L.FAILED_UNITS_JSON, 0, fx("systemctl-failed-none.json"))
    runner.add_command(L.DNF_CHECK_UPDATE, 100, fx("dnf-check-update-fedora.stdout"))
    runner.add_command(L.DNF_SECURITY, 0, fx("dnf-updateinfo-security-fedora.stdout"))
    runner.add(Entry("file", L.REBOOT_REQUIRED, FileResult(L.REBOOT_REQUIRED, None, "not_found")))
    runner.add_command(L.NEEDS_RESTARTING, 1, fx("needs-restarting-r-fedora.stdout"))
    runner.add(Entry("dir", L.BOOT_DIR, ["vmlinuz-0-rescue-5f1e", "vmlinuz-6.5.6-300.fc39.x86_64",
                                         "vmlinuz-6.5.11-300.fc39.x86_64"]))
    runner.add_command(L.JOURNAL_ERRORS, 0, "")
    runner.add(Entry("dir", L.SYSTEMD_RUNTIME_DIR, ["graphical.target.wants"]))
    runner.add(Entry("dir", L.SYS_BLOCK, ["nvme0n1", "zram0"]))
    runner.add_command(L.smartctl_argv("/dev/nvme0n1"), 0, fx("smartctl-nvme-media-errors.json"))
    return runner


def test_fedora_machine_replay():
    diagnosis = techcare.diagnose(runner=fedora_workstation(), drivers=False)
    got = {f.check: (f.severity, f.repairs) for f in diagnosis if f.probe in techcare.system.PROBES}
    assert got == {
        "disk_usage:/": ("ok", []), "ram": ("ok", []), "cpu": ("ok", []),
        "firewall": ("ok", []),
        "antivirus": ("info", []),
        "update_service": ("ok", []),
        "services": ("ok", []),
        "pending_updates": ("warning", ["linux.install_updates"]),
        "pending_reboot": ("warning", []),
        "events": ("ok", []),
        "smart:/dev/nvme0n1": ("warning", []),
    }
    assert diagnosis.by_check("firewall").evidence["product"] == "firewalld"
    assert diagnosis.by_check("pending_updates").evidence["security"] == 3
    assert diagnosis.by_check("pending_reboot").evidence["sources"] == [
        "needs-restarting -r", "kernel 6.5.11-300.fc39.x86_64 installed, 6.5.6-300.fc39.x86_64 running"]
    assert "7 media/data integrity errors" in diagnosis.by_check("smart:/dev/nvme0n1").summary_en
