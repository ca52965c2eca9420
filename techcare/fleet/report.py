"""The monthly maintenance report (Wartungsbericht) for the customer, in German or English, as Markdown and HTML.

:func:`render_report` is pure: it turns the JSON of ``GET /api/reports/maintenance`` (``docs/remote-jobs.md`` §5,
"Report data") into ``(markdown, html)`` — no network, no settings, no template engine, every value from the data
escaped (HTML) or neutralised (Markdown). The backend's dashboard imports it for the download;
:func:`techcare.fleet.report` fetches the data and returns a :class:`MaintenanceReport`.

Written for the customer: which PCs were maintained when, what was done, what failed or was missed and why (in
words, never a status code), open findings, disk health and pending updates — one section per PC.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..i18n import LANGUAGES, tr

__all__ = ["MaintenanceReport", "render_report"]

_T = tuple[str, str]

_STATUS: dict[str, _T] = {
    "ran": ("Durchgeführt", "Done"), "failed": ("Fehlgeschlagen", "Failed"), "missed": ("Verpasst", "Missed"),
    "skipped": ("Nicht ausgeführt", "Not run"), "pending": ("Geplant", "Planned"),
    "delivered": ("Läuft", "In progress"), "running": ("Läuft", "In progress"),
}
_ICON = {"ran": "✓", "failed": "✗", "missed": "⚠", "skipped": "–", "pending": "·", "delivered": "…", "running": "…"}
_COLOUR = {"ran": "#2e7d32", "failed": "#c62828", "missed": "#ef6c00", "skipped": "#6d4c41", "pending": "#546e7a",
           "delivered": "#0277bd", "running": "#0277bd"}

#: Why an occurrence was missed, failed or not run — in the customer's words (reasons of docs/remote-jobs.md §2, §5).
_REASONS: dict[str, _T] = {
    "not_fetched": ("Der PC war im Wartungsfenster nicht erreichbar (ausgeschaltet oder ohne Internetverbindung).",
                    "The PC could not be reached during the maintenance window (switched off or offline)."),
    "no_report": ("Der PC hat die Wartung erhalten, aber kein Ergebnis gemeldet (z. B. während der Wartung "
                  "ausgeschaltet).", "The PC received the maintenance but reported no result (e.g. switched off "
                  "during the maintenance)."),
    "step_failed": ("Ein Schritt ist fehlgeschlagen; seine Änderungen wurden automatisch zurückgenommen.",
                    "A step failed; its changes were undone automatically."),
    "interrupted": ("Die Wartung wurde unterbrochen (PC neu gestartet oder ausgeschaltet); begonnene Änderungen "
                    "wurden zurückgenommen.", "The maintenance was interrupted (PC restarted or switched off); "
                    "changes in progress were undone."),
    "undo_failed": ("Ein Schritt ist fehlgeschlagen und ließ sich nicht vollständig zurücknehmen; der Techniker "
                    "prüft das.", "A step failed and could not be undone completely; the technician is checking "
                    "it."),
    "disabled": ("Die Fernwartung ist auf diesem PC ausgeschaltet.", "Remote maintenance is switched off on this PC."),
    "unknown_signer": ("Der PC hat die Wartung aus Sicherheitsgründen abgelehnt: der Auftraggeber ist dort nicht "
                       "als vertrauenswürdig eingetragen.", "The PC refused the maintenance for security reasons: "
                       "its sender is not registered there as trusted."),
    "bad_signature": ("Der PC hat die Wartung aus Sicherheitsgründen abgelehnt: der Auftrag war unterwegs verändert "
                      "worden.", "The PC refused the maintenance for security reasons: the order had been altered "
                      "on the way."),
    "signature_unverified": ("Der PC hat die Wartung aus Sicherheitsgründen abgelehnt: die Unterschrift des "
                             "Auftrags ließ sich nicht prüfen.", "The PC refused the maintenance for security "
                             "reasons: the order's signature could not be verified."),
    "plugin_missing": ("Ein Schritt braucht eine Erweiterung, die auf dem PC nicht installiert ist; nicht "
                       "ausgeführt.", "A step needs an extension that is not installed on the PC; not carried out."),
    "plugin_mismatch": ("Eine Erweiterung auf dem PC ist eine andere Fassung als die freigegebene; nicht "
                        "ausgeführt.", "An extension on the PC is a different version from the approved one; not "
                        "carried out."),
    "malformed": ("Der Wartungsauftrag war fehlerhaft und wurde nicht ausgeführt.",
                  "The maintenance order was faulty and was not carried out."),
    "plan_mismatch": ("Der Wartungsauftrag war fehlerhaft und wurde nicht ausgeführt.",
                      "The maintenance order was faulty and was not carried out."),
    "wrong_host": ("Der Wartungsplan gilt nicht für diesen PC.", "The maintenance plan does not cover this PC."),
    "platform": ("Der Wartungsplan enthält keine Schritte für das Betriebssystem dieses PCs.",
                 "The maintenance plan has no steps for this PC's operating system."),
    "not_valid": ("Der Wartungsplan war zu diesem Zeitpunkt nicht gültig.",
                  "The maintenance plan was not valid at that time."),
    "revision": ("Auf dem PC galt bereits eine neuere Fassung des Wartungsplans.",
                 "A newer version of the maintenance plan was already in force on the PC."),
    "not_an_occurrence": ("Der Termin passt nicht zum Wartungsplan des PCs (Zeitzone); nicht ausgeführt.",
                          "The date does not match the PC's maintenance plan (time zone); not carried out."),
    "outside_window": ("Der PC hat die Wartung erst nach dem Wartungsfenster erhalten; nicht ausgeführt.",
                       "The PC received the maintenance only after the maintenance window; not carried out."),
    "replayed": ("Dieser Termin war auf dem PC bereits ausgeführt.", "This date had already been carried out on "
                 "the PC."),
    "needs_confirmation": ("Ein Schritt mit hohem Risiko war für die automatische Wartung nicht freigegeben.",
                           "A high-risk step was not approved for automatic maintenance."),
    "needs_reboot": ("Ein Schritt braucht einen Neustart, der für die automatische Wartung nicht freigegeben war.",
                     "A step needs a restart, which was not approved for automatic maintenance."),
    "reboot": ("Ein Schritt braucht einen Neustart, der für die automatische Wartung nicht freigegeben war.",
               "A step needs a restart, which was not approved for automatic maintenance."),
    "expired": ("Die Wartung kam zu spät auf dem PC an.", "The maintenance reached the PC too late."),
    "cancelled": ("Die Wartung wurde vom Techniker abgebrochen.", "The technician cancelled the maintenance."),
}
_OTHER_REASON: dict[str, _T] = {
    "missed": ("Die Wartung fand nicht statt.", "The maintenance did not take place."),
    "failed": ("Die Wartung ist fehlgeschlagen.", "The maintenance failed."),
    "skipped": ("Der PC hat die Wartung nicht ausgeführt.", "The PC did not carry out the maintenance."),
}
_STEP_STATUS: dict[str, _T] = {
    "finished": ("erledigt", "done"), "failed": ("fehlgeschlagen", "failed"), "skipped": ("nicht nötig", "not needed"),
    "not_run": ("nicht ausgeführt", "not run"), "not_confirmed": ("nicht bestätigt", "not confirmed"),
    "undone": ("zurückgenommen", "undone"), "undo_failed": ("Rücknahme fehlgeschlagen", "undo failed"),
    "interrupted": ("unterbrochen", "interrupted"), "dry_run": ("Probelauf", "dry run"),
    "listed": ("zur Prüfung vermerkt", "noted for review"), "running": ("läuft", "running"),
}
_SEVERITY: dict[str, _T] = {"critical": ("Kritisch", "Critical"), "error": ("Fehler", "Error"),
                            "warning": ("Warnung", "Warning")}
_SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2}
_OS: dict[str, _T] = {"windows": ("Windows", "Windows"), "darwin": ("macOS", "macOS"), "linux": ("Linux", "Linux")}
_MONTHS: dict[str, tuple[str, ...]] = {
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November",
           "Dezember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")}
_WEEKDAYS: dict[str, tuple[str, ...]] = {"de": ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"),
                                         "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")}
_DAY_NAMES: dict[str, dict[str, str]] = {
    "de": {"MO": "montags", "TU": "dienstags", "WE": "mittwochs", "TH": "donnerstags", "FR": "freitags",
           "SA": "samstags", "SU": "sonntags"},
    "en": {"MO": "Mondays", "TU": "Tuesdays", "WE": "Wednesdays", "TH": "Thursdays", "FR": "Fridays",
           "SA": "Saturdays", "SU": "Sundays"}}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def _t(pair: _T, lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def _md(value: Any) -> str:
    """Data as Markdown text: one line, Markdown's and HTML's special characters escaped (a host name or a
    message can neither format the report nor inject markup)."""
    text = " ".join(str(value if value is not None else "").split())
    return _MD_SPECIAL.sub(r"\\\1", text).replace("&", "&amp;")


def _esc(value: Any) -> str:
    return html.escape(str(value if value is not None else ""), quote=True)


@lru_cache(maxsize=512)
def _catalogue_title(action: str, lang: str) -> str | None:
    from ..errors import TechCareError
    from ..repairs import get_action

    try:
        return get_action(action).title(lang) or None
    except TechCareError:  # an action of a plugin that is not installed here
        return None


def _action_title(action: Any, lang: str) -> str:
    """The catalogue's title of a repair action (``win.clear_temp`` → "Temporäre Dateien löschen")."""
    text = str(action or "")
    if not text:
        return tr("Schritt", "Step", lang)
    title = _catalogue_title(text, lang)
    return title or text.rsplit(".", 1)[-1].replace("_", " ").capitalize()


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None


def _when(value: Any, lang: str, *, weekday: bool = True) -> str:
    """A local time as the customer reads it: ``So 06.12.2026 02:00`` / ``Sun 2026-12-06 02:00``."""
    moment = _parse_time(value)
    if moment is None:
        return str(value or "–")
    day = _WEEKDAYS["en" if lang == "en" else "de"][moment.weekday()] + " " if weekday else ""
    if lang == "en":
        return f"{day}{moment:%Y-%m-%d %H:%M}"
    return f"{day}{moment:%d.%m.%Y %H:%M}"


def _utc_text(moment: datetime) -> str:
    return (moment.astimezone(timezone.utc) if moment.tzinfo else moment).replace(tzinfo=None).isoformat()


def _date(moment: datetime, lang: str) -> str:
    return f"{moment:%Y-%m-%d}" if lang == "en" else f"{moment:%d.%m.%Y}"


def _month_name(month: Any, lang: str) -> str:
    text = str(month or "")
    if re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", text):
        return f"{_MONTHS['en' if lang == 'en' else 'de'][int(text[5:7]) - 1]} {text[:4]}"
    return text


def _recurrence(schedule: dict[str, Any], lang: str) -> str:
    """``FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0`` → "wöchentlich sonntags um 02:00" (common rules in words; any
    other rule as "nach Plan")."""
    parts = dict(p.partition("=")[::2] for p in str(schedule.get("rrule") or "").upper().split(";") if "=" in p)
    freq = parts.get("FREQ")
    interval = parts.get("INTERVAL", "1")
    if freq not in ("DAILY", "WEEKLY", "MONTHLY") or set(parts) - {"FREQ", "INTERVAL", "BYDAY", "BYHOUR", "BYMINUTE",
                                                                     "BYMONTHDAY", "WKST"} or not interval.isdigit():
        return tr("nach Wartungsplan", "as scheduled", lang)
    every = int(interval)
    words = {("DAILY", 1): ("täglich", "daily"), ("WEEKLY", 1): ("wöchentlich", "weekly"),
             ("MONTHLY", 1): ("monatlich", "monthly")}
    unit = {"DAILY": ("Tage", "days"), "WEEKLY": ("Wochen", "weeks"), "MONTHLY": ("Monate", "months")}[freq]
    text = _t(words[(freq, every)], lang) if every == 1 else tr("alle {n} {u}", "every {n} {u}", lang, n=every,
                                                                   u=_t(unit, lang))
    names = _DAY_NAMES["en" if lang == "en" else "de"]
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    if days and all(d in names for d in days):
        text += " " + ", ".join(names[d] for d in days)
    elif days:
        return tr("nach Wartungsplan", "as scheduled", lang)
    if parts.get("BYMONTHDAY", "").isdigit():
        text += tr(" am {d}.", " on day {d}", lang, d=int(parts["BYMONTHDAY"]))
    start = _parse_time(schedule.get("dtstart"))
    hour, minute = parts.get("BYHOUR"), parts.get("BYMINUTE")
    if (hour is None or hour.isdigit()) and (minute is None or minute.isdigit()) and (start or hour):
        h = int(hour) if hour is not None else start.hour  # type: ignore[union-attr]
        m = int(minute) if minute is not None else (start.minute if start and hour is None else 0)
        text += tr(" um {t} Uhr", " at {t}", lang, t=f"{h:02d}:{m:02d}")
    window = schedule.get("window_minutes")
    if isinstance(window, int) and not isinstance(window, bool):
        span = f"{window // 60} h" + (f" {window % 60} min" if window % 60 else "") if window >= 60 else f"{window} min"
        text += tr(" (Wartungsfenster {w})", " (maintenance window {w})", lang, w=span)
    return text


def _reason(occ: dict[str, Any], lang: str) -> str:
    status = occ.get("status")
    reason = occ.get("reason")
    if isinstance(reason, str) and reason in _REASONS:
        return _t(_REASONS[reason], lang)
    if status in _OTHER_REASON:
        return _t(_OTHER_REASON[status], lang)
    return ""


def _step_lines(occ: dict[str, Any], lang: str) -> list[str]:
    out = []
    for step in occ.get("steps") or []:
        if not isinstance(step, dict):
            continue
        status = str(step.get("status") or "")
        state = _t(_STEP_STATUS[status], lang) if status in _STEP_STATUS else ""
        number = step.get("number")
        prefix = f"{number}. " if isinstance(number, int) and not isinstance(number, bool) else ""
        line = f"{prefix}{_action_title(step.get('action'), lang)}" + (f": {state}" if state else "")
        undo = str(step.get("undo") or "")
        if status == "failed" and undo.startswith("undone"):
            line += tr(" (automatisch zurückgenommen)", " (undone automatically)", lang)
        out.append(line)
    return out


def _failure_detail(occ: dict[str, Any]) -> str:
    """For a failed step: what the PC said went wrong (the host's own words; data, not a code)."""
    for step in occ.get("steps") or []:
        if isinstance(step, dict) and step.get("status") == "failed" and step.get("detail"):
            return str(step["detail"])[:300]
    return ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _health(host: dict[str, Any], lang: str) -> list[str]:
    """Disk health and pending updates of one PC, as sentences."""
    lines = []
    disk = host.get("disk_max_percent")
    if isinstance(disk, (int, float)) and not isinstance(disk, bool):
        lines.append(tr("Festplatten: die vollste ist zu {p:.0f} % belegt.", "Disks: the fullest is {p:.0f} % full.",
                        lang, p=float(disk)))
    smart = host.get("smart_failing")
    if smart is True:
        lines.append(tr("Festplattenzustand (SMART): eine Festplatte meldet Fehler – Datensicherung und Austausch "
                        "empfohlen.", "Disk health (SMART): a disk reports errors – backup and replacement "
                        "recommended.", lang))
    elif smart is False:
        lines.append(tr("Festplattenzustand (SMART): in Ordnung.", "Disk health (SMART): good.", lang))
    updates = _int(host.get("pending_updates"))
    if updates:
        lines.append(tr("Updates: {n} ausstehend.", "Updates: {n} pending.", lang, n=updates))
    elif updates == 0:
        lines.append(tr("Updates: keine ausstehend.", "Updates: none pending.", lang))
    if host.get("pending_reboot") is True:
        lines.append(tr("Ein Neustart steht aus (Updates werden erst danach wirksam).",
                        "A restart is pending (updates take effect only after it).", lang))
    if not lines:
        lines.append(tr("Keine aktuellen Messwerte.", "No current readings.", lang))
    return lines


#: A sample's alert rule -> the check of the diagnosis that says the same in more detail.
_SAME_AS_DIAGNOSIS = {"disk_warning": "disk_usage", "disk_critical": "disk_usage", "smart_failing": "smart",
                      "firewall_off": "firewall", "antivirus_off": "antivirus", "antivirus_missing": "antivirus"}


def _findings(host: dict[str, Any]) -> list[dict[str, Any]]:
    """The open findings worth a line: each once (a sample alert the newest diagnosis explains is left out),
    pending updates and a pending restart only in the condition lines."""
    found = [f for f in host.get("findings") or [] if isinstance(f, dict) and f.get("summary")]
    diagnosed = {str(f.get("check")).split(":", 1)[0] for f in found if f.get("source") == "diagnosis"}
    skip = {"pending_updates"} | ({"pending_reboot"} if host.get("pending_reboot") is True else set())
    found = [f for f in found if f.get("check") not in skip and not (
        f.get("source") == "sample" and _SAME_AS_DIAGNOSIS.get(str(f.get("check"))) in diagnosed)]
    return sorted(found, key=lambda f: _SEVERITY_ORDER.get(str(f.get("severity")), 3))


def _occurrences(host: dict[str, Any]) -> list[dict[str, Any]]:
    occs = [o for o in host.get("occurrences") or [] if isinstance(o, dict)]
    return sorted(occs, key=lambda o: str(o.get("planned_utc") or o.get("planned_local") or ""))


def _counts(data: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for host in data.get("hosts") or []:
        for occ in _occurrences(host) if isinstance(host, dict) else []:
            status = str(occ.get("status"))
            counts[status] = counts.get(status, 0) + 1
    return counts


def _summary(data: dict[str, Any], lang: str) -> str:
    hosts = [h for h in data.get("hosts") or [] if isinstance(h, dict)]
    counts = _counts(data)
    parts = [tr("{n} PC(s)", "{n} PC(s)", lang, n=len(hosts))]
    done = sum(counts.values()) - counts.get("pending", 0)
    parts.append(tr("{n} Wartungstermin(e) im Zeitraum", "{n} maintenance date(s) in the period", lang, n=done))
    details = [f"{counts[s]} {_t(_STATUS[s], lang).lower()}" for s in ("ran", "failed", "missed", "skipped",
                                                                      "running") if counts.get(s)]
    if counts.get("delivered"):
        details.append(f"{counts['delivered']} {_t(_STATUS['delivered'], lang).lower()}")
    text = ", ".join(parts) + (": " + ", ".join(details) if details else "") + "."
    if counts.get("pending"):
        text += " " + tr("{n} weitere(r) Termin(e) folgen in diesem Monat.",
                         "{n} more date(s) follow this month.", lang, n=counts["pending"])
    return text


@dataclass
class _Row:
    when: str
    status: str
    label: str
    what: list[str]
    why: str
    detail: str


def _rows(host: dict[str, Any], lang: str, schedules: dict[str, str], many: bool) -> list[_Row]:
    rows = []
    for occ in _occurrences(host):
        status = str(occ.get("status") or "")
        label = f"{_ICON.get(status, '?')} {_t(_STATUS.get(status, (status, status)), lang)}"
        why = _reason(occ, lang) if status in ("failed", "missed", "skipped") else ""
        what = _step_lines(occ, lang) if status not in ("pending", "missed") else []
        if many:
            name = str(occ.get("schedule") or schedules.get(str(occ.get("schedule_id")), ""))
            what = ([name] if name else []) + what
        detail = _failure_detail(occ) if status == "failed" else ""
        rows.append(_Row(_when(occ.get("planned_local"), lang), status, label, what, why, detail))
    return rows


def _headers(lang: str) -> list[str]:
    return [tr("Termin (Ortszeit)", "Date (local time)", lang), tr("Ergebnis", "Result", lang),
            tr("Was gemacht wurde / Grund", "What was done / why", lang)]


def _title(data: dict[str, Any], lang: str) -> str:
    return tr("Wartungsbericht {m}", "Maintenance report {m}", lang, m=_month_name(data.get("month"), lang))


def _meta(data: dict[str, Any], lang: str) -> list[tuple[str, str]]:
    period = data.get("period") if isinstance(data.get("period"), dict) else {}
    meta = []
    if data.get("organisation"):
        meta.append((tr("Dienstleister", "Service provider", lang), str(data["organisation"])))
    if data.get("tag"):
        meta.append((tr("Gruppe", "Group", lang), str(data["tag"])))
    start, until = _parse_time(period.get("from")), _parse_time(period.get("until"))
    if start and until:
        last = until.fromordinal(until.toordinal() - 1)
        meta.append((tr("Zeitraum", "Period", lang), f"{_date(start, lang)} – {_date(last, lang)}"))
    created = _parse_time(data.get("generated_at"))
    if created is not None:
        meta.append((tr("Erstellt", "Created", lang), _when(_utc_text(created), lang, weekday=False) + " UTC"))
    return meta


def _schedule_lines(data: dict[str, Any], lang: str) -> list[tuple[str, str, str]]:
    out = []
    for s in data.get("schedules") or []:
        if not isinstance(s, dict):
            continue
        state = {"paused": tr("pausiert", "paused", lang), "deleted": tr("beendet", "ended", lang),
                 "ended": tr("beendet", "ended", lang)}.get(str(s.get("status")), "")
        out.append((str(s.get("name") or tr("Wartungsplan", "Maintenance plan", lang)), _recurrence(s, lang), state))
    return out


def _host_heading(host: dict[str, Any], lang: str) -> str:
    os_name = _OS.get(str(host.get("os") or ""))
    return str(host.get("host") or "?") + (f" ({_t(os_name, lang)})" if os_name else "")


def _last_seen(host: dict[str, Any], lang: str) -> str:
    seen = _parse_time(host.get("last_seen"))
    if seen is None:
        return ""
    text = tr("Zuletzt gemeldet: {t} UTC", "Last seen: {t} UTC", lang, t=_when(_utc_text(seen), lang, weekday=False))
    if host.get("status") == "overdue":
        text += tr(" – meldet sich derzeit nicht.", " – not reporting at the moment.", lang)
    return text


def _check_lang(lang: Any) -> str:
    if lang not in LANGUAGES:
        raise ValueError(tr("Sprache {v!r}: erlaubt sind {a}.", "Language {v!r}: allowed are {a}.", v=lang,
                            a=", ".join(LANGUAGES)))
    return str(lang)


def _check_data(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("kind") != "maintenance_report" or data.get("v") != 1:
        raise ValueError(tr("Das sind keine Daten eines Wartungsberichts (erwartet kind maintenance_report, v 1 von "
                            "GET /api/reports/maintenance).", "This is not maintenance report data (expected kind "
                            "maintenance_report, v 1 from GET /api/reports/maintenance).")) from None
    if not isinstance(data.get("hosts", []), list):
        raise ValueError(tr("Wartungsbericht: hosts ist keine Liste.", "Maintenance report: hosts is not a list."))
    return data


# ---- Markdown -----------------------------------------------------------------------------------------------------

def _markdown(data: dict[str, Any], lang: str) -> str:
    hosts = [h for h in data.get("hosts") or [] if isinstance(h, dict)]
    schedules = {str(s.get("schedule_id")): str(s.get("name") or "") for s in data.get("schedules") or []
                 if isinstance(s, dict)}
    many = len(schedules) > 1
    out = [f"# {_md(_title(data, lang))}", ""]
    out += [f"- **{_md(k)}:** {_md(v)}" for k, v in _meta(data, lang)]
    out += ["", f"## {_md(tr('Zusammenfassung', 'Summary', lang))}", "", _md(_summary(data, lang)), ""]
    lines = _schedule_lines(data, lang)
    if lines:
        out += [f"**{_md(tr('Wartungspläne', 'Maintenance plans', lang))}:**", ""]
        out += [f"- {_md(name)}: {_md(when)}" + (f" ({_md(state)})" if state else "") for name, when, state in lines]
        out.append("")
    if not hosts:
        out += [_md(tr("Keine PCs in dieser Gruppe.", "No PCs in this group.", lang)), ""]
    for host in hosts:
        out += [f"## {_md(_host_heading(host, lang))}", ""]
        seen = _last_seen(host, lang)
        if seen:
            out += [_md(seen), ""]
        out += [f"### {_md(tr('Wartungen', 'Maintenance', lang))}", ""]
        rows = _rows(host, lang, schedules, many)
        if rows:
            out += ["| " + " | ".join(_md(h) for h in _headers(lang)) + " |", "|---|---|---|"]
            for r in rows:
                cell = "; ".join(_md(w) for w in r.what)
                extra = " ".join(_md(x) for x in (r.why, r.detail) if x)
                cell = " – ".join(x for x in (cell, extra) if x) or "–"
                out.append(f"| {_md(r.when)} | {_md(r.label)} | {cell} |")
        else:
            out.append(_md(tr("In diesem Monat war keine Wartung geplant.", "No maintenance was scheduled this "
                              "month.", lang)))
        out += ["", f"### {_md(tr('Zustand', 'Condition', lang))}", ""]
        out += [f"- {_md(line)}" for line in _health(host, lang)]
        out += ["", f"### {_md(tr('Offene Befunde', 'Open findings', lang))}", ""]
        findings = _findings(host)
        if findings:
            out += [f"- **{_md(_t(_SEVERITY.get(str(f.get('severity')), ('Hinweis', 'Note')), lang))}:** "
                    f"{_md(f.get('summary'))}" for f in findings]
        else:
            out.append(_md(tr("Keine offenen Befunde.", "No open findings.", lang)))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ---- HTML ---------------------------------------------------------------------------------------------------------

_CSS = ("body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#212121;max-width:960px;margin:2em auto;"
        "padding:0 1em}table{border-collapse:collapse;width:100%;margin:.5em 0 1em}th,td{border:1px solid #ccc;"
        "padding:.35em .6em;text-align:left;vertical-align:top}th{background:#f5f5f5}h2{border-bottom:2px solid "
        "#1565c0;padding-bottom:.2em;margin-top:1.6em}.meta td{border:none;padding:.1em .8em .1em 0}"
        ".why{color:#555}@media print{h2{page-break-before:auto}}")


def _html_body(data: dict[str, Any], lang: str) -> str:
    hosts = [h for h in data.get("hosts") or [] if isinstance(h, dict)]
    schedules = {str(s.get("schedule_id")): str(s.get("name") or "") for s in data.get("schedules") or []
                 if isinstance(s, dict)}
    many = len(schedules) > 1
    out = [f"<div class='techcare-maintenance-report'><h1>{_esc(_title(data, lang))}</h1>", "<table class='meta'>"]
    out += [f"<tr><td><strong>{_esc(k)}</strong></td><td>{_esc(v)}</td></tr>" for k, v in _meta(data, lang)]
    out += ["</table>", f"<h2>{_esc(tr('Zusammenfassung', 'Summary', lang))}</h2>",
            f"<p>{_esc(_summary(data, lang))}</p>"]
    lines = _schedule_lines(data, lang)
    if lines:
        out.append(f"<p><strong>{_esc(tr('Wartungspläne', 'Maintenance plans', lang))}:</strong></p><ul>")
        out += [f"<li>{_esc(name)}: {_esc(when)}" + (f" ({_esc(state)})" if state else "") + "</li>"
                for name, when, state in lines]
        out.append("</ul>")
    if not hosts:
        out.append(f"<p>{_esc(tr('Keine PCs in dieser Gruppe.', 'No PCs in this group.', lang))}</p>")
    for host in hosts:
        out.append(f"<section><h2>{_esc(_host_heading(host, lang))}</h2>")
        seen = _last_seen(host, lang)
        if seen:
            out.append(f"<p><small>{_esc(seen)}</small></p>")
        out.append(f"<h3>{_esc(tr('Wartungen', 'Maintenance', lang))}</h3>")
        rows = _rows(host, lang, schedules, many)
        if rows:
            out.append("<table><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in _headers(lang))
                       + "</tr></thead><tbody>")
            for r in rows:
                what = "<br>".join(_esc(w) for w in r.what)
                why = "".join(f"<div class='why'>{_esc(x)}</div>" for x in (r.why, r.detail) if x)
                colour = _COLOUR.get(r.status, "#212121")
                out.append(f"<tr><td>{_esc(r.when)}</td><td style='color:{colour};font-weight:bold'>"
                           f"{_esc(r.label)}</td><td>{what or ('' if why else '–')}{why}</td></tr>")
            out.append("</tbody></table>")
        else:
            none = tr("In diesem Monat war keine Wartung geplant.", "No maintenance was scheduled this month.", lang)
            out.append(f"<p>{_esc(none)}</p>")
        out.append(f"<h3>{_esc(tr('Zustand', 'Condition', lang))}</h3><ul>")
        out += [f"<li>{_esc(line)}</li>" for line in _health(host, lang)]
        out.append(f"</ul><h3>{_esc(tr('Offene Befunde', 'Open findings', lang))}</h3>")
        findings = _findings(host)
        if findings:
            out.append("<ul>")
            out += [f"<li><strong>{_esc(_t(_SEVERITY.get(str(f.get('severity')), ('Hinweis', 'Note')), lang))}:"
                    f"</strong> {_esc(f.get('summary'))}</li>" for f in findings]
            out.append("</ul>")
        else:
            out.append(f"<p>{_esc(tr('Keine offenen Befunde.', 'No open findings.', lang))}</p>")
        out.append("</section>")
    out.append("</div>")
    return "\n".join(out)


def _html_document(body: str, title: str, lang: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang='{lang}'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


def render_report(data: dict[str, Any], lang: str) -> tuple[str, str]:
    """The maintenance report of ``data`` (the JSON of ``GET /api/reports/maintenance``) in ``lang`` (``de`` or
    ``en``) as ``(markdown, html)``; the HTML is a standalone document. Every value of the data is escaped.
    :class:`ValueError` (German/English) for data of another kind or a language other than de/en."""
    lang = _check_lang(lang)
    data = _check_data(data)
    return _markdown(data, lang), _html_document(_html_body(data, lang), _title(data, lang), lang)


@dataclass
class MaintenanceReport:
    """A rendered maintenance report: ``markdown``, ``html`` (a standalone document), ``lang``, the ``data`` it was
    made from. :meth:`save` writes it; notebooks show it inline."""

    data: dict[str, Any]
    lang: str
    markdown: str
    html: str

    @classmethod
    def from_data(cls, data: dict[str, Any], lang: str) -> MaintenanceReport:
        markdown, document = render_report(data, lang)
        return cls(data=data, lang=lang, markdown=markdown, html=document)

    @property
    def title(self) -> str:
        return _title(self.data, self.lang)

    @property
    def totals(self) -> dict[str, int]:
        """Occurrences per status over every PC (``{"ran": 7, "missed": 1, ...}``)."""
        return _counts(self.data)

    def save(self, path: str | Path) -> Path:
        """Write the report to ``path``: ``.md`` → Markdown, ``.html``/``.htm`` → HTML. Returns the path."""
        target = Path(path).expanduser()
        writers: dict[str, Callable[[], str]] = {".md": lambda: self.markdown, ".markdown": lambda: self.markdown,
                                                 ".html": lambda: self.html, ".htm": lambda: self.html}
        make = writers.get(target.suffix.lower())
        if make is None:
            from ._payload import FleetError

            raise FleetError(tr("{p}: Dateiendung .md (Markdown) oder .html (HTML) angeben.",
                                "{p}: use the file extension .md (Markdown) or .html (HTML).", p=target))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(make(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        return _html_body(self.data, self.lang)

    def __repr__(self) -> str:
        hosts = len([h for h in self.data.get("hosts") or [] if isinstance(h, dict)])
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.totals.items()))
        return f"<MaintenanceReport {self.data.get('tag') or '-'} {self.data.get('month')} {self.lang}: " \
               f"{hosts} PCs, {counts or '-'}>"

    def __str__(self) -> str:
        return self.markdown
