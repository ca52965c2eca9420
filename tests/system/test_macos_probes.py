"""macOS probe functions end-to-end through a ReplayRunner fed with the fixtures, including failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from techcare import system
from techcare.system import _macos as M
from techcare.system.records import PROBES
from techcare.system.runner import NOT_FOUND, PERMISSION_DENIED, TIMEOUT, Entry, FileResult, ReplayRunner

FIX = Path(__file__).parent / "fixtures" / "macos"


def text(name: str) -> str:
    return (FIX / name).read_bytes().decode("utf-8")


def replay(*commands, files=None, dirs=None, facts=None) -> ReplayRunner:
    runner = ReplayRunner(platform="darwin")
    for argv, kwargs in commands:
        runner.add_command(argv, **kwargs)
    for path, content in (files or {}).items():
        error = content if content in (NOT_FOUND, PERMISSION_DENIED) else None
        runner.add(Entry("file", path, FileResult(path, None if error else content, error)))
    for path, value in (dirs or {}).items():
        runner.add(Entry("dir", path, value))
    for name, value in (facts or {}).items():
        runner.add(Entry("fact", name, value))
    return runner


def ok(stdout="", stderr="", returncode=0):
    return {"returncode": returncode, "stdout": stdout, "stderr": stderr}


MISSING = {"returncode": None, "error": NOT_FOUND, "stderr": "command not found"}
TIMED_OUT = {"returncode": None, "error": TIMEOUT}


# ---- every probe explains itself on an empty replay ------------------------------------------------------

@pytest.mark.parametrize("name", PROBES)
def test_empty_replay_gives_reasoned_unknown(name):
    result = system.probe(name, ReplayRunner([], platform="darwin"))
    assert result.status == "unknown" and result.reason and result.reason_code == "not_recorded", result


# ---- firewall ----------------------------------------------------------------------------------------------

def test_firewall_off_and_on():
    off = M.firewall(replay((M.FIREWALL_ARGV, ok(text("socketfilterfw_disabled.txt")))))
    assert off.ok and off.data.enabled is False and off.source == "socketfilterfw"
    on = M.firewall(replay((M.FIREWALL_ARGV, ok(text("socketfilterfw_enabled.txt")))))
    assert on.data.enabled is True


def test_firewall_failures():
    assert M.firewall(replay((M.FIREWALL_ARGV, MISSING))).reason_code == "tool_missing"
    assert M.firewall(replay((M.FIREWALL_ARGV, TIMED_OUT))).reason_code == "timeout"
    garbled = M.firewall(replay((M.FIREWALL_ARGV, ok("???\n"))))
    assert garbled.status == "unknown" and garbled.reason_code == "parse_error"


# ---- update service --------------------------------------------------------------------------------------------

def test_update_service_off_is_a_problem():
    result = M.update_service(replay((M.UPDATE_SCHEDULE_ARGV, ok(text("softwareupdate_schedule_off.txt")))))
    assert result.ok and result.data.problem is True


def test_update_service_needs_admin():
    result = M.update_service(replay((M.UPDATE_SCHEDULE_ARGV, ok(
        stderr="softwareupdate: This operation requires root privileges.\n", returncode=1))))
    assert result.status == "unknown" and result.reason_code == "needs_admin"


def test_update_service_unexpected_answer():
    result = M.update_service(replay((M.UPDATE_SCHEDULE_ARGV, ok("Something else entirely\n"))))
    assert result.status == "unknown" and result.reason_code == "parse_error"


# ---- services ----------------------------------------------------------------------------------------------------

def test_services_real_listing():
    result = M.services(replay((M.LAUNCHCTL_LIST_ARGV, ok(text("launchctl_list_user_26.txt")))))
    assert result.ok and [s.name for s in result.data] == ["com.docker.mobile-relay"]


def test_services_failures():
    assert M.services(replay((M.LAUNCHCTL_LIST_ARGV, MISSING))).reason_code == "tool_missing"
    broken = M.services(replay((M.LAUNCHCTL_LIST_ARGV, ok("not a listing"))))
    assert broken.reason_code == "parse_error"


# ---- pending updates / reboot ----------------------------------------------------------------------------------

def test_pending_updates_and_reboot_share_one_softwareupdate_run():
    runner = replay((M.UPDATE_LIST_ARGV, ok(text("softwareupdate_l_14_sonoma.stdout.txt"))),
                    facts={"host": {"hostname": "mac", "os": "darwin", "mac_version": "14.6.1"}})
    updates = system.probe("pending_updates", runner)
    reboot = system.probe("pending_reboot", runner)
    assert updates.ok and updates.data.manager == "softwareupdate"
    assert updates.data.count == 4 and updates.data.security_count == 1
    assert reboot.ok and reboot.data.required is True
    assert reboot.data.sources == ["softwareupdate: macOS Sonoma 14.7.2-23H311",
                                   "softwareupdate: macOS Sequoia 15.2-24C101"]
    assert runner.commands_run.count(M.UPDATE_LIST_ARGV) == 1


def test_pending_updates_concurrent_probes_run_softwareupdate_once():
    runner = replay((M.UPDATE_LIST_ARGV, ok(text("softwareupdate_l_10.15_catalina.stdout.txt"))))
    results = system.run_probes(["pending_updates", "pending_reboot"], runner)
    # BridgeOSUpdateCustomer is T2 firmware: the driver report lists it, pending updates the other three
    assert [u.name for u in results["pending_updates"].data.updates] == [
        "Command Line Tools beta 5 for Xcode-11.0", "macOS Catalina Developer Beta-6", "iCal-1.0.2"]
    assert str(results["pending_updates"].data.detail) in ("1 firmware/driver update is listed in the driver report.",
                                                           "1 Firmware-/Treiber-Update steht im Treiberbericht.")
    assert results["pending_reboot"].data.required is True
    assert runner.commands_run.count(M.UPDATE_LIST_ARGV) == 1


def test_no_new_software_on_stderr_is_an_empty_list():
    runner = replay((M.UPDATE_LIST_ARGV, ok(text("softwareupdate_l_none.stdout.txt"),
                                            text("softwareupdate_l_none.stderr.txt"))))
    updates = M.pending_updates(runner)
    assert updates.ok and updates.data.updates == []
    reboot = M.pending_reboot(runner)
    assert reboot.ok and reboot.data.required is False and reboot.data.sources == []


def test_found_software_in_an_unknown_format_is_unknown_not_no_updates():
    listing = "Software Update Tool\n\nSoftware Update found the following new or updated software:\n" \
              "+ Something: macOS 99, restart later\n"
    for probe in (M.pending_updates, M.pending_reboot):
        result = probe(replay((M.UPDATE_LIST_ARGV, ok(listing))))
        assert result.status == "unknown" and result.reason_code == "parse_error"


def test_old_format_without_restart_is_no_pending_reboot():
    listing = "Software Update Tool\n\nFinding available software\nSoftware Update found the following new or " \
              "updated software:\n   * iTunesX-12.8.2\n\tiTunes (12.8.2), 273614K [recommended]\n"
    runner = replay((M.UPDATE_LIST_ARGV, ok(listing)))
    assert M.pending_updates(runner).data.count == 1
    assert M.pending_reboot(runner).data.required is False


@pytest.mark.parametrize("answer, code", [
    (MISSING, "tool_missing"),
    (TIMED_OUT, "timeout"),
    (ok("Software Update Tool\n\nFinding available software\n",
        "Cannot connect to the Apple Software Update server\n", 1), "failed"),
    (ok("Software Update Tool\n\nFinding available software\n", ""), "failed"),  # no verdict at all
])
def test_softwareupdate_failures_are_unknown_never_no_updates(answer, code):
    for probe in (M.pending_updates, M.pending_reboot):
        result = probe(replay((M.UPDATE_LIST_ARGV, answer)))
        assert result.status == "unknown" and result.reason_code == code, result


# ---- events ---------------------------------------------------------------------------------------------------------

def test_events_newest_five():
    result = M.events(replay((M.LOG_SHOW_ARGV, ok(text("log_show_errors_14.json")))))
    assert result.ok and len(result.data) == 5 and result.data[0].source.startswith("mds_stores")


def test_events_none():
    result = M.events(replay((M.LOG_SHOW_ARGV, ok(text("log_show_empty.json")))))
    assert result.ok and result.data == []


def test_events_failures():
    admin = M.events(replay((M.LOG_SHOW_ARGV, ok(stderr="log: Must be admin to run 'show' command\n", returncode=64))))
    assert admin.status == "unknown" and admin.reason_code == "needs_admin"
    truncated = M.events(replay((M.LOG_SHOW_ARGV, ok(text("log_show_truncated.json")))))
    assert truncated.status == "unknown" and truncated.reason_code == "parse_error"
    assert M.events(replay((M.LOG_SHOW_ARGV, TIMED_OUT))).reason_code == "timeout"


# ---- SMART ------------------------------------------------------------------------------------------------------------

def smart_runner(disk0: str, disk4: dict | None = None) -> ReplayRunner:
    return replay(
        (M.DISKUTIL_LIST_ARGV, ok(text("diskutil_list_14.plist"))),
        (M.diskutil_info_argv("disk0"), ok(text(disk0))),
        (M.diskutil_info_argv("disk4"), disk4 or ok(text("diskutil_info_disk4_usb_not_supported.plist"))))


def test_smart_failing_internal_and_unsupported_usb():
    runner = smart_runner("diskutil_info_disk0_failing_sata.plist")
    result = M.smart(runner)
    assert result.ok
    assert [(d.device, d.health) for d in result.data] == [("/dev/disk0", "failing"), ("/dev/disk4", "unknown")]
    # the synthesized APFS container disk3 is never asked about
    assert M.diskutil_info_argv("disk3") not in runner.commands_run


def test_results_have_a_dataframe_form():
    frame = M.smart(smart_runner("diskutil_info_disk0_failing_sata.plist")).to_frame()
    assert list(frame["device"]) == ["/dev/disk0", "/dev/disk4"] and list(frame["health"]) == ["failing", "unknown"]
    updates = M.pending_updates(replay((M.UPDATE_LIST_ARGV, ok(text("softwareupdate_l_10.14_mojave.stdout.txt")))))
    # four listed, BridgeOSUpdateCustomer (firmware) is the driver report's
    assert list(updates.to_frame()["manager"].unique()) == ["softwareupdate"] and len(updates.to_frame()) == 3


def test_smart_verified():
    result = M.smart(smart_runner("diskutil_info_disk0_verified_nvme.plist"))
    assert result.data[0].health == "passed" and result.data[0].temperature_c == pytest.approx(35.9)


def test_smart_info_failure_of_one_disk_is_unknown_for_that_disk():
    result = M.smart(smart_runner("diskutil_info_disk0_verified_nvme.plist",
                                  {"returncode": 1, "stderr": "Could not find disk: disk4\n"}))
    assert result.ok and result.data[1].health == "unknown" and "Could not find disk" in result.data[1].issues[0]


def test_smart_failures():
    assert M.smart(replay((M.DISKUTIL_LIST_ARGV, MISSING))).reason_code == "tool_missing"
    assert M.smart(replay((M.DISKUTIL_LIST_ARGV, ok("garbage")))).reason_code == "parse_error"
    only_virtual = replay(
        (M.DISKUTIL_LIST_ARGV, ok(text("diskutil_list_aws_testdata.plist"))),
        (M.diskutil_info_argv("disk0"), ok(text("diskutil_info_disk3_apfs_container.plist"))))
    result = M.smart(only_virtual)
    assert result.status == "unknown" and "no physical disks" in result.reason


# ---- antivirus ---------------------------------------------------------------------------------------------------------

def av_runner(history: dict | None = None, apps=None, first=None) -> ReplayRunner:
    files = {M.XPROTECT_PLISTS[0]: first if first is not None else text("xprotect_info_14.plist")}
    return replay((M.INSTALL_HISTORY_ARGV, history or ok(text("install_history_14.json"))),
                  files=files, dirs={M.APPLICATIONS_DIR: apps or ["Safari.app"]},
                  facts={"metrics": {"timestamp": 1795168800.0}})


def test_antivirus_xprotect_stale_by_snapshot_time():
    result = M.antivirus(av_runner())
    assert result.ok
    [xprotect] = result.data.products
    assert xprotect.name == "XProtect" and xprotect.up_to_date is False and xprotect.signature_age_days == 149
    assert result.data.protected is True


def test_antivirus_third_party_detected():
    result = M.antivirus(av_runner(apps=["Malwarebytes.app", "Safari.app"]))
    assert [p.name for p in result.data.products] == ["XProtect", "Malwarebytes"]


def test_antivirus_history_unavailable_on_10_14_keeps_age_unknown():
    result = M.antivirus(av_runner(history=ok(stderr="system_profiler: illegal option -- json\n", returncode=1)))
    assert result.ok and result.data.products[0].up_to_date is None


def test_antivirus_older_layouts():
    runner = replay(files={M.XPROTECT_PLISTS[0]: NOT_FOUND, M.XPROTECT_PLISTS[1]: NOT_FOUND,
                           M.XPROTECT_PLISTS[2]: text("xprotect_meta_10.13.plist")},
                    dirs={M.APPLICATIONS_DIR: []})
    result = M.antivirus(runner)  # install history not recorded: age unknown, version known
    assert result.ok and result.data.products[0].detail.en.startswith("version 2103")


def test_antivirus_no_xprotect_at_all_is_no_antivirus():
    runner = replay(files={path: NOT_FOUND for path in M.XPROTECT_PLISTS}, dirs={M.APPLICATIONS_DIR: ["Safari.app"]})
    result = M.antivirus(runner)
    assert result.ok and result.data.products == [] and result.data.protected is False


def test_antivirus_unreadable_plist_is_unknown():
    runner = replay(files={M.XPROTECT_PLISTS[0]: PERMISSION_DENIED, M.XPROTECT_PLISTS[1]: NOT_FOUND,
                           M.XPROTECT_PLISTS[2]: NOT_FOUND})
    result = M.antivirus(runner)
    assert result.status == "unknown" and result.reason_code == "failed"


# ---- argv contract -----------------------------------------------------------------------------------------------------

def test_argv_are_absolute_and_fixed():
    for argv in (M.FIREWALL_ARGV, M.UPDATE_SCHEDULE_ARGV, M.UPDATE_LIST_ARGV, M.LAUNCHCTL_LIST_ARGV, M.LOG_SHOW_ARGV,
                 M.DISKUTIL_LIST_ARGV, M.INSTALL_HISTORY_ARGV, M.diskutil_info_argv("disk0")):
        assert isinstance(argv, tuple) and argv[0].startswith("/") and all(isinstance(a, str) for a in argv)
    assert M.LOG_SHOW_ARGV == ("/usr/bin/log", "show", "--last", "1h", "--predicate", "messageType == error",
                               "--style", "json")
    assert M.diskutil_info_argv("disk4") == ("/usr/sbin/diskutil", "info", "-plist", "disk4")
