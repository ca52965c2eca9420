"""Driver management: inventory on Windows/macOS/Linux, update sources (Windows Update, Apple softwareupdate,
fwupd, the custom database), a DataFrame and a report (the diagnosis turns it into findings:
:func:`techcare.diagnosis.driver_findings`).

Public API (everything goes through a :class:`~techcare.system.runner.CommandRunner`; ``snapshot=`` replays
a snapshot file like ``diagnose``):

- :func:`drivers` -> DataFrame of every installed driver with its best update (columns :data:`COLUMNS`)
- :func:`driver_updates` -> DataFrame of the available updates, most important first
- :func:`report` -> :class:`DriverReport` (rich rendering, ``to_dict``, ``_repr_html_``)
- :func:`inventory`, :func:`capture` (for snapshots), :func:`main` (CLI)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import COLUMNS, DriverReport, build_report, capture, match, repair_for, update_offers
from .core import inventory as _inventory
from .database import DriverDatabase, load_database, parse_database, user_database_path
from .hwids import candidates, normalise_hardware_id
from .records import InstalledDriver, SourceStatus, UpdateOffer, default_importance
from .versions import compare_versions, parse_date

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

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
    "driver_updates",
    "drivers",
    "inventory",
    "load_database",
    "main",
    "match",
    "normalise_hardware_id",
    "parse_database",
    "parse_date",
    "repair_for",
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
    # update_id -> {"action", "params"}: the catalogue repair that installs that update (rows without one: absent)
    frame.attrs["repairs"] = {
        r.update_id: {"action": found[0], "params": found[1]} for r in rep.updates if (found := repair_for(r))
    }
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


def main(argv: list[str] | None = None) -> int:
    from .driver_manager import main as _main

    return _main(argv)
