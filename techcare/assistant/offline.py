"""The offline engine: deterministic answers in German and English from the triage, the findings and past
cases, without a network.

:class:`OfflineEngine` turns a message into a :class:`~techcare.assistant.reply.Reply`: it explains which words
and findings led to the categories (:mod:`._triage`), ranks catalogue repairs (findings first, then the
category's defaults, then what worked in similar past cases; repairs that failed on similar symptoms move down,
never before what they need: :func:`.cases.rank_actions`) and proposes a :class:`~techcare.repairs.Plan`. It
never runs anything.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..diagnosis import severity_word
from ..i18n import tr
from . import cases
from .knowledge import Category, Knowledge, default_knowledge
from .reply import Reply
from ._triage import Evidence, Triage, finding_key, triage_details

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis, Finding
    from .tools import ToolBox

__all__ = ["OfflineEngine"]


class OfflineEngine:
    """Answers from the knowledge files, the findings and past cases. Never runs anything."""

    name = "offline"

    def __init__(self, knowledge: Knowledge | None = None) -> None:
        self.knowledge = knowledge or default_knowledge()

    # The context (a ToolBox) gives the language, OS, findings, reports, cases and plan building.
    def respond(self, message: str, tools: ToolBox, *, history: list[dict[str, Any]] | None = None,
                notice: str | None = None) -> Reply:
        """Route the message: a direct request (driver updates, events, past cases, a diagnosis) gets its report;
        a symptom (or a follow-up that keeps the previous topic) gets the matching findings and a plan."""
        from ..plugins._assistant import offline_answer  # a plugin tool whose trigger word is in the message

        answer = offline_answer(tools, message)
        if answer is not None:
            return Reply(text=_with_notice(answer["text"], notice, tools.language), engine=self.name,
                         plan=answer["plan"], notice=notice, route="plugin", data=answer["data"])
        message_only = triage_details(message, None, self.knowledge)
        intent = self._direct_intent(message_only)
        reports = {"driver_updates": self._drivers_report, "events": self._events_report, "cases": self._cases_report}
        if intent in reports:
            return reports[intent](message, tools, notice)
        diagnosis = tools.diagnosis()
        findings = diagnosis.problems if diagnosis is not None else []
        if intent == "diagnose" and not message_only.ranked:
            return self._diagnosis_report(message, findings, tools, notice)
        follow_up = not message_only.ranked and intent is None
        details, carried = self._topic(message, diagnosis, history if follow_up else None)
        if not details.ranked:
            return self._not_understood(tools.language, notice)
        return self._plan_reply(message, details, carried, findings, tools, notice)

    def _topic(self, message: str, diagnosis: Diagnosis | None,
               history: list[dict[str, Any]] | None) -> tuple[Triage, bool]:
        """The triage of the message with the findings — for a follow-up that names no symptom ("und jetzt?",
        "still not working") with the categories of the last plan in ``history``; and whether it was carried."""
        details = triage_details(message, diagnosis, self.knowledge)
        previous = next((t for t in reversed(history or []) if t.get("categories") and t.get("route", "plan") == "plan"),
                        None)
        if previous is not None:
            ranked = [(c, float(p)) for c, p in previous["categories"] if c in self.knowledge.categories]
            if ranked:
                details.ranked = ranked
                return details, True
        return details, False

    def _not_understood(self, lang: str, notice: str | None) -> Reply:
        text = tr("Ich konnte die Nachricht keinem bekannten Problem zuordnen. Beschreibe bitte das Symptom "
                  "(z. B. „kein Internet“, „Drucker druckt nicht“, „Bluescreen“, „PC ist lahm“) oder frage nach "
                  "einer Diagnose („Prüfe System“).",
                  "I could not map the message to a known problem. Please describe the symptom (e.g. “no "
                  "internet”, “printer does not print”, “blue screen”, “PC is slow”) or ask for a diagnosis "
                  "(“check the system”).", lang)
        return Reply(text=_with_notice(text, notice, lang), engine=self.name, notice=notice, categories=[])

    def _plan_reply(self, message: str, details: Triage, carried: bool, findings: list[Finding], tools: ToolBox,
                    notice: str | None) -> Reply:
        """The top category explained, its matching findings, the evidence of past cases and the proposed plan."""
        lang = tools.language
        kb = self.knowledge
        top = details.ranked[0][0]
        category = kb.categories[top]
        used = [f for f in findings if self._finding_matches(f, category)]
        ranked_actions, scores = self._candidates(message, category, used, tools)
        data = None
        if top == "drivers":  # "Treiber aktualisieren": the report, and installs for its updates
            data = tools.driver_updates_frame()
            for entry in tools.driver_install_entries(data):
                if entry not in ranked_actions:
                    ranked_actions.append(entry)
        plan, dropped = tools.build_plan(ranked_actions, symptom=message)
        lines = [self._headline(details, category, lang, carried)]
        reasons = self._reasons(details.evidence.get(top, []), lang)
        if reasons and not carried:
            lines.append(reasons)
        if category.explain(lang):
            lines.append(category.explain(lang))
        if used:
            lines.append(tr("Passende Befunde:", "Matching findings:", lang))
            lines.extend(f"  - [{severity_word(f.severity, lang)}] {f.summary(lang)}" for f in used)
        evidence = cases.evidence_text(scores, lang)
        if evidence:
            lines.append(tr("Ähnliche frühere Fälle – ", "Similar past cases – ", lang) + evidence + ".")
        if top == "drivers":
            lines.append(tools.describe_driver_updates(data))
        if plan is not None and plan.steps:
            lines.extend(tools.plan_lines(plan))
            numbers = ",".join(str(i) for i in range(1, len(plan.steps) + 1))
            lines.append(tr("Freigabe einzelner Schritte mit „GO REPAIR: {n}“.", "Approve steps with “GO REPAIR: {n}”.",
                            lang, n=numbers))
        else:
            lines.append(tr("Dafür gibt es keine automatische Reparatur im Katalog – bitte manuell prüfen.",
                            "There is no automatic repair in the catalogue for this – please check manually.", lang))
        lines.extend(tools.plan_lines(None, dropped))
        others = [f"{kb.categories[c].title(lang)} ({p:.0%})" for c, p in details.ranked[1:3]]
        if others:
            lines.append(tr("Weitere mögliche Ursachen: {o}.", "Other possible causes: {o}.", lang, o=", ".join(others)))
        return Reply(text=_with_notice("\n".join(lines), notice, lang), engine=self.name, findings=used,
                     plan=plan if plan is not None and plan.steps else None, categories=details.ranked,
                     notice=notice, data=data, route="plan")

    # ---- pieces ----------------------------------------------------------------------------------------------
    def _direct_intent(self, details: Triage) -> str | None:
        kb = self.knowledge
        best = max(details.intents.items(), key=lambda kv: kv[1], default=(None, 0.0))
        if not best[0] or best[1] < kb.diagnose_threshold:
            return None
        if details.fix_score >= kb.fix_threshold:
            return "diagnose" if best[0] == "diagnose" else None
        return best[0]

    @staticmethod
    def _finding_matches(finding: Finding, category: Category) -> bool:
        full, prefix = finding_key(finding.check)
        return bool(category.findings.get(full) or category.findings.get(prefix))

    def _candidates(self, message: str, category: Category, used: list[Finding],
                    tools: ToolBox) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
        """The repairs to propose, ranked, and the past-case evidence that ranked them."""
        platform = tools.platform
        entries: list[dict[str, Any]] = []
        where: dict[tuple[str, str], int] = {}
        needs: dict[int, set[int]] = {}

        def add(action: str, params: dict[str, Any] | None, origin: str) -> int:
            """The index of the entry for ``action`` with ``params`` (added unless an equal one is there)."""
            key = (action, json.dumps(params or {}, sort_keys=True, default=str))
            if key not in where and not params:
                key = next((k for k in where if k[0] == action), key)
            if key not in where:
                where[key] = len(entries)
                entries.append({"action": action, "params": dict(params or {}), "origin": origin})
            return where[key]

        for finding in used:
            # a finding lists its repairs in the order they must run: each needs the ones before it
            previous: list[int] = []
            for action in finding.repairs:
                index = add(action, finding.repair_params.get(action), f"finding:{finding.check}")
                needs.setdefault(index, set()).update(i for i in previous if i != index)
                previous.append(index)
        for entry in category.repairs.get(platform, []):
            action = entry["action"]
            if any(e["action"] == action for e in entries):
                continue
            add(action, entry.get("params"), "knowledge")
        scores = tools.case_scores(message)
        for action, info in scores.items():  # what worked on similar symptoms is worth proposing too
            if info["score"] > 0 and action.split(".", 1)[0] in _PREFIXES[platform] and \
                    not any(e["action"] == action for e in entries):
                add(action, None, "cases")
        return cases.rank_actions(entries, scores, needs=needs), scores

    def _headline(self, details: Triage, category: Category, lang: str, carried: bool) -> str:
        confidence = details.ranked[0][1]
        if carried:
            return tr("Weiter beim Thema {c}.", "Continuing with {c}.", lang, c=category.title(lang))
        return tr("Offline-Analyse: {c} (Sicherheit {p:.0%}).", "Offline analysis: {c} (confidence {p:.0%}).", lang,
                  c=category.title(lang), p=confidence)

    @staticmethod
    def _reasons(evidence: list[Evidence], lang: str) -> str:
        words = [e.text for e in evidence if e.kind in ("phrase", "combo")]
        checks = [e.text for e in evidence if e.kind == "finding"]
        parts = []
        if words:
            parts.append(tr("erkannt an „{w}“", "recognised from “{w}”", lang, w="“, “".join(words[:5]) if lang == "en"
                            else "“, „".join(words[:5])))
        if checks:
            parts.append(tr("Befunde {c}", "findings {c}", lang, c=", ".join(checks)))
        return (tr("Begründung: ", "Reasoning: ", lang) + "; ".join(parts) + ".") if parts else ""

    def _drivers_report(self, message: str, tools: ToolBox, notice: str | None) -> Reply:
        lang = tools.language
        frame = tools.driver_updates_frame()
        text = tools.describe_driver_updates(frame)
        text += "\n" + tr("Kein Reparaturplan nötig – für Installationen „Treiber aktualisieren“ schreiben.",
                          "No repair plan needed – write “update drivers” to install updates.", lang)
        return Reply(text=_with_notice(text, notice, lang), engine=self.name, categories=[("drivers", 1.0)],
                     data=frame, route="driver_updates", notice=notice)

    def _events_report(self, message: str, tools: ToolBox, notice: str | None) -> Reply:
        lang = tools.language
        events = tools.recent_events(limit=10)
        if not events:
            text = tr("Keine aktuellen Fehlerereignisse gefunden.", "No recent error events found.", lang)
        else:
            text = tr("Aktuelle Fehlerereignisse:", "Recent error events:", lang) + "\n" + "\n".join(
                f"  - {e.get('time', '')} [{e.get('level', '')}] {e.get('source', '')}: "
                f"{str(e.get('message', '')).splitlines()[0][:160] if e.get('message') else ''}" for e in events)
        return Reply(text=_with_notice(text, notice, lang), engine=self.name, categories=[], route="events",
                     data=events, notice=notice)

    def _cases_report(self, message: str, tools: ToolBox, notice: str | None) -> Reply:
        lang = tools.language
        frame = tools.search_cases_frame(message)
        if frame is None or frame.empty:
            text = tr("Keine ähnlichen früheren Fälle gefunden.", "No similar past cases found.", lang)
        else:
            text = tr("Ähnliche frühere Fälle:", "Similar past cases:", lang) + "\n" + "\n".join(
                f"  - {row.symptom} → {', '.join(row.actions)} ({row.outcome}, {row.score:.2f})"
                for row in frame.head(10).itertuples())
        return Reply(text=_with_notice(text, notice, lang), engine=self.name, categories=[], route="cases", data=frame,
                     notice=notice)

    def _diagnosis_report(self, message: str, findings: list[Finding], tools: ToolBox, notice: str | None) -> Reply:
        lang = tools.language
        if not findings:
            text = tr("Diagnose: keine Warnungen oder kritischen Befunde.", "Diagnosis: no warnings or critical findings.", lang)
            return Reply(text=_with_notice(text, notice, lang), engine=self.name, route="diagnose", notice=notice)
        entries = []
        for finding in findings:
            for action in finding.repairs:
                entries.append({"action": action, "params": dict(finding.repair_params.get(action) or {})})
        plan, dropped = tools.build_plan(entries, symptom=message)
        lines = [tr("Diagnose: {n} Probleme.", "Diagnosis: {n} problems.", lang, n=len(findings))]
        lines.extend(f"  - [{severity_word(f.severity, lang)}] {f.summary(lang)}" for f in findings)
        lines.extend(tools.plan_lines(plan, dropped))
        triaged = triage_details(message, findings, self.knowledge).ranked
        return Reply(text=_with_notice("\n".join(lines), notice, lang), engine=self.name, findings=list(findings),
                     plan=plan if plan is not None and plan.steps else None, categories=triaged, route="diagnose",
                     notice=notice)


_PREFIXES = {"windows": ("win", "drivers"), "linux": ("linux", "drivers"), "darwin": ("macos", "drivers")}


def _with_notice(text: str, notice: str | None, lang: str) -> str:
    return f"{notice}\n{text}" if notice else text
