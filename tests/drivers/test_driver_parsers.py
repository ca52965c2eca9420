"""Parsers on real published outputs (see fixtures/README.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from techcare.system.runner import decode_output
from techcare.tools.drivers import _linux, _macos, _windows

FIX = Path(__file__).parent / "fixtures"


def text(name: str) -> str:
    return decode_output(FIX.joinpath(name).read_bytes())


# ---- Linux -------------------------------------------------------------------------------------------------


def test_lspci_vmmkn_several_modules_and_missing_fields():
    devices = _linux.parse_lspci_vmm(text("lspci_vmmkn_insights.txt"))
    assert [d["Slot"] for d in devices] == ["00:00.0", "00:01.0", "00:01.1", "00:03.0"]
    assert "Driver" not in devices[0] and "Module" not in devices[0]
    assert devices[1]["Module"] == ["ata_piix", "ata_generic"]
    assert devices[1]["Vendor"] == "8086" and devices[1]["Device"] == "7010"
    assert devices[2]["Rev"] == "01" and "Module" not in devices[2]
    assert devices[3]["Driver"] == "virtio-pci" and devices[3]["SDevice"] == "0001"


def test_lspci_nn_form_with_names_and_tabs():
    out = (
        "Slot:\t01:00.0\nClass:\tVGA compatible controller [0300]\nVendor:\tNVIDIA Corporation [10de]\n"
        "Device:\tGA102 [GeForce RTX 3080] [2206]\nSVendor:\tMicro-Star International Co., Ltd. [MSI] [1462]\n"
        "SDevice:\tDevice [3897]\nRev:\ta1\nDriver:\tnvidia\nModule:\tnvidiafb\nModule:\tnouveau\nModule:\tnvidia_drm\n"
        "Module:\tnvidia\n\n"
    )
    (dev,) = _linux.parse_lspci_vmm(out)
    assert dev["Vendor"] == "10de" and dev["Device"] == "2206" and dev["SVendor"] == "1462"
    assert dev["Device_name"] == "GA102 [GeForce RTX 3080]"
    assert dev["Class_name"] == "VGA compatible controller"
    assert dev["Module"] == ["nvidiafb", "nouveau", "nvidia_drm", "nvidia"]


def test_fwupd_get_devices_installed_and_offers():
    devices = _linux.parse_fwupd(text("fwupd_get_devices.json"))
    installed = _linux.fwupd_installed(devices)
    assert [d.device for d in installed] == [
        "ColorHug2",
        "Display controller",
        "Intel(R) Core™ i7-7700HQ CPU @ 2.80GHz",
    ]
    assert installed[0].installed_version == "2.0.6" and installed[0].kind == "firmware"
    assert installed[0].match_ids == ["FWUPD\\CF294BF55B333004BEB7C41F952C1838C23E1F4A"]
    assert installed[2].installed_version == "0x000000de"
    offers = _linux.fwupd_offers(devices)
    assert len(offers) == 1  # 2.0.6 installed, 2.0.5 is a downgrade: only 2.0.7
    offer = offers[0]
    assert (offer.latest_version, offer.installed_version, offer.source) == ("2.0.7", "2.0.6", "fwupd")
    assert offer.download_url.startswith("https://fwupd.org/downloads/0a29848")
    assert offer.release_date == date(2016, 12, 28)
    assert offer.importance is None  # no Urgency in this fwupd version -> default rule


def test_fwupd_get_updates_and_all_keys_optional():
    offers = _linux.fwupd_offers(_linux.parse_fwupd(text("fwupd_get_updates.json")))
    assert [(o.name, o.latest_version, o.update_id) for o in offers] == [
        ("ColorHug2", "2.0.7", "b0a78eb71f4eeea7df8fb114522556ba8ce22074")
    ]
    assert (
        _linux.fwupd_offers(_linux.parse_fwupd('{"Devices": [{}, {"Name": "x"}, {"DeviceId": "a", "Releases": [{}]}]}'))
        == []
    )
    assert _linux.parse_fwupd("") == []


@pytest.mark.parametrize(
    ("urgency", "issues", "expected"),
    [
        ("critical", [], "CRITICAL"),
        ("high", [], "CRITICAL"),
        ("medium", [], "RECOMMENDED"),
        ("low", [], "OPTIONAL"),
        (None, ["CVE-2022-1234"], "CRITICAL"),
        (None, [], None),
    ],
)
def test_fwupd_urgency(urgency, issues, expected):
    rel = {"Version": "1.1", "Flags": ["is-upgrade"]}
    if urgency:
        rel["Urgency"] = urgency
    if issues:
        rel["Issues"] = issues
    (offer,) = _linux.fwupd_offers([{"DeviceId": "abc", "Name": "Dock", "Version": "1.0", "Releases": [rel]}])
    assert offer.importance == expected


def test_fwupd_exit_2_means_nothing_to_do():
    from techcare.system.runner import ReplayRunner

    r = ReplayRunner(platform="linux")
    r.add_command(list(_linux.FWUPD_UPDATES), 2, "", "No updatable devices\n")
    offers, (status,) = _linux.update_offers(r)
    assert offers == [] and status.status == "ok" and status.detail.en == "nothing to do"


# ---- Windows -----------------------------------------------------------------------------------------------


def test_pnp_signed_driver_ps51_german():
    items = _windows.parse_pnp_signed_drivers(text("win_pnpsigneddriver_ps51_de.json"))
    names = [i.device for i in items]
    assert len(items) == 6  # the row without DeviceName is skipped
    assert "Hochpräzisionsereigniszeitgeber" in names and "USB-Verbundgerät" in names
    gpu = items[0]
    assert gpu.hardware_id == "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1"
    assert gpu.installed_version == "31.0.15.1295" and gpu.category == "Display" and gpu.driver == "oem42.inf"
    assert gpu.driver_date == date(2022, 5, 6) and gpu.signed is True and not gpu.inbox
    ahci = next(i for i in items if i.driver == "mshdc.inf")
    assert ahci.inbox and ahci.driver_date == date(2006, 6, 21)
    hda = next(i for i in items if i.category == "Audio")
    assert hda.hardware_id == "HDAUDIO\\FUNC_01&VEN_10EC&DEV_0887&SUBSYS_10438698&REV_1003"
    usb = next(i for i in items if i.category == "USB")
    assert usb.hardware_id == "USB\\VID_046D&PID_C52B&REV_1211"


def test_pnp_signed_driver_ps7_and_wmi_dates():
    items = _windows.parse_pnp_signed_drivers(text("win_pnpsigneddriver_ps7.json"))
    assert [i.device for i in items] == ["NVIDIA GeForce RTX 3080", "Standard SATA AHCI Controller"]
    assert items[0].driver_date == date(2022, 5, 6)
    assert items[1].inbox is True
    (wmi,) = _windows.parse_pnp_signed_drivers(text("win_pnpsigneddriver_wmi.json"))
    assert wmi.driver_date == date(2021, 2, 1) and wmi.category == "Network"


def test_single_object_and_empty_output():
    one = '{"DeviceName": "X", "DriverVersion": "1.0", "HardWareID": "PCI\\\\VEN_1234&DEV_0001"}'
    assert [i.device for i in _windows.parse_pnp_signed_drivers(one)] == ["X"]
    assert _windows.parse_pnp_signed_drivers("") == []
    assert _windows.parse_wu_driver_updates("[]\r\n") == []


def test_windows_update_driver_search():
    offers = _windows.parse_wu_driver_updates(text("win_wu_drivers_ps51.json"))
    nvidia, intel, realtek = offers
    assert nvidia.latest_version == "31.0.15.2849" and nvidia.name == "NVIDIA GeForce RTX 3080"
    assert nvidia.hardware_id == "PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462"
    assert nvidia.release_date == date(2023, 1, 31) and nvidia.importance is None and nvidia.source_says_newer
    assert intel.importance == "CRITICAL"  # MsrcSeverity Important
    assert realtek.category == "Audio" and realtek.details["reboot_required"] is True
    assert "Windows Update" in nvidia.install_hint() or "Windows Update" in nvidia.install_hint()


def test_windows_update_error_is_reported_not_raised():
    from techcare.system.runner import ReplayRunner

    r = ReplayRunner(platform="windows")
    r.add_command(list(_windows.WU_ARGV), 1, "", "Exception from HRESULT: 0x8024402C\r\n")
    offers, (status,) = _windows.update_offers(r)
    assert offers == [] and status.status == "error" and "0x8024402C" in status.detail


def test_powershell_command_shape():
    assert _windows.INVENTORY_ARGV[:6] == (
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-Command",
    )
    assert (
        "ConvertTo-Json -Depth 4" in _windows.INVENTORY_ARGV[-1]
        and "Win32_PnPSignedDriver" in _windows.INVENTORY_ARGV[-1]
    )
    assert "Type='Driver'" in _windows.WU_ARGV[-1] and "MsrcSeverity" in _windows.WU_ARGV[-1]


# ---- macOS -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["softwareupdate_mojave.txt", "softwareupdate_catalina.txt"])
def test_softwareupdate_both_formats(name):
    offers = _macos.parse_softwareupdate(text(name), include_all=True)
    assert [o.update_id for o in offers][2:] == ["BridgeOSUpdateCustomer", "iCal-1.0.2"]
    assert [o.importance for o in offers] == ["RECOMMENDED", "CRITICAL", "CRITICAL", "OPTIONAL"]
    assert offers[3].latest_version == "1.0.2" and offers[3].name == "iCal"
    assert offers[2].category == "Firmware" and offers[2].details["action"] == "shut down"
    assert "softwareupdate -i" in offers[0].install_hint()
    assert [o.details["kind"] for o in offers] == [None, None, "firmware", None]
    # as driver updates only the T2 firmware counts; Xcode tools, the macOS beta and iCal are pending updates
    (firmware,) = _macos.parse_softwareupdate(text(name))
    assert firmware.update_id == "BridgeOSUpdateCustomer" and firmware.importance == "CRITICAL"


def test_softwareupdate_nothing_on_stderr():
    from techcare.system.runner import ReplayRunner

    r = ReplayRunner(platform="darwin")
    r.add_command(
        list(_macos.SOFTWAREUPDATE_ARGV),
        0,
        "Software Update Tool\n\nFinding available software\n",
        "No new software available.\n",
    )
    offers, (status,) = _macos.update_offers(r)
    assert offers == [] and status.status == "ok" and "No new software" in status.detail


def test_sp_extensions_both_value_forms():
    new = _macos.parse_extensions(text("sp_extensions_new.json"))
    # loaded Apple kext + unloaded third-party kext; unloaded Apple kext dropped
    assert [k.driver for k in new] == ["com.apple.driver.AppleAHCIPort", "com.paragon-software.filesystems.ntfs"]
    assert new[0].details["loaded"] is True and new[1].details["loaded"] is False
    assert new[1].installed_version == "17.0.72" and new[1].driver_date == date(2023, 5, 11)
    assert new[1].hardware_id == "COM.PARAGON-SOFTWARE.FILESYSTEMS.NTFS"
    old = _macos.parse_extensions(text("sp_extensions_old.json"))
    assert [(k.driver, k.installed_version, k.details["loaded"]) for k in old] == [
        ("com.softraid.driver.SoftRAID", "5.8.1", True)
    ]
    assert len(_macos.parse_extensions(text("sp_extensions_old.json"), include_all=True)) == 2


@pytest.mark.parametrize("name", ["systemextensionsctl_list.txt", "systemextensionsctl_list_old.txt"])
def test_systemextensionsctl(name):
    items = _macos.parse_systemextensions(text(name))
    assert items and all(i.kind == "extension" for i in items)
    first = items[0]
    assert first.details["enabled"] and first.details["active"] and "activated enabled" == first.details["state"]
    if name.endswith("_old.txt"):
        assert (first.driver, first.installed_version) == ("com.google.santa.daemon", "2024.9")
    else:
        assert [i.installed_version for i in items] == ["1.98.8", "4.29.0"]
        assert items[1].details["enabled"] is False
        assert items[0].category == "System extension (network extension)"


# ---- fwupdmgr output that is not pure JSON ---------------------------------------------------------------------


def test_fwupd_warning_and_prompt_lines_before_the_json():
    # verbatim from fwupd/fwupd#4312: a tainted daemon's WARNING and a device prompt precede the JSON on stdout
    assert _linux.parse_fwupd(text("fwupd_get_updates_warning_first.txt")) == []
    warned = "WARNING: UEFI capsule updates not available or enabled in firmware setup\n" + text("fwupd_get_updates.json")
    assert _linux.parse_fwupd(warned) == _linux.parse_fwupd(text("fwupd_get_updates.json"))


def test_fwupd_human_listing_after_the_json_is_ignored():
    # fwupd/fwupd#9997: some versions print the normal listing after a complete JSON document
    trailing = text("fwupd_get_devices.json") + "\nColorHug2\n│\n└─Device ID:   cf294bf55b333004beb7c41f952c1838c23e1f4a\n"
    assert _linux.parse_fwupd(trailing) == _linux.parse_fwupd(text("fwupd_get_devices.json"))


def test_fwupd_cut_json_and_text_only_output_are_errors():
    with pytest.raises(ValueError):
        _linux.parse_fwupd(text("fwupd_get_devices.json")[:300])
    with pytest.raises(ValueError, match="no JSON object"):
        _linux.parse_fwupd("WARNING: something\nNo devices\n")


def test_fwupd_json_error_object_is_the_reason():
    from techcare.i18n import set_language
    from techcare.system.runner import ReplayRunner

    set_language("en")
    # verbatim from fwupd/fwupd#5500: with --json an error is a JSON object on stdout (exit 1)
    r = ReplayRunner(platform="linux")
    r.add_command(list(_linux.FWUPD_UPDATES), 1, text("fwupd_error_json.txt"))
    offers, (status,) = _linux.update_offers(r)
    assert offers == [] and status.status == "error"
    assert str(status.detail) == "fwupdmgr says: failed to open foo.zip"


def test_sp_extensions_2019_signer_as_one_string_and_no_name():
    # a real 2019 (macOS 10.15) entry: spext_signed_by is one comma-joined string, not a list; no _name
    text_ = text("sp_extensions_2019_signer_string.json")
    assert _macos.parse_extensions(text_) == []  # an unloaded Apple kext is no driver of this machine
    (kext,) = _macos.parse_extensions(text_, include_all=True)
    assert (kext.device, kext.vendor, kext.installed_version) == ("com.apple.driver.ACPI_SMC_PlatformPlugin", "Apple",
                                                                 "1.0.0")
    assert kext.signed is True and kext.details["apple"] is True and kext.driver_date == date(2019, 11, 15)


def test_pnp_signed_drivers_after_a_warning_line_on_stdout():
    # PowerShell prints module warnings on stdout before the JSON (the wording is PowerShell's own)
    warning = ("WARNING: The names of some imported commands from the module 'DellBIOSProvider' include unapproved "
               "verbs that might make them less discoverable.\r\n")
    plain = _windows.parse_pnp_signed_drivers(text("win_pnpsigneddriver_ps51_de.json"))
    assert _windows.parse_pnp_signed_drivers(warning + text("win_pnpsigneddriver_ps51_de.json")) == plain
    with pytest.raises(ValueError):  # a cut answer stays an error
        _windows.parse_pnp_signed_drivers(warning + text("win_pnpsigneddriver_ps51_de.json")[:200])
