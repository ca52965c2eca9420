"""Per-OS modules expose the same functions; module version fallbacks; missing tools; renderings; caching."""

from __future__ import annotations

import json

import pytest

import techcare.tools.drivers as drv
from techcare.i18n import set_language
from techcare.system.runner import Entry, FileResult, ReplayRunner
from techcare.tools.drivers import _linux, _macos, _windows, inventory, load_database, user_database_path
from techcare.tools.drivers.core import build_report, platform_module


@pytest.mark.parametrize("module", [_linux, _windows, _macos])
def test_every_platform_module_has_the_same_functions(module):
    for name in ("inventory", "update_offers"):
        assert callable(getattr(module, name))
    assert platform_module(module.PLATFORM) is module


def test_public_api_is_sorted_and_complete():
    assert drv.__all__ == sorted(drv.__all__)
    for name in ("drivers", "driver_updates", "inventory", "capture", "main"):
        assert name in drv.__all__ and callable(getattr(drv, name))
    with pytest.raises(ValueError, match="unknown platform"):
        platform_module("beos")


def _file(runner: ReplayRunner, path: str, content: str) -> None:
    runner.add(Entry("file", path, FileResult(path, content)))


def test_linux_module_version_fallbacks_modinfo_then_kernel():
    r = ReplayRunner(platform="linux")
    r.add(Entry("dir", "/sys/bus/pci/devices", ["0000:00:1f.6", "0000:02:00.0"]))
    for slot, (ven, dev, drvname, cls) in {
        "0000:00:1f.6": ("0x8086", "0x15bc", "e1000e", "0x020000"),
        "0000:02:00.0": ("0x10ec", "0x8168", "r8169", "0x020000"),
    }.items():
        base = f"/sys/bus/pci/devices/{slot}"
        _file(r, f"{base}/vendor", ven + "\n")
        _file(r, f"{base}/device", dev + "\n")
        _file(r, f"{base}/class", cls + "\n")
        r.add(Entry("link", f"{base}/driver", f"../../../bus/pci/drivers/{drvname}"))
        r.add(Entry("link", f"{base}/driver/module", f"../../../../module/{drvname}"))
    _file(r, "/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")
    r.add_command(["modinfo", "-F", "version", "e1000e"], 0, "3.2.6-k\n")
    r.add_command(["modinfo", "-F", "version", "r8169"], 0, "")  # in-tree: no version field
    items = {i.driver: i for i in inventory(r) if i.details.get("bus") == "pci"}
    assert items["e1000e"].installed_version == "3.2.6-k" and items["e1000e"].details["version_origin"] == "modinfo"
    assert items["r8169"].installed_version == "6.1.0-18-amd64" and items["r8169"].details["version_origin"] == "kernel"
    assert items["e1000e"].category == "Network" and items["e1000e"].vendor == "Intel"
    assert items["r8169"].hardware_id == "PCI\\VEN_10EC&DEV_8168"


def test_linux_usb_devices_from_sysfs():
    r = ReplayRunner(platform="linux")
    root = "/sys/bus/usb/devices"
    r.add(Entry("dir", root, ["1-2", "1-2:1.0", "1-2:1.1", "usb1"]))
    for name, value in {
        "idVendor": "046d",
        "idProduct": "c52b",
        "bcdDevice": "1211",
        "product": "USB Receiver",
        "manufacturer": "Logitech",
        "bDeviceClass": "00",
    }.items():
        _file(r, f"{root}/1-2/{name}", value + "\n")
    _file(r, f"{root}/1-2:1.0/bInterfaceClass", "03\n")
    r.add(Entry("link", f"{root}/1-2:1.0/driver", "../../../../../../bus/usb/drivers/usbhid"))
    r.add(Entry("link", f"{root}/1-2:1.1/driver", "../../../../../../bus/usb/drivers/usbhid"))
    r.add(Entry("dir", "/sys/module/usbhid", ["parameters"]))
    _file(r, "/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")
    (usb,) = _linux.usb_devices(r)
    assert usb.hardware_id == "USB\\VID_046D&PID_C52B&REV_1211"
    assert (usb.device, usb.vendor, usb.driver, usb.category) == ("USB Receiver", "Logitech", "usbhid", "Input")
    assert usb.installed_version == "6.1.0-18-amd64"


def test_windows_without_powershell_is_unavailable_not_a_crash():
    set_language("en")
    r = ReplayRunner(
        platform="windows",
        fallback=lambda argv: __import__("techcare.system.runner", fromlist=["x"]).CommandResult(
            argv, None, "", "powershell.exe: command not found", 0.0, "not_found"
        ),
    )
    rep = build_report(runner=r)
    assert rep.stats()["installed"] == 0
    statuses = {s.name: s.status for s in rep.sources}
    assert statuses["Win32_PnPSignedDriver"] == "unavailable" and statuses["windows_update"] == "unavailable"


def test_html_and_rich_renderings():
    from rich.console import Console

    r = ReplayRunner(platform="darwin")
    r.add_command(
        list(_macos.SOFTWAREUPDATE_ARGV),
        0,
        "* Label: Safari17.2\n\tTitle: Safari, Version: 17.2, Size: 151490KiB, Recommended: YES, \n"
        "* Label: HewlettPackardPrinterDrivers-5.1\n\tTitle: HP Printer Software Update, Version: 5.1, "
        "Size: 623148KiB, Recommended: YES, \n",
    )
    set_language("en")
    rep = build_report(runner=r)
    html = rep._repr_html_()
    assert "techcare-drivers" in html and "HP Printer Software Update" in html and "RECOMMENDED" in html
    assert "Safari" not in html  # a pending update, not a driver update
    console = Console(record=True, width=100)
    console.print(rep)
    text = console.export_text()
    assert "🟡 1. HP Printer Software Update" in text and "Available: 5.1" in text
    assert "SPExtensionsDataType: unavailable" in text


def test_database_is_parsed_once_per_file_version(monkeypatch: pytest.MonkeyPatch):
    from techcare.tools.drivers import database

    path = user_database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"hardware_id": "10de:2206", "name": "x", "latest_version": "1.0"}]))
    calls = []
    real = database.parse_database
    monkeypatch.setattr(database, "parse_database", lambda text, file: calls.append(file) or real(text, file))
    load_database(user=path)
    load_database(user=path)
    assert calls.count(str(path)) <= 1
    path.write_text(json.dumps([{"hardware_id": "10de:2206", "name": "x", "latest_version": "1.0.1"}]))
    assert load_database(user=path).offers[-1].latest_version == "1.0.1"
