"""``python -m techcare.tools.drivers.driver_manager``: the driver report in the product's format.

::

    📊 Statistik:
       • Installierte Treiber: 150
       • Veraltete Treiber: 3
       • Kritische Updates: 1
       • Empfohlene Updates: 2

    🔄 VERFÜGBARE UPDATES:

    🔴 1. NVIDIA GeForce RTX 3080
       Aktuell: 512.95
       Verfügbar: 528.49
       Wichtigkeit: CRITICAL
       Quelle: windows_update
       Installation: Install via Windows Update

``--json`` prints ``{stats, updates, drivers, sources, database_problems}``, ``--csv`` the drivers table,
``--snapshot FILE`` works from a snapshot like the diagnosis, ``--all`` also lists every installed driver.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from ...i18n import set_language, tr
from .render import render

__all__ = ["build_parser", "main", "render"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m techcare.tools.drivers.driver_manager",
        description=tr(
            "Treiber-Inventar und Updates (Windows Update, Apple, fwupd, eigene Datenbank).",
            "Driver inventory and updates (Windows Update, Apple, fwupd, custom database).",
        ),
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help=tr("JSON ausgeben", "print JSON"))
    out.add_argument(
        "--csv", action="store_true", help=tr("Treiber-Tabelle als CSV ausgeben", "print the drivers table as CSV")
    )
    parser.add_argument(
        "--snapshot",
        metavar="FILE",
        help=tr("einen Snapshot auswerten statt dieses Rechners", "analyse a snapshot instead of this machine"),
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help=tr("auch alle installierten Treiber auflisten", "also list every installed driver"),
    )
    parser.add_argument(
        "--updates-only",
        action="store_true",
        help=tr("bei --csv/--json nur Updates", "with --csv/--json: updates only"),
    )
    parser.add_argument(
        "--no-sources",
        action="store_true",
        help=tr(
            "nur die eigene Datenbank abfragen (kein Windows Update/softwareupdate/fwupd)",
            "only the custom database (no Windows Update/softwareupdate/fwupd)",
        ),
    )
    parser.add_argument("--lang", choices=["de", "en"], help=tr("Sprache", "language"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry (also ``techcare drivers``). Exit 0 ok, 1 TechCare error, 2 usage."""
    from ...errors import TechCareError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.lang:
        set_language(args.lang)
    try:
        from .core import build_report

        report = build_report(snapshot=args.snapshot, use_sources=not args.no_sources)
    except TechCareError as exc:
        print(f"✖ {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        data = report.to_dict()
        if args.updates_only:
            data.pop("drivers")
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return 0
    if args.csv:
        frame = report.frame(report.updates if args.updates_only else None)
        sys.stdout.write(frame.to_csv(index=False))
        return 0
    from rich.console import Console

    Console(highlight=False).print(render(report, show_all=args.all))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
