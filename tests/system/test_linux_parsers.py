"""Linux parsers on real published outputs (fixtures stored byte-exact; sources in fixtures/linux/SOURCES.md)."""

from __future__ import annotations

import calendar
import json
from pathlib import Path

import pytest

from techcare.i18n import localize
from techcare.system import _linux as L


def en(items) -> list[str]:
    """Issues/notes as the English reader sees them (explanations are German/English messages, data is text)."""
    return [localize(i, "en") for i in items]

FIXTURES = Path(__file__).parent / "fixtures" / "linux"


def fx(name: str) -> str:
    return (FIXTURES / name).read_bytes().decode("utf-8")


def utc(*parts: int) -> float:
    return float(calendar.timegm((*parts, 0, 0, 0)[:9]))


# ---- SMART --------------------------------------------------------------------------------------------------

def test_fixtures_are_stored_byte_exact():
    # The scrutiny testdata files: 2-space JSON; the NVMe "failed" one has no trailing newline upstream.
    assert len(fx("smartctl-ata-failing-now.json")) == 30059
    assert len(fx("smartctl-nvme-passed.json")) == 2054
    assert not fx("smartctl-nvme-media-errors.json").endswith("\n")
    assert "\t" in fx("nft-ruleset-drop.stdout")


def test_smart_ata_failing_now():
    disk = L.parse_smartctl(fx("smartctl-ata-failing-now.json"), "/dev/sda", 216)
    assert disk.health == "failing"
    assert disk.device == "/dev/sda"           # the path we asked about, not smartctl's "/dev/sdc [USB JMicron]"
    assert disk.smart_passed is False
    assert disk.failing_attributes == ["Reallocated_Sector_Ct"]
    assert disk.exit_status == 216             # 0b11011000: bits 3, 4, 6, 7
    assert [i.split(":")[0] for i in en(disk.issues) if i.startswith("bit ")] == ["bit 3", "bit 4", "bit 6", "bit 7"]
    assert any("failing now" in i and "Reallocated_Sector_Ct" in i for i in en(disk.issues))
    assert "1975 reallocated sectors" in en(disk.issues) and "1975 umgelagerte Sektoren" in [i.de for i in disk.issues]
    assert "8 pending sectors" in en(disk.issues)
    assert (disk.model, disk.serial, disk.protocol) == ("Hitachi HDS721050DLE630", "MSK423Y20S3HBC", "ATA")
    assert disk.temperature_c == 25.0 and disk.power_on_hours == 65592


def test_smart_when_failed_now_alone_is_failing():
    data = json.loads(fx("smartctl-ata-failing-now.json"))
    data["smart_status"]["passed"] = True
    data["smartctl"]["exit_status"] = 0
    disk = L.parse_smartctl(json.dumps(data), "/dev/sda", 0)
    assert disk.health == "failing" and disk.failing_attributes == ["Reallocated_Sector_Ct"]


def test_smart_when_failed_past_is_warning():
    data = json.loads(fx("smartctl-ata-failing-now.json"))
    data["smart_status"]["passed"] = True
    data["smartctl"]["exit_status"] = 32
    for attr in data["ata_smart_attributes"]["table"]:
        if attr["when_failed"] == "now":
            attr["when_failed"] = "past"
        attr["raw"]["value"] = 0 if attr["id"] in (5, 197, 198) else attr["raw"]["value"]
    disk = L.parse_smartctl(json.dumps(data), "/dev/sda", 32)
    assert disk.health == "warning"
    assert any("failed in the past" in i for i in en(disk.issues))
    assert any(i.startswith("bit 5") for i in en(disk.issues))


@pytest.mark.parametrize("status", range(256))
def test_every_exit_status_bit_is_decoded(status):
    issues = en(L.decode_exit_status(status))
    assert len(issues) == status.bit_count()
    assert [int(i.split(":")[0].split()[1]) for i in issues] == [b for b in range(8) if status & (1 << b)]


def test_smart_nvme_passed():
    disk = L.parse_smartctl(fx("smartctl-nvme-passed.json"), "/dev/nvme0n1", 0)
    assert disk.health == "passed" and disk.issues == []
    assert (disk.protocol, disk.percentage_used, disk.temperature_c, disk.power_on_hours) == ("NVMe", 0, 36.0, 2401)
    assert disk.model == "INTEL SSDPEKNW010T8"


def test_smart_nvme_media_errors_warn():
    disk = L.parse_smartctl(fx("smartctl-nvme-media-errors.json"), "/dev/nvme0", 0)
    assert disk.health == "warning"
    assert "7 media/data integrity errors" in en(disk.issues)
    assert disk.percentage_used == 3


@pytest.mark.parametrize(("critical_warning", "used", "spare", "health", "text"), [
    (0x04, 3, 100, "failing", "reliability degraded"),
    (0x08, 3, 100, "failing", "read-only"),
    (0x01, 3, 5, "failing", "spare"),
    (0x02, 3, 100, "warning", "temperature"),
    (0x00, 95, 100, "warning", "95 % of rated endurance"),
    (0x00, 100, 100, "failing", "endurance used up"),
])
def test_smart_nvme_health_log(critical_warning, used, spare, health, text):
    data = json.loads(fx("smartctl-nvme-passed.json"))
    log = data["nvme_smart_health_information_log"]
    log.update(critical_warning=critical_warning, percentage_used=used, available_spare=spare)
    disk = L.parse_smartctl(json.dumps(data), "/dev/nvme0n1", 0)
    assert disk.health == health
    assert any(text in i for i in en(disk.issues))


def test_smart_virtio_unknown_device_type():
    disk = L.parse_smartctl(fx("smartctl-virtio-unknown-type.json"), "/dev/vda", 1)
    assert disk.health == "unknown"
    assert "/dev/vda: Unable to detect device type" in disk.issues
    assert disk.exit_status == 1


def test_smart_non_root_needs_elevation():
    disk = L.parse_smartctl(fx("smartctl-nonroot-sda.json"), "/dev/sda", 2)
    assert disk.health == "unknown"
    assert en(disk.issues)[0].startswith("needs elevation") and disk.issues[0].de.startswith("braucht root-Rechte")


def test_smart_old_smartctl_without_json():
    disk = L.parse_smartctl(fx("smartctl-too-old.stdout"), "/dev/sda", 1)
    assert disk.health == "unknown"
    assert "7.0 or newer" in disk.issues[0]


def test_smart_passed_without_status_is_not_healthy():
    data = json.loads(fx("smartctl-nvme-passed.json"))
    del data["smart_status"]
    disk = L.parse_smartctl(json.dumps(data), "/dev/nvme0n1", 0)
    assert disk.health == "unknown"


def test_disk_devices_skips_virtual_block_devices():
    names = ["dm-0", "loop0", "md127", "mmcblk0", "mmcblk0boot0", "mmcblk0rpmb", "nvme0n1", "ram0", "sda", "sr0",
             "vda", "zram0", "nbd3"]
    assert L.disk_devices(names) == ["/dev/mmcblk0", "/dev/nvme0n1", "/dev/sda", "/dev/vda"]


# ---- package updates ----------------------------------------------------------------------------------------

def test_apt_debian12_live_capture():
    updates = L.parse_apt_upgradable(fx("apt-upgradable-debian12.stdout"))
    assert len(updates) == 126
    assert sum(u.security for u in updates) == 71
    by_name = {u.name: u for u in updates}
    assert by_name["apt"].security and by_name["apt"].source == "oldstable-security"
    assert (by_name["apt"].current_version, by_name["apt"].new_version) == ("2.6.1", "2.6.2")
    assert not by_name["appstream"].security


def test_apt_ubuntu_zesty_no_security_and_epochs():
    updates = L.parse_apt_upgradable(fx("apt-upgradable-ubuntu-zesty.stdout"))
    assert [u.name for u in updates] == ["heroku", "resolvconf", "squashfs-tools", "unattended-upgrades"]
    assert not any(u.security for u in updates)
    squash = updates[2]
    assert (squash.current_version, squash.new_version) == ("1:4.3-3ubuntu2", "1:4.3-3ubuntu2.17.04.1")


def test_apt_ubuntu_security_from_combined_suites():
    updates = L.parse_apt_upgradable(fx("apt-upgradable-ubuntu-jammy-security.stdout"))
    assert [u.name for u in updates if u.security] == ["libssl3", "linux-image-generic", "openssl"]
    assert updates[3].name == "snapd" and not updates[3].security


def test_apt_no_updates():
    assert L.parse_apt_upgradable(fx("apt-upgradable-none.stdout")) == []


def test_dnf_check_update_wrapping_and_obsoletes():
    updates = L.parse_dnf_check_update(fx("dnf-check-update-fedora.stdout"))
    assert [u.name for u in updates] == ["NetworkManager", "curl", "kernel", "libcurl",
                                         "python3-dnf-plugin-system-upgrade"]
    assert updates[0].new_version == "1:1.44.2-1.fc39"
    assert updates[-1].new_version == "4.4.3-1.fc39" and updates[-1].source == "updates"
    assert "grub2-tools-efi" not in {u.name for u in updates}     # only listed under "Obsoleting Packages"


def test_dnf_security_advisories():
    assert L.parse_dnf_security(fx("dnf-updateinfo-security-fedora.stdout")) == {"curl", "libcurl", "kernel"}


def test_zypper_xml():
    updates = L.parse_zypper_updates(fx("zypper-list-updates.xml"))
    assert [(u.name, u.current_version, u.new_version, u.source) for u in updates] == [
        ("libopenssl3", "3.1.4-8.1", "3.1.4-9.1", "repo-oss"), ("vim", "9.0.2081-1.1", "9.0.2103-1.1", "repo-oss")]


def test_checkupdates():
    updates = L.parse_checkupdates(fx("checkupdates.stdout"))
    assert [(u.name, u.current_version, u.new_version) for u in updates] == [
        ("linux", "6.6.1.arch1-1", "6.6.2.arch1-1"), ("openssl", "3.1.4-1", "3.1.4-2")]


# ---- journal ------------------------------------------------------------------------------------------------

def test_journal_newest_first_levels_and_odd_messages():
    events = L.parse_journal_json(fx("journal-errors-debian.jsonl"))
    assert len(events) == 5
    times = [e.time for e in events]
    assert times == sorted(times, reverse=True)
    assert times[0] == "2023-11-14T09:15:10+00:00"
    assert events[0].level == "critical" and events[0].source == "kernel" and "EXT4-fs error" in events[0].message
    assert [e.level for e in events[1:]] == ["error"] * 4
    assert events[1].source == "backup.sh" and "not stored" in events[1].message        # MESSAGE null
    assert events[3].message.startswith("blk_update_request: I/O error, dev sda")        # MESSAGE as byte array
    assert events[3].message.endswith("\ufffd")                                           # invalid UTF-8 byte 0xff
    assert all(e.log == "journal" for e in events)


def test_journal_garbage_raises_value_error():
    with pytest.raises(ValueError):
        L.parse_journal_json('{"MESSAGE": "cut off')


# ---- systemd units ------------------------------------------------------------------------------------------

def test_systemctl_show_blocks():
    units = L.parse_systemctl_show(fx("systemctl-show-update-units-debian.txt"))
    assert list(units) == list(L.UPDATE_UNITS)
    assert units["apt-daily.timer"]["SubState"] == "waiting"
    assert units["dnf-automatic.timer"]["LoadState"] == "not-found"


def test_update_service_debian_ok():
    status = L.parse_update_service(L.parse_systemctl_show(fx("systemctl-show-update-units-debian.txt")))
    assert status is not None and not status.problem
    assert (status.name, status.state, status.start_type) == ("unattended-upgrades.service", "active", "enabled")


def test_update_service_masked_is_a_problem():
    status = L.parse_update_service(L.parse_systemctl_show(fx("systemctl-show-update-units-debian-masked.txt")))
    assert status is not None and status.problem
    assert status.name == "apt-daily-upgrade.timer" and "masked" in status.detail


def test_update_service_fedora_disabled_timer_is_not_a_problem():
    status = L.parse_update_service(L.parse_systemctl_show(fx("systemctl-show-update-units-fedora.txt")))
    assert status is not None and not status.problem
    assert (status.name, status.start_type) == ("dnf-automatic.timer", "disabled")


def test_update_service_failed_unit_is_a_problem():
    units = L.parse_systemctl_show(fx("systemctl-show-update-units-debian.txt"))
    units["unattended-upgrades.service"]["ActiveState"] = "failed"
    status = L.parse_update_service(units)
    assert status is not None and status.problem and "failed" in status.detail


def test_update_service_none_installed():
    assert L.parse_update_service(L.parse_systemctl_show(fx("systemctl-show-clamav-absent.txt"))) is None


def test_failed_units_json_and_plain_agree():
    from_json = L.parse_failed_units_json(fx("systemctl-failed.json"))
    from_plain = L.parse_failed_units_plain(fx("systemctl-failed-plain-v245.txt"))
    assert [(s.name, s.state) for s in from_json] == [("nginx.service", "failed"), ("backup.service", "failed")]
    assert [(s.name, s.state, s.description) for s in from_plain] == [
        (s.name, s.state, s.description) for s in from_json]
    assert L.parse_failed_units_json(fx("systemctl-failed-none.json")) == []


def test_failed_units_plain_with_bullets():
    text = "\u25cf nginx.service loaded failed failed A high performance web server\n"
    assert [s.name for s in L.parse_failed_units_plain(text)] == ["nginx.service"]


# ---- firewall / antivirus / reboot --------------------------------------------------------------------------

def test_ufw_status_and_conf():
    assert L.parse_ufw_status(fx("ufw-status-active.stdout")) is True
    assert L.parse_ufw_status(fx("ufw-status-inactive.stdout")) is False
    assert L.parse_ufw_status(fx("ufw-status-nonroot.stderr")) is None
    assert L.parse_ufw_conf(fx("ufw.conf-enabled")) is True
    assert L.parse_ufw_conf(fx("ufw.conf-enabled").replace("ENABLED=yes", "ENABLED=no")) is False
    assert L.parse_ufw_conf("# nothing here\n") is None


def test_nftables_input_filtering():
    assert L.parse_nft_ruleset(fx("nft-ruleset-drop.stdout")) is True
    assert L.parse_nft_ruleset(fx("nft-ruleset-accept.stdout")) is False
    assert L.parse_nft_ruleset("") is False


def test_iptables_input_filtering():
    assert L.parse_iptables_rules(fx("iptables-S-docker.stdout")) is False      # docker filters FORWARD only
    assert L.parse_iptables_rules("-P INPUT DROP\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n") is True
    chained = "-P INPUT ACCEPT\n-N guard\n-A INPUT -j guard\n-A guard -p tcp --dport 23 -j REJECT\n"
    assert L.parse_iptables_rules(chained) is True
    loop = "-P INPUT ACCEPT\n-N a\n-N b\n-A INPUT -j a\n-A a -j b\n-A b -j a\n"
    assert L.parse_iptables_rules(loop) is False


def test_clamav_signature_age():
    engine, db, age = L.parse_clamav_version(fx("clamscan-version.stdout"), utc(2023, 8, 3, 7, 34, 58))
    assert (engine, db, age) == ("0.103.8", 26995, 10)
    assert L.parse_clamav_version(fx("clamscan-version-nodb.stdout"), utc(2023, 8, 3)) == ("1.0.3", None, None)
    with pytest.raises(ValueError):
        L.parse_clamav_version("clamscan: command not found", 0)


def test_newer_kernel_detection():
    boot = ["config-6.1.0-12-amd64", "vmlinuz-6.1.0-12-amd64", "vmlinuz-6.1.0-13-amd64", "grub"]
    assert L.newer_kernel(boot, "6.1.0-12-amd64") == "6.1.0-13-amd64"
    assert L.newer_kernel(boot, "6.1.0-13-amd64") is None
    assert L.newer_kernel(boot, "6.18.44-custom") is None                 # running kernel not in /boot: no signal
    fedora = ["vmlinuz-0-rescue-0123456789abcdef", "vmlinuz-6.5.6-300.fc39.x86_64", "vmlinuz-6.5.11-300.fc39.x86_64"]
    assert L.newer_kernel(fedora, "6.5.6-300.fc39.x86_64") == "6.5.11-300.fc39.x86_64"
    assert L.newer_kernel(fedora, "6.5.11-300.fc39.x86_64") is None

