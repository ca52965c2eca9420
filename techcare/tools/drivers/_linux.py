"""Linux: PCI/USB devices from sysfs and ``lspci -vmmnnk``, kernel module versions, fwupd firmware.

All access goes through the CommandRunner (``list_dir``/``read_file``/``read_link``/``run``) so a snapshot
replays it exactly. Version of a module: ``/sys/module/<m>/version``, else ``modinfo -F version <m>``, else
(in-tree modules carry no version) the running kernel release.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from ...i18n import msg
from ...system.records import command_problem
from ...system.runner import CommandRunner, ReplayRunner
from .hwids import from_pci, from_usb, normalise_hardware_id, vendor_name
from .records import InstalledDriver, SourceStatus, UpdateOffer
from .versions import compare_versions, parse_date

PLATFORM = "linux"
PCI_ROOT = "/sys/bus/pci/devices"
USB_ROOT = "/sys/bus/usb/devices"
LSPCI = ("lspci", "-vmmnnk")
FWUPD_DEVICES = ("fwupdmgr", "get-devices", "--json")
FWUPD_UPDATES = ("fwupdmgr", "get-updates", "--json", "--no-metadata-check")

#: PCI base classes (PCI Code and ID Assignment Specification) -> category shown to the technician.
PCI_CLASSES = {
    "00": "Unclassified",
    "01": "Storage",
    "02": "Network",
    "03": "Display",
    "04": "Multimedia",
    "05": "Memory",
    "06": "Bridge",
    "07": "Communication",
    "08": "System",
    "09": "Input",
    "0a": "Docking",
    "0b": "Processor",
    "0c": "Serial bus",
    "0d": "Wireless",
    "0e": "Intelligent controller",
    "0f": "Satellite",
    "10": "Encryption",
    "11": "Signal processing",
    "12": "Processing accelerator",
    "13": "Instrumentation",
    "40": "Co-processor",
    "ff": "Unassigned class",
}
PCI_SUBCLASSES = {
    "0c03": "USB controller",
    "0c05": "SMBus",
    "0108": "NVMe",
    "0106": "SATA",
    "0280": "Network",
    "0300": "VGA",
    "0403": "Audio",
    "0600": "Host bridge",
    "0601": "ISA bridge",
    "0604": "PCI bridge",
}
USB_CLASSES = {
    "01": "Audio",
    "02": "Communication",
    "03": "Input",
    "06": "Imaging",
    "07": "Printer",
    "08": "Storage",
    "09": "Hub",
    "0a": "Communication",
    "0b": "Smart card",
    "0e": "Video",
    "e0": "Wireless",
    "ef": "Miscellaneous",
    "ff": "Vendor specific",
}


# ---- parsers (pure) ------------------------------------------------------------------------------------------

_BRACKET = re.compile(r"^(.*?)\s*\[([0-9a-fA-F]{4,6})\]$")


def parse_lspci_vmm(text: str) -> list[dict[str, Any]]:
    """``lspci -vmm[n[n]]k`` records: ``Slot``, ``Class``, ``Vendor``, ``Device``, ``SVendor``, ``SDevice``,
    ``Rev``, ``ProgIf``, ``Driver``, ``Module`` (list; several lines possible) plus ``*_name`` keys when the
    ``-nn`` form printed ``Name [id]``. Missing fields are simply absent."""
    devices: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            if current:
                devices.append(current)
                current = {}
            continue
        key, sep, value = line.partition(":")
        if not sep or not key or key[0].isspace():
            continue
        key, value = key.strip(), value.strip()
        if key == "Slot" and current:
            devices.append(current)
            current = {}
        if key == "Module":
            current.setdefault("Module", []).append(value)
            continue
        if key in ("Class", "Vendor", "Device", "SVendor", "SDevice"):
            match = _BRACKET.match(value)
            if match:
                current[f"{key}_name"] = match.group(1)
                value = match.group(2)
        current[key] = value
    if current:
        devices.append(current)
    return [d for d in devices if "Slot" in d]


def _first_line(content: str | None) -> str | None:
    if content is None:
        return None
    text = content.strip().split("\n", 1)[0].strip()
    return text or None


def _category_from_class(class_code: str | None) -> str:
    code = (class_code or "").lower().removeprefix("0x")
    if len(code) >= 4:
        sub = PCI_SUBCLASSES.get(code[:4])
        base = PCI_CLASSES.get(code[:2], "")
        return base if base and not sub else (sub if base in ("Serial bus", "Storage", "") else base)
    return PCI_CLASSES.get(code[:2], "")


_JSON_LINE = re.compile(r"^[ \t]*\{", re.M)


def fwupd_json(text: str) -> dict[str, Any] | None:
    """The JSON object ``fwupdmgr --json`` printed, or ``None`` for empty output.

    Real fwupdmgr output is not always pure JSON: lines such as ``WARNING: The daemon has loaded 3rd party code
    ...`` or ``Selected device: ...`` come first (fwupd/fwupd#4312), and some versions append the human-readable
    listing after the JSON (fwupd/fwupd#9997). Text before the first line that opens an object and anything after
    the object are skipped; the object itself must be complete (:class:`ValueError` otherwise)."""
    if not text.strip():
        return None
    match = _JSON_LINE.search(text)
    if match is None:
        first = text.strip().splitlines()[0][:120]
        raise ValueError(f"no JSON object in the output (first line: {first!r})")
    data, _ = json.JSONDecoder().raw_decode(text[match.start():].lstrip())
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, not {type(data).__name__}")
    return data


def fwupd_error(text: str) -> str | None:
    """The message of fwupdmgr's JSON error object (``{"Error": {"Domain", "Code", "Message"}}``, fwupd >= 1.8.11)."""
    try:
        data = fwupd_json(text)
    except ValueError:
        return None
    error = data.get("Error") if data else None
    if isinstance(error, dict) and error.get("Message"):
        return str(error["Message"])
    return None


def parse_fwupd(text: str) -> list[dict[str, Any]]:
    """The ``Devices`` list of fwupd JSON (every key optional). Empty text -> ``[]``; warnings before and text
    after the JSON are skipped (:func:`fwupd_json`)."""
    data = fwupd_json(text)
    devices = data.get("Devices") if isinstance(data, dict) else None
    return [d for d in devices or [] if isinstance(d, dict)]


def fwupd_hardware_id(device: dict[str, Any]) -> str | None:
    vendor_id = str(device.get("VendorId") or "")
    for part in vendor_id.split("|"):
        bus, _, value = part.partition(":")
        if bus.upper() in ("PCI", "USB") and value:
            # fwupd gives only the vendor; the device id is in the instance ids when present
            for inst in device.get("InstanceIds") or []:
                norm = normalise_hardware_id(str(inst))
                if norm and norm.startswith(("PCI\\", "USB\\")):
                    return norm
    return None


def fwupd_installed(devices: list[dict[str, Any]]) -> list[InstalledDriver]:
    out: list[InstalledDriver] = []
    for dev in devices:
        name = str(dev.get("Name") or "").strip()
        device_id = str(dev.get("DeviceId") or "").strip()
        if not name or not device_id:
            continue
        flags = [str(f) for f in dev.get("Flags") or []]
        hwid = fwupd_hardware_id(dev)
        created = dev.get("Created")
        out.append(
            InstalledDriver(
                device=name,
                hardware_id=hwid or f"FWUPD\\{device_id.upper()}",
                vendor=str(dev.get("Vendor") or ""),
                category="Firmware",
                driver=f"fwupd:{dev.get('Plugin') or '?'}",
                installed_version=dev.get("Version"),
                driver_date=None,
                kind="firmware",
                match_ids=[f"FWUPD\\{device_id.upper()}"],
                details={
                    "device_id": device_id,
                    "updatable": "updatable" in flags,
                    "version_format": dev.get("VersionFormat"),
                    "guids": list(dev.get("Guid") or []),
                    "created": created,
                },
            )
        )
    return out


_URGENCY = {"critical": "CRITICAL", "high": "CRITICAL", "medium": "RECOMMENDED", "low": "OPTIONAL"}


def fwupd_offers(devices: list[dict[str, Any]]) -> list[UpdateOffer]:
    """One offer per device: its newest release that is an upgrade (``is-upgrade`` flag, or a newer version
    when the flag is missing). Downgrades and the installed release are ignored."""
    offers: list[UpdateOffer] = []
    for dev in devices:
        device_id = str(dev.get("DeviceId") or "").strip()
        current = dev.get("Version")
        best: dict[str, Any] | None = None
        for rel in dev.get("Releases") or []:
            if not isinstance(rel, dict) or not rel.get("Version"):
                continue
            flags = [str(f) for f in rel.get("Flags") or []]
            if "is-downgrade" in flags:
                continue
            newer = compare_versions(current, str(rel["Version"]))
            if "is-upgrade" not in flags and newer != -1:
                continue
            if best is None or compare_versions(str(best["Version"]), str(rel["Version"])) == -1:
                best = rel
        if best is None or not device_id:
            continue
        urgency = str(best.get("Urgency") or "").lower()
        importance = _URGENCY.get(urgency)
        if best.get("Issues"):
            importance = "CRITICAL"
        uri = best.get("Uri") or next(iter(best.get("Locations") or []), "")
        offers.append(
            UpdateOffer(
                source="fwupd",
                name=str(dev.get("Name") or device_id),
                hardware_id=f"FWUPD\\{device_id.upper()}",
                latest_version=str(best["Version"]),
                vendor=str(best.get("Vendor") or dev.get("Vendor") or ""),
                category="Firmware",
                release_date=parse_date(best.get("Created")),
                importance=importance,
                download_url=str(uri or ""),
                update_id=device_id,
                notes=str(best.get("Summary") or ""),
                installed_version=str(current) if current is not None else None,
                source_says_newer=True,
                details={
                    "remote": best.get("RemoteId"),
                    "urgency": urgency or None,
                    "issues": list(best.get("Issues") or []),
                },
            )
        )
    return offers


# ---- runner access ----------------------------------------------------------------------------------------------


def _read(runner: CommandRunner, path: str) -> str | None:
    return _first_line(runner.read_file(path).content)


def _kernel_release(runner: CommandRunner) -> str | None:
    return _read(runner, "/proc/sys/kernel/osrelease")


def _module_version(runner: CommandRunner, module: str, kernel: str | None, cache: dict[str, tuple]) -> tuple:
    if module in cache:
        return cache[module]
    version = _read(runner, f"/sys/module/{module}/version")
    origin = "sysfs"
    if not version:
        result = runner.run(["modinfo", "-F", "version", module], timeout=10)
        version = _first_line(result.stdout) if result.ok else None
        origin = "modinfo"
    if not version:
        version, origin = kernel, "kernel"
    cache[module] = (version, origin)
    return cache[module]


def _module_of(runner: CommandRunner, dev_path: str, driver: str | None) -> str | None:
    target = runner.read_link(f"{dev_path}/driver/module")
    if target:
        return posixpath.basename(target)
    if driver:
        candidate = driver.replace("-", "_")
        if runner.list_dir(f"/sys/module/{candidate}") is not None:
            return candidate
    return None


def pci_devices(runner: CommandRunner, lspci_records: list[dict[str, Any]] | None = None) -> list[InstalledDriver]:
    entries = runner.list_dir(PCI_ROOT) or []
    by_slot = {}
    for rec in lspci_records or []:
        slot = rec["Slot"]
        by_slot[slot if slot.count(":") == 2 else f"0000:{slot}"] = rec
    kernel = _kernel_release(runner)
    cache: dict[str, tuple] = {}
    out: list[InstalledDriver] = []
    for slot in entries:
        path = f"{PCI_ROOT}/{slot}"
        vendor, device = _read(runner, f"{path}/vendor"), _read(runner, f"{path}/device")
        rec = by_slot.get(slot, {})
        vendor = vendor or rec.get("Vendor")
        device = device or rec.get("Device")
        hwid = from_pci(
            vendor,
            device,
            _read(runner, f"{path}/subsystem_vendor") or rec.get("SVendor"),
            _read(runner, f"{path}/subsystem_device") or rec.get("SDevice"),
            _read(runner, f"{path}/revision") or rec.get("Rev"),
        )
        if hwid is None:
            continue
        link = runner.read_link(f"{path}/driver")
        driver = posixpath.basename(link) if link else rec.get("Driver")
        module = _module_of(runner, path, driver) if link else None
        modules = list(rec.get("Module") or [])
        if not module and driver and driver.replace("-", "_") in modules:
            module = driver.replace("-", "_")
        version, origin = (
            _module_version(runner, module, kernel, cache)
            if module
            else ((kernel, "builtin") if driver else (None, None))
        )
        class_code = _read(runner, f"{path}/class") or rec.get("Class")
        category = rec.get("Class_name") or _category_from_class(class_code)
        vname = rec.get("Vendor_name") or vendor_name(vendor)
        name = (
            rec.get("Device_name")
            or f"{category or 'PCI device'} [{(vendor or '').removeprefix('0x')}:{(device or '').removeprefix('0x')}]"
        )
        out.append(
            InstalledDriver(
                device=name,
                hardware_id=hwid,
                vendor=vname,
                category=category,
                driver=driver or "",
                installed_version=version,
                kind="driver" if driver else "device",
                details={
                    "slot": slot,
                    "bus": "pci",
                    "module": module,
                    "modules": modules,
                    "version_origin": origin,
                    "class": class_code,
                    "bound": bool(driver),
                },
            )
        )
    return out


def usb_devices(runner: CommandRunner) -> list[InstalledDriver]:
    entries = runner.list_dir(USB_ROOT)
    if not entries:
        return []
    kernel = _kernel_release(runner)
    cache: dict[str, tuple] = {}
    out: list[InstalledDriver] = []
    for name in entries:
        if ":" in name:
            continue
        path = f"{USB_ROOT}/{name}"
        vid, pid = _read(runner, f"{path}/idVendor"), _read(runner, f"{path}/idProduct")
        hwid = from_usb(vid, pid, _read(runner, f"{path}/bcdDevice"))
        if hwid is None:
            continue
        drivers: list[str] = []
        dev_class = _read(runner, f"{path}/bDeviceClass") or ""
        for iface in entries:
            if iface.startswith(name + ":"):
                link = runner.read_link(f"{USB_ROOT}/{iface}/driver")
                if link and posixpath.basename(link) not in drivers:
                    drivers.append(posixpath.basename(link))
                if dev_class in ("", "00"):
                    dev_class = _read(runner, f"{USB_ROOT}/{iface}/bInterfaceClass") or dev_class
        driver = drivers[0] if drivers else ""
        module = _module_of(runner, f"{USB_ROOT}/{name}:1.0", driver) if driver else None
        version, origin = (
            _module_version(runner, module, kernel, cache)
            if module
            else ((kernel, "builtin") if driver else (None, None))
        )
        product = _read(runner, f"{path}/product")
        manufacturer = _read(runner, f"{path}/manufacturer")
        category = USB_CLASSES.get(dev_class.lower(), "USB")
        out.append(
            InstalledDriver(
                device=product or f"USB device [{vid}:{pid}]",
                hardware_id=hwid,
                vendor=manufacturer or vendor_name(vid),
                category=category,
                driver=", ".join(drivers),
                installed_version=version,
                kind="driver" if drivers else "device",
                details={"port": name, "bus": "usb", "module": module, "drivers": drivers, "version_origin": origin},
            )
        )
    return out


def inventory(runner: CommandRunner) -> tuple[list[InstalledDriver], list[SourceStatus]]:
    statuses: list[SourceStatus] = []
    lspci = runner.run(list(LSPCI), timeout=20)
    records: list[dict[str, Any]] = []
    if lspci.ok:
        records = parse_lspci_vmm(lspci.stdout)
        statuses.append(SourceStatus("lspci", "ok", count=len(records)))
    else:
        statuses.append(SourceStatus("lspci", "unavailable", command_problem(lspci, "lspci")[1]))
    items = pci_devices(runner, records)
    if not items and records:  # no sysfs (container, snapshot from capture.sh): lspci alone
        kernel = _kernel_release(runner)
        for rec in records:
            hwid = from_pci(
                rec.get("Vendor"), rec.get("Device"), rec.get("SVendor"), rec.get("SDevice"), rec.get("Rev")
            )
            if hwid:
                mods = rec.get("Module") or []
                items.append(
                    InstalledDriver(
                        device=rec.get("Device_name") or f"PCI device [{rec.get('Vendor')}:{rec.get('Device')}]",
                        hardware_id=hwid,
                        vendor=rec.get("Vendor_name") or vendor_name(rec.get("Vendor")),
                        category=rec.get("Class_name") or _category_from_class(rec.get("Class")),
                        driver=rec.get("Driver", ""),
                        installed_version=kernel if rec.get("Driver") else None,
                        kind="driver" if rec.get("Driver") else "device",
                        details={"slot": rec["Slot"], "bus": "pci", "modules": mods, "version_origin": "kernel"},
                    )
                )
    statuses.append(_sysfs_status(runner, "sysfs-pci", PCI_ROOT, sum(1 for i in items if i.details.get("bus") == "pci")))
    usb = usb_devices(runner)
    items.extend(usb)
    statuses.append(_sysfs_status(runner, "sysfs-usb", USB_ROOT, len(usb)))
    fw = runner.run(list(FWUPD_DEVICES), timeout=60)
    status, devices = _fwupd_status("fwupd-devices", fw)
    statuses.append(status)
    items.extend(fwupd_installed(devices))
    return items, statuses


def _sysfs_status(runner: CommandRunner, name: str, root: str, count: int) -> SourceStatus:
    """A sysfs tree as a source: ok, or unavailable and why (not in the snapshot, or not readable here)."""
    if runner.list_dir(root) is not None:
        return SourceStatus(name, "ok", count=count)
    if isinstance(runner, ReplayRunner) and not runner.recorded("dir", root):
        return SourceStatus(name, "unavailable", msg("{p} ist nicht im Snapshot", "{p} is not in the snapshot", p=root))
    return SourceStatus(name, "unavailable", msg("{p} nicht lesbar (kein sysfs, z.B. in einem Container)",
                                                 "{p} cannot be read (no sysfs, e.g. in a container)", p=root))


def _fwupd_status(name: str, result) -> tuple[SourceStatus, list[dict[str, Any]]]:
    if result.returncode == 2:  # fwupd: nothing to do
        return SourceStatus(name, "ok", msg("nichts zu tun", "nothing to do")), []
    if result.error:
        return SourceStatus(name, "unavailable", command_problem(result, "fwupdmgr")[1]), []
    if not result.ok:
        said = fwupd_error(result.stdout)  # --json prints errors as a JSON object on stdout
        detail = [said] if said else (result.stderr or result.stdout or "").strip().splitlines()
        why = msg("fwupdmgr meldet: {d}", "fwupdmgr says: {d}", d=detail[-1][:200]) if detail else \
            msg("fwupdmgr ist fehlgeschlagen (Exit {c})", "fwupdmgr failed (exit {c})", c=result.returncode)
        return SourceStatus(name, "error", why), []
    try:
        devices = parse_fwupd(result.stdout)
    except (ValueError, AttributeError) as exc:
        return SourceStatus(name, "error", msg("unlesbares JSON: {e}", "unreadable JSON: {e}", e=exc)), []
    return SourceStatus(name, "ok", count=len(devices)), devices


def update_offers(runner: CommandRunner) -> tuple[list[UpdateOffer], list[SourceStatus]]:
    result = runner.run(list(FWUPD_UPDATES), timeout=120)
    status, devices = _fwupd_status("fwupd", result)
    offers = fwupd_offers(devices)
    status.count = len(offers)
    return offers, [status]
