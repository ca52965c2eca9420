"""Inventory + update sources -> matched rows -> :class:`DriverReport` (DataFrame, rich report, JSON, findings).

Matching is an index lookup: offers are indexed by their normalised hardware id, each installed driver looks
up its id from the most specific form to the least specific (``SUBSYS``/``REV`` dropped, see
:func:`.hwids.candidates`) plus its extra keys (fwupd device id). Per source the most specific hit wins.

Status of an installed driver against an offer:

- ``outdated``: the installed version is older (``basis="version"``); or versions cannot be compared but
  the source itself compared them and offers the update (Windows Update, fwupd, ``basis="source"``); or
  neither is possible and the offer's release date is newer than the driver date (``basis="date"``) -
  never for Windows inbox drivers (dated 2006-06-21).
- ``current``: installed is the same or newer.
- ``unknown``: nothing comparable - the report says so and claims no update.
- ``no_data``: no source knows this device.
Offers no installed driver matched (Apple updates, Windows Update drivers for absent inventory rows) are
listed as ``available``.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ...i18n import tr
from ...system import runner_for
from ...system.runner import CommandRunner
from ...system.snapshot import Snapshot
from .database import DatabaseProblem, DriverDatabase, load_database
from .hwids import candidates
from .records import InstalledDriver, SourceStatus, UpdateOffer, default_importance, importance_rank
from .versions import compare_dates, compare_versions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "COLUMNS",
    "DriverReport",
    "Row",
    "build_report",
    "capture",
    "evaluate",
    "inventory",
    "match",
    "platform_module",
    "repair_for",
    "update_offers",
]

COLUMNS = [
    "device",
    "hardware_id",
    "vendor",
    "category",
    "driver",
    "installed_version",
    "driver_date",
    "latest_version",
    "importance",
    "source",
    "install_hint",
    "download_url",
    "status",
    "basis",
    "note",
    "update_id",
    "kind",
]
_SOURCE_ORDER = {"windows_update": 0, "fwupd": 1, "apple": 2, "custom_db": 3}
_MODULES = {"linux": "._linux", "windows": "._windows", "darwin": "._macos"}


def platform_module(platform: str) -> ModuleType:
    try:
        return importlib.import_module(_MODULES[platform], __package__)
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}; known: {', '.join(_MODULES)}") from None


def inventory(runner: CommandRunner) -> tuple[list[InstalledDriver], list[SourceStatus]]:
    """Installed drivers of the machine the runner talks to, and how each inventory step went."""
    return platform_module(runner.platform).inventory(runner)


def update_offers(runner: CommandRunner) -> tuple[list[UpdateOffer], list[SourceStatus]]:
    """Updates the OS's own sources offer (Windows Update / Apple softwareupdate / fwupd)."""
    return platform_module(runner.platform).update_offers(runner)


def capture(runner: CommandRunner) -> dict[str, int]:
    """Run every driver command through ``runner`` (a RecordingRunner records them for a snapshot)."""
    items, _ = inventory(runner)
    offers, _ = update_offers(runner)
    from ...plugins._manager import driver_offers  # what the plugins' driver sources read, too

    plugin_offers, _ = driver_offers(runner)
    return {"installed": len(items), "offers": len(offers) + len(plugin_offers)}


@dataclass
class Row:
    driver: InstalledDriver | None
    offer: UpdateOffer | None
    status: str  # outdated | missing | current | unknown | no_data | no_driver | available
    basis: str = ""  # version | source | date
    note: str = ""
    raised_importance: str | None = None  # highest importance any source gave this device's update

    @property
    def importance(self) -> str | None:
        if self.offer is None:
            return None
        if self.raised_importance:
            return self.raised_importance
        return self.offer.importance or default_importance(
            self.offer.category or (self.driver.category if self.driver else "")
        )

    @property
    def is_update(self) -> bool:
        return self.status in ("outdated", "missing", "available")

    @property
    def hardware_id(self) -> str | None:
        if self.driver is not None and self.driver.hardware_id:
            return self.driver.hardware_id
        return self.offer.hardware_id if self.offer else None

    @property
    def update_id(self) -> str:
        if self.offer is None:
            return ""
        if self.offer.update_id:
            return self.offer.update_id
        return f"custom_db:{self.offer.hardware_id}:{self.offer.latest_version}"

    def to_dict(self) -> dict[str, Any]:
        d, o = self.driver, self.offer
        return {
            "device": d.device if d else (o.name if o else ""),
            "hardware_id": self.hardware_id,
            "vendor": (d.vendor if d and d.vendor else (o.vendor if o else "")),
            "category": (d.category if d and d.category else (o.category if o else "")),
            "driver": d.driver if d else "",
            "installed_version": d.installed_version if d else (o.installed_version if o else None),
            "driver_date": d.driver_date.isoformat() if d and d.driver_date else None,
            "latest_version": o.latest_version if o else None,
            "importance": self.importance,
            "source": o.source if o else None,
            "install_hint": o.install_hint() if o and self.is_update else "",
            "download_url": o.download_url if o else "",
            "status": self.status,
            "basis": self.basis,
            "note": self.note,
            "update_id": self.update_id if o else "",
            "kind": d.kind if d else "update",
        }


def evaluate(driver: InstalledDriver, offer: UpdateOffer) -> Row:
    """Compare one installed driver with one offer (see the module doc for the rules)."""
    installed = driver.installed_version or offer.installed_version
    if driver.kind == "device" and not installed:
        return Row(
            driver,
            offer,
            "missing",
            "no_driver",
            tr("Für dieses Gerät ist kein Treiber geladen.", "No driver is bound to this device."),
        )
    cmp = compare_versions(
        installed, offer.latest_version, vendor=driver.vendor or offer.vendor, hardware_id=driver.hardware_id
    )
    if cmp is not None:
        if cmp < 0:
            return Row(driver, offer, "outdated", "version")
        note = (
            ""
            if not offer.source_says_newer
            else tr(
                "{s} bietet {v} an, installiert ist bereits {i}.",
                "{s} offers {v}, {i} is already installed.",
                s=offer.source,
                v=offer.latest_version,
                i=installed,
            )
        )
        return Row(driver, offer, "current", "version", note)
    if offer.source_says_newer:
        return Row(
            driver,
            offer,
            "outdated",
            "source",
            tr(
                "Versionen nicht vergleichbar ({i} / {v}); {s} meldet das Update als neuer.",
                "Versions not comparable ({i} / {v}); {s} reports the update as newer.",
                i=installed or "?",
                v=offer.latest_version or "?",
                s=offer.source,
            ),
        )
    if not driver.inbox:
        dcmp = compare_dates(driver.driver_date, offer.release_date)
        if dcmp is not None:
            return Row(
                driver,
                offer,
                "outdated" if dcmp < 0 else "current",
                "date",
                tr(
                    "Versionen nicht vergleichbar ({i} / {v}); verglichen nach Datum ({di} / {dv}).",
                    "Versions not comparable ({i} / {v}); compared by date ({di} / {dv}).",
                    i=installed or "?",
                    v=offer.latest_version or "?",
                    di=driver.driver_date,
                    dv=offer.release_date,
                ),
            )
    return Row(
        driver,
        offer,
        "unknown",
        "",
        tr(
            "Versionen nicht vergleichbar ({i} / {v}) - kein Update behauptet.",
            "Versions not comparable ({i} / {v}) - no update claimed.",
            i=installed or "?",
            v=offer.latest_version or "?",
        ),
    )


#: Update sources whose updates ``drivers.install_update`` installs through the OS's own channel.
OS_SOURCES = ("windows_update", "fwupd", "apple")
INSTALL_UPDATE = "drivers.install_update"
INSTALL_VENDOR_PACKAGE = "drivers.install_vendor_package"


def repair_for(row: Row) -> tuple[str, dict[str, Any]] | None:
    """The catalogue repair (action id, parameters) that installs this row's update, or ``None`` when there is
    none: an OS source's update goes through ``drivers.install_update``; an own-database entry only when it
    names a vendor package with its SHA-256 (``drivers.install_vendor_package``) - otherwise the technician
    gets it from the vendor (``install_hint``)."""
    offer = row.offer
    if offer is None or not row.is_update:
        return None
    if offer.source in OS_SOURCES:
        return INSTALL_UPDATE, {"source": offer.source, "update_id": row.update_id,
                                "hardware_id": row.hardware_id or ""}
    package = offer.details.get("package") if offer.source == "custom_db" else None
    if not package or not offer.hardware_id or not offer.latest_version:
        return None
    return INSTALL_VENDOR_PACKAGE, {"hardware_id": offer.hardware_id, "version": offer.latest_version,
                                    "package": package["package"], "sha256": package["sha256"],
                                    "install_args": package.get("install_args") or ""}


def _repair_dict(row: Row) -> dict[str, Any] | None:
    found = repair_for(row)
    return {"action": found[0], "params": found[1]} if found else None


_STATUS_RANK = {
    "outdated": 0,
    "missing": 0,
    "current": 1,
    "unknown": 2,
}  # for non-outdated: a definite answer beats "unknown"


def match(installed: list[InstalledDriver], offers: list[UpdateOffer]) -> list[Row]:
    """One row per installed driver (its best offer) + one per offer that matched nothing."""
    index: dict[str, list[UpdateOffer]] = {}
    for offer in offers:
        if offer.hardware_id:
            index.setdefault(offer.hardware_id, []).append(offer)
    used: set[int] = set()
    rows: list[Row] = []
    for driver in installed:
        keys = candidates(driver.hardware_id) + [k for k in driver.match_ids if k]
        per_source: dict[str, UpdateOffer] = {}
        for key in keys:
            for offer in index.get(key, ()):
                per_source.setdefault(offer.source, offer)
        if not per_source:
            rows.append(Row(driver, None, "no_driver" if driver.kind == "device" else "no_data"))
            continue
        evaluated = [evaluate(driver, offer) for offer in per_source.values()]
        for offer in per_source.values():
            used.add(id(offer))
        outdated = [r for r in evaluated if r.status in ("outdated", "missing")]
        if outdated:
            # install through the OS's own channel when it has the update; importance is the highest any source gave
            best = min(
                outdated,
                key=lambda r: (_SOURCE_ORDER.get(r.offer.source, 9), {"version": 0, "source": 1}.get(r.basis, 2)),
            )
            best.raised_importance = min((r.importance for r in outdated), key=importance_rank)
        else:
            best = min(evaluated, key=lambda r: (_STATUS_RANK[r.status], _SOURCE_ORDER.get(r.offer.source, 9)))
        rows.append(best)
    for offer in offers:
        if id(offer) in used:
            continue
        if offer.source_says_newer:
            rows.append(Row(None, offer, "available", "source"))
    return rows


@dataclass
class DriverReport:
    platform: str
    rows: list[Row]
    sources: list[SourceStatus] = field(default_factory=list)
    problems: list[DatabaseProblem] = field(default_factory=list)
    duration: dict[str, float] = field(default_factory=dict)
    snapshot: str | None = None

    @property
    def installed(self) -> list[Row]:
        return [r for r in self.rows if r.driver is not None]

    @property
    def updates(self) -> list[Row]:
        return sorted(
            (r for r in self.rows if r.is_update),
            key=lambda r: (
                importance_rank(r.importance),
                r.status == "available",
                _SOURCE_ORDER.get(r.offer.source, 9),
                r.to_dict()["device"].lower(),
            ),
        )

    @property
    def not_comparable(self) -> list[Row]:
        return [r for r in self.rows if r.status == "unknown"]

    def stats(self) -> dict[str, int]:
        updates = self.updates
        return {
            "installed": sum(1 for r in self.installed if r.driver.kind != "device"),
            "outdated": sum(1 for r in self.rows if r.status == "outdated"),
            "without_driver": sum(1 for r in self.installed if r.driver.kind == "device"),
            "critical": sum(1 for r in updates if r.importance == "CRITICAL"),
            "recommended": sum(1 for r in updates if r.importance == "RECOMMENDED"),
            "optional": sum(1 for r in updates if r.importance == "OPTIONAL"),
            "not_comparable": len(self.not_comparable),
        }

    def frame(self, rows: list[Row] | None = None) -> pd.DataFrame:
        import pandas as pd

        data = [r.to_dict() for r in (self.rows if rows is None else rows)]
        return pd.DataFrame(data, columns=COLUMNS)

    def to_frame(self) -> pd.DataFrame:
        return self.frame()

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "snapshot": self.snapshot,
            "stats": self.stats(),
            # each update with the catalogue repair that installs it (null: none, e.g. an entry without a package)
            "updates": [{**r.to_dict(), "repair": _repair_dict(r)} for r in self.updates],
            "drivers": [r.to_dict() for r in self.rows],
            "sources": [s.to_dict() for s in self.sources],
            "database_problems": [p.to_dict() for p in self.problems],
            "duration": {k: round(v, 4) for k, v in self.duration.items()},
        }

    def __rich__(self):
        from .render import render

        return render(self)

    def _repr_html_(self) -> str:
        import html

        stats = self.stats()
        head = html.escape(
            tr(
                "Treiber: {i} installiert, {o} veraltet, {c} kritisch, {r} empfohlen",
                "Drivers: {i} installed, {o} outdated, {c} critical, {r} recommended",
                i=stats["installed"],
                o=stats["outdated"],
                c=stats["critical"],
                r=stats["recommended"],
            )
        )
        table = self.frame(self.updates)[
            ["device", "installed_version", "latest_version", "importance", "source", "install_hint"]
        ].to_html(index=False, escape=True)
        return f"<div class='techcare-drivers'><strong>{head}</strong>{table}</div>"


def build_report(
    snapshot: Any = None,
    runner: CommandRunner | None = None,
    *,
    database: DriverDatabase | None = None,
    use_sources: bool = True,
) -> DriverReport:
    """Inventory, update sources and the custom database, matched. Raises
    :class:`~techcare.errors.DriverDatabaseError` for a broken database file."""
    if isinstance(snapshot, Snapshot):
        snap_path = snapshot.path
    else:
        snap_path = None if snapshot is None else str(snapshot)
    runner = runner_for(snapshot, runner)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    db = database if database is not None else load_database()
    timings["database"] = time.perf_counter() - started
    started = time.perf_counter()
    installed, statuses = inventory(runner)
    timings["inventory"] = time.perf_counter() - started
    offers: list[UpdateOffer] = []
    if use_sources:
        started = time.perf_counter()
        source_offers, source_statuses = update_offers(runner)
        offers.extend(source_offers)
        statuses.extend(source_statuses)
        from ...plugins._manager import driver_offers  # the driver sources of plugins (docs/plugins.md)

        plugin_offers, plugin_statuses = driver_offers(runner)
        offers.extend(plugin_offers)
        statuses.extend(plugin_statuses)
        timings["sources"] = time.perf_counter() - started
    offers.extend(db.offers)
    statuses.append(
        SourceStatus("custom_db", "ok" if db.files else "unavailable", os.pathsep.join(db.files), count=len(db.offers))
    )
    started = time.perf_counter()
    rows = match(installed, offers)
    timings["match"] = time.perf_counter() - started
    return DriverReport(
        platform=runner.platform,
        rows=rows,
        sources=statuses,
        problems=list(db.problems),
        duration=timings,
        snapshot=snap_path,
    )
