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
from typing import TYPE_CHECKING

from ...i18n import set_language, tr

if TYPE_CHECKING:  # pragma: no cover
    from .core import DriverReport

__all__ = ["build_parser", "main", "render"]

_ICON = {"CRITICAL": "🔴", "RECOMMENDED": "🟡", "OPTIONAL": "🟢"}
_STYLE = {"CRITICAL": "bold red", "RECOMMENDED": "yellow", "OPTIONAL": "green"}


def _shown(version: str | None, data: dict) -> str:
    """NVIDIA's Windows driver version is shown as the version NVIDIA publishes: ``512.95 (31.0.15.1295)``."""
    from .versions import nvidia_display_version

    if not version:
        return "?"
    if "nvidia" in (data.get("vendor") or "").lower() or "VEN_10DE" in (data.get("hardware_id") or ""):
        display = nvidia_display_version(version)
        if display:
            return f"{display} ({version})"
    return str(version)


def render(report: DriverReport, *, show_all: bool = False):
    """A rich renderable of the report (statistics, updates, what could not be compared, source problems)."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    stats = report.stats()
    parts: list = []
    lines = [
        tr("📊 Statistik:", "📊 Statistics:"),
        tr("   • Installierte Treiber: {n}", "   • Installed drivers: {n}", n=stats["installed"]),
        tr("   • Veraltete Treiber: {n}", "   • Outdated drivers: {n}", n=stats["outdated"]),
        tr("   • Kritische Updates: {n}", "   • Critical updates: {n}", n=stats["critical"]),
        tr("   • Empfohlene Updates: {n}", "   • Recommended updates: {n}", n=stats["recommended"]),
    ]
    if stats["without_driver"]:
        lines.append(
            tr("   • Geräte ohne Treiber: {n}", "   • Devices without a driver: {n}", n=stats["without_driver"])
        )
    if stats["optional"]:
        lines.append(tr("   • Optionale Updates: {n}", "   • Optional updates: {n}", n=stats["optional"]))
    parts.append(Text("\n".join(lines) + "\n", style="bold"))
    updates = report.updates
    if updates:
        parts.append(Text(tr("🔄 VERFÜGBARE UPDATES:", "🔄 AVAILABLE UPDATES:") + "\n", style="bold"))
        for number, row in enumerate(updates, 1):
            data = row.to_dict()
            imp = data["importance"] or "OPTIONAL"
            block = [
                f"[{_STYLE[imp]}]{_ICON[imp]} {number}. {escape(data['device'])}[/]",
                tr("   Aktuell: {v}", "   Current: {v}", v=escape(_shown(data["installed_version"], data))),
                tr("   Verfügbar: {v}", "   Available: {v}", v=escape(_shown(data["latest_version"], data))),
                tr("   Wichtigkeit: {v}", "   Importance: {v}", v=imp),
                tr("   Quelle: {v}", "   Source: {v}", v=data["source"]),
                tr("   Installation: {v}", "   Installation: {v}", v=escape(data["install_hint"])),
            ]
            if data["note"]:
                block.append(tr("   Hinweis: {v}", "   Note: {v}", v=escape(data["note"])))
            parts.append(Text.from_markup("\n".join(block) + "\n"))
    else:
        parts.append(
            Text(tr("✅ Keine Treiber-Updates gefunden.", "✅ No driver updates found.") + "\n", style="green")
        )
    unknown = report.not_comparable
    if unknown:
        parts.append(
            Text(
                tr("❔ NICHT VERGLEICHBAR (kein Update behauptet):", "❔ NOT COMPARABLE (no update claimed):"),
                style="magenta",
            )
        )
        for row in unknown:
            d = row.to_dict()
            parts.append(
                Text(
                    f"   • {d['device']}: {d['installed_version'] or '?'} / {d['latest_version'] or '?'} "
                    f"({d['source']})"
                )
            )
        parts.append(Text(""))
    bad = [s for s in report.sources if s.status != "ok"]
    if bad or report.problems:
        parts.append(Text(tr("⚠️ Quellen und Datenbank:", "⚠️ Sources and database:"), style="yellow"))
        words = {
            "unavailable": tr("nicht verfügbar", "unavailable"),
            "error": tr("Fehler", "error"),
            "skipped": tr("übersprungen", "skipped"),
        }
        for status in bad:
            parts.append(
                Text(f"   • {status.name}: {words.get(status.status, status.status)} {status.detail}".rstrip())
            )
        for problem in report.problems:
            parts.append(Text(f"   • {problem}"))
        parts.append(Text(""))
    if show_all:
        table = Table(title=tr("Installierte Treiber", "Installed drivers"), show_lines=False)
        for column in (
            tr("Gerät", "Device"),
            "Hardware-ID",
            tr("Kategorie", "Category"),
            tr("Treiber", "Driver"),
            tr("Version", "Version"),
            tr("Datum", "Date"),
            "Status",
        ):
            table.add_column(column, overflow="fold")
        for row in report.installed:
            d = row.to_dict()
            table.add_row(
                d["device"],
                d["hardware_id"] or "",
                d["category"],
                d["driver"],
                d["installed_version"] or "",
                d["driver_date"] or "",
                d["status"],
            )
        parts.append(table)
    return Group(*parts)


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
