"""Linux probes end-to-end through a ReplayRunner fed with the fixtures, including every failure path."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from techcare import system
from techcare.system import _linux as L
from techcare.system.records import (
    AntivirusStatus,
    DiskHealth,
    FirewallStatus,
    PendingReboot,
    PendingUpdates,
    UpdateServiceStatus,
)
from techcare.system.runner import (
    NOT_FOUND,
    PERMISSION_DENIED,
    TIMEOUT,
    Entry,
    FileResult,
    ReplayRunner,
)

FIXTURES = Path(__file__).parent / "fixtures" / "linux"
NO_SYSTEMD = (FIXTURES / "systemctl-no-systemd.stderr").read_text()
TOOLS = ("ufw", "firewall-cmd", "nft", "iptables", "clamscan", "smartctl", "apt", "dnf", "zypper", "pacman",
         "checkupdates", "needs-restarting", "systemctl", "journalctl")


def fx(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def machine(*installed: str, files: dict[str, str | None] | None = None, dirs: dict[str, list[str] | None] | None = None,
            facts: dict | None = None) -> ReplayRunner:
    """A replayed Linux machine: ``installed`` programs exist, every other known tool is recorded as absent."""
    runner = ReplayRunner(platform="linux")
    for tool in TOOLS:
        runner.add(Entry("which", tool, f"/usr/bin/{tool}" if tool in installed else None))
    for path, content in (files or {}).items():
        runner.add(Entry("file", path, FileResult(path, content, None if content is not None else NOT_FOUND)))
    for path, listing in (dirs or {}).items():
        runner.add(Entry("dir", path, listing))
    for name, value in (facts or {}).items():
        runner.add(Entry("fact", name, value))
    return runner


def run(name: str, runner: ReplayRunner):
    """Through the public dispatch layer (which never raises) — the way diagnose() calls it."""
    result = system.probe(name, runner)
    assert result.probe == name
    if result.status == "unknown":
        assert result.reason_code and result.reason, "every unknown must say why"
    return result


# ---- firewall -----------------------------------------------------------------------------------------------

def test_firewall_ufw_active_as_root():
    runner = machine("ufw")
    runner.add_command(L.UFW_STATUS, 0, fx("ufw-status-active.stdout"))
    res = run("firewall", runner)
    assert res.ok and res.data == FirewallStatus(True, "ufw", detail="ufw status")
    assert runner.commands_run == [L.UFW_STATUS]


def test_firewall_ufw_inactive():
    runner = machine("ufw")
    runner.add_command(L.UFW_STATUS, 0, fx("ufw-status-inactive.stdout"))
    res = run("firewall", runner)
    assert res.ok and res.data.enabled is False and res.data.product == "ufw"


def test_firewall_ufw_non_root_falls_back_to_ufw_conf():
    runner = machine("ufw", files={L.UFW_CONF: fx("ufw.conf-enabled")})
    runner.add_command(L.UFW_STATUS, 1, "", fx("ufw-status-nonroot.stderr"))
    res = run("firewall", runner)
    assert res.ok and res.data.enabled is True and res.data.product == "ufw"
    assert "ENABLED=yes" in res.data.detail and "needs root" in res.data.detail


def test_firewall_ufw_non_root_without_conf_is_unknown_needs_admin():
    runner = machine("ufw", files={L.UFW_CONF: None})
    runner.add_command(L.UFW_STATUS, 1, "", fx("ufw-status-nonroot.stderr"))
    res = run("firewall", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin"


def test_firewall_firewalld_running_wins_over_inactive_ufw():
    runner = machine("ufw", "firewall-cmd")
    runner.add_command(L.UFW_STATUS, 0, fx("ufw-status-inactive.stdout"))
    runner.add_command(L.FIREWALLD_STATE, 0, "running\n")
    res = run("firewall", runner)
    assert res.ok and res.data.enabled is True and res.data.product == "firewalld"


def test_firewall_firewalld_not_running_252():
    runner = machine("firewall-cmd")
    runner.add_command(L.FIREWALLD_STATE, 252, "not running\n")
    res = run("firewall", runner)
    assert res.ok and res.data.enabled is False and res.data.product == "firewalld"


def test_firewall_nft_drop_policy():
    runner = machine("nft")
    runner.add_command(L.NFT_RULESET, 0, fx("nft-ruleset-drop.stdout"))
    res = run("firewall", runner)
    assert res.ok and res.data.enabled is True and res.data.product == "nftables"


def test_firewall_nft_non_root_is_unknown_not_off():
    runner = machine("nft", "iptables")
    runner.add_command(L.NFT_RULESET, 1, "", fx("nft-nonroot.stderr"))
    runner.add_command(L.IPTABLES_RULES, 0, fx("iptables-S-docker.stdout"))
    res = run("firewall", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin" and res.source == "nft"


def test_firewall_nothing_installed_is_off():
    runner = machine(files={L.IPTABLES_NAMES: ""})
    res = run("firewall", runner)
    assert res.ok and res.data.enabled is False and res.data.product == "none"


def test_firewall_nothing_installed_but_kernel_tables_loaded_is_unknown():
    runner = machine(files={L.IPTABLES_NAMES: "filter\nnat\n"})
    res = run("firewall", runner)
    assert res.status == "unknown" and "filter, nat" in res.reason


def test_firewall_non_root_ufw_outside_path_reads_ufw_conf():
    runner = machine(files={L.UFW_CONF: fx("ufw.conf-enabled")})
    runner.add(Entry("which", "/usr/sbin/ufw", "/usr/sbin/ufw"))
    res = run("firewall", runner)
    assert res.ok and res.data.enabled is True and res.data.product == "ufw"
    assert runner.commands_run == []                      # a user cannot run it; it is not even tried


def test_firewall_non_root_ufw_outside_path_without_conf():
    runner = machine(files={L.UFW_CONF: None})
    runner.add(Entry("which", "/usr/sbin/ufw", "/usr/sbin/ufw"))
    res = run("firewall", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin" and "/usr/sbin/ufw" in res.reason


def test_firewall_non_root_nft_outside_path_is_not_reported_as_none():
    runner = machine(files={L.IPTABLES_NAMES: ""})
    runner.add(Entry("which", "/usr/sbin/nft", "/usr/sbin/nft"))
    res = run("firewall", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin"


def test_firewall_not_in_snapshot():
    res = run("firewall", machine())
    assert res.status == "unknown" and res.reason_code == "not_recorded"


# ---- antivirus ----------------------------------------------------------------------------------------------

def clamav(installed: bool = True, signature_days_old: float = 3.0) -> ReplayRunner:
    built = calendar.timegm((2023, 7, 24, 7, 34, 58, 0, 0, 0))
    runner = machine(*(("clamscan",) if installed else ()), facts={"metrics": {"timestamp": built + signature_days_old * 86400}})
    runner.add_command(L.systemctl_show(L.CLAMAV_UNITS), 0,
                       fx("systemctl-show-clamav.txt" if installed else "systemctl-show-clamav-absent.txt"))
    runner.add_command(L.CLAMSCAN_VERSION, 0, fx("clamscan-version.stdout"))
    return runner


def test_antivirus_clamav_running_and_fresh():
    res = run("antivirus", clamav(signature_days_old=3.2))
    assert res.ok and isinstance(res.data, AntivirusStatus)
    (clam,) = res.data.products
    assert (clam.name, clam.enabled, clam.realtime, clam.up_to_date, clam.signature_age_days) == (
        "ClamAV", True, False, True, 3)
    assert res.data.protected is True


def test_antivirus_clamav_stale_signatures():
    res = run("antivirus", clamav(signature_days_old=40))
    (clam,) = res.data.products
    assert clam.up_to_date is False and clam.signature_age_days == 40


def test_antivirus_none_installed():
    res = run("antivirus", clamav(installed=False))
    assert res.ok and res.data.products == [] and res.data.protected is False


def test_antivirus_none_without_systemd():
    runner = machine()
    runner.add_command(L.systemctl_show(L.CLAMAV_UNITS), 1, "", NO_SYSTEMD)
    res = run("antivirus", runner)
    assert res.ok and res.data.products == []


def test_antivirus_clamscan_only_without_systemd_state_unknown():
    runner = machine("clamscan")
    runner.add_command(L.systemctl_show(L.CLAMAV_UNITS), 1, "", NO_SYSTEMD)
    runner.add_command(L.CLAMSCAN_VERSION, 0, fx("clamscan-version.stdout"))
    res = run("antivirus", runner)
    (clam,) = res.data.products
    assert clam.enabled is None and res.data.protected is None


# ---- update service -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fixture", "name", "problem"), [
    ("systemctl-show-update-units-debian.txt", "unattended-upgrades.service", False),
    ("systemctl-show-update-units-debian-masked.txt", "apt-daily-upgrade.timer", True),
    ("systemctl-show-update-units-fedora.txt", "dnf-automatic.timer", False),
])
def test_update_service(fixture, name, problem):
    runner = machine()
    runner.add_command(L.systemctl_show(L.UPDATE_UNITS), 0, fx(fixture))
    res = run("update_service", runner)
    assert res.ok and isinstance(res.data, UpdateServiceStatus)
    assert (res.data.name, res.data.problem) == (name, problem)


def test_update_service_none_installed_is_no_problem():
    runner = machine()
    absent = "\n".join(f"Id={u}\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n"
                       for u in L.UPDATE_UNITS)
    runner.add_command(L.systemctl_show(L.UPDATE_UNITS), 0, absent)
    res = run("update_service", runner)
    assert res.ok and res.data.name == "none" and res.data.problem is False


@pytest.mark.parametrize(("returncode", "stderr", "error", "code"), [
    (1, NO_SYSTEMD, None, "no_systemd"),
    (None, "", NOT_FOUND, "no_systemd"),
    (None, "", TIMEOUT, "timeout"),
])
def test_update_service_cannot_ask_systemd(returncode, stderr, error, code):
    runner = machine()
    runner.add_command(L.systemctl_show(L.UPDATE_UNITS), returncode, "", stderr, error)
    res = run("update_service", runner)
    assert res.status == "unknown" and res.reason_code == code


# ---- services -----------------------------------------------------------------------------------------------

def test_services_failed_units_json():
    runner = machine()
    runner.add_command(L.FAILED_UNITS_JSON, 0, fx("systemctl-failed.json"))
    res = run("services", runner)
    assert res.ok and [s.name for s in res.data] == ["nginx.service", "backup.service"]
    assert runner.commands_run == [L.FAILED_UNITS_JSON]


def test_services_none_failed():
    runner = machine()
    runner.add_command(L.FAILED_UNITS_JSON, 0, fx("systemctl-failed-none.json"))
    res = run("services", runner)
    assert res.ok and res.data == []


def test_services_old_systemd_falls_back_to_plain_text():
    runner = machine()
    runner.add_command(L.FAILED_UNITS_JSON, 1, "", fx("systemctl-output-json-unknown-v245.stderr"))
    runner.add_command(L.FAILED_UNITS_PLAIN, 0, fx("systemctl-failed-plain-v245.txt"))
    res = run("services", runner)
    assert res.ok and [s.name for s in res.data] == ["nginx.service", "backup.service"]
    assert runner.commands_run == [L.FAILED_UNITS_JSON, L.FAILED_UNITS_PLAIN]


def test_services_json_ignored_by_old_systemd_falls_back():
    runner = machine()
    runner.add_command(L.FAILED_UNITS_JSON, 0, fx("systemctl-failed-plain-v245.txt"))   # prints a table, not JSON
    runner.add_command(L.FAILED_UNITS_PLAIN, 0, fx("systemctl-failed-plain-v245.txt"))
    res = run("services", runner)
    assert res.ok and len(res.data) == 2


def test_services_without_systemd():
    runner = machine()
    runner.add_command(L.FAILED_UNITS_JSON, 1, "", NO_SYSTEMD)
    res = run("services", runner)
    assert res.status == "unknown" and res.reason_code == "no_systemd"
    assert runner.commands_run == [L.FAILED_UNITS_JSON]


def test_services_timeout():
    runner = machine()
    runner.add_command(L.FAILED_UNITS_JSON, None, "", "", TIMEOUT)
    res = run("services", runner)
    assert res.status == "unknown" and res.reason_code == "timeout"


# ---- pending updates ----------------------------------------------------------------------------------------

def test_updates_apt():
    runner = machine("apt")
    runner.add_command(L.APT_UPGRADABLE, 0, fx("apt-upgradable-debian12.stdout"), fx("apt-upgradable-debian12.stderr"))
    res = run("pending_updates", runner)
    assert res.ok and isinstance(res.data, PendingUpdates)
    assert (res.data.manager, res.data.count, res.data.security_count) == ("apt", 126, 71)


def test_updates_apt_none():
    runner = machine("apt")
    runner.add_command(L.APT_UPGRADABLE, 0, fx("apt-upgradable-none.stdout"))
    res = run("pending_updates", runner)
    assert res.ok and res.data.count == 0


def test_updates_apt_failure_is_unknown():
    runner = machine("apt")
    runner.add_command(L.APT_UPGRADABLE, 100, "", "E: The package lists or status file could not be parsed or opened.\n")
    res = run("pending_updates", runner)
    assert res.status == "unknown" and res.reason_code == "failed" and "exit 100" in res.reason


def test_updates_dnf_exit_100_with_security():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 100, fx("dnf-check-update-fedora.stdout"))
    runner.add_command(L.DNF_SECURITY, 0, fx("dnf-updateinfo-security-fedora.stdout"))
    res = run("pending_updates", runner)
    assert res.ok and res.data.manager == "dnf" and res.data.count == 5
    assert sorted(u.name for u in res.data.updates if u.security) == ["curl", "kernel", "libcurl"]


def test_updates_dnf_security_list_failing_still_reports_updates():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 100, fx("dnf-check-update-fedora.stdout"))
    runner.add_command(L.DNF_SECURITY, 1, "", "No such command: updateinfo.\n")
    res = run("pending_updates", runner)
    assert res.ok and res.data.count == 5 and res.data.security_count == 0


def test_updates_dnf_exit_0_none():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 0, "Last metadata expiration check: 0:01:02 ago.\n")
    res = run("pending_updates", runner)
    assert res.ok and res.data.count == 0
    assert L.DNF_SECURITY not in runner.commands_run


def test_updates_dnf_exit_1_is_unknown():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 1, "", fx("dnf-check-update-cache-missing.stderr"))
    res = run("pending_updates", runner)
    assert res.status == "unknown" and "Cache-only" in res.reason


def test_updates_dnf_exit_100_unreadable_is_parse_error():
    runner = machine("dnf")
    runner.add_command(L.DNF_CHECK_UPDATE, 100, "something new entirely\n")
    res = run("pending_updates", runner)
    assert res.status == "unknown" and res.reason_code == "parse_error"


def test_updates_zypper():
    runner = machine("zypper")
    runner.add_command(L.ZYPPER_LIST_UPDATES, 0, fx("zypper-list-updates.xml"))
    res = run("pending_updates", runner)
    assert res.ok and res.data.manager == "zypper" and res.data.count == 2


def test_updates_zypper_broken_xml_is_parse_error():
    runner = machine("zypper")
    runner.add_command(L.ZYPPER_LIST_UPDATES, 0, fx("zypper-list-updates.xml")[:200])
    res = run("pending_updates", runner)
    assert res.status == "unknown" and res.reason_code == "parse_error"


def test_updates_pacman():
    runner = machine("pacman", "checkupdates")
    runner.add_command(L.PACMAN_CHECKUPDATES, 0, fx("checkupdates.stdout"))
    res = run("pending_updates", runner)
    assert res.ok and res.data.manager == "pacman" and res.data.count == 2


def test_updates_pacman_none_exit_2():
    runner = machine("pacman", "checkupdates")
    runner.add_command(L.PACMAN_CHECKUPDATES, 2, "")
    assert run("pending_updates", runner).data.count == 0


def test_updates_pacman_without_checkupdates_falls_back_to_pacman_qu():
    runner = machine("pacman")
    runner.add_command(L.PACMAN_QUERY_UPGRADES, 0, fx("checkupdates.stdout"))
    res = run("pending_updates", runner)
    assert runner.commands_run == [L.PACMAN_QUERY_UPGRADES]
    assert res.ok and res.data.count == 2 and res.data.security_known is False and "pacman-contrib" in res.data.detail
    res = run("pending_updates", machine("pacman"))     # nothing recorded: explained, never "no updates"
    assert res.status == "unknown" and res.reason_code == "not_recorded"


def test_updates_no_package_manager():
    res = run("pending_updates", machine())
    assert res.status == "unknown" and res.reason_code == "tool_missing"


# ---- pending reboot -----------------------------------------------------------------------------------------

def test_reboot_required_file_with_packages():
    runner = machine(files={L.REBOOT_REQUIRED: fx("reboot-required"), L.REBOOT_REQUIRED_PKGS: fx("reboot-required.pkgs")})
    res = run("pending_reboot", runner)
    assert res.ok and isinstance(res.data, PendingReboot) and res.data.required
    assert res.data.sources == ["/var/run/reboot-required (libc6, linux-image-6.1.0-13-amd64)"]


def test_no_reboot_required():
    runner = machine(files={L.REBOOT_REQUIRED: None}, dirs={L.BOOT_DIR: ["vmlinuz-6.1.0-13-amd64"]},
                     facts={"host": {"os_release": "6.1.0-13-amd64"}})
    res = run("pending_reboot", runner)
    assert res.ok and res.data == PendingReboot(False, [])


def test_reboot_required_by_newer_kernel():
    runner = machine(files={L.REBOOT_REQUIRED: None},
                     dirs={L.BOOT_DIR: ["vmlinuz-6.1.0-12-amd64", "vmlinuz-6.1.0-13-amd64"]},
                     facts={"host": {"os_release": "6.1.0-12-amd64"}})
    res = run("pending_reboot", runner)
    assert res.data.required and [str(x.en) for x in res.data.sources] == ["kernel 6.1.0-13-amd64 installed, 6.1.0-12-amd64 running"]


def test_reboot_needs_restarting_on_fedora():
    runner = machine("dnf", "needs-restarting", files={L.REBOOT_REQUIRED: None})
    runner.add_command(L.NEEDS_RESTARTING, 1, fx("needs-restarting-r-fedora.stdout"))
    res = run("pending_reboot", runner)
    assert res.data.required and res.data.sources == ["needs-restarting -r"]


def test_reboot_needs_restarting_plugin_of_dnf():
    runner = machine("dnf", files={L.REBOOT_REQUIRED: None})
    runner.add_command(L.DNF_NEEDS_RESTARTING, 0, "No core libraries or services have been updated since boot-up.\n"
                       "Reboot should not be necessary.\n")
    res = run("pending_reboot", runner)
    assert res.ok and not res.data.required
    assert runner.commands_run == [L.DNF_NEEDS_RESTARTING]


def test_reboot_dnf_without_needs_restarting_is_unknown():
    runner = machine("dnf", files={L.REBOOT_REQUIRED: None})
    runner.add_command(L.DNF_NEEDS_RESTARTING, 1, "", "No such command: needs-restarting. Please use /usr/bin/dnf --help\n")
    res = run("pending_reboot", runner)
    assert res.status == "unknown" and "needs-restarting" in res.reason


def test_reboot_not_in_snapshot():
    res = run("pending_reboot", machine())
    assert res.status == "unknown" and res.reason_code == "not_recorded"


def test_reboot_unreadable_flag_needs_admin():
    runner = machine()
    runner.add(Entry("file", L.REBOOT_REQUIRED, FileResult(L.REBOOT_REQUIRED, None, PERMISSION_DENIED)))
    res = run("pending_reboot", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin"


# ---- events -------------------------------------------------------------------------------------------------

def test_events_from_journal():
    runner = machine()
    runner.add_command(L.JOURNAL_ERRORS, 0, fx("journal-errors-debian.jsonl"))
    res = run("events", runner)
    assert res.ok and len(res.data) == 5 and res.data[0].level == "critical"


def test_events_none_with_systemd():
    runner = machine(dirs={L.SYSTEMD_RUNTIME_DIR: ["multi-user.target.wants"]})
    runner.add_command(L.JOURNAL_ERRORS, 0, "")
    res = run("events", runner)
    assert res.ok and res.data == []


def test_events_empty_without_systemd_is_unknown():
    runner = machine(dirs={L.SYSTEMD_RUNTIME_DIR: None})
    runner.add_command(L.JOURNAL_ERRORS, 0, "")
    res = run("events", runner)
    assert res.status == "unknown" and res.reason_code == "no_systemd"


def test_events_non_root_sees_only_own_journal():
    runner = machine(dirs={L.SYSTEMD_RUNTIME_DIR: ["multi-user.target.wants"]})
    runner.add_command(L.JOURNAL_ERRORS, 0, "", fx("journal-nonroot-hint.stderr"))
    res = run("events", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin"


def test_events_no_journal_files():
    runner = machine()
    runner.add_command(L.JOURNAL_ERRORS, 0, "", "No journal files were found.\n")
    res = run("events", runner)
    assert res.status == "unknown" and "no journal files" in res.reason


def test_events_journalctl_missing():
    runner = machine()
    runner.add_command(L.JOURNAL_ERRORS, None, "", "journalctl: command not found", NOT_FOUND)
    res = run("events", runner)
    assert res.status == "unknown" and res.reason_code == "tool_missing"


def test_events_garbage_is_parse_error():
    runner = machine()
    runner.add_command(L.JOURNAL_ERRORS, 0, '{"PRIORITY": "3", "MESSAGE": \n')
    res = run("events", runner)
    assert res.status == "unknown" and res.reason_code == "parse_error"


# ---- SMART --------------------------------------------------------------------------------------------------

def test_smart_all_disks_end_to_end():
    runner = machine("smartctl", dirs={L.SYS_BLOCK: ["loop0", "nvme0n1", "sda", "sr0", "vda", "zram0"]})
    runner.add_command(L.smartctl_argv("/dev/nvme0n1"), 0, fx("smartctl-nvme-passed.json"))
    runner.add_command(L.smartctl_argv("/dev/sda"), 216, fx("smartctl-ata-failing-now.json"))
    runner.add_command(L.smartctl_argv("/dev/vda"), 1, fx("smartctl-virtio-unknown-type.json"))
    res = run("smart", runner)
    assert res.ok
    assert [(d.device, d.health) for d in res.data] == [
        ("/dev/nvme0n1", "passed"), ("/dev/sda", "failing"), ("/dev/vda", "unknown")]
    assert all(isinstance(d, DiskHealth) for d in res.data)
    assert runner.commands_run == [L.smartctl_argv(d) for d in ("/dev/nvme0n1", "/dev/sda", "/dev/vda")]
    frame = res.to_frame()
    assert list(frame["health"]) == ["passed", "failing", "unknown"]


def test_smart_missing_smartctl():
    runner = machine(dirs={L.SYS_BLOCK: ["sda"]})
    res = run("smart", runner)
    assert res.status == "unknown" and res.reason_code == "tool_missing" and "smartmontools" in res.reason
    assert runner.commands_run == []


def test_smart_non_root_smartctl_outside_path():
    runner = machine(dirs={L.SYS_BLOCK: ["sda"]})
    runner.add(Entry("which", "/usr/sbin/smartctl", "/usr/sbin/smartctl"))
    res = run("smart", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin"
    assert runner.commands_run == []


def test_smart_non_root_every_disk_needs_admin():
    runner = machine("smartctl", dirs={L.SYS_BLOCK: ["sda", "sdb"]})
    runner.add_command(L.smartctl_argv("/dev/sda"), 2, fx("smartctl-nonroot-sda.json"))
    runner.add_command(L.smartctl_argv("/dev/sdb"), 2, fx("smartctl-nonroot-sda.json").replace("sda", "sdb"))
    res = run("smart", runner)
    assert res.status == "unknown" and res.reason_code == "needs_admin"
    assert [d.device for d in res.data] == ["/dev/sda", "/dev/sdb"]          # per disk, kept for the technician


def test_smart_not_in_snapshot():
    runner = machine("smartctl", dirs={L.SYS_BLOCK: ["sda"]})
    res = run("smart", runner)
    assert res.status == "unknown" and res.reason_code == "not_recorded"


def test_smart_one_disk_times_out_others_reported():
    runner = machine("smartctl", dirs={L.SYS_BLOCK: ["nvme0n1", "sda"]})
    runner.add_command(L.smartctl_argv("/dev/nvme0n1"), 0, fx("smartctl-nvme-passed.json"))
    runner.add_command(L.smartctl_argv("/dev/sda"), None, "", "", TIMEOUT)
    res = run("smart", runner)
    assert res.ok
    assert [(d.device, d.health) for d in res.data] == [("/dev/nvme0n1", "passed"), ("/dev/sda", "unknown")]
    assert "did not answer in time" in res.data[1].issues[0]


def test_smart_no_sysfs_listing():
    runner = machine("smartctl", dirs={L.SYS_BLOCK: None})
    res = run("smart", runner)
    assert res.status == "unknown" and "/sys/block" in res.reason


# ---- contract -----------------------------------------------------------------------------------------------

def test_every_probe_is_defined_and_never_raises_on_an_empty_machine():
    runner = ReplayRunner(platform="linux")
    for name in system.PROBES:
        assert callable(getattr(L, name))
        res = system.probe(name, runner)
        assert res.status == "unknown", name
        assert res.reason_code in ("not_recorded", "tool_missing", "no_systemd", "failed"), (name, res.reason_code)
        assert res.reason
