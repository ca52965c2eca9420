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

from ...i18n import LANGUAGES, set_language, tr
from ...i18n_argparse import Parser
from .render import render

__all__ = ["build_parser", "main", "render"]


def build_parser() -> argparse.ArgumentParser:
    """The parser, its texts in the active language (``TECHCARE_LANG``; ``main`` follows ``--lang`` too)."""
    parser = Parser(
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
    parser.add_argument("--lang", choices=["de", "en"], help=tr("Sprache der Ausgabe (und dieser Hilfe)",
                                                                "language of the output (and of this help)"))
    return parser


def _lang_option(argv: Sequence[str]) -> str | None:
    """The value of ``--lang`` in ``argv`` when it is a language, before the parser is built."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--lang" and i + 1 < len(argv) else arg.removeprefix("--lang=")
        if (arg == "--lang" or arg.startswith("--lang=")) and value in LANGUAGES:
            return value
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry (also ``techcare drivers``). Exit 0 ok, 1 TechCare error, 2 usage."""
    from ...errors import TechCareError

    argv = list(sys.argv[1:] if argv is None else argv)
    if lang := _lang_option(argv):
        set_language(lang)
    args = build_parser().parse_args(argv)
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
