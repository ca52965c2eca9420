"""Typed records the per-OS parsers return and the matcher consumes.

Importance (``CRITICAL`` / ``RECOMMENDED`` / ``OPTIONAL``) comes from the source when it says something:

- Windows Update ``MsrcSeverity``: Critical, Important -> CRITICAL; Moderate, Low -> RECOMMENDED.
- fwupd release ``Urgency``: critical, high -> CRITICAL; medium -> RECOMMENDED; low -> OPTIONAL;
  a release that lists security ``Issues`` (CVEs) is CRITICAL.
- Apple ``softwareupdate``: a recommended update that needs a restart/shut down -> CRITICAL (macOS security
  and firmware updates are shipped this way), other recommended -> RECOMMENDED, the rest OPTIONAL.
- Custom database: the entry's ``importance`` field.

Default rule when the source is silent (:func:`default_importance`): drivers of the classes whose bugs take
a PC down or open it to attack - display/graphics, network, storage, firmware/BIOS/chipset - are
RECOMMENDED; everything else (audio, printers, input, cameras, ...) is OPTIONAL. Nothing becomes CRITICAL
without a source saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ...i18n import Message, localize, tr

__all__ = ["IMPORTANCES", "InstalledDriver", "SourceStatus", "UpdateOffer", "default_importance", "importance_rank"]

IMPORTANCES = ("CRITICAL", "RECOMMENDED", "OPTIONAL")
SOURCES = ("windows_update", "apple", "fwupd", "custom_db")
_RECOMMENDED_CATEGORIES = {
    "display",
    "graphics",
    "gpu",
    "net",
    "network",
    "ethernet",
    "wireless",
    "wlan",
    "wifi",
    "storage",
    "scsiadapter",
    "hdc",
    "nvme",
    "disk",
    "diskdrive",
    "firmware",
    "bios",
    "uefi",
    "system",
    "chipset",
    "bluetooth",
    "security",
    "mass storage",
}


def importance_rank(value: str | None) -> int:
    return {"CRITICAL": 0, "RECOMMENDED": 1, "OPTIONAL": 2}.get(value or "", 3)


def default_importance(category: str | None) -> str:
    """The documented default when the update source says nothing about importance."""
    text = (category or "").strip().lower()
    if text in _RECOMMENDED_CATEGORIES or any(
        word in text
        for word in ("display", "graphic", "network", "storage", "firmware", "ethernet", "wireless", "nvme")
    ):
        return "RECOMMENDED"
    return "OPTIONAL"


@dataclass
class InstalledDriver:
    """One installed driver / kernel module / firmware / extension."""

    device: str
    hardware_id: str | None  # normalised, most specific form
    vendor: str = ""
    category: str = ""
    driver: str = ""  # inf name, kernel module, bundle id
    installed_version: str | None = None
    driver_date: date | None = None
    kind: str = "driver"  # driver | firmware | extension | device (no driver bound)
    inbox: bool = False  # Windows inbox driver (dated 2006-06-21): never outdated by date
    signed: bool | None = None
    match_ids: list[str] = field(default_factory=list)  # extra keys an offer may use (fwupd device id, GUIDs)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class UpdateOffer:
    """An update one source offers for a hardware id (or for the system, like an Apple update)."""

    source: str  # windows_update | apple | fwupd | custom_db
    name: str
    hardware_id: str | None  # normalised; None: not tied to one device (Apple)
    latest_version: str | None
    vendor: str = ""
    category: str = ""
    release_date: date | None = None
    importance: str | None = None  # None: use the default rule
    download_url: str = ""
    update_id: str = ""
    notes: str = ""
    installed_version: str | None = None  # when the source itself knows it (fwupd, Apple never)
    source_says_newer: bool = False  # the source compared versions itself (WU, softwareupdate, fwupd)
    details: dict[str, Any] = field(default_factory=dict)

    def install_hint(self) -> str:
        if self.source == "windows_update":
            return tr("Über Windows Update installieren", "Install via Windows Update")
        if self.source == "apple":
            label = self.update_id or self.name
            return tr(
                'softwareupdate -i "{l}" (oder Systemeinstellungen > Softwareupdate)',
                'softwareupdate -i "{l}" (or System Settings > Software Update)',
                l=label,
            )
        if self.source == "fwupd":
            return tr("fwupdmgr update {d}", "fwupdmgr update {d}", d=self.update_id).strip()
        package = self.details.get("package") if self.source == "custom_db" else None
        if package:
            return tr("Herstellerpaket {p} (Reparatur drivers.install_vendor_package, SHA-256 geprüft)",
                      "Vendor package {p} (repair drivers.install_vendor_package, SHA-256 checked)",
                      p=package["package"])
        if self.download_url:
            return tr("Vom Hersteller herunterladen: {u}", "Download from the vendor: {u}", u=self.download_url)
        return tr("Beim Hersteller beziehen", "Get it from the vendor")


@dataclass
class SourceStatus:
    """Whether a source / inventory step could be read, and why not."""

    name: str
    status: str  # ok | unavailable | error | skipped
    detail: Message | str = ""  # why (German and English); a plain str is data (a path list)
    count: int = 0

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """``detail`` in ``lang`` (default: the active language) and in both languages beside it."""
        detail = self.detail
        return {"name": self.name, "status": self.status, "detail": localize(detail, lang),
                "detail_de": localize(detail, "de"), "detail_en": localize(detail, "en"), "count": self.count}
