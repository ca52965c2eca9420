"""Plans of numbered steps, and the strict ``GO REPAIR`` approval parser."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ApprovalError, RepairError
from ..i18n import tr
from ._catalog import get_action
from ._model import Action, normalise_platform, shell_word

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..diagnosis import Diagnosis
    from ..system.runner import CommandRunner
    from ._execute import RunResult

__all__ = ["Approval", "Plan", "Step", "parse_approval", "plan"]

RISK_ORDER = {"low": 0, "medium": 1, "high": 2}
MAX_APPROVAL_LENGTH = 500


@dataclass(frozen=True)
class Step:
    """One numbered step: a catalogue action with validated parameters, and the finding it addresses."""

    number: int
    action_id: str
    params: dict[str, Any]
    reason_de: str = ""
    reason_en: str = ""
    check: str = ""

    @property
    def action(self) -> Action:
        return get_action(self.action_id)

    @property
    def risk(self) -> str:
        return self.action.risk_for(self.params)

    @property
    def needs_admin(self) -> bool:
        return self.action.needs_admin

    def undo_note(self, lang: str | None = None) -> str | None:
        """None when undoable, else why not."""
        return self.action.undo_reason(self.params, lang)

    @property
    def undoable(self) -> bool:
        return self.undo_note() is None

    def commands(self) -> list[list[str]]:
        return self.action.commands(self.params)

    def command_text(self) -> list[str]:
        return [" ".join(shell_word(a) for a in argv) for argv in self.commands()]

    def title(self, lang: str | None = None) -> str:
        return self.action.title(lang)

    def reason(self, lang: str | None = None) -> str:
        return tr(self.reason_de, self.reason_en, lang)

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {"number": self.number, "action": self.action_id, "title": self.title(lang), "params": self.params,
                "risk": self.risk, "needs_admin": self.needs_admin, "undoable": self.undoable,
                "undo_note": self.undo_note(lang) or "", "commands": self.command_text(),
                "reason": self.reason(lang), "reason_de": self.reason_de, "reason_en": self.reason_en,
                "check": self.check}


@dataclass(frozen=True)
class Approval:
    """A parsed ``GO REPAIR`` approval, bound to one plan id."""

    plan_id: str
    steps: tuple[int, ...]
    text: str


class Plan:
    """Numbered steps for one platform. ``plan.id`` is a stable hash of platform and steps."""

    def __init__(self, steps: Iterable[Step], *, platform: str, source: str = "diagnosis", symptom: str | None = None,
                 host: str = "", findings: list[dict[str, Any]] | None = None, notes: list[str] | None = None) -> None:
        self.steps: list[Step] = list(steps)
        self.platform = normalise_platform(platform) or "linux"
        self.source = source
        self.symptom = symptom
        self.host = host
        self.findings = list(findings or [])
        self.notes = list(notes or [])
        self.last_run: RunResult | None = None
        for index, step in enumerate(self.steps, 1):
            if step.number != index:
                raise RepairError(f"steps must be numbered 1..n in order, got {step.number} at position {index}")
            if self.platform not in step.action.platforms:
                raise RepairError(tr("{a} gibt es nicht für {p} (nur {ok}).", "{a} is not available on {p} (only {ok}).",
                                     a=step.action_id, p=self.platform, ok=", ".join(step.action.platforms)))
        self.id = self.fingerprint()

    def fingerprint(self) -> str:
        """Hash of platform, actions and parameters as they are *now* (``id`` is this at construction)."""
        blob = json.dumps({"platform": self.platform, "steps": [[s.action_id, s.params] for s in self.steps]},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    # ---- construction --------------------------------------------------------------------------------------
    @classmethod
    def from_actions(cls, items: Iterable[dict[str, Any]], *, platform: str, source: str = "assistant",
                     symptom: str | None = None, host: str = "") -> Plan:
        """Build from ``[{"action": id, "params": {...}}, ...]`` (e.g. proposed by the assistant).

        Raises :class:`RepairError` naming the unknown action or bad parameter and what is allowed.
        """
        plat = normalise_platform(platform) or "linux"
        raw: list[tuple[str, dict[str, Any], str, str, str]] = []
        for index, item in enumerate(items, 1):
            if not isinstance(item, dict) or not isinstance(item.get("action"), str):
                raise RepairError(tr("Eintrag {i}: erwartet {{\"action\": \"<id>\", \"params\": {{...}}}}, nicht {v!r}.",
                                     "Item {i}: expected {{\"action\": \"<id>\", \"params\": {{...}}}}, not {v!r}.",
                                     i=index, v=item))
            unknown = sorted(set(item) - {"action", "params", "reason", "reason_de", "reason_en"})
            if unknown:
                raise RepairError(tr("Eintrag {i}: unbekannte Felder {u}. Erlaubt: action, params, reason.",
                                     "Item {i}: unknown fields {u}. Allowed: action, params, reason.",
                                     i=index, u=", ".join(unknown)))
            action = get_action(item["action"])
            if plat not in action.platforms:
                raise RepairError(tr("{a} gibt es nicht für {p} (nur {ok}).", "{a} is not available on {p} (only {ok}).",
                                     a=action.id, p=plat, ok=", ".join(action.platforms)))
            params = item.get("params") or {}
            if not isinstance(params, dict):
                raise RepairError(tr("{a}: params muss ein Objekt sein.", "{a}: params must be an object.", a=action.id))
            reason = str(item.get("reason") or "")
            raw.append((action.id, action.validate_params(params), str(item.get("reason_de") or reason),
                        str(item.get("reason_en") or reason), ""))
        steps = _number(_with_restore_point(raw, plat))
        return cls(steps, platform=plat, source=source, symptom=symptom, host=host)

    # ---- presentation --------------------------------------------------------------------------------------
    def to_frame(self, lang: str | None = None) -> pd.DataFrame:
        import pandas as pd

        columns = ["number", "action", "title", "params", "risk", "needs_admin", "undoable", "undo_note", "commands",
                   "reason"]
        return pd.DataFrame([{k: v for k, v in s.to_dict(lang).items() if k in columns} for s in self.steps],
                            columns=columns).set_index("number")

    def text(self, lang: str | None = None) -> str:
        head = tr("Reparaturplan {id} ({p}, {n} Schritte)", "Repair plan {id} ({p}, {n} steps)", lang,
                  id=self.id, p=self.platform, n=len(self.steps))
        lines = [head, "=" * len(head)]
        if not self.steps:
            lines.append(tr("Keine Reparaturschritte vorgeschlagen.", "No repair steps proposed.", lang))
        for s in self.steps:
            params = ", ".join(f"{k}={v!r}" for k, v in s.params.items()) or "-"
            lines.append(f"{s.number}. {s.title(lang)}  [{s.action_id}]")
            lines.append("   " + tr("Parameter: {p} | Risiko: {r} | Admin: {a} | Undo: {u}",
                                    "Parameters: {p} | Risk: {r} | Admin: {a} | Undo: {u}", lang, p=params,
                                    r=tr(*_RISK_WORDS.get(s.risk, (s.risk, s.risk)), lang),
                                    a=tr("ja", "yes", lang) if s.needs_admin else tr("nein", "no", lang),
                                    u=tr("ja", "yes", lang) if s.undoable else tr("nein – ", "no – ", lang) + (s.undo_note(lang) or "")))
            if s.reason(lang):
                lines.append("   " + tr("Grund: ", "Reason: ", lang) + s.reason(lang))
            for cmd in s.command_text():
                lines.append("   $ " + cmd)
        for note in self.notes:
            lines.append(tr("Hinweis: ", "Note: ", lang) + note)
        if self.steps:
            lines.append(tr("Freigabe: ", "Approve: ", lang) + "  |  ".join(self.approval_examples(lang)))
        return "\n".join(lines)

    def approval_examples(self, lang: str | None = None) -> list[str]:
        """``GO REPAIR`` texts valid for this plan (only step numbers it has)."""
        return approval_examples(len(self.steps), lang)

    def show(self, lang: str | None = None) -> str:
        """Print and return the plan: number, action, parameters, risk, admin need, undo, exact commands."""
        text = self.text(lang)
        print(text)
        return text

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Plan {self.id} {self.platform} steps={[s.action_id for s in self.steps]}>"

    def __len__(self) -> int:
        return len(self.steps)

    def _repr_html_(self) -> str:
        rows = []
        for s in self.steps:
            cmds = "<br>".join(f"<code>{html.escape(c)}</code>" for c in s.command_text())
            rows.append(f"<tr><td>{s.number}</td><td>{html.escape(s.title())}<br><small>{html.escape(s.action_id)}"
                        f"</small></td><td>{html.escape(json.dumps(s.params, ensure_ascii=False))}</td>"
                        f"<td>{s.risk}</td><td>{'✔' if s.needs_admin else ''}</td>"
                        f"<td>{'✔' if s.undoable else html.escape(s.undo_note() or '')}</td><td>{cmds}</td></tr>")
        head = "".join(f"<th>{h}</th>" for h in ("#", tr("Aktion", "Action"), tr("Parameter", "Parameters"),
                                                  tr("Risiko", "Risk"), "Admin", "Undo", tr("Befehle", "Commands")))
        return (f"<h4>{html.escape(tr('Reparaturplan', 'Repair plan'))} {self.id}</h4><table><tr>{head}</tr>"
                + "".join(rows) + "</table>")

    # ---- approval and execution -------------------------------------------------------------------------------
    def approve(self, text: str) -> Approval:
        return parse_approval(text, self)

    def approved(self, approval: Approval) -> list[Step]:
        """The steps ``approval`` releases, in order — or :class:`ApprovalError` when it is no approval of this very
        plan as it was shown (steps or parameters changed since, another plan's approval, unknown steps)."""
        if not isinstance(approval, Approval):
            raise ApprovalError(tr("Nichts läuft ohne Freigabe: erst parse_approval('GO REPAIR: …', plan).",
                                   "Nothing runs without an approval: use parse_approval('GO REPAIR: …', plan) first."))
        if self.fingerprint() != self.id:  # steps or parameters were changed after the plan was shown and approved
            raise ApprovalError(tr("Der Plan {p} wurde nach dem Anzeigen verändert – bitte neu ansehen und freigeben.",
                                   "Plan {p} was changed after it was shown – review and approve it again.", p=self.id))
        if approval.plan_id != self.id:
            raise ApprovalError(tr("Die Freigabe gehört zu Plan {a}, nicht zu diesem Plan {p} – bitte neu freigeben.",
                                   "The approval belongs to plan {a}, not to this plan {p} – please approve again.",
                                   a=approval.plan_id, p=self.id))
        numbers = approval.steps
        if (not isinstance(numbers, tuple) or not numbers  # built by hand: whole step numbers of this plan only
                or any(type(n) is not int or n < 1 or n > len(self.steps) for n in numbers)):
            raise ApprovalError(tr("Die Freigabe nennt keine gültigen Schritte.", "The approval names no valid steps."))
        return [self.steps[n - 1] for n in sorted(set(approval.steps))]

    def run(self, approval: Approval, runner: CommandRunner | None = None, *, dry_run: bool = False,
            confirm: Callable[[Step], bool] | None = None, progress: Callable[[str], None] | None = None,
            technician: str | None = None, company: str | None = None) -> RunResult:
        """Run the approved steps in order (see :func:`techcare.repairs._execute.run_plan`)."""
        from ._execute import run_plan

        result = run_plan(self, approval, runner=runner, dry_run=dry_run, confirm=confirm, progress=progress,
                          technician=technician, company=company)
        if not dry_run:
            self.last_run = result
        return result

    def rollback(self, runner: CommandRunner | None = None, *,
                 progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        """Undo the completed steps of the last run in reverse order."""
        from ._execute import rollback_session

        if self.last_run is None:
            raise RepairError(tr("Dieser Plan wurde noch nicht ausgeführt – nichts zurückzunehmen.",
                                 "This plan has not run yet – nothing to roll back."))
        return rollback_session(self.last_run.session, runner or self.last_run.runner, progress=progress)


# ---- building plans from a diagnosis ---------------------------------------------------------------------------

def _with_restore_point(raw: list[tuple[str, dict[str, Any], str, str, str]], platform: str
                        ) -> list[tuple[str, dict[str, Any], str, str, str]]:
    """On Windows, put a restore point first when a step is high-risk or cannot be undone."""
    if platform != "windows" or any(r[0] == "win.create_restore_point" for r in raw):
        return raw
    risky = [r for r in raw if get_action(r[0]).risk == "high" or get_action(r[0]).undo_reason(r[1]) is not None]
    if not risky:
        return raw
    action = get_action("win.create_restore_point")
    return [(action.id, action.validate_params({"description": "TechCare"}),
             "Sicherung vor riskanten oder nicht umkehrbaren Schritten.",
             "Safety net before risky or irreversible steps.", ""), *raw]


def _number(raw: list[tuple[str, dict[str, Any], str, str, str]]) -> list[Step]:
    return [Step(i, aid, params, rde, ren, check) for i, (aid, params, rde, ren, check) in enumerate(raw, 1)]


def plan(diagnosis: Diagnosis, *, include: Iterable[str] | None = None) -> Plan:
    """Turn a diagnosis's problem findings (worst first) into a numbered plan.

    Each finding names repair ids and their ``repair_params``. Suggestions that cannot become a step (an id not
    in the catalogue, a missing or bad parameter) are listed in ``plan.notes`` instead of failing.
    ``include``: only these action ids.
    """
    platform = normalise_platform(getattr(diagnosis, "os", None) or "linux") or "linux"
    wanted = set(include) if include is not None else None
    raw: list[tuple[str, dict[str, Any], str, str, str]] = []
    seen: set[str] = set()
    notes: list[str] = []
    findings = []
    for finding in diagnosis.problems:
        findings.append({"check": finding.check, "severity": finding.severity, "summary_de": finding.summary_de,
                         "summary_en": finding.summary_en})
        for rid in finding.repairs:
            if wanted is not None and rid not in wanted:
                continue
            try:
                action = get_action(rid)
                if platform not in action.platforms:
                    raise RepairError(tr("{a} gibt es nicht für {p}.", "{a} is not available on {p}.", a=rid, p=platform))
                params = action.validate_params((finding.repair_params or {}).get(rid) or {})
            except RepairError as exc:
                notes.append(f"{finding.check}: {exc.message}")
                continue
            key = json.dumps([rid, params], sort_keys=True, default=str)
            if key in seen:
                continue
            seen.add(key)
            raw.append((rid, params, finding.summary_de, finding.summary_en, finding.check))
    host = str(getattr(diagnosis, "hostname", "") or "")
    return Plan(_number(_with_restore_point(raw, platform)), platform=platform, source="diagnosis", host=host,
                findings=findings, notes=notes)


# ---- approval ------------------------------------------------------------------------------------------------------

_PREFIX = re.compile(r"^\s*go[ \t]+repair[ \t]*:?[ \t]*(.*?)\s*$", re.IGNORECASE | re.DOTALL | re.ASCII)
_ITEM = re.compile(r"([0-9]+)(?:[ \t]*-[ \t]*([0-9]+))?", re.ASCII)  # fullmatch: "1\n" is no step number
_ALL = ("alle", "all")


_RISK_WORDS = {"low": ("niedrig", "low"), "medium": ("mittel", "medium"), "high": ("hoch", "high")}


def approval_examples(n: int, lang: str | None = None) -> list[str]:
    """Approvals that are valid for a plan of ``n`` steps — never a step number the plan does not have."""
    picks = ([",".join(str(i) for i in range(1, min(n, 3) + 1))] if n else []) + ([f"1-{n}"] if n > 1 else [])
    return [f"GO REPAIR: {p}" for p in picks] + ["GO REPAIR: " + tr("alle", "all", lang)]


def _refuse(plan_obj: Plan, why_de: str, why_en: str, **fmt: Any) -> ApprovalError:
    n = len(plan_obj.steps)
    shown = [tr("„{x}“", "'{x}'", x=x) for x in approval_examples(n)]
    listed = ", ".join(shown[:-1]) + tr(" oder ", " or ") + shown[-1] if len(shown) > 1 else shown[0]
    valid = tr("Gültig: {e} (Schritte 1 bis {n}).", "Valid: {e} (steps 1 to {n}).", n=n, e=listed)
    return ApprovalError(tr(why_de, why_en, **fmt) + " " + valid)


def parse_approval(text: str, plan_obj: Plan) -> Approval:
    """Parse ``GO REPAIR: 1,2,3`` / ``go repair 1-3`` / ``GO REPAIR: alle`` (case and spaces tolerated).

    Refused with :class:`ApprovalError` saying what is valid: anything without the ``GO REPAIR`` prefix, no step
    list, empty items (``1,,2``), ``0``, numbers beyond the plan, reversed ranges, duplicates, other text, and a
    line break anywhere inside the approval (line breaks before and after it are ignored).
    """
    if not isinstance(text, str):
        raise _refuse(plan_obj, "Freigabe muss Text sein.", "The approval must be text.")
    if not plan_obj.steps:
        raise ApprovalError(tr("Der Plan hat keine Schritte – nichts freizugeben.",
                               "The plan has no steps – nothing to approve."))
    if len(text) > MAX_APPROVAL_LENGTH:
        raise _refuse(plan_obj, "Freigabe zu lang.", "Approval too long.")
    if len(text.strip().splitlines()) > 1:  # one rule: line breaks around the approval are ignored, never inside
        raise _refuse(plan_obj, "Die Freigabe muss eine Zeile sein (sie enthält einen Zeilenumbruch).",
                      "The approval must be one line (it contains a line break).")
    match = _PREFIX.match(text)
    if not match:
        raise _refuse(plan_obj, "Keine Freigabe: der Text beginnt nicht mit GO REPAIR.",
                      "Not an approval: the text does not start with GO REPAIR.")
    body = match.group(1)
    if not body:
        raise _refuse(plan_obj, "Die Freigabe nennt keine Schritte.", "The approval names no steps.")
    n = len(plan_obj.steps)
    if body.lower() in _ALL:
        return Approval(plan_obj.id, tuple(range(1, n + 1)), text.strip())
    chosen: list[int] = []
    for raw_item in body.split(","):
        item = raw_item.strip(" \t")
        found = _ITEM.fullmatch(item)
        if not item or not found:
            raise _refuse(plan_obj, "„{i}“ ist keine Schrittnummer.", "'{i}' is not a step number.", i=item)
        first = int(found.group(1))
        last = int(found.group(2)) if found.group(2) is not None else first
        if last < first:
            raise _refuse(plan_obj, "Bereich {a}-{b} ist rückwärts.", "Range {a}-{b} is reversed.", a=first, b=last)
        for number in (first, last):
            if number < 1 or number > n:
                raise _refuse(plan_obj, "Schritt {s} gibt es nicht.", "There is no step {s}.", s=number)
        for number in range(first, last + 1):
            if number in chosen:
                raise _refuse(plan_obj, "Schritt {s} ist doppelt genannt.", "Step {s} is named twice.", s=number)
            chosen.append(number)
    _require_restore_point(plan_obj, chosen)
    return Approval(plan_obj.id, tuple(sorted(chosen)), text.strip())


def _require_restore_point(plan_obj: Plan, chosen: list[int]) -> None:
    """A plan's restore point protects its risky and irreversible steps: approving such a step without it is
    refused, naming the step to add (the safety net cannot be skipped by picking numbers)."""
    rp = next((s.number for s in plan_obj.steps if s.action_id == "win.create_restore_point"), None)
    if rp is None or rp in chosen:
        return
    risky = [n for n in chosen if plan_obj.steps[n - 1].risk == "high" or plan_obj.steps[n - 1].undo_note() is not None]
    if risky:
        wanted = ",".join(str(n) for n in sorted({rp, *chosen}))
        raise ApprovalError(tr("Schritt {r} (Wiederherstellungspunkt) sichert die riskanten/nicht umkehrbaren Schritte "
                               "{s} ab und muss mit freigegeben werden: GO REPAIR: {w}",
                               "Step {r} (restore point) protects the risky/irreversible steps {s} and must be approved "
                               "with them: GO REPAIR: {w}", r=rp, s=", ".join(map(str, risky)), w=wanted)
                            if len(risky) > 1 else
                            tr("Schritt {r} (Wiederherstellungspunkt) sichert den riskanten/nicht umkehrbaren Schritt "
                               "{s} ab und muss mit freigegeben werden: GO REPAIR: {w}",
                               "Step {r} (restore point) protects the risky/irreversible step {s} and must be approved "
                               "with it: GO REPAIR: {w}", r=rp, s=risky[0], w=wanted))


