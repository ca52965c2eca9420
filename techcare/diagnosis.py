"""Probes -> findings -> :class:`Diagnosis`.

``techcare.diagnose()`` runs every probe concurrently (read-only) and turns each result into findings:
``check``, ``area`` (metrics|services|updates|events|smart|network), ``severity`` (ok|info|warning|critical|unknown),
a German and an English summary, the evidence, and the ids of catalogue repairs that address it.
A probe that could not run gives an ``unknown`` finding that says why — never "healthy".
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .i18n import Message, get_language, localize, msg, tr
from .system import records as R

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .config import Settings
    from .system.runner import CommandRunner
    from .system.snapshot import Snapshot
    from .tools.drivers import DriverReport

__all__ = ["AREAS", "SEVERITIES", "Diagnosis", "Finding", "Thresholds", "diagnose", "driver_findings",
           "findings_from_results", "save_snapshot"]

AREAS = ("metrics", "services", "updates", "events", "smart", "network", "drivers")
SEVERITIES = ("ok", "info", "warning", "critical", "unknown")
_RANK = {"critical": 4, "warning": 3, "unknown": 2, "info": 1, "ok": 0}
_STYLE = {"critical": "bold red", "warning": "yellow", "unknown": "magenta", "info": "cyan", "ok": "green"}
_ICON = {"critical": "✖", "warning": "▲", "unknown": "?", "info": "i", "ok": "✔"}
_SEVERITY_WORDS = {"critical": ("kritisch", "critical"), "warning": ("Warnung", "warning"),
                   "unknown": ("unbekannt", "unknown"), "info": ("Hinweis", "info"), "ok": ("ok", "ok")}
_AREA_WORDS = {"metrics": ("Messwerte", "metrics"), "services": ("Dienste", "services"), "updates": ("Updates", "updates"),
               "events": ("Ereignisse", "events"), "smart": ("SMART", "SMART"), "network": ("Netzwerk", "network"),
               "drivers": ("Treiber", "drivers")}
_OS_NAMES = {"windows": "Windows", "linux": "Linux", "darwin": "macOS"}


def severity_word(severity: str, lang: str | None = None) -> str:
    """``critical`` … ``ok`` as the reader says it (German: kritisch, Warnung, unbekannt, Hinweis, ok)."""
    de, en = _SEVERITY_WORDS.get(severity, (severity, severity))
    return tr(de, en, lang)


def area_word(area: str, lang: str | None = None) -> str:
    de, en = _AREA_WORDS.get(area, (area, area))
    return tr(de, en, lang)


def os_name(os_id: str) -> str:
    """``windows``/``linux``/``darwin`` as people say it (Windows, Linux, macOS)."""
    return _OS_NAMES.get(os_id, os_id)


def _texts(message: Message) -> tuple[str, str]:
    """German and English summary of a finding from one bilingual message."""
    return message.de, message.en


@dataclass
class Finding:
    """One result of a check. ``repairs`` are catalogue ids in the order they must run — a later one may need an
    earlier one (the update service must be startable before Windows Update is reset) — and ``repair_params``
    their parameters by id. Whoever ranks them (past cases) keeps that order."""

    check: str
    area: str
    severity: str
    summary_de: str
    summary_en: str
    evidence: dict[str, Any] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    repair_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    probe: str = ""

    def __post_init__(self) -> None:
        if self.area not in AREAS:
            raise ValueError(f"area must be one of {AREAS}, not {self.area!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def summary(self, lang: str | None = None) -> str:
        return self.summary_en if (lang or get_language()) == "en" else self.summary_de

    @property
    def is_problem(self) -> bool:
        return self.severity in ("warning", "critical")

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {"check": self.check, "area": self.area, "severity": self.severity, "summary": self.summary(lang),
                "summary_de": self.summary_de, "summary_en": self.summary_en, "evidence": R.to_jsonable(self.evidence),
                "repairs": list(self.repairs), "repair_params": R.to_jsonable(self.repair_params), "probe": self.probe}


@dataclass
class Thresholds:
    disk_warning: float = 90.0
    disk_critical: float = 97.0
    ram_warning: float = 90.0
    cpu_warning: float = 95.0
    uptime_days_info: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(disk_warning=settings.disk_warning_percent, disk_critical=settings.disk_critical_percent,
                   ram_warning=settings.ram_warning_percent, cpu_warning=settings.cpu_warning_percent)


@dataclass
class Diagnosis:
    host: dict[str, Any]
    os: str
    items: list[Finding]
    probes: dict[str, R.ProbeResult]
    started: str = ""
    duration: float = 0.0
    snapshot: str | None = None

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def hostname(self) -> str:
        return str(self.host.get("hostname", "unknown"))

    @property
    def problems(self) -> list[Finding]:
        """Warnings and critical findings, worst first."""
        return sorted((f for f in self.items if f.is_problem), key=lambda f: -_RANK[f.severity])

    @property
    def worst(self) -> str:
        return max((f.severity for f in self.items), key=_RANK.__getitem__, default="ok")

    def counts(self) -> dict[str, int]:
        return {sev: sum(1 for f in self.items if f.severity == sev) for sev in SEVERITIES}

    def by_check(self, check: str) -> Finding | None:
        return next((f for f in self.items if f.check == check), None)

    def repair_ids(self) -> list[str]:
        """Suggested repair ids of the problem findings, worst first, without duplicates."""
        seen: list[str] = []
        for finding in self.problems:
            for rid in finding.repairs:
                if rid not in seen:
                    seen.append(rid)
        return seen

    @property
    def findings(self) -> pd.DataFrame:
        """The findings as a DataFrame (one row each; summary in the session language)."""
        import pandas as pd

        columns = ["check", "area", "severity", "summary", "repairs", "evidence"]
        rows = [{k: v for k, v in f.to_dict().items() if k in columns} for f in self.items]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {"host": self.hostname, "os": self.os, "host_info": R.to_jsonable(self.host), "started": self.started,
                "duration": round(self.duration, 3), "snapshot": self.snapshot,
                "findings": [f.to_dict(lang) for f in self.items],
                "probes": {name: {k: v for k, v in res.to_dict(lang).items() if k != "data"}
                           for name, res in self.probes.items()}}

    def to_json(self, lang: str | None = None, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(lang), indent=indent, ensure_ascii=False, default=str)

    @classmethod
    def from_dict(cls, data: Any) -> Diagnosis:
        """The diagnosis that :meth:`to_dict` (``techcare diagnose --json``) described, e.g. one made on a remote
        host: findings complete, probe results without their raw data. Raises ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("a diagnosis must be a JSON object")
        info, raw_findings, raw_probes = data.get("host_info") or {}, data.get("findings"), data.get("probes") or {}
        if not isinstance(info, dict) or not isinstance(raw_findings, list) or not isinstance(raw_probes, dict):
            raise ValueError("host_info and probes must be objects, findings a list")
        if not isinstance(data.get("os"), str) or len(raw_findings) > 10_000:
            raise ValueError("os must be text; at most 10,000 findings")
        items = []
        for i, f in enumerate(raw_findings):
            try:
                texts = [f[k] for k in ("check", "area", "severity", "summary_de", "summary_en")]
                extra = (f.get("evidence") or {}, f.get("repairs") or [], f.get("repair_params") or {},
                         f.get("probe") or "")
            except (TypeError, KeyError) as exc:
                raise ValueError(f"findings[{i}]: missing {exc}") from None
            if not all(isinstance(t, str) for t in (*texts, extra[3])) or not isinstance(extra[0], dict) \
                    or not isinstance(extra[1], list) or not all(isinstance(r, str) for r in extra[1]) \
                    or not isinstance(extra[2], dict) or not all(isinstance(p, dict) for p in extra[2].values()):
                raise ValueError(f"findings[{i}]: a field has the wrong type")
            items.append(Finding(*texts, evidence=extra[0], repairs=extra[1], repair_params=extra[2], probe=extra[3]))
        probes = {}
        for name, p in raw_probes.items():
            if not isinstance(p, dict) or p.get("status") not in ("ok", "unknown", "unsupported"):
                raise ValueError(f"probes.{name}: not a probe result")
            probes[name] = R.ProbeResult(name, p["status"], None, p.get("reason"), p.get("reason_code"),
                                         p.get("source"), float(p.get("duration") or 0.0))
        host = {**info, "hostname": str(info.get("hostname") or data.get("host") or "unknown")}
        return cls(host=host, os=data["os"], items=items, probes=probes, started=str(data.get("started") or ""),
                   duration=float(data.get("duration") or 0.0), snapshot=data.get("snapshot"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Diagnosis:
        """:meth:`from_dict` of the JSON text ``techcare diagnose --json`` prints."""
        return cls.from_dict(json.loads(text))

    # ---- rendering --------------------------------------------------------------------------------------
    def __rich__(self):
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text

        # what a machine or a snapshot says is shown, never obeyed: control characters escaped, length bounded
        title = escape(tr("Diagnose {host} ({os})", "Diagnosis of {host} ({os})", host=R.visible(self.hostname, 255),
                          os=R.visible(os_name(self.os), 40)))
        table = Table(title=title, show_lines=False, expand=False)
        table.add_column("", no_wrap=True)
        table.add_column(tr("Bereich", "Area"))
        table.add_column(tr("Prüfung", "Check"))
        table.add_column(tr("Befund", "Finding"))
        table.add_column(tr("Reparaturen", "Repairs"))
        for f in sorted(self.items, key=lambda f: (-_RANK[f.severity], AREAS.index(f.area))):
            # every cell but the severity is data (event messages, mount points): Text, never markup
            table.add_row(Text(f"{_ICON[f.severity]} {severity_word(f.severity)}", style=_STYLE[f.severity]),
                          Text(area_word(f.area)),
                          Text(R.visible(f.check, 200)), Text(R.visible(f.summary())),
                          Text(R.visible(", ".join(f.repairs))))
        counts = self.counts()
        table.caption = " · ".join(f"{counts[s]} {severity_word(s)}" for s in SEVERITIES if counts[s]) + \
            tr(" · {t:.1f} s", " · {t:.1f} s", t=self.duration)
        return table

    def _repr_html_(self) -> str:
        colours = {"critical": "#c62828", "warning": "#ef6c00", "unknown": "#6a1b9a", "info": "#0277bd", "ok": "#2e7d32"}
        rows = "".join(
            f"<tr><td style='color:{colours[f.severity]};font-weight:bold'>{_ICON[f.severity]} "
            f"{html.escape(severity_word(f.severity))}</td><td>{html.escape(area_word(f.area))}</td><td>{html.escape(f.check)}</td><td style='text-align:left'>"
            f"{html.escape(f.summary())}</td><td>{html.escape(', '.join(f.repairs))}</td></tr>"
            for f in sorted(self.items, key=lambda f: (-_RANK[f.severity], AREAS.index(f.area))))
        head = html.escape(tr("Diagnose {host} ({os})", "Diagnosis of {host} ({os})", host=self.hostname,
                              os=os_name(self.os)))
        cols = "".join(f"<th>{html.escape(c)}</th>" for c in (
            "", tr("Bereich", "Area"), tr("Prüfung", "Check"), tr("Befund", "Finding"), tr("Reparaturen", "Repairs")))
        return (f"<div class='techcare-diagnosis'><strong>{head}</strong><table><thead><tr>{cols}</tr></thead>"
                f"<tbody>{rows}</tbody></table></div>")

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {severity_word(s)}" for s, n in self.counts().items() if n)
        return tr("<Diagnose {h} ({o}): {c}>", "<Diagnosis {h} ({o}): {c}>", h=self.hostname, o=os_name(self.os),
                  c=counts or tr("keine Befunde", "no findings"))

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Terminal IPython (``%diagnose``): the findings table as ``techcare diagnose`` prints it."""
        if cycle:
            printer.text(repr(self))
            return
        import shutil

        from rich.console import Console

        console = Console(width=shutil.get_terminal_size((120, 40)).columns, highlight=False, color_system=None,
                          force_terminal=False)
        with console.capture() as capture:
            console.print(self)
        printer.text(capture.get().rstrip("\n"))


# ---- rules ------------------------------------------------------------------------------------------------

_REPAIRS: dict[str, dict[str, list[str]]] = {
    "disk_full": {"windows": ["win.clear_temp_files"], "linux": ["linux.apt_clean", "linux.journal_vacuum",
                                                                 "linux.clear_temp_files"],
                  "darwin": ["macos.clear_user_caches"]},
    "firewall_off": {"windows": ["win.enable_firewall"], "linux": ["linux.enable_ufw"], "darwin": ["macos.enable_firewall"]},
    "av_outdated": {"windows": ["win.update_defender_signatures"]},
    "updates": {"windows": ["win.install_updates"], "linux": ["linux.install_updates"], "darwin": ["macos.install_updates"]},
    "update_service": {"windows": ["win.set_service_start_type", "win.reset_windows_update"]},
    "service_failed": {"windows": ["win.restart_service"], "linux": ["linux.restart_unit"]},
    "disk_errors": {"windows": ["win.schedule_chkdsk"], "darwin": ["macos.verify_volume"]},
}


def _repairs(kind: str, os_name: str) -> list[str]:
    return list(_REPAIRS.get(kind, {}).get(os_name, []))


_HINTS = {"needs_admin": msg(" Als Administrator/root starten.", " Run as administrator/root."),
          "tool_missing": msg(" Werkzeug installieren.", " Install the tool."),
          "timeout": msg(" Später erneut versuchen.", " Try again later.")}


def _unknown_finding(name: str, area: str, result: R.ProbeResult) -> Finding:
    why = result.reason or msg("Grund unbekannt", "no reason given")
    said = msg("Unbekannt: {w}.{h}", "Unknown: {w}.{h}", w=why, h=_HINTS.get(result.reason_code or "", Message("", "")))
    return Finding(name, area, "unknown", *_texts(said),
                   evidence={"reason_code": result.reason_code, "reason_de": why.de, "reason_en": why.en,
                             "source": result.source}, probe=name)


def _gb(value: int | None) -> Message:
    if value is None:
        return msg("? GB", "? GB")
    return Message.data(f"{value / 1e9:.1f} GB")


def _measured(value: Any, low: float = 0.0, high: float = math.inf) -> float | None:
    """A record value the rules may compare: a finite number in ``low``..``high``; ``None`` for anything not
    measured (missing, null, a boolean, text, NaN) or not measured correctly (out of range: a load of 1e308 %,
    -5 % memory) so that no rule ever reads such a value as a measurement and calls it healthy."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) and low <= value <= high else None


def _not_measured(check: str, what: Message, evidence: dict[str, Any], raw: Any = None) -> Finding:
    said = msg("Unbekannt: {w} wurde nicht gemessen (Wert fehlt oder ist unlesbar).",
               "Unknown: {w} was not measured (value missing or unreadable).", w=what)
    if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw == raw:  # a number out of range
        said = msg("Unbekannt: {w} wurde nicht richtig gemessen ({v:.6g} liegt außerhalb des möglichen Bereichs).",
                   "Unknown: {w} was not measured correctly ({v:.6g} is outside the possible range).", w=what, v=raw)
    return Finding(check, "metrics", "unknown", *_texts(said), {**evidence, "reason_code": R.PARSE_ERROR},
                   probe="metrics")


def _metrics(res: R.ProbeResult, os_name: str, th: Thresholds) -> list[Finding]:
    m: R.Metrics = res.data
    out: list[Finding] = []
    if not isinstance(m.disks, list) or not m.disks:  # no drive reported is not "all drives fine"
        out.append(_not_measured("disk_usage", msg("die Belegung der Laufwerke", "the usage of the drives"),
                                 {"disks": None}))
    for disk in m.disks if isinstance(m.disks, list) else []:
        percent = _measured(disk.percent, 0, 100)
        free, total = disk.free if _measured(disk.free) is not None else None, \
            disk.total if _measured(disk.total) is not None else None
        evidence = {"mount": disk.mount, "percent": percent, "free_bytes": free, "total_bytes": total}
        if percent is None:
            out.append(_not_measured(f"disk_usage:{disk.mount}", msg("die Belegung von Laufwerk {m}",
                                                                      "the usage of drive {m}", m=disk.mount), evidence,
                                     disk.percent))
            continue
        sev = "critical" if percent >= th.disk_critical else "warning" if percent >= th.disk_warning else "ok"
        said = msg("Laufwerk {m} zu {p:.0f} % belegt ({f} frei).", "Drive {m} is {p:.0f} % full ({f} free).",
                   m=disk.mount, p=percent, f=_gb(free))
        out.append(Finding(check=f"disk_usage:{disk.mount}", area="metrics", severity=sev, summary_de=said.de,
                           summary_en=said.en, evidence=evidence,
                           repairs=_repairs("disk_full", os_name) if sev != "ok" else [], probe="metrics"))
    ram, swap = _measured(m.ram_percent, 0, 100), _measured(m.swap_percent, 0, 100)
    if ram is None:
        out.append(_not_measured("ram", msg("die Belegung des Arbeitsspeichers", "memory use"),
                                 {"ram_percent": None, "swap_percent": swap}, m.ram_percent))
    else:
        sev = "warning" if ram >= th.ram_warning else "ok"
        out.append(Finding("ram", "metrics", sev, f"Arbeitsspeicher zu {ram:.0f} % belegt.",
                           f"Memory {ram:.0f} % in use.", {"ram_percent": ram, "swap_percent": swap}, probe="metrics"))
    cpu = _measured(m.cpu_percent, 0, 100)
    load = m.load_avg if isinstance(m.load_avg, list) else None
    if cpu is None:
        out.append(_not_measured("cpu", msg("die Prozessorlast", "the CPU load"),
                                 {"cpu_percent": None, "load_avg": load, "cpu_count": m.cpu_count}, m.cpu_percent))
    else:
        sev = "warning" if cpu >= th.cpu_warning else "ok"
        out.append(Finding("cpu", "metrics", sev, f"Prozessorlast {cpu:.0f} %.", f"CPU load {cpu:.0f} %.",
                           {"cpu_percent": cpu, "load_avg": load, "cpu_count": m.cpu_count}, probe="metrics"))
    uptime = _measured(m.uptime_seconds, 0, 100 * 365 * 86400)
    if uptime and uptime > th.uptime_days_info * 86400:
        days = uptime / 86400
        out.append(Finding("uptime", "metrics", "info", f"Seit {days:.0f} Tagen nicht neu gestartet – Neustart empfohlen.",
                           f"Not restarted for {days:.0f} days – a restart is recommended.",
                           {"uptime_days": round(days, 1)}, probe="metrics"))
    return out


def _firewall(res: R.ProbeResult, os_name: str) -> list[Finding]:
    fw: R.FirewallStatus = res.data
    profiles = fw.profiles if isinstance(fw.profiles, list) else []
    off_profiles = [p.name for p in profiles if p.enabled is False]
    unread_profiles = [str(p.name) for p in profiles if not isinstance(p.enabled, bool)]
    if fw.enabled is False or off_profiles:
        what = ", ".join(off_profiles)
        params = {"win.enable_firewall": {"profiles": off_profiles}} if os_name == "windows" and off_profiles else {}
        if fw.product == "none":
            said = msg("Keine Firewall eingerichtet.", "No firewall is set up.")
        elif what:
            said = msg("Firewall ({p}) ist aus: Profile {w}.", "Firewall ({p}) is off: profiles {w}.", p=fw.product, w=what)
        else:
            said = msg("Firewall ({p}) ist aus.", "Firewall ({p}) is off.", p=fw.product)
        return [Finding("firewall", "services", "critical", *_texts(said),
                        {"product": fw.product, "off_profiles": off_profiles, "detail": R.to_jsonable(fw.detail)},
                        _repairs("firewall_off", os_name), params, probe="firewall")]
    if fw.enabled is not True or unread_profiles:
        detail = fw.detail if isinstance(fw.detail, (Message, str)) else ""
        if unread_profiles and fw.enabled is True:
            detail = msg("Zustand der Profile {n} nicht gelesen. ", "state of profiles {n} not read. ",
                         n=", ".join(unread_profiles)) + detail
        said = msg("Zustand der Firewall ({p}) unbekannt. {d}", "Firewall ({p}) state unknown. {d}", p=fw.product,
                   d=detail)
        return [Finding("firewall", "services", "unknown", said.de.strip(), said.en.strip(), {"product": fw.product},
                        probe="firewall")]
    return [Finding("firewall", "services", "ok", f"Firewall ({fw.product}) ist aktiv.", f"Firewall ({fw.product}) is on.",
                    {"product": fw.product}, probe="firewall")]


def _antivirus(res: R.ProbeResult, os_name: str) -> list[Finding]:
    av: R.AntivirusStatus = res.data
    if not isinstance(av.products, list):
        raise TypeError("the list of antivirus products is missing")
    names = ", ".join(str(p.name) for p in av.products) or "-"
    if not av.products:
        sev = "info" if os_name == "linux" else "critical"
        return [Finding("antivirus", "services", sev, "Kein Virenschutz gefunden.", "No antivirus found.", {},
                        probe="antivirus")]
    if not any(p.enabled is True for p in av.products) and any(not isinstance(p.enabled, bool) for p in av.products):
        return [Finding("antivirus", "services", "unknown", f"Zustand des Virenschutzes unbekannt ({names}).",
                        f"Antivirus state unknown ({names}).", {"products": R.to_jsonable(av.products)}, probe="antivirus")]
    if av.protected is False:
        return [Finding("antivirus", "services", "critical", f"Virenschutz ist aus ({names}).", f"Antivirus is off ({names}).",
                        {"products": R.to_jsonable(av.products)}, probe="antivirus")]
    stale = [p for p in av.products if p.enabled is not False and p.up_to_date is False]
    if stale:
        ages = {p.name: p.signature_age_days for p in stale}
        stale_names = ", ".join(p.name for p in stale)
        return [Finding("antivirus", "services", "warning", f"Virensignaturen veraltet: {stale_names}.",
                        f"Antivirus signatures out of date: {stale_names}.", {"signature_age_days": ages},
                        _repairs("av_outdated", os_name), probe="antivirus")]
    no_rt = [p.name for p in av.products if p.enabled and p.realtime is False]
    if no_rt and os_name == "windows":
        return [Finding("antivirus", "services", "warning", f"Echtzeitschutz ist aus ({', '.join(no_rt)}).",
                        f"Real-time protection is off ({', '.join(no_rt)}).", {"products": no_rt}, probe="antivirus")]
    if av.protected is not True or any(not isinstance(p.enabled, bool) for p in av.products):
        return [Finding("antivirus", "services", "unknown", f"Zustand des Virenschutzes unbekannt ({names}).",
                        f"Antivirus state unknown ({names}).", {"products": R.to_jsonable(av.products)}, probe="antivirus")]
    # "active" is what was measured; what was not read is said, never implied to be fine
    active = [p for p in av.products if p.enabled is True]
    said = msg("Virenschutz aktiv ({n}).", "Antivirus active ({n}).", n=names)
    unread_age = [str(p.name) for p in active if not isinstance(p.up_to_date, bool)]
    unread_rt = [str(p.name) for p in active if os_name == "windows" and not isinstance(p.realtime, bool)]
    if unread_age:
        said = said + msg(" Aktualität der Signaturen unbekannt: {u}.", " Signature freshness unknown: {u}.",
                          u=", ".join(unread_age))
    if unread_rt:
        said = said + msg(" Echtzeitschutz nicht gelesen: {u}.", " Real-time protection not read: {u}.",
                          u=", ".join(unread_rt))
    return [Finding("antivirus", "services", "ok", *_texts(said),
                    {"products": [p.name for p in av.products], "signatures_unknown": unread_age,
                     "realtime_unknown": unread_rt}, probe="antivirus")]


def _update_service(res: R.ProbeResult, os_name: str) -> list[Finding]:
    us: R.UpdateServiceStatus = res.data
    if not isinstance(us.problem, bool):
        said = msg("Zustand des Update-Dienstes {n} unbekannt.", "State of the update service {n} unknown.", n=us.name)
        return [Finding("update_service", "updates", "unknown", *_texts(said),
                        {"name": us.name, "state": us.state, "start_type": us.start_type}, probe="update_service")]
    if us.problem:
        params = {"win.set_service_start_type": {"name": us.name, "start_type": "manual"}} if os_name == "windows" else {}
        if os_name == "darwin":
            said = msg("Automatische Suche nach Updates ist ausgeschaltet.", "Automatic checking for updates is turned off.")
        else:
            said = msg("Update-Dienst {n} kann keine Updates liefern ({s}).", "Update service {n} cannot deliver updates ({s}).",
                       n=us.name, s=_state_word(us.start_type or us.state))
        if us.detail and localize(us.detail, "en").rstrip(".") not in said.en:  # the probe's own words, unless said
            said = said + " " + (us.detail if isinstance(us.detail, Message) else Message.data(us.detail))
        return [Finding("update_service", "updates", "warning" if os_name == "darwin" else "critical",
                        *_texts(said),
                        {"name": us.name, "state": us.state, "start_type": us.start_type},
                        _repairs("update_service", os_name), params, probe="update_service")]
    return [Finding("update_service", "updates", "ok", f"Update-Dienst {us.name} ist bereit.",
                    f"Update service {us.name} is available.", {"name": us.name, "state": us.state,
                                                                "start_type": us.start_type}, probe="update_service")]


_STATE_WORDS = {"failed": ("ausgefallen", "failed"), "stopped": ("gestoppt", "stopped"), "running": ("aktiv", "running"),
                "inactive": ("inaktiv", "inactive"), "crashed": ("abgestürzt", "crashed"), "exited": ("beendet", "exited"),
                "disabled": ("deaktiviert", "disabled"), "masked": ("maskiert", "masked"), "manual": ("manuell", "manual"),
                "auto": ("automatisch", "automatic")}


def _state_word(state: str | None) -> Message:
    """A service state or start type as a message (codes a probe does not know stay as the OS wrote them)."""
    de, en = _STATE_WORDS.get(state or "", (state or "?", state or "?"))
    return Message(de, en)


def _services(res: R.ProbeResult, os_name: str) -> list[Finding]:
    failed: list[R.ServiceState] = res.data or []
    if not failed:
        return [Finding("services", "services", "ok", "Keine ausgefallenen Dienste.", "No failed services.", {},
                        probe="services")]
    out = []
    for svc in failed:
        repair = _repairs("service_failed", os_name)
        key = "name" if os_name == "windows" else "unit"
        said = msg("Dienst {n} ist {s}.", "Service {n}: {s}.", n=svc.display_name or svc.name, s=_state_word(svc.state))
        out.append(Finding(f"service:{svc.name}", "services", "warning", *_texts(said),
                           {"name": svc.name, "state": svc.state, "start_type": svc.start_type,
                            "description": svc.description},
                           repair, {rid: {key: svc.name} for rid in repair}, probe="services"))
    return out


def _names(items: list[R.PackageUpdate], limit: int = 5, *, summaries: bool = False) -> str:
    shown = [(u.summary or u.name) if summaries else u.name for u in items[:limit]]
    return ", ".join(str(x) for x in shown) + (" …" if len(items) > limit else "")


def _pending_updates(res: R.ProbeResult, os_name: str) -> list[Finding]:
    pu: R.PendingUpdates = res.data
    if not isinstance(pu.updates, list) or not isinstance(pu.patches, list):
        raise TypeError("the list of pending updates is missing")
    updates = [u for u in pu.updates if isinstance(u, R.PackageUpdate)]
    patches = [p for p in pu.patches if isinstance(p, R.PackageUpdate)]
    known = pu.security_known is True and all(isinstance(u.security, bool) for u in (*updates, *patches))
    if not updates and not patches:
        return [Finding("pending_updates", "updates", "ok", "Keine ausstehenden Updates.", "No pending updates.",
                        {"manager": pu.manager}, probe="pending_updates")]
    security = [u for u in (*updates, *patches) if u.security is True]
    critical = [u for u in (*updates, *patches) if str(u.severity or "").lower() == "critical"]
    # A manager that cannot tell security updates apart: the pending updates may well include some.
    sev = "critical" if critical else "warning" if security or not known else "info"
    repairs = _repairs("updates", os_name)
    params: dict[str, dict[str, Any]] = {}
    if os_name == "linux":
        if pu.manager in ("apt", "dnf"):
            params = {"linux.install_updates": {"manager": pu.manager}}
        else:
            repairs = []  # zypper/pacman/apk: no vetted repair yet, the finding still says what is pending
    names = _names(updates)
    if not known:
        why = pu.detail if isinstance(pu.detail, Message) and pu.detail.en else \
            Message.data(pu.detail) if isinstance(pu.detail, str) and pu.detail else \
            msg("{m} kann Sicherheitsupdates nicht unterscheiden", "{m} cannot tell security updates apart",
                m=pu.manager)
        said = msg("{n} Updates ausstehend (Sicherheit unbekannt: {w}): {u}",
                   "{n} updates pending (security unknown: {w}): {u}", n=len(updates), w=why, u=names)
    elif patches:
        sec_patches = [p for p in patches if p.security is True]
        said = msg("{n} Paket-Updates ausstehend; {p} Patches nötig, davon {s} Sicherheit",
                   "{n} package updates pending; {p} patches needed, {s} of them security",
                   n=len(updates), p=len(patches), s=len(sec_patches))
        if sec_patches:
            said = said + msg(": {x}", ": {x}", x=_names(sec_patches, summaries=True))
        elif names:
            said = said + msg(": {x}", ": {x}", x=names)
    else:
        said = msg("{n} Updates ausstehend ({s} Sicherheit): {u}", "{n} updates pending ({s} security): {u}",
                   n=len(updates), s=len(security), u=names)
    evidence: dict[str, Any] = {"manager": pu.manager, "count": len(updates),
                                "security": len(security) if known else None, "security_known": known,
                                "updates": [u.name for u in updates[:50]]}
    if patches:
        evidence["patches"] = [{"name": p.name, "category": p.source, "severity": p.severity, "summary": p.summary}
                               for p in patches[:50]]
    if not known:
        evidence["security_unknown_reason"] = R.to_jsonable(pu.detail, "en") or said.en
    return [Finding("pending_updates", "updates", sev, *_texts(said), evidence, repairs, params,
                    probe="pending_updates")]


def _pending_reboot(res: R.ProbeResult, os_name: str) -> list[Finding]:
    pr: R.PendingReboot = res.data
    if not isinstance(pr.required, bool):
        return [Finding("pending_reboot", "updates", "unknown", "Ob ein Neustart aussteht, ist unbekannt.",
                        "Whether a restart is pending is unknown.", {}, probe="pending_reboot")]
    if pr.required:
        sources = pr.sources if isinstance(pr.sources, list) else []
        said = msg("Neustart ausstehend ({s}).", "Restart pending ({s}).", s=Message.join(", ", sources))
        return [Finding("pending_reboot", "updates", "warning", *_texts(said),
                        {"sources": R.to_jsonable(sources, "en")}, probe="pending_reboot")]
    return [Finding("pending_reboot", "updates", "ok", "Kein Neustart ausstehend.", "No restart pending.", {},
                    probe="pending_reboot")]


def _events(res: R.ProbeResult, os_name: str) -> list[Finding]:
    evs: list[R.EventRecord] = res.data or []
    if not evs:
        return [Finding("events", "events", "ok", "Keine aktuellen Fehlerereignisse.", "No recent error events.", {},
                        probe="events")]
    crit = [e for e in evs if e.level == "critical"]
    sev = "warning" if crit else "info"
    first = evs[0]
    line = (first.message or "").strip().splitlines()[0][:160] if first.message else ""
    return [Finding("events", "events", sev,
                    f"{len(evs)} aktuelle Fehlerereignisse, zuletzt {first.source}: {line}",
                    f"{len(evs)} recent error events, latest {first.source}: {line}",
                    {"events": R.to_jsonable(evs)}, probe="events")]


def _smart(res: R.ProbeResult, os_name: str) -> list[Finding]:
    disks: list[R.DiskHealth] = res.data or []
    if not disks:
        return [Finding("smart", "smart", "unknown", "Keine Datenträger mit SMART-Daten gefunden.",
                        "No disks with SMART data found.", {}, probe="smart")]
    out = []
    for disk in disks:
        label = f"{disk.device} {disk.model}".strip()
        ev = {k: v for k, v in R.to_jsonable(disk).items() if v not in (None, "", [])}
        issues = Message.join("; ", disk.issues if isinstance(disk.issues, list) else [])
        if disk.health == "failing":
            said = msg("Datenträger {l} meldet einen Defekt – sofort Daten sichern und tauschen. {i}",
                       "Disk {l} reports failure – back up data now and replace it. {i}", l=label, i=issues)
            out.append(Finding(f"smart:{disk.device}", "smart", "critical", said.de.strip(), said.en.strip(), ev,
                               probe="smart"))
        elif disk.health == "warning":
            said = msg("Datenträger {l} zeigt Warnzeichen: {i}", "Disk {l} shows warning signs: {i}", l=label, i=issues)
            out.append(Finding(f"smart:{disk.device}", "smart", "warning", *_texts(said), ev,
                               _repairs("disk_errors", os_name), probe="smart"))
        elif disk.health == "unknown":
            said = msg("SMART-Zustand von {l} unbekannt: {i}", "SMART state of {l} unknown: {i}", l=label,
                       i=issues if disk.issues else msg("keine Daten", "no data"))
            out.append(Finding(f"smart:{disk.device}", "smart", "unknown", *_texts(said), ev, probe="smart"))
        elif disk.health == "passed":
            out.append(Finding(f"smart:{disk.device}", "smart", "ok", f"Datenträger {label}: SMART in Ordnung.",
                               f"Disk {label}: SMART healthy.", ev, probe="smart"))
        else:
            said = msg("SMART-Zustand von {l} unbekannt: {h!r} ist kein bekannter Zustand.",
                       "SMART state of {l} unknown: {h!r} is not a known state.", l=label, h=disk.health)
            out.append(Finding(f"smart:{disk.device}", "smart", "unknown", *_texts(said), ev, probe="smart"))
    return out


_AREA = {"metrics": "metrics", "firewall": "services", "antivirus": "services", "update_service": "updates",
         "services": "services", "pending_updates": "updates", "pending_reboot": "updates", "events": "events",
         "smart": "smart"}
_RULES: dict[str, Callable[..., list[Finding]]] = {
    "firewall": _firewall, "antivirus": _antivirus, "update_service": _update_service, "services": _services,
    "pending_updates": _pending_updates, "pending_reboot": _pending_reboot, "events": _events, "smart": _smart}


def findings_from_results(results: dict[str, R.ProbeResult], os_name: str,
                          thresholds: Thresholds | None = None) -> list[Finding]:
    """Turn probe results into findings (pure: no I/O)."""
    th = thresholds or Thresholds()
    out: list[Finding] = []
    for name, res in results.items():
        area = _AREA.get(name, "metrics")
        if res.status == "unsupported":
            continue
        if res.status != "ok" or res.data is None:
            out.append(_unknown_finding(name, area, res))
            continue
        try:
            out.extend(_metrics(res, os_name, th) if name == "metrics" else _RULES[name](res, os_name))
        except Exception as exc:  # noqa: BLE001 - a rule bug must not lose the other findings
            out.append(_unknown_finding(name, area, R.unknown(name, "failed", msg(
                "Fehler in der Auswertung: {e}", "rule error: {e}", e=f"{type(exc).__name__}: {exc}"))))
    return out


def driver_findings(runner: CommandRunner | None = None, *, report: DriverReport | None = None,
                    use_sources: bool = True) -> list[Finding]:
    """Findings of area ``drivers``: one per outdated driver whose update is CRITICAL (``critical``;
    ``warning`` when only the release date says it is newer) with the repair that installs it
    (:func:`techcare.tools.drivers.repair_for`: ``drivers.install_update`` for an OS source,
    ``drivers.install_vendor_package`` for an own-database entry with a checked package, none for an entry
    without one) and its ``repair_params``; otherwise one ``ok``/``unknown`` summary finding.
    ``use_sources=False`` skips the OS update sources (a Windows Update search can take minutes) and uses only
    the custom database. Never raises."""
    from .tools.drivers.core import build_report, repair_for
    from .tools.drivers.render import source_name

    try:
        rep = report if report is not None else build_report(runner=runner, use_sources=use_sources)
    except Exception as exc:  # noqa: BLE001 - a broken database or source must not break the diagnosis
        return [Finding("drivers", "drivers", "unknown", f"Treiberprüfung nicht möglich: {exc}",
                        f"Driver check not possible: {exc}", evidence={"error": str(exc)}, probe="drivers")]
    findings: list[Finding] = []
    for row in rep.updates:
        if row.importance != "CRITICAL" or row.offer is None:
            continue
        data = row.to_dict()
        hwid = data["hardware_id"] or ""
        repair = repair_for(row)
        current = data["installed_version"] or "?"
        latest = data["latest_version"] or "?"
        device = data["device"]
        said = msg("Kritisches Treiber-Update für {d}: {c} -> {l} ({s})", "Critical driver update for {d}: {c} -> {l} ({s})",
                   d=device, c=current, l=latest, s=source_name(row.offer.source))
        findings.append(Finding(
            check=f"driver_update:{hwid or row.update_id}", area="drivers",
            severity="warning" if row.basis == "date" else "critical", summary_de=said.de, summary_en=said.en,
            evidence={k: data[k] for k in ("device", "hardware_id", "installed_version", "latest_version",
                                           "importance", "source", "status", "basis", "note", "install_hint",
                                           "download_url")},
            repairs=[repair[0]] if repair else [], repair_params={repair[0]: repair[1]} if repair else {},
            probe="drivers"))
    if findings:
        return findings
    stats = rep.stats()
    if stats["installed"] == 0 and not any(s.status == "ok" for s in rep.sources if s.name != "custom_db"):
        from .tools.drivers.render import source_problem

        reasons = Message.join("; ", (source_problem(s) for s in rep.sources if s.status != "ok"))
        said = msg("Treiber-Inventar nicht lesbar ({r}).", "Driver inventory could not be read ({r}).", r=reasons)
        return [Finding("drivers", "drivers", "unknown", *_texts(said), evidence={"sources": reasons.en},
                        probe="drivers")]
    return [Finding("drivers", "drivers", "ok",
                    tr("{i} Treiber, {o} veraltet, keine kritischen Updates.",
                       "{i} drivers, {o} outdated, no critical updates.", "de", i=stats["installed"],
                       o=stats["outdated"]),
                    tr("{i} Treiber, {o} veraltet, keine kritischen Updates.",
                       "{i} drivers, {o} outdated, no critical updates.", "en", i=stats["installed"],
                       o=stats["outdated"]),
                    evidence=stats, probe="drivers")]


def _driver_findings_async(runner: CommandRunner):
    """Start the driver check (inventory + update sources) beside the probes; returns a result getter."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="techcare-drivers")
    future = pool.submit(driver_findings, runner)
    pool.shutdown(wait=False)

    def get(timeout: float) -> list[Finding]:
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            return [Finding("drivers", "drivers", "unknown",
                            f"Treiberprüfung nach {timeout:g} s abgebrochen (Update-Quellen zu langsam).",
                            f"Driver check stopped after {timeout:g} s (update sources too slow).",
                            {"reason_code": "timeout"}, probe="drivers")]

    return get


def save_snapshot(path: str | Path, *, runner: CommandRunner | None = None,
                  probes: list[str] | None = None) -> Snapshot:
    """Record this machine (read-only) for a later ``diagnose(snapshot=path)`` anywhere: every probe's raw
    outputs and, when all probes run, the driver check's and the plugin checks' commands too. ``.gz`` paths are
    gzip-compressed."""
    from .plugins._manager import capture_checks
    from .system.snapshot import save_snapshot as _save
    from .tools.drivers import capture as capture_drivers

    return _save(path, runner=runner, probes=probes,
                 captures=[capture_drivers, capture_checks] if probes is None else [])


def diagnose(snapshot: str | Path | None = None, *, runner: CommandRunner | None = None,
             probes: list[str] | None = None, settings: Settings | None = None, timeout: float | None = None,
             progress: Callable[[str, R.ProbeResult], None] | None = None, drivers: bool | None = None) -> Diagnosis:
    """Diagnose this machine (read-only), or the machine captured in ``snapshot``.

    Probes run concurrently with a per-probe timeout; nothing here raises for a probe failure. With
    ``drivers`` (default: when all probes run) the driver check runs beside them and outdated critical drivers
    become findings of area ``drivers``.
    Raises :class:`~techcare.errors.SnapshotError` for an unreadable snapshot.
    """
    from . import system
    from .config import get_settings

    settings = settings or get_settings()
    runner = system.runner_for(snapshot, runner)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.monotonic()
    budget = timeout or settings.probe_timeout
    driver_result = _driver_findings_async(runner) if (drivers if drivers is not None else probes is None) else None
    results = system.run_probes(probes, runner, timeout=budget, on_done=progress)
    host = system.host_info(runner)
    os_name = str(host.get("os") or runner.platform)
    items = findings_from_results(results, os_name, Thresholds.from_settings(settings))
    if probes is None:  # the checks of plugins (docs/plugins.md), through the same runner
        from .plugins._manager import findings as plugin_findings

        items.extend(plugin_findings(runner, os_name, Finding, timeout=max(5.0, budget - (time.monotonic() - t0))))
    if driver_result is not None:
        items.extend(driver_result(max(0.0, budget - (time.monotonic() - t0))))
    return Diagnosis(host=host, os=os_name, items=items, probes=results, started=started,
                     duration=time.monotonic() - t0, snapshot=str(snapshot) if snapshot else None)
