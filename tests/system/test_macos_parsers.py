"""macOS parsers on stored real/reconstructed outputs (see fixtures/macos/SOURCES.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from techcare.i18n import localize
from techcare.system import _macos as M


def en(items) -> list[str]:
    """Issues as the English reader sees them (explanations are German/English messages, data is text)."""
    return [localize(i, "en") for i in items]

FIX = Path(__file__).parent / "fixtures" / "macos"


def text(name: str) -> str:
    return (FIX / name).read_bytes().decode("utf-8")


# ---- fixtures are stored byte-exact ------------------------------------------------------------------------

def test_fixtures_keep_tabs_and_trailing_spaces():
    assert b"\n\tTitle: macOS Sonoma 14.7.2," in (FIX / "softwareupdate_l_14_sonoma.stdout.txt").read_bytes()
    assert b"Action: restart, \n" in (FIX / "softwareupdate_l_26_tahoe.stdout.txt").read_bytes()
    assert b"-\t78\tcom.docker.mobile-relay\n" in (FIX / "launchctl_list_user_26.txt").read_bytes()
    assert not (FIX / "softwareupdate_l_10.14_mojave.stdout.txt").read_bytes().endswith(b"\n")


# ---- firewall ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, enabled", [("socketfilterfw_enabled.txt", True), ("socketfilterfw_disabled.txt", False),
                                           ("socketfilterfw_blockall.txt", True)])
def test_firewall_states(name, enabled):
    status = M.parse_firewall_state(text(name))
    assert status.enabled is enabled
    assert status.product == "Application Firewall"
    assert "State =" in status.detail


def test_firewall_block_all_is_said():
    assert "blocks all incoming" in M.parse_firewall_state(text("socketfilterfw_blockall.txt")).detail


@pytest.mark.parametrize("bad", ["", "Password:", "Firewall is in a strange mood. (State = 7)"])
def test_firewall_unexpected_output_is_an_error(bad):
    with pytest.raises(M.ParseError):
        M.parse_firewall_state(bad)


# ---- update service --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, problem, start_type", [
    ("softwareupdate_schedule_on.txt", False, "auto"),
    ("softwareupdate_schedule_off.txt", True, "disabled"),
    ("softwareupdate_schedule_10.14_on.txt", False, "auto"),
])
def test_update_schedule(name, problem, start_type):
    status = M.parse_update_schedule(text(name))
    assert status.problem is problem
    assert status.start_type == start_type
    assert status.name == "softwareupdate"


def test_update_schedule_unknown_wording_is_not_guessed():
    with pytest.raises(M.ParseError):
        M.parse_update_schedule("Automatic updates are managed by your organisation")


# ---- softwareupdate -l ------------------------------------------------------------------------------------------

def test_softwareupdate_old_format_mojave():
    updates = M.parse_softwareupdate_list(text("softwareupdate_l_10.14_mojave.stdout.txt"))
    assert [u.name for u in updates] == [
        "Command Line Tools (macOS Mojave version 10.14) for Xcode-10.3", "macOS 10.14.1 Update",
        "BridgeOSUpdateCustomer", "iCal-1.0.2"]
    assert [u.new_version for u in updates] == ["10.3", "10.14.1", "10.14.4.1.1.1555388607", "1.0.2"]
    assert [u.reboot_required for u in updates] == [False, True, True, False]  # [restart] and [shut down]
    assert updates[0].size == "199140K"
    assert updates[0].source == "Command Line Tools (macOS Mojave version 10.14) for Xcode"


def test_softwareupdate_old_format_security_by_installed_major():
    updates = M.parse_softwareupdate_list(text("softwareupdate_l_10.14_mojave.stdout.txt"), os_version="10.14")
    assert [u.security for u in updates] == [False, True, False, False]
    # 10.13 is another major version: 10.14.1 is an upgrade there, not a security patch
    assert not any(u.security for u in M.parse_softwareupdate_list(
        text("softwareupdate_l_10.14_mojave.stdout.txt"), os_version="10.13.6"))


def test_softwareupdate_old_format_localized_title_with_tab():
    [update] = M.parse_softwareupdate_list(text("softwareupdate_l_10.11_localized.stdout.txt"))
    assert update.name == "OS X El Capitan Update-10.11.6"
    assert update.source == "OS X El Capitan 更新"
    assert update.new_version == "10.11.6" and update.reboot_required is True and update.size == "471282K"


def test_softwareupdate_old_format_without_finding_line():
    [update] = M.parse_softwareupdate_list(text("softwareupdate_l_10.12_sierra.stdout.txt"), os_version="10.12.4")
    assert update.name == "macOS Sierra Update-10.12.5" and update.reboot_required and update.security


def test_softwareupdate_new_format_catalina():
    updates = M.parse_softwareupdate_list(text("softwareupdate_l_10.15_catalina.stdout.txt"))
    assert [u.name for u in updates] == ["Command Line Tools beta 5 for Xcode-11.0", "macOS Catalina Developer Beta-6",
                                         "BridgeOSUpdateCustomer", "iCal-1.0.2"]
    assert [u.new_version for u in updates] == ["11.0", "5", "10.15.0.1.1.1560926689", "1.0.2"]
    assert [u.reboot_required for u in updates] == [False, True, True, False]
    assert updates[1].source == "macOS Catalina Public Beta"
    assert updates[3].size == "6520K"


def test_softwareupdate_new_format_sonoma_tab_lines():
    updates = M.parse_softwareupdate_list(text("softwareupdate_l_14_sonoma.stdout.txt"), os_version="14.6.1")
    assert [u.name for u in updates] == ["Safari18.2SonomaAuto-18.2", "Command Line Tools for Xcode-16.2",
                                         "macOS Sonoma 14.7.2-23H311", "macOS Sequoia 15.2-24C101"]
    assert [u.reboot_required for u in updates] == [False, False, True, True]
    # the same-major point update is a security update; the major upgrade to 15 is not
    assert [u.security for u in updates] == [False, False, True, False]
    assert updates[2].size == "1727102KiB" and updates[2].new_version == "14.7.2"


def test_softwareupdate_new_format_trailing_space_and_rapid_security_response():
    updates = M.parse_softwareupdate_list(text("softwareupdate_l_26_tahoe.stdout.txt"), os_version="26.7")
    by_name = {u.name: u for u in updates}
    assert len(updates) == 4
    assert by_name["macOS 27-26A428"].security is False           # next major
    assert by_name["macOS Tahoe 26.7.1-25H300"].security is True   # same major point update
    assert by_name["macOS Tahoe 26.7.1 (a)-25H300a"].security is True
    assert by_name["macOS Tahoe 26.7.1 (a)-25H300a"].new_version == "26.7.1 (a)"
    assert by_name["Safari27.0TahoeAuto-27.0"].reboot_required is False
    assert by_name["macOS 27-26A428"].size == "11728377KiB"


def test_softwareupdate_background_security_improvement_is_security_by_name():
    [update] = M.parse_softwareupdate_list(text("softwareupdate_l_26_background_security.stdout.txt"))
    assert update.security is True and update.reboot_required is True


def test_softwareupdate_no_updates():
    listing = text("softwareupdate_l_none.stdout.txt") + text("softwareupdate_l_none.stderr.txt")
    assert M.parse_softwareupdate_list(listing) == []


# ---- launchctl list ---------------------------------------------------------------------------------------------

def test_launchctl_parse_rows():
    rows = M.parse_launchctl_list(text("launchctl_list_user_26.txt"))
    assert rows[0] == {"pid": None, "status": 0, "label": "com.apple.SafariHistoryServiceAgent"}
    assert {"pid": 32481, "status": -5, "label": "com.apple.photolibraryd"} in rows
    assert len(rows) == 84 and rows[-1]["label"] == "com.apple.remo"


def test_launchctl_real_listing_reports_only_the_failed_third_party_job():
    failed = M.failed_launchd_jobs(M.parse_launchctl_list(text("launchctl_list_user_26.txt")))
    # -9 (jetsam), running jobs (photolibraryd -5 was restarted) and application.* entries are not failures
    assert [(s.name, s.state, s.description) for s in failed] == [
        ("com.docker.mobile-relay", "failed", "last exit status 78")]


def test_launchctl_dash_status_and_app_instances():
    failed = M.failed_launchd_jobs(M.parse_launchctl_list(text("launchctl_list_mixed.txt")))
    assert [s.name for s in failed] == ["com.example.myapp", "com.example.crasher"]
    assert failed[1].description == "last exit status 127"


def test_launchctl_crash_signals_count_for_apple_jobs_but_routine_exits_do_not():
    failed = M.failed_launchd_jobs(M.parse_launchctl_list(text("launchctl_list_crashes.txt")))
    assert [(s.name, s.description) for s in failed] == [
        ("com.apple.photoanalysisd", "crashed (SIGSEGV, signal 11)"),
        ("org.example.backupd", "crashed (SIGABRT, signal 6)")]


def test_launchctl_garbage_is_an_error():
    with pytest.raises(M.ParseError):
        M.parse_launchctl_list("launchctl: this is not a listing")
    with pytest.raises(M.ParseError):
        M.parse_launchctl_list("")


# ---- log show ----------------------------------------------------------------------------------------------------

def test_log_show_newest_five_errors_first():
    records = M.parse_log_show(text("log_show_errors_14.json"))
    assert len(records) == 5
    assert [r.time for r in records] == [
        "2026-11-20T10:58:31.662310+01:00", "2026-11-20T10:57:02.300915+01:00", "2026-11-20T10:49:44.512377+01:00",
        "2026-11-20T10:41:07.118204+01:00", "2026-11-20T10:30:19.870021+01:00"]
    first = records[0]
    assert first.level == "error" and first.log == "unified log"
    assert first.source == "mds_stores (com.apple.spotlight.index)"
    assert first.message == "Failed to read index file: Input/output error (5)"
    assert records[2].source == "com.docker.backend"  # no subsystem: process name only
    assert "http://ocsp.apple.com" in records[3].message  # JSON \/ escapes decoded


def test_log_show_limit_and_fault_is_critical():
    sample = ('[{"messageType" : "Fault", "timestamp" : "2026-05-07 19:48:34.701580-0500", '
              '"processImagePath" : "\\/usr\\/sbin\\/bluetoothd", "subsystem" : "", "eventMessage" : "boom"},'
              '{"messageType" : "Default", "timestamp" : "2026-05-07 19:49:00.000000-0500", "eventMessage" : "x"}]')
    [record] = M.parse_log_show(sample)
    assert record.level == "critical" and record.source == "bluetoothd"
    assert record.time == "2026-05-07T19:48:34.701580-05:00"
    assert len(M.parse_log_show(text("log_show_errors_14.json"), limit=2)) == 2


@pytest.mark.parametrize("sample", ["", "[]", "[\n\n]", text("log_show_empty.json"), text("log_show_default_2018.txt")])
def test_log_show_no_error_events(sample):
    assert M.parse_log_show(sample) == []


def test_log_show_truncated_is_an_error():
    with pytest.raises(M.ParseError, match="truncated"):
        M.parse_log_show(text("log_show_truncated.json"))


def test_log_time_iso():
    assert M.log_time_iso("2026-05-07 19:48:34.701580-0500") == "2026-05-07T19:48:34.701580-05:00"
    assert M.log_time_iso("yesterday") is None


# ---- SMART -------------------------------------------------------------------------------------------------------

def test_diskutil_list_skips_synthesized_apfs_containers():
    assert M.parse_diskutil_list(text("diskutil_list_14.plist")) == ["disk0", "disk4"]


def test_diskutil_list_published_sample():
    assert M.parse_diskutil_list(text("diskutil_list_aws_testdata.plist")) == ["disk0"]
    with pytest.raises(M.ParseError):
        M.parse_diskutil_list("<plist version='1.0'><dict/></plist>")
    with pytest.raises(M.ParseError):
        M.parse_diskutil_list("Could not find disk")


def test_diskutil_info_verified_nvme_with_health_keys():
    disk = M.parse_diskutil_info(text("diskutil_info_disk0_verified_nvme.plist"))
    assert disk.health == "passed" and disk.smart_passed is True
    assert disk.device == "/dev/disk0" and disk.model == "APPLE SSD AP0512Z" and disk.protocol == "Apple Fabric"
    assert disk.temperature_c == pytest.approx(35.9)  # 309 K
    assert disk.percentage_used == 3 and disk.power_on_hours == 2113 and disk.issues == []


def test_diskutil_info_worn_nvme_is_a_warning():
    disk = M.parse_diskutil_info(text("diskutil_info_disk0_worn_nvme.plist"))
    assert disk.health == "warning" and disk.smart_passed is True
    assert disk.failing_attributes == ["available_spare", "percentage_used", "media_errors"]
    assert "12 media errors" in en(disk.issues) and "12 Medienfehler" in [localize(i, "de") for i in disk.issues]


def test_diskutil_info_failing():
    disk = M.parse_diskutil_info(text("diskutil_info_disk0_failing_sata.plist"))
    assert disk.health == "failing" and disk.smart_passed is False
    assert disk.model == "OWC Mercury Extreme Pro RE SSD" and disk.protocol == "SATA"
    assert en(disk.issues) == ["SMART status: Failing"]


def test_diskutil_info_10_14_sata_verified():
    disk = M.parse_diskutil_info(text("diskutil_info_disk0_10.14_verified_sata.plist"))
    assert disk.health == "passed" and disk.percentage_used is None


def test_diskutil_info_usb_not_supported_is_unknown_not_healthy():
    disk = M.parse_diskutil_info(text("diskutil_info_disk4_usb_not_supported.plist"))
    assert disk.health == "unknown" and disk.smart_passed is None
    assert "not supported" in disk.issues[0]


def test_diskutil_info_virtual_disk_is_skipped():
    assert M.parse_diskutil_info(text("diskutil_info_disk3_apfs_container.plist")) is None
    assert M.parse_diskutil_info(text("diskutil_info_aws_testdata.plist")) is None  # APFS container (published)


def test_diskutil_info_without_smart_key_is_unknown():
    sample = text("diskutil_info_disk0_failing_sata.plist").replace("<key>SMARTStatus</key>", "<key>Other</key>")
    disk = M.parse_diskutil_info(sample)
    assert disk.health == "unknown" and en(disk.issues) == ["diskutil reports no SMART status"]


# ---- antivirus -----------------------------------------------------------------------------------------------------

def test_xprotect_versions():
    assert M.parse_xprotect_version(text("xprotect_info_14.plist")) == "5272"
    assert M.parse_xprotect_version(text("xprotect_meta_10.13.plist")) == "2103"
    with pytest.raises(M.ParseError):
        M.parse_xprotect_version("<plist version='1.0'><dict/></plist>")


NOW = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc).timestamp()


def test_install_history_and_xprotect_age():
    history = M.parse_install_history(text("install_history_14.json"))
    assert history[1]["name"] == "XProtectPlistConfigData" and history[1]["version"] == "5272"
    product = M.xprotect_status("5272", history, NOW)
    assert product.enabled is True and product.signature_age_days == 149 and product.up_to_date is False
    fresh = M.xprotect_status("5272", history, datetime(2026, 7, 1, tzinfo=timezone.utc).timestamp())
    assert fresh.signature_age_days == 6 and fresh.up_to_date is True


def test_xprotect_updated_outside_history_has_unknown_age():
    history = M.parse_install_history(text("install_history_14.json"))
    product = M.xprotect_status("5290", history, NOW)
    assert product.up_to_date is None and product.signature_age_days is None
    assert "age unknown" in product.detail


def test_xprotect_age_ignores_records_of_newer_versions():
    history = M.parse_install_history(text("install_history_14.json"))
    product = M.xprotect_status("5269", history, NOW)  # 5272 was recorded later but is not installed
    assert product.signature_age_days == 174 and product.up_to_date is False
    assert M.xprotect_status("5100", history, NOW).up_to_date is None


def test_xprotect_without_history():
    product = M.xprotect_status("5272", None, NOW)
    assert product.enabled is True and product.up_to_date is None


def test_install_history_bad_json():
    with pytest.raises(M.ParseError):
        M.parse_install_history("system_profiler: unknown option -json")


def test_third_party_av_detection():
    found = M.detect_third_party_av(["Safari.app", "Malwarebytes.app", "Sophos", "Norton 360.app"])
    assert [p.name for p in found] == ["Malwarebytes", "Sophos", "Norton 360"]
    assert all(p.enabled is None for p in found)
    assert M.detect_third_party_av(None) == []
