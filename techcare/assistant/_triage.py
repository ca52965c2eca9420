"""Triage: which problem categories a technician's message (and the diagnosis's findings) point to.

:func:`triage` returns the ranked ``(category, confidence)`` pairs; :func:`triage_details` also says which
phrases, word combinations and findings produced each score. :func:`evaluate` measures the quality on labelled
files (``python -m techcare.assistant``). Deterministic and offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssistantError
from ..i18n import tr
from .knowledge import Knowledge, default_knowledge
from .text import Phrase, tokens

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis, Finding

__all__ = ["Evidence", "Triage", "evaluate", "finding_key", "triage", "triage_details"]

_SEVERITY_FACTOR = {"critical": 1.0, "warning": 0.7}
_UNMENTIONED = 0.4


@dataclass
class Evidence:
    kind: str            # phrase | combo | finding
    text: str            # the phrase, or the finding check
    score: float


@dataclass
class Triage:
    """Scores per category with the evidence that produced them."""

    message: str
    ranked: list[tuple[str, float]]
    scores: dict[str, float]
    evidence: dict[str, list[Evidence]]
    intents: dict[str, float] = field(default_factory=dict)
    fix_score: float = 0.0

    @property
    def top(self) -> str | None:
        return self.ranked[0][0] if self.ranked else None


def _score_phrases(phrases: list[Phrase], toks: list[str],
                   known: frozenset[str] | set[str] = frozenset()) -> tuple[float, list[Evidence]]:
    total, evidence, used = 0.0, [], set()
    singles: dict[int, tuple[float, Phrase]] = {}
    for phrase in sorted(phrases, key=lambda p: (-len(p.terms), -p.weight)):
        quality, where = phrase.find(toks, known)
        if not quality:
            continue
        score = phrase.weight * quality
        if len(phrase.terms) == 1:  # one word: counted once per token, the best reading wins
            if where[0] not in used and score > singles.get(where[0], (0.0, phrase))[0]:
                singles[where[0]] = (score, phrase)
            continue
        used.update(where)
        total += score
        evidence.append(Evidence("phrase", phrase.raw, round(score, 3)))
    for position in sorted(singles):
        if position in used:  # already counted inside a longer phrase
            continue
        score, phrase = singles[position]
        total += score
        evidence.append(Evidence("phrase", phrase.raw, round(score, 3)))
    return total, evidence


def _only_findings(evidence: list[Evidence]) -> bool:
    return all(e.kind == "finding" for e in evidence)


def finding_key(check: str) -> tuple[str, str]:
    check = check.lower()
    return check, check.split(":", 1)[0]


def triage_details(message: str, diagnosis: Diagnosis | list[Finding] | None = None,
                   knowledge: Knowledge | None = None) -> Triage:
    """Score every category for ``message`` (and the problem findings of ``diagnosis``)."""
    kb = knowledge or default_knowledge()
    toks = tokens(message or "")
    known = kb.vocabulary & set(toks)
    scores: dict[str, float] = {}
    evidence: dict[str, list[Evidence]] = {}
    for name, cat in kb.categories.items():
        total, ev = _score_phrases(cat.phrases, toks, known)
        for combo in cat.combos:
            q = combo.quality(toks, known)
            if q:
                total += combo.weight * q
                ev.append(Evidence("combo", " + ".join(t.text for t in combo.terms), round(combo.weight * q, 3)))
        scores[name], evidence[name] = total, ev
    if diagnosis is not None:
        from ..diagnosis import Diagnosis

        items = diagnosis.items if isinstance(diagnosis, Diagnosis) else diagnosis
        for finding in items:
            factor = _SEVERITY_FACTOR.get(finding.severity)
            if not factor:
                continue
            full, prefix = finding_key(finding.check)
            for name, cat in kb.categories.items():
                weight = cat.findings.get(full, cat.findings.get(prefix))
                if weight:
                    # a finding confirms what the message says; on its own it is weaker evidence
                    weight *= 1.0 if scores[name] > 0 and not _only_findings(evidence[name]) else _UNMENTIONED
                    scores[name] += weight * factor
                    evidence[name].append(Evidence("finding", finding.check, round(weight * factor, 3)))
    order = {name: i for i, name in enumerate(kb.categories)}
    positive = [(n, s) for n, s in scores.items() if s > 0]
    positive.sort(key=lambda item: (-item[1], order[item[0]]))
    total = sum(s for _, s in positive)
    ranked = [(n, round(s / (total + 1.5), 3)) for n, s in positive]
    intents = {name: _score_phrases(intent.phrases, toks, known)[0] for name, intent in kb.intents.items()}
    fix = _score_phrases(kb.fix_words, toks, known)[0]
    return Triage(message=message, ranked=ranked, scores=scores, evidence=evidence, intents=intents, fix_score=fix)


def triage(message: str, diagnosis: Diagnosis | list[Finding] | None = None, *,
           knowledge: Knowledge | None = None) -> list[tuple[str, float]]:
    """Ranked ``(category, confidence)`` pairs for a technician's message, best first.

    Deterministic and offline. ``diagnosis`` (or a list of findings) adds evidence from its warning and
    critical findings. Confidence is the category's share of all evidence (0..1). An empty list means the
    message named no known symptom (and no finding pointed anywhere).
    """
    if not isinstance(message, str):
        raise AssistantError(tr("Die Nachricht muss Text sein, nicht {t}.", "The message must be text, not {t}.",
                                t=type(message).__name__))
    return triage_details(message, diagnosis, knowledge).ranked


def evaluate(path: str | os.PathLike[str], knowledge: Knowledge | None = None) -> dict[str, Any]:
    """Triage quality on a labelled file (``category<TAB>language<TAB>message`` lines, ``#`` comments).

    Returns ``{"messages", "top1", "top3", "by_language": {...}, "misses": [...]}`` (rates 0..1).
    """
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, lang, message = line.split("\t", 2)
            rows.append((category, lang, message))
    if not rows:
        raise AssistantError(tr("{p} enthält keine Beispiele.", "{p} contains no examples.", p=path))
    stats: dict[str, list[int]] = {}
    misses = []
    for category, lang, message in rows:
        names = [c for c, _ in triage(message, knowledge=knowledge)]
        hit1, hit3 = names[:1] == [category], category in names[:3]
        for key in ("all", lang):
            entry = stats.setdefault(key, [0, 0, 0])
            entry[0] += 1
            entry[1] += hit1
            entry[2] += hit3
        if not hit1:
            misses.append({"expected": category, "message": message, "got": names[:3]})
    total = stats["all"]
    return {"messages": total[0], "top1": total[1] / total[0], "top3": total[2] / total[0],
            "by_language": {k: {"messages": v[0], "top1": v[1] / v[0], "top3": v[2] / v[0]}
                            for k, v in stats.items() if k != "all"}, "misses": misses}
