"""The plugin list as a DataFrame and as a table (``techcare plugins``, ``%techcare plugins``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..i18n import localize, tr
from . import _manager
from ._types import PluginInfo

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["COLUMNS", "frame", "infos", "render"]

COLUMNS = ["name", "version", "author", "loaded", "error", "checks", "actions", "risks", "driver_sources", "tools",
           "description", "source", "where", "sha256"]


def infos() -> list[PluginInfo]:
    """Every plugin, after the repair catalogue took their actions (so a refused action is listed too)."""
    from .. import repairs

    repairs.actions()
    return list(_manager.installed())


def _row(info: PluginInfo, lang: str | None) -> dict[str, Any]:
    data = info.to_dict(lang)
    problems = ([data["error"]] if data["error"] else []) + data["problems"]
    data["error"] = "; ".join(problems)
    return {c: data[c] for c in COLUMNS}


def frame(lang: str | None = None) -> pd.DataFrame:
    """One row per plugin: name, version, author, loaded, error (why it did not load, or which items were
    refused), its checks, actions (with ``risks`` per action), driver sources and assistant tools, where it was
    found and its content hash (what a signed remote job names)."""
    import pandas as pd

    return pd.DataFrame([_row(i, lang) for i in infos()], columns=COLUMNS)


def render(items: list[PluginInfo] | None = None, lang: str | None = None) -> Any:
    """A rich table of the plugins (what each adds, its risk levels, whether it loaded)."""
    from rich.table import Table
    from rich.text import Text

    items = infos() if items is None else items
    if not items:
        return Text(tr("Keine Plugins. Ein neues anlegen: techcare plugins new NAME (docs/plugins.md).",
                       "No plugins. Start one: techcare plugins new NAME (docs/plugins.md).", lang))
    table = Table(title=tr("Plugins ({n})", "Plugins ({n})", lang, n=len(items)), show_lines=True)
    for head in (tr("Plugin", "Plugin", lang), tr("Status", "Status", lang), tr("Fügt hinzu", "Adds", lang),
                 tr("Herkunft", "Source", lang)):
        table.add_column(head)
    for info in items:
        adds = []
        for label, ids in ((tr("Prüfungen", "checks", lang), [c.id for c in info.checks]),
                           (tr("Aktionen", "actions", lang), [f"{a.id} ({_risk(a.risk, lang)})" for a in info.actions]),
                           (tr("Treiberquellen", "driver sources", lang), [s.name for s in info.driver_sources]),
                           (tr("Assistent-Werkzeuge", "assistant tools", lang), [t.name for t in info.tools])):
            if ids:
                adds.append(f"{label}: {', '.join(ids)}")
        problems = ([localize(info.error, lang)] if info.error else []) + [localize(p, lang) for p in info.problems]
        status = Text(tr("geladen", "loaded", lang) if info.loaded else tr("nicht geladen", "not loaded", lang),
                      style="green" if info.loaded and not problems else "red" if not info.loaded else "yellow")
        if problems:
            status.append("\n" + "\n".join(problems))
        who = f"\n{info.author}" if info.author else ""
        table.add_row(Text(f"{info.name} {info.version}{who}"), status, Text("\n".join(adds) or "-"),
                      Text(f"{info.where}\nSHA-256 {info.sha256[:16]}…" if info.sha256 else info.where))
    return table


def _risk(risk: str, lang: str | None) -> str:
    words = {"low": ("niedriges Risiko", "low risk"), "medium": ("mittleres Risiko", "medium risk"),
             "high": ("hohes Risiko", "high risk")}
    de, en = words.get(risk, (risk, risk))
    return tr(de, en, lang)
