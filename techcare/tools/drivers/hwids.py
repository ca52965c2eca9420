"""One normalised hardware id across Windows, Linux and macOS.

Windows reports ``PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1``, Linux sysfs/lspci ``10de:2206`` with the
subsystem ``1462:3897`` and revision ``a1``; both become ``PCI\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1``
(Windows order: ``SUBSYS_<subsystem device><subsystem vendor>``). USB ids become ``USB\\VID_046D&PID_C52B``,
HD-audio ids keep their ``FUNC``/``VEN``/``DEV`` parts, anything else (ACPI, ROOT, fwupd, kext bundle ids) is
upper-cased as is.

Matching goes from the most specific form to the least specific one (:func:`candidates`): an entry for
``...&SUBSYS_38971462`` applies only to that board, an entry for ``PCI\\VEN_10DE&DEV_2206`` to every board
with that chip, whatever its ``SUBSYS``/``REV``.
"""

from __future__ import annotations

import re

__all__ = ["candidates", "from_pci", "from_usb", "normalise_hardware_id", "vendor_name"]

_PCI_PARTS = ("VEN", "DEV", "SUBSYS", "REV")
_USB_PARTS = ("VID", "PID", "REV")
_HDA_PARTS = ("FUNC", "VEN", "DEV", "SUBSYS", "REV")
_PART_RE = re.compile(r"^([A-Z]+)_([0-9A-Z]+)$")
_LINUX_PAIR = re.compile(r"^(?:0x)?([0-9a-fA-F]{4}):(?:0x)?([0-9a-fA-F]{4})$")

#: Well-known PCI/USB vendor ids (shown when no name database such as pci.ids is available).
VENDORS = {
    "8086": "Intel",
    "10DE": "NVIDIA",
    "1002": "AMD",
    "1022": "AMD",
    "10EC": "Realtek",
    "14E4": "Broadcom",
    "168C": "Qualcomm Atheros",
    "17CB": "Qualcomm",
    "1B4B": "Marvell",
    "144D": "Samsung",
    "15B7": "Sandisk",
    "1AF4": "Red Hat (virtio)",
    "15AD": "VMware",
    "80EE": "VirtualBox",
    "1414": "Microsoft",
    "106B": "Apple",
    "1969": "Qualcomm Atheros",
    "11AB": "Marvell",
    "1217": "O2 Micro",
    "1180": "Ricoh",
    "1912": "Renesas",
    "1B21": "ASMedia",
    "1D6A": "Aquantia",
    "1C5C": "SK hynix",
    "126F": "Silicon Motion",
    "2646": "Kingston",
    "046D": "Logitech",
    "045E": "Microsoft",
    "05AC": "Apple",
    "0BDA": "Realtek",
    "8087": "Intel",
    "1D6B": "Linux Foundation",
    "0A5C": "Broadcom",
    "04F2": "Chicony",
    "0C45": "Microdia",
    "273F": "Hughski",
}


def vendor_name(vendor_id: str | None) -> str:
    if not vendor_id:
        return ""
    key = vendor_id.upper().removeprefix("0X")
    return VENDORS.get(key[-4:].rjust(4, "0"), "")


def _parts(body: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for piece in body.split("&"):
        match = _PART_RE.match(piece)
        if match and match.group(1) not in out:
            out[match.group(1)] = match.group(2)
    return out


def _compose(bus: str, order: tuple[str, ...], parts: dict[str, str]) -> str:
    return bus + "\\" + "&".join(f"{k}_{parts[k]}" for k in order if k in parts)


def normalise_hardware_id(value: str | None) -> str | None:
    """The canonical form of a hardware id from any OS, or ``None`` for an empty value.

    >>> normalise_hardware_id("pci\\\\ven_10de&dev_2206&subsys_38971462&rev_a1")
    'PCI\\\\VEN_10DE&DEV_2206&SUBSYS_38971462&REV_A1'
    >>> normalise_hardware_id("10de:2206")
    'PCI\\\\VEN_10DE&DEV_2206'
    """
    if value is None:
        return None
    text = str(value).strip().strip("\x00")
    if not text:
        return None
    pair = _LINUX_PAIR.match(text)
    if pair:
        return from_pci(pair.group(1), pair.group(2))
    upper = text.upper().replace("/", "\\")
    if "\\" not in upper:
        return upper
    bus, _, body = upper.partition("\\")
    if bus == "PCI":
        parts = _parts(body)
        if "VEN" in parts and "DEV" in parts:
            if "SUBSYS" in parts:
                parts["SUBSYS"] = parts["SUBSYS"].rjust(8, "0")[-8:]
            return _compose("PCI", _PCI_PARTS, parts)
    elif bus in ("USB", "HID"):
        parts = _parts(body)
        if "VID" in parts and "PID" in parts:
            return _compose("USB", _USB_PARTS, parts)
    elif bus == "HDAUDIO":
        parts = _parts(body)
        if "VEN" in parts and "DEV" in parts:
            return _compose("HDAUDIO", _HDA_PARTS, parts)
    return upper


def _hex4(value: str | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        return f"{value:04X}"
    text = str(value).strip().lower().removeprefix("0x")
    if not text or not re.fullmatch(r"[0-9a-f]+", text):
        return None
    return text.upper().rjust(4, "0")[-4:]


def from_pci(
    vendor: str | None,
    device: str | None,
    subsystem_vendor: str | None = None,
    subsystem_device: str | None = None,
    revision: str | None = None,
) -> str | None:
    """Linux PCI ids (``0x10de``/``10de`` ...) -> ``PCI\\VEN_10DE&DEV_2206[&SUBSYS_ddddvvvv][&REV_rr]``."""
    ven, dev = _hex4(vendor), _hex4(device)
    if not ven or not dev:
        return None
    parts = {"VEN": ven, "DEV": dev}
    sven, sdev = _hex4(subsystem_vendor), _hex4(subsystem_device)
    if sven and sdev and not (sven == "0000" and sdev == "0000"):
        parts["SUBSYS"] = sdev + sven
    if revision:
        rev = str(revision).strip().lower().removeprefix("0x")
        if re.fullmatch(r"[0-9a-f]{1,2}", rev):
            parts["REV"] = rev.upper().rjust(2, "0")
    return _compose("PCI", _PCI_PARTS, parts)


def from_usb(vendor: str | None, product: str | None, bcd_device: str | None = None) -> str | None:
    vid, pid = _hex4(vendor), _hex4(product)
    if not vid or not pid:
        return None
    parts = {"VID": vid, "PID": pid}
    if bcd_device and re.fullmatch(r"[0-9a-fA-F]{1,4}", bcd_device.strip()):
        parts["REV"] = bcd_device.strip().upper().rjust(4, "0")
    return _compose("USB", _USB_PARTS, parts)


def candidates(hardware_id: str | None) -> list[str]:
    """Normalised forms of one id, most specific first (what a database entry may be keyed by).

    ``PCI\\VEN_A&DEV_B&SUBSYS_C&REV_D`` -> ``[full, VEN&DEV&SUBSYS, VEN&DEV&REV, VEN&DEV]``.
    """
    norm = normalise_hardware_id(hardware_id)
    if not norm:
        return []
    bus, _, body = norm.partition("\\")
    if not body:
        return [norm]
    parts = _parts(body)
    order = {"PCI": _PCI_PARTS, "USB": _USB_PARTS, "HDAUDIO": _HDA_PARTS}.get(bus)
    if order is None:
        return [norm]
    base = [k for k in order if k not in ("SUBSYS", "REV")]
    optional = [k for k in ("SUBSYS", "REV") if k in parts]
    subsets: list[list[str]] = []
    if len(optional) == 2:
        subsets = [optional, ["SUBSYS"], ["REV"], []]
    elif len(optional) == 1:
        subsets = [optional, []]
    else:
        subsets = [[]]
    out: list[str] = []
    for extra in subsets:
        keep = {k: parts[k] for k in order if k in parts and (k in base or k in extra)}
        form = _compose(bus, order, keep)
        if form not in out:
            out.append(form)
    return out
