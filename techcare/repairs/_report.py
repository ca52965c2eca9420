"""The customer repair report (Reparaturprotokoll) in German or English, as Markdown and HTML.

Built only from the session's changelog, so it shows what really happened: what was found, what was approved,
what was done and with what result, what was undone, technician and company. A changelog with damaged lines is
said at the top, and a step whose state it cannot prove is "not proven", never "not run" or "interrupted".
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RepairError
from ..i18n import get_language, tr
from ._changelog import read_entries, read_journal, sessions

__all__ = ["Report", "report"]

_STATUS = {
    "finished": ("Erledigt", "Done"), "failed": ("Fehlgeschlagen", "Failed"),
    "skipped": ("Nicht nötig", "Not needed"), "not_confirmed": ("Nicht bestätigt", "Not confirmed"),
    "dry_run": ("Probelauf", "Dry run"), "not_run": ("Nicht ausgeführt", "Not run"),
    "interrupted": ("Unterbrochen", "Interrupted"),
    "unproven": ("Nicht belegt (Protokoll beschädigt)", "Not proven (changelog damaged)"),
}


@dataclass
class Report:
    session: str
    lang: str
    markdown: str
    html: str
    markdown_path: Path
    html_path: Path

    def _repr_html_(self) -> str:
        return self.html


def _latest_real_session() -> str:
    for name in reversed(sessions()):
        entries = read_entries(name)
        if entries and not entries[0].get("dry_run"):
            return name
    all_sessions = sessions()
    if not all_sessions:
        raise RepairError(tr("Noch keine Reparatursitzung – nichts zu berichten.",
                             "No repair session yet – nothing to report."))
    return all_sessions[-1]


def _collect(session: str, lang: str) -> dict[str, Any]:
    journal = read_journal(session)
    entries = read_entries(session)
    if not entries:   # a journal deleted while its .head remains has none either: the loss is the news
        raise RepairError(journal.message(lang) if journal.damaged else
                          tr("Keine Einträge für Sitzung {s}.", "No entries for session {s}.", lang, s=session))
    run = next((e for e in entries if e.get("event") == "run"), entries[0])
    plan = run.get("plan") or {}
    step_info = {s["number"]: s for s in plan.get("steps", [])}
    status: dict[int, dict[str, Any]] = {}
    undone: list[dict[str, Any]] = []
    for e in entries:
        number, event = e.get("step"), e.get("event")
        if not isinstance(number, int):
            continue
        if event == "started":
            status[number] = {"status": "interrupted", "detail": "", "ts": e.get("ts")}
        elif event in ("finished", "failed", "dry_run"):
            status[number] = {"status": event, "detail": e.get("detail", ""), "undo": e.get("undo"), "ts": e.get("ts")}
        elif event == "skipped":
            kind = "not_confirmed" if e.get("reason") == "not_confirmed" else "skipped"
            status[number] = {"status": kind, "detail": e.get("detail", ""), "ts": e.get("ts")}
        elif event == "undo_skipped" and any(u["step"] == number and u["event"] == event for u in undone):
            continue   # older versions said it again on every rollback: once is what happened
        elif event in ("undone", "undo_failed", "undo_skipped"):
            undone.append({"step": number, "action": e.get("action_id"), "event": event, "detail": e.get("detail", ""),
                           "ts": e.get("ts")})
    for e in entries:
        if e.get("event") == "failed" and e.get("undo_status") in ("undone", "undo_failed") and isinstance(
                e.get("step"), int):
            undone.append({"step": e["step"], "action": e.get("action_id"), "event": "auto", "detail": e["undo"],
                           "ts": e.get("ts")})
    approved = run.get("approved") or []
    for number in approved:
        status.setdefault(number, {"status": "not_run", "detail": ""})
    damage = journal.message(lang) if journal.damaged else ""
    if damage:   # a lost line may have been this step's start or end: not run / interrupted cannot be proven
        for st in status.values():
            if st["status"] in ("not_run", "interrupted"):
                st["status"] = "unproven"
    undone.sort(key=lambda u: str(u.get("ts") or ""))
    return {"run": run, "plan": plan, "steps": step_info, "status": status, "undone": undone, "approved": approved,
            "end": entries[-1].get("ts", ""), "findings": plan.get("findings") or [], "damage": damage}


def _title(info: dict[str, Any], number: int, lang: str) -> str:
    step = info["steps"].get(number) or {}
    from ._catalog import get_action

    try:
        return get_action(step.get("action", "")).title(lang)
    except RepairError:
        return step.get("title") or step.get("action", "?")


def _markdown(session: str, info: dict[str, Any], lang: str) -> str:
    run = info["run"]
    t = lambda de, en, **kw: tr(de, en, lang, **kw)
    lines = [f"# {t('Reparaturprotokoll', 'Repair report')}", ""]
    lines += ["| | |", "|---|---|",
              f"| {t('Computer', 'Computer')} | {_md(run.get('host', ''))} ({_md(run.get('platform', ''))}) |",
              f"| {t('Techniker', 'Technician')} | {_md(run.get('technician') or '-')} |",
              f"| {t('Firma', 'Company')} | {_md(run.get('company') or '-')} |",
              f"| {t('Beginn', 'Started')} | {_md(run.get('ts', ''))} |", f"| {t('Ende', 'Finished')} | {_md(info['end'])} |",
              f"| {t('Sitzung', 'Session')} | `{session}` |"]
    if info["damage"]:
        lines += ["", f"> **{_md(info['damage'])}**"]
    if run.get("dry_run"):
        lines += ["", f"> **{t('Probelauf: es wurde nichts am System geändert.', 'Dry run: nothing on the system was changed.')}**"]
    symptom = info["plan"].get("symptom")
    if symptom:
        lines += ["", f"**{t('Anliegen', 'Reported problem')}:** {_md(symptom)}"]
    lines += ["", f"## {t('Befund', 'What was found')}", ""]
    if info["findings"]:
        for f in info["findings"]:
            lines.append(f"- **{_md(_severity(f.get('severity', ''), lang))}**: {_md(f.get('summary_en' if lang == 'en' else 'summary_de', ''))}")
    else:
        lines.append(t("- (Plan ohne Diagnose erstellt)", "- (plan created without a diagnosis)"))
    lines += ["", f"## {t('Freigegeben', 'What was approved')}", "",
              t("Freigabe: „{a}“", "Approval: \u201c{a}\u201d", a=_md(run.get("approval", ""))), ""]
    for number in info["approved"]:
        step = info["steps"].get(number) or {}
        reason = step.get("reason_en" if lang == "en" else "reason_de") or ""
        lines.append(f"{number}. {_md(_title(info, number, lang))}" + (f" – {_md(reason)}" if reason else ""))
    lines += ["", f"## {t('Durchgeführt', 'What was done')}", "",
              f"| # | {t('Maßnahme', 'Action')} | {t('Ergebnis', 'Result')} | {t('Details', 'Details')} |",
              "|---|---|---|---|"]
    for number in sorted(info["status"]):
        st = info["status"][number]
        label = tr(*_STATUS.get(st["status"], (st["status"], st["status"])), lang)
        lines.append(f"| {number} | {_md(_title(info, number, lang))} | {label} | {_md(st.get('detail', ''))} |")
    lines += ["", f"## {t('Rückgängig gemacht', 'What was undone')}", ""]
    if info["undone"]:
        for u in info["undone"]:
            lines.append(f"- {u['step']}. {_md(_title(info, u['step'], lang))}: {_md(_undo_text(u, lang))}")
    else:
        lines.append(t("Nichts.", "Nothing."))
    lines += ["", "---", t("Erstellt von TechCare aus dem Änderungsprotokoll dieser Sitzung.",
                           "Generated by TechCare from this session's changelog."), ""]
    return "\n".join(lines)


def _undo_kind(event: str, lang: str) -> str:
    return {"undone": tr("zurückgenommen", "undone", lang),
            "undo_failed": tr("Zurücknehmen fehlgeschlagen", "undo failed", lang),
            "undo_skipped": tr("nicht umkehrbar", "cannot be undone", lang),
            "auto": tr("nach dem Fehler zurückgenommen", "undone after the failure", lang)}.get(event, event)


def _undo_text(u: dict[str, Any], lang: str) -> str:
    kind = _undo_kind(u["event"], lang)
    return kind if u["event"] in ("undone", "auto") else f"{kind} – {u['detail']}"


_SEVERITY = {"critical": ("kritisch", "critical"), "warning": ("Warnung", "warning"), "info": ("Hinweis", "info"),
             "unknown": ("unbekannt", "unknown"), "ok": ("in Ordnung", "ok")}


def _severity(value: str, lang: str) -> str:
    return tr(*_SEVERITY.get(value, (value, value)), lang)


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _html(md_info: dict[str, Any], session: str, lang: str) -> str:
    info, run = md_info, md_info["run"]
    t = lambda de, en, **kw: tr(de, en, lang, **kw)
    e = html.escape
    parts = [(f"<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{e(t('Reparaturprotokoll', 'Repair report'))}"
             f" – {e(str(run.get('host', '')))}</title><style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}"
             "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em;text-align:left}"
             ".failed{color:#b00}.finished{color:#070}</style></head><body>"),
             f"<h1>{e(t('Reparaturprotokoll', 'Repair report'))}</h1><table>"]
    for label, value in ((t("Computer", "Computer"), f"{run.get('host', '')} ({run.get('platform', '')})"),
                         (t("Techniker", "Technician"), run.get("technician") or "-"),
                         (t("Firma", "Company"), run.get("company") or "-"), (t("Beginn", "Started"), run.get("ts", "")),
                         (t("Ende", "Finished"), info["end"]), (t("Sitzung", "Session"), session)):
        parts.append(f"<tr><th>{e(label)}</th><td>{e(str(value))}</td></tr>")
    parts.append("</table>")
    if info["damage"]:
        parts.append(f"<p class=\"failed\"><strong>{e(info['damage'])}</strong></p>")
    if run.get("dry_run"):
        parts.append(f"<p><strong>{e(t('Probelauf: es wurde nichts am System geändert.', 'Dry run: nothing on the system was changed.'))}</strong></p>")
    if info["plan"].get("symptom"):
        parts.append(f"<p><strong>{e(t('Anliegen', 'Reported problem'))}:</strong> {e(info['plan']['symptom'])}</p>")
    parts.append(f"<h2>{e(t('Befund', 'What was found'))}</h2><ul>")
    for f in info["findings"]:
        parts.append(f"<li><strong>{e(_severity(f.get('severity', ''), lang))}</strong>: {e(f.get('summary_en' if lang == 'en' else 'summary_de', ''))}</li>")
    if not info["findings"]:
        parts.append(f"<li>{e(t('(Plan ohne Diagnose erstellt)', '(plan created without a diagnosis)'))}</li>")
    parts.append(f"</ul><h2>{e(t('Freigegeben', 'What was approved'))}</h2>"
                 f"<p>{e(t('Freigabe', 'Approval'))}: <code>{e(run.get('approval', ''))}</code></p><ol>")
    for number in info["approved"]:
        parts.append(f"<li value=\"{number}\">{e(_title(info, number, lang))}</li>")
    parts.append(f"</ol><h2>{e(t('Durchgeführt', 'What was done'))}</h2><table><tr><th>#</th><th>"
                 f"{e(t('Maßnahme', 'Action'))}</th><th>{e(t('Ergebnis', 'Result'))}</th><th>Details</th></tr>")
    for number in sorted(info["status"]):
        st = info["status"][number]
        label = tr(*_STATUS.get(st["status"], (st["status"], st["status"])), lang)
        parts.append(f"<tr class=\"{e(st['status'])}\"><td>{number}</td><td>{e(_title(info, number, lang))}</td>"
                     f"<td>{e(label)}</td><td>{e(st.get('detail', ''))}</td></tr>")
    parts.append(f"</table><h2>{e(t('Rückgängig gemacht', 'What was undone'))}</h2><ul>")
    for u in info["undone"]:
        parts.append(f"<li>{u['step']}. {e(_title(info, u['step'], lang))}: {e(_undo_text(u, lang))}</li>")
    if not info["undone"]:
        parts.append(f"<li>{e(t('Nichts.', 'Nothing.'))}</li>")
    parts.append(f"</ul><hr><p><small>{e(t('Erstellt von TechCare aus dem Änderungsprotokoll dieser Sitzung.', 'Generated by TechCare from this session’s changelog.'))}</small></p></body></html>")
    return "".join(parts)


def report(session: str | None = None, *, lang: str | None = None, out_dir: str | Path | None = None) -> Report:
    """Write the repair report of ``session`` (default: the latest real run) as Markdown and HTML.

    Files: ``<out_dir or data/reports>/<session>.<lang>.md`` and ``.html``. Returns both texts and paths.
    """
    from ..config import get_settings

    lang = lang or get_language()
    if lang not in ("de", "en"):
        raise RepairError(tr("Sprache {l!r} gibt es nicht. Erlaubt: de, en.", "Language {l!r} is not available. "
                             "Allowed: de, en.", l=lang))
    name = session or _latest_real_session()
    info = _collect(name, lang)
    markdown, page = _markdown(name, info, lang), _html(info, name, lang)
    folder = Path(out_dir) if out_dir is not None else Path(get_settings().data_dir) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    md_path, html_path = folder / f"{name}.{lang}.md", folder / f"{name}.{lang}.html"
    md_path.write_text(markdown, encoding="utf-8")
    html_path.write_text(page, encoding="utf-8")
    return Report(name, lang, markdown, page, md_path, html_path)
