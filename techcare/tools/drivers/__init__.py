"""Driver management: inventory on Windows/macOS/Linux, update sources (Windows Update, Apple softwareupdate,
fwupd, the custom database), a DataFrame, a report and diagnosis findings.

Public API (everything goes through a :class:`~techcare.system.runner.CommandRunner`; ``snapshot=`` replays
a snapshot file like ``diagnose``):

- :func:`drivers` -> DataFrame of every installed driver with its best update (columns :data:`COLUMNS`)
- :func:`driver_updates` -> DataFrame of the available updates, most important first
- :func:`report` -> :class:`DriverReport` (rich rendering, ``to_dict``, ``_repr_html_``)
- :func:`inventory`, :func:`capture`, :func:`driver_findings`, :func:`main` (CLI)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import COLUMNS, DriverReport, build_report, capture, match, update_offers
from .core import inventory as _inventory
from .database import DriverDatabase, load_database, parse_database, user_database_path
from .hwids import candidates, normalise_hardware_id
from .records import InstalledDriver, SourceStatus, UpdateOffer, default_importance
from .versions import compare_versions, parse_date

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ...diagnosis import Finding
    from ...system.runner import CommandRunner

__all__ = [
    "COLUMNS",
    "DriverDatabase",
    "DriverReport",
    "InstalledDriver",
    "SourceStatus",
    "UpdateOffer",
    "candidates",
    "capture",
    "compare_versions",
    "default_importance",
    "driver_findings",
    "driver_updates",
    "drivers",
    "inventory",
    "load_database",
    "main",
    "match",
    "normalise_hardware_id",
    "parse_database",
    "parse_date",
    "report",
    "update_offers",
    "user_database_path",
]


def inventory(runner: CommandRunner) -> list[InstalledDriver]:
    """The installed drivers of the machine ``runner`` talks to (read-only)."""
    return _inventory(runner)[0]


def report(snapshot: Any = None, runner: CommandRunner | None = None) -> DriverReport:
    return build_report(snapshot=snapshot, runner=runner)


def _with_attrs(frame: pd.DataFrame, rep: DriverReport) -> pd.DataFrame:
    frame.attrs["stats"] = rep.stats()
    frame.attrs["sources"] = [s.to_dict() for s in rep.sources]
    frame.attrs["database_problems"] = [str(p) for p in rep.problems]
    return frame


def drivers(snapshot: Any = None, runner: CommandRunner | None = None) -> pd.DataFrame:
    """Every installed driver with its best known update (``status``: outdated/current/unknown/no_data) plus
    updates that match no installed driver (``status="available"``). Statistics in ``frame.attrs``."""
    rep = build_report(snapshot=snapshot, runner=runner)
    return _with_attrs(rep.frame(), rep)


def driver_updates(snapshot: Any = None, runner: CommandRunner | None = None) -> pd.DataFrame:
    """Only the available updates, CRITICAL first."""
    rep = build_report(snapshot=snapshot, runner=runner)
    return _with_attrs(rep.frame(rep.updates), rep)


def driver_findings(
    runner: CommandRunner | None = None, *, report: DriverReport | None = None, use_sources: bool = True
) -> list[Finding]:
    """Findings for ``diagnose()`` (area ``drivers``): one per outdated driver whose update is CRITICAL
    (``critical``; ``warning`` when only the release date says it is newer) with the repair
    ``drivers.install_update`` and its ``repair_params``; otherwise one ``ok``/``unknown`` summary finding.
    ``use_sources=False`` skips the OS update sources (a Windows Update search can take minutes) and uses
    only the custom database. Never raises."""
    from ...diagnosis import Finding
    from ...i18n import tr

    try:
        rep = report if report is not None else build_report(runner=runner, use_sources=use_sources)
    except Exception as exc:  # noqa: BLE001 - a broken database or source must not break the diagnosis
        return [
            Finding(
                "drivers",
                "drivers",
                "unknown",
                f"Treiberprüfung nicht möglich: {exc}",
                f"Driver check not possible: {exc}",
                evidence={"error": str(exc)},
                probe="drivers",
            )
        ]
    findings: list[Finding] = []
    for row in rep.updates:
        if row.importance != "CRITICAL" or row.offer is None:
            continue
        data = row.to_dict()
        hwid = data["hardware_id"] or ""
        params = {"source": row.offer.source, "update_id": row.update_id, "hardware_id": hwid}
        severity = "warning" if row.basis == "date" else "critical"
        current = data["installed_version"] or "?"
        latest = data["latest_version"] or "?"
        device = data["device"]
        findings.append(
            Finding(
                check=f"driver_update:{hwid or row.update_id}",
                area="drivers",
                severity=severity,
                summary_de=f"Kritisches Treiber-Update für {device}: {current} -> {latest} ({row.offer.source})",
                summary_en=f"Critical driver update for {device}: {current} -> {latest} ({row.offer.source})",
                evidence={
                    k: data[k]
                    for k in (
                        "device",
                        "hardware_id",
                        "installed_version",
                        "latest_version",
                        "importance",
                        "source",
                        "status",
                        "basis",
                        "note",
                        "install_hint",
                        "download_url",
                    )
                },
                repairs=["drivers.install_update"],
                repair_params={"drivers.install_update": params},
                probe="drivers",
            )
        )
    if findings:
        return findings
    stats = rep.stats()
    if stats["installed"] == 0 and not any(s.status == "ok" for s in rep.sources if s.name != "custom_db"):
        reasons = "; ".join(f"{s.name}: {s.detail or s.status}" for s in rep.sources if s.status != "ok")
        return [
            Finding(
                "drivers",
                "drivers",
                "unknown",
                f"Treiber-Inventar nicht lesbar ({reasons}).",
                f"Driver inventory could not be read ({reasons}).",
                evidence={"sources": reasons},
                probe="drivers",
            )
        ]
    return [
        Finding(
            "drivers",
            "drivers",
            "ok",
            tr(
                "{i} Treiber, {o} veraltet, keine kritischen Updates.",
                "{i} drivers, {o} outdated, no critical updates.",
                "de",
                i=stats["installed"],
                o=stats["outdated"],
            ),
            tr(
                "{i} Treiber, {o} veraltet, keine kritischen Updates.",
                "{i} drivers, {o} outdated, no critical updates.",
                "en",
                i=stats["installed"],
                o=stats["outdated"],
            ),
            evidence=stats,
            probe="drivers",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    from .driver_manager import main as _main

    return _main(argv)
