"""The driver report as the product shows it (rich): statistics, the available updates, what could not be
compared, and problems of the sources and the database. ``DriverReport.__rich__`` and the CLI
(:mod:`.driver_manager`) both render through :func:`render`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...i18n import Message, msg, tr

if TYPE_CHECKING:  # pragma: no cover
    from .core import DriverReport
    from .records import SourceStatus

__all__ = ["render", "source_name", "source_problem"]

_ICON = {"CRITICAL": "🔴", "RECOMMENDED": "🟡", "OPTIONAL": "🟢"}
_STYLE = {"CRITICAL": "bold red", "RECOMMENDED": "yellow", "OPTIONAL": "green"}
_IMPORTANCE = {"CRITICAL": ("KRITISCH", "CRITICAL"), "RECOMMENDED": ("EMPFOHLEN", "RECOMMENDED"),
               "OPTIONAL": ("OPTIONAL", "OPTIONAL")}
_SOURCES = {"windows_update": ("Windows Update", "Windows Update"), "apple": ("Apple-Softwareaktualisierung",
            "Apple software update"), "fwupd": ("fwupd (LVFS)", "fwupd (LVFS)"),
            "custom_db": ("eigene Treiberdatenbank", "custom driver database")}
_STATUS = {"outdated": ("veraltet", "outdated"), "current": ("aktuell", "current"), "unknown": ("unbekannt", "unknown"),
           "no_data": ("keine Daten", "no data"), "available": ("verfügbar", "available")}


def source_name(code: str | None) -> Message:
    """An update source id (``windows_update``, ``apple``, ``fwupd``, ``custom_db``) as people name it."""
    de, en = _SOURCES.get(code or "", (code or "?", code or "?"))
    return Message(de, en)


def _word(table: dict[str, tuple[str, str]], code: str | None) -> str:
    """A code of the driver records (importance, source, status) as the reader says it; unknown codes as written."""
    de, en = table.get(code or "", (code or "", code or ""))
    return tr(de, en)


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


_SOURCE_STATES = {"unavailable": ("nicht verfügbar", "unavailable"), "error": ("Fehler", "error"),
                  "skipped": ("übersprungen", "skipped"), "ok": ("ok", "ok")}


def source_problem(status: SourceStatus) -> Message:
    """``name: state – why`` of a driver source in German and English (``lspci: nicht verfügbar – lspci ist
    nicht installiert``); the state alone when the source gave no reason."""
    de, en = _SOURCE_STATES.get(status.status, (status.status, status.status))
    said = msg("{n}: {s}", "{n}: {s}", n=status.name, s=Message(de, en))
    if not status.detail:
        return said
    detail = status.detail if isinstance(status.detail, Message) else Message.data(str(status.detail))
    return said + " – " + detail


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
                tr("   Wichtigkeit: {v}", "   Importance: {v}", v=_word(_IMPORTANCE, imp)),
                tr("   Quelle: {v}", "   Source: {v}", v=escape(_word(_SOURCES, data["source"]))),
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
        for status in bad:
            parts.append(Text(f"   • {source_problem(status)}"))
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
                _word(_STATUS, d["status"]),
            )
        parts.append(table)
    return Group(*parts)
