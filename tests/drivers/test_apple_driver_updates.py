"""Apple updates are driver updates only when they are firmware or driver packages; everything else Apple offers
(macOS 13/14/15/26 updates and upgrades, Safari, Xcode tools, security responses) is a pending update - and
nothing is reported twice. All listings are real published ``softwareupdate -l`` outputs (SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from techcare import system
from techcare.diagnosis import driver_findings
from techcare.i18n import set_language
from techcare.repairs import Plan, get_action
from techcare.system import _macos as M
from techcare.system.runner import CommandResult, Entry, ReplayRunner, decode_output
from techcare.tools.drivers import _macos, user_database_path

MAC = Path(__file__).parents[1] / "system" / "fixtures" / "macos"
DRV = Path(__file__).parent / "fixtures"

#: every real listing -> the labels that are firmware/driver packages
LISTINGS = {
    MAC / "softwareupdate_l_10.8_efi_firmware.stdout.txt": ["MacBookAirEFIUpdate2.4-2.4"],
    MAC / "softwareupdate_l_10.11_localized.stdout.txt": [],
    MAC / "softwareupdate_l_10.12_sierra.stdout.txt": [],
    MAC / "softwareupdate_l_10.14_mojave.stdout.txt": ["BridgeOSUpdateCustomer"],
    MAC / "softwareupdate_l_10.15_catalina.stdout.txt": ["BridgeOSUpdateCustomer"],
    MAC / "softwareupdate_l_13_ventura.stdout.txt": [],
    MAC / "softwareupdate_l_14_sonoma.stdout.txt": [],
    MAC / "softwareupdate_l_26_tahoe.stdout.txt": [],
    MAC / "softwareupdate_l_26_background_security.stdout.txt": [],
    DRV / "softwareupdate_mojave.txt": ["BridgeOSUpdateCustomer"],
    DRV / "softwareupdate_catalina.txt": ["BridgeOSUpdateCustomer"],
}


def text(path: Path) -> str:
    return decode_output(path.read_bytes())


def mac(listing: str, stderr: str = "") -> ReplayRunner:
    runner = ReplayRunner([Entry("fact", "host", {"hostname": "MAC-01", "mac_version": "13.5"})], platform="darwin")
    runner.add_command(list(M.UPDATE_LIST_ARGV), 0, listing, stderr)
    runner.add_command(list(_macos.EXTENSIONS_ARGV), 0, text(DRV / "sp_extensions_new.json"))
    runner.add_command(list(_macos.SYSEXT_ARGV), 0, text(DRV / "systemextensionsctl_list.txt"))
    return runner


@pytest.mark.parametrize("path", sorted(LISTINGS), ids=lambda p: p.name)
def test_only_firmware_and_driver_packages_are_driver_updates(path: Path):
    offers = _macos.parse_softwareupdate(text(path))
    assert [o.update_id for o in offers] == LISTINGS[path]
    assert all(o.category in ("Firmware", "Driver") for o in offers)
    # the probes' parser and the driver parser read the same items from the same listing
    listed = [u.name for u in M.parse_softwareupdate_list(text(path))]
    assert [o.update_id for o in _macos.parse_softwareupdate(text(path), include_all=True)] == listed


@pytest.mark.parametrize("path", sorted(LISTINGS), ids=lambda p: p.name)
def test_nothing_is_reported_twice_and_nothing_is_lost(path: Path):
    runner = mac(text(path))
    pending = M.pending_updates(runner)
    assert pending.ok, pending.reason
    findings = driver_findings(runner)
    driver_labels = [f.repair_params["drivers.install_update"]["update_id"] for f in findings
                     if f.check.startswith("driver_update:")]
    pending_labels = [u.name for u in pending.data.updates]
    listed = [u.name for u in M.parse_softwareupdate_list(text(path))]
    assert not set(driver_labels) & set(pending_labels)
    offered = [o.update_id for o in _macos.parse_softwareupdate(text(path))]
    assert sorted(pending_labels + offered) == sorted(listed)  # every item is in exactly one report
    assert all(label in offered for label in driver_labels)
    # one softwareupdate run serves both reports
    assert runner.commands_run.count(M.UPDATE_LIST_ARGV) == 1


def test_macos_major_upgrades_and_safari_are_never_critical_driver_updates():
    for name in ("softwareupdate_l_13_ventura.stdout.txt", "softwareupdate_l_14_sonoma.stdout.txt",
                 "softwareupdate_l_26_tahoe.stdout.txt"):
        findings = driver_findings(mac(text(MAC / name)))
        assert [f.check for f in findings] == ["drivers"], [f.summary_en for f in findings]
        assert findings[0].severity == "ok"


def test_efi_firmware_is_one_critical_driver_finding_with_its_repair():
    set_language("en")
    runner = mac(text(MAC / "softwareupdate_l_10.8_efi_firmware.stdout.txt"))
    (finding,) = driver_findings(runner)
    assert finding.severity == "critical" and finding.evidence["device"] == "MacBook Air EFI Firmware Update"
    assert finding.repairs == ["drivers.install_update"]
    params = finding.repair_params["drivers.install_update"]
    assert params["source"] == "apple" and params["update_id"] == "MacBookAirEFIUpdate2.4-2.4"
    get_action("drivers.install_update").validate_params(params)
    pending = M.pending_updates(mac(text(MAC / "softwareupdate_l_10.8_efi_firmware.stdout.txt")))
    assert [u.name for u in pending.data.updates] == ["ProAppsQTCodecs-1.0", "JavaForOSX-1.0"]
    assert str(pending.data.detail) == "1 firmware/driver update is listed in the driver report."


def test_apple_source_says_how_many_updates_it_left_to_pending_updates():
    set_language("de")
    _, (status,) = _macos.update_offers(mac(text(MAC / "softwareupdate_l_14_sonoma.stdout.txt")))
    assert status.status == "ok" and status.count == 0
    assert str(status.detail) == "4 weitere Apple-Updates sind keine Firmware/Treiber (siehe ausstehende Updates)."
    _, (status,) = _macos.update_offers(mac(text(MAC / "softwareupdate_l_none.stdout.txt"),
                                           text(MAC / "softwareupdate_l_none.stderr.txt")))
    assert str(status.detail) == "Keine neue Software verfügbar."


def test_a_listing_in_an_unknown_format_is_an_error_not_no_updates():
    runner = mac("Software Update Tool\n\nSoftware Update found the following new or updated software:\n"
                 "Something Apple has never printed\n")
    offers, (status,) = _macos.update_offers(runner)
    assert offers == [] and status.status == "error"


@pytest.mark.parametrize(("label", "title", "kind"), [
    ("MacBookAirEFIUpdate2.4-2.4", "MacBook Air EFI Firmware Update", "firmware"),
    ("BridgeOSUpdateCustomer", "BridgeOSUpdateCustomer", "firmware"),
    ("ThunderboltFirmwareUpdate1.2-1.2", "Thunderbolt-Firmware-Update", "firmware"),
    ("HewlettPackardPrinterDrivers-5.1", "HP Printer Software Update", "driver"),
    ("CanonPrinterDrivers-4.17", "Canon Druckersoftware", "driver"),
    ("macOS Ventura 13.6-22G120", "macOS Ventura 13.6", None),
    ("macOS Sonoma 14.0-23A344", "macOS Sonoma 14.0", None),
    ("macOS Sequoia 15.2-24C101", "macOS Sequoia 15.2", None),
    ("Safari18.2SonomaAuto-18.2", "Safari", None),
    ("Command Line Tools for Xcode-16.2", "Command Line Tools for Xcode", None),
    ("macOS Tahoe 26.7.1 (a)-25H300a", "macOS Tahoe 26.7.1 (a)", None),
    ("XProtectPlistConfigData_10_15-2199", "XProtectPlistConfigData", None),
    ("ProAppsQTCodecs-1.0", "ProApps QuickTime codecs", None),
])
def test_apple_update_kind(label, title, kind):
    assert M.apple_update_kind(label, title) == kind


# ---- own database entries in the diagnosis (no more "source='custom_db' is not valid") ---------------------------


def test_own_database_entry_with_a_package_gives_a_valid_vendor_package_repair(tmp_path: Path):
    path = user_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([
        {"hardware_id": "com.paragon-software.filesystems.ntfs", "name": "Paragon NTFS", "latest_version": "17.1.5",
         "importance": "CRITICAL", "package": str(tmp_path / "ntfs.pkg"), "sha256": "ab" * 32},
        {"hardware_id": "com.softraid.driver.SoftRAID", "name": "SoftRAID", "latest_version": "9.0",
         "importance": "CRITICAL", "download_url": "https://www.softraid.com/"},
    ]))
    runner = mac(text(MAC / "softwareupdate_l_14_sonoma.stdout.txt"))
    runner.add_command(list(_macos.EXTENSIONS_ARGV), 0, text(DRV / "sp_extensions_old.json"))
    findings = {f.evidence["hardware_id"]: f for f in driver_findings(runner) if f.check.startswith("driver_update")}
    ntfs = findings["COM.PARAGON-SOFTWARE.FILESYSTEMS.NTFS"]
    assert ntfs.repairs == ["drivers.install_vendor_package"]
    plan = Plan.from_actions([{"action": a, "params": ntfs.repair_params[a]} for a in ntfs.repairs],
                             platform="darwin")
    assert plan.steps[0].params["sha256"] == "ab" * 32
    for finding in findings.values():  # no finding proposes a repair the catalogue refuses
        for action in finding.repairs:
            get_action(action).validate_params(finding.repair_params[action])
        assert "custom_db" not in json.dumps(finding.repair_params)


def test_own_database_entry_without_a_package_is_reported_without_a_repair():
    path = user_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"hardware_id": "com.paragon-software.filesystems.ntfs", "name": "Paragon NTFS",
                                 "latest_version": "17.1.5", "importance": "CRITICAL",
                                 "download_url": "https://www.paragon-software.com/"}]))
    (finding,) = driver_findings(mac(text(MAC / "softwareupdate_l_14_sonoma.stdout.txt")))
    assert finding.severity == "critical" and finding.repairs == [] and finding.repair_params == {}
    assert "https://www.paragon-software.com/" in finding.evidence["install_hint"]


def test_probe_and_driver_source_share_one_run_in_a_diagnosis():
    runner = mac(text(MAC / "softwareupdate_l_10.15_catalina.stdout.txt"))
    system.run_probes(["pending_updates", "pending_reboot"], runner)
    driver_findings(runner)
    assert runner.commands_run.count(M.UPDATE_LIST_ARGV) == 1


def test_softwareupdate_failure_is_explained_for_the_driver_source():
    runner = ReplayRunner(platform="darwin", fallback=lambda argv: CommandResult(argv, 1, "", "softwareupdate: "
                                                                                "Permission denied\n"))
    set_language("en")
    offers, (status,) = _macos.update_offers(runner)
    assert offers == [] and status.status == "error" and "needs elevation" in str(status.detail)
