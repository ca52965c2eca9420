"""The offline triage engine: deterministic, German and English, no network.

Knowledge lives in data files (``knowledge/categories.json`` and ``knowledge/intents.json``) so technicians can
extend it without touching code. A message is normalised (lower case, umlauts folded to ae/oe/ue/ss,
punctuation removed), split into tokens and matched against weighted phrases with typo tolerance
(Damerau-Levenshtein distance 1 for words of 5+ letters, 2 for 9+). Findings of the current diagnosis add
evidence for the categories they belong to. :func:`triage` returns the ranked ``(category, confidence)`` pairs.

:class:`OfflineEngine` turns that into a :class:`~techcare.assistant.Reply`: it explains which words and
findings led to the categories, ranks catalogue repairs (findings first, then the category's defaults, then what
worked in similar past cases; repairs that failed on similar symptoms move down) and proposes a
:class:`~techcare.repairs.Plan`. It never runs anything.
"""

from __future__ import annotations

import json
import os
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AssistantError
from ..i18n import tr

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Diagnosis, Finding
    from . import Reply
    from .tools import ToolBox

__all__ = ["CATEGORIES", "Knowledge", "OfflineEngine", "Triage", "load_knowledge", "normalize", "tokens", "triage",
           "triage_details"]

#: The problem categories the engine knows at least (the knowledge file may add more).
CATEGORIES = ("windows_update", "network", "dns", "wifi", "slow_performance", "disk_full", "disk_health", "drivers",
              "printer", "audio", "display", "boot", "bluescreen", "firewall", "antivirus", "malware_suspect",
              "service_failed", "updates_pending", "time_sync", "account_login")
PLATFORMS = ("windows", "linux", "darwin")
_SEVERITY_FACTOR = {"critical": 1.0, "warning": 0.7}
_FUZZY_QUALITY = 0.85
_COMPOUND_QUALITY = 0.75
_UNMENTIONED = 0.4


# ---- normalisation ---------------------------------------------------------------------------------------------

_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue", "ẞ": "ss",
                       "'": "", "’": "", "`": "", "´": ""})


def normalize(text: str) -> str:
    """Lower case, umlauts as ae/oe/ue/ss, accents removed, everything but letters/digits/_ as single spaces."""
    text = text.translate(_FOLD).lower()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    out = [ch if (ch.isalnum() or ch == "_") else " " for ch in text]
    return " ".join("".join(out).split())


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def _max_distance(length: int) -> int:
    return 2 if length >= 9 else 1 if length >= 5 else 0


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment (Damerau-Levenshtein) distance, stopping early above ``limit``."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        best = cur[0]
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
            best = min(best, value)
        if best > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[len(b)]


@dataclass(frozen=True)
class Term:
    """One word of a phrase: ``text`` exact (typo-tolerant), ``text*`` prefix, ``*text`` suffix, ``*text*`` infix."""

    kind: str
    text: str

    @classmethod
    def parse(cls, raw: str) -> Term:
        starts, ends = raw.startswith("*"), raw.endswith("*")
        text = raw.strip("*")
        if not text:
            raise ValueError("empty term")
        kind = "infix" if starts and ends else "suffix" if starts else "prefix" if ends else "exact"
        return cls(kind, text)

    def quality(self, token: str, fuzzy: bool = True) -> float:
        return _term_quality(self.kind, self.text, token, fuzzy)


@lru_cache(maxsize=200_000)
def _term_quality(kind: str, text: str, token: str, fuzzy: bool = True) -> float:
    if kind == "exact":
        if token == text:
            return 1.0
        if not fuzzy:  # a known word is never read as a typo of another one ("system" is not "systemd")
            return _COMPOUND_QUALITY if len(text) >= 4 and len(token) >= len(text) + 3 and token.endswith(text) else 0.0
        if len(text) == 4 and len(token) == 4 and sorted(token) == sorted(text):  # "wlna" -> "wlan"
            return _FUZZY_QUALITY if _distance(token, text, 1) <= 1 else 0.0
        limit = min(_max_distance(len(text)), _max_distance(len(token)))
        # a typo rarely hits both ends of a word: cheap filter before the edit distance
        if limit and (token[0] == text[0] or token[-1] == text[-1]) and _distance(token, text, limit) <= limit:
            return _FUZZY_QUALITY
        # German compound whose head is the word: "systemzeit" -> "zeit", "ausgesperrt" -> "gesperrt"
        return _COMPOUND_QUALITY if len(text) >= 4 and len(token) >= len(text) + 3 and token.endswith(text) else 0.0
    if kind == "prefix":
        if token.startswith(text):
            return 1.0
        limit = _max_distance(len(text))
        if not token or token[0] != text[0]:  # stems keep their first letter
            return _COMPOUND_QUALITY if len(text) >= 4 and text in token[3:] else 0.0
        if not fuzzy:
            return _COMPOUND_QUALITY if len(text) >= 4 and text in token[3:] else 0.0
        if limit and len(token) == len(text) - 1 and len(token) >= 6:  # dropped letter: "druker" -> "drucker*"
            return _FUZZY_QUALITY if _distance(token, text, 1) <= 1 else 0.0
        if limit and len(token) >= len(text):
            for cut in range(max(1, len(text) - limit), len(text) + limit + 1):
                if _distance(token[:cut], text, limit) <= limit:
                    return _FUZZY_QUALITY
        # German compound containing the word after a modifier: "grafiktreiber" -> "treiber*"
        return _COMPOUND_QUALITY if len(text) >= 4 and text in token[3:] else 0.0
    if kind == "suffix":
        return 1.0 if token.endswith(text) and len(token) > len(text) else (1.0 if token == text else 0.0)
    return 1.0 if text in token else 0.0


def _terms(raw: str) -> tuple[Term, ...]:
    """``"pruefe treiber*"`` -> exact ``pruefe`` + prefix ``treiber``; stars survive normalisation."""
    out: list[Term] = []
    for word in raw.split():
        lead, trail = word.startswith("*"), word.endswith("*")
        parts = normalize(word.strip("*")).split()
        for i, part in enumerate(parts):
            out.append(Term.parse(("*" if lead and i == 0 else "") + part + ("*" if trail and i == len(parts) - 1 else "")))
    if not out:
        raise ValueError(f"phrase {raw!r} has no words")
    return tuple(out)


@dataclass(frozen=True)
class Phrase:
    raw: str
    terms: tuple[Term, ...]
    weight: float

    @classmethod
    def parse(cls, raw: str, weight: float) -> Phrase:
        return cls(raw, _terms(raw), float(weight))

    def find(self, toks: list[str], known: frozenset[str] | set[str] = frozenset()) -> tuple[float, tuple[int, ...]]:
        """Best match quality of this phrase as consecutive tokens, and the token positions used."""
        n = len(self.terms)
        best, where = 0.0, ()
        for start in range(len(toks) - n + 1):
            quality = 1.0
            for offset, term in enumerate(self.terms):
                token = toks[start + offset]
                q = term.quality(token, token not in known)
                if not q:
                    quality = 0.0
                    break
                quality = min(quality, q)
            if quality > best:
                best, where = quality, tuple(range(start, start + n))
                if best == 1.0:
                    break
        return best, where


@dataclass(frozen=True)
class Combo:
    terms: tuple[Term, ...]
    weight: float

    def quality(self, toks: list[str], known: frozenset[str] | set[str] = frozenset()) -> float:
        quality = 1.0
        for term in self.terms:
            q = max((term.quality(t, t not in known) for t in toks), default=0.0)
            if not q:
                return 0.0
            quality = min(quality, q)
        return quality


@dataclass
class Category:
    name: str
    name_de: str
    name_en: str
    explain_de: str
    explain_en: str
    phrases: list[Phrase]
    combos: list[Combo]
    findings: dict[str, float]
    repairs: dict[str, list[dict[str, Any]]]
    tool: str | None = None

    def title(self, lang: str | None = None) -> str:
        return tr(self.name_de, self.name_en, lang)

    def explain(self, lang: str | None = None) -> str:
        return tr(self.explain_de, self.explain_en, lang)


@dataclass
class Intent:
    name: str
    phrases: list[Phrase]
    category: str | None


@dataclass
class Knowledge:
    categories: dict[str, Category]
    intents: dict[str, Intent]
    fix_words: list[Phrase]
    diagnose_threshold: float = 3.0
    fix_threshold: float = 2.0
    vocabulary: frozenset[str] = frozenset()   # words matched exactly only (never read as a typo)


def _load_json(path: Path | None, name: str) -> dict[str, Any]:
    try:
        if path is None:
            text = resources.files(__package__).joinpath("knowledge").joinpath(name).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise AssistantError(tr("Wissensdatei {name} nicht lesbar: {exc}", "Knowledge file {name} not readable: {exc}",
                                name=path or name, exc=exc)) from None
    except ValueError as exc:
        raise AssistantError(tr("Wissensdatei {name} ist kein gültiges JSON: {exc}",
                                "Knowledge file {name} is not valid JSON: {exc}", name=path or name, exc=exc)) from None
    if not isinstance(data, dict):
        raise AssistantError(tr("Wissensdatei {name} muss ein JSON-Objekt sein.", "Knowledge file {name} must be a JSON object.",
                                name=path or name))
    return data


def _phrases(spec: Any, where: str) -> list[Phrase]:
    if not isinstance(spec, dict):
        raise AssistantError(tr("{where}: 'phrases' muss ein Objekt Phrase -> Gewicht sein.",
                                "{where}: 'phrases' must be an object phrase -> weight.", where=where))
    out = []
    for raw, weight in spec.items():
        if not isinstance(weight, (int, float)) or weight <= 0:
            raise AssistantError(tr("{where}: Gewicht von {p!r} muss eine positive Zahl sein, nicht {w!r}.",
                                    "{where}: the weight of {p!r} must be a positive number, not {w!r}.",
                                    where=where, p=raw, w=weight))
        try:
            out.append(Phrase.parse(raw, weight))
        except ValueError as exc:
            raise AssistantError(f"{where}: {exc}") from None
    return out


def load_knowledge(categories_file: str | os.PathLike[str] | None = None,
                   intents_file: str | os.PathLike[str] | None = None) -> Knowledge:
    """Load (and validate) the triage knowledge; defaults to the files shipped in ``knowledge/``.

    ``TECHCARE_KNOWLEDGE_DIR`` may name a directory with replacement ``categories.json`` / ``intents.json``.
    """
    extra = os.environ.get("TECHCARE_KNOWLEDGE_DIR")
    if extra:
        base = Path(extra).expanduser()
        categories_file = categories_file or (base / "categories.json" if (base / "categories.json").exists() else None)
        intents_file = intents_file or (base / "intents.json" if (base / "intents.json").exists() else None)
    cats_data = _load_json(Path(categories_file) if categories_file else None, "categories.json")
    ints_data = _load_json(Path(intents_file) if intents_file else None, "intents.json")
    categories: dict[str, Category] = {}
    for name, spec in (cats_data.get("categories") or {}).items():
        where = f"categories.{name}"
        if not isinstance(spec, dict):
            raise AssistantError(f"{where}: " + tr("muss ein Objekt sein.", "must be an object."))
        combos = []
        for combo in spec.get("combos", []):
            try:
                terms = tuple(term for t in combo["all"] for term in _terms(t))
                combos.append(Combo(terms, float(combo.get("weight", 1.0))))
            except (KeyError, TypeError, ValueError) as exc:
                raise AssistantError(tr("{where}: ungültige Kombination {c!r} ({exc}); erwartet {{\"all\": [...], \"weight\": n}}.",
                                        "{where}: bad combo {c!r} ({exc}); expected {{\"all\": [...], \"weight\": n}}.",
                                        where=where, c=combo, exc=exc)) from None
        repairs = spec.get("repairs", {})
        for platform, entries in repairs.items():
            if platform not in PLATFORMS or not isinstance(entries, list) or \
                    not all(isinstance(e, dict) and isinstance(e.get("action"), str) for e in entries):
                raise AssistantError(tr("{where}.repairs.{p}: erwartet Plattform windows|linux|darwin mit einer Liste "
                                        "von {{\"action\": id, \"params\": {{...}}}}.",
                                        "{where}.repairs.{p}: expected platform windows|linux|darwin with a list of "
                                        "{{\"action\": id, \"params\": {{...}}}}.", where=where, p=platform))
        categories[name] = Category(
            name=name, name_de=spec.get("name_de", name), name_en=spec.get("name_en", name),
            explain_de=spec.get("explain_de", ""), explain_en=spec.get("explain_en", ""),
            phrases=_phrases(spec.get("phrases", {}), where), combos=combos,
            findings={str(k).lower(): float(v) for k, v in (spec.get("findings") or {}).items()},
            repairs={p: list(v) for p, v in repairs.items()}, tool=spec.get("tool"))
    missing = [c for c in CATEGORIES if c not in categories]
    if missing:
        raise AssistantError(tr("Wissensdatei: Kategorien fehlen: {m}.", "Knowledge file: categories missing: {m}.",
                                m=", ".join(missing)))
    intents = {}
    for name, spec in (ints_data.get("intents") or {}).items():
        intents[name] = Intent(name, _phrases(spec.get("phrases", {}), f"intents.{name}"), spec.get("category"))
    fix_words = _phrases(ints_data.get("fix_words", {}), "fix_words")
    vocabulary = {normalize(str(w)) for w in cats_data.get("known_words", [])}
    for phrases in [*(c.phrases for c in categories.values()), *(i.phrases for i in intents.values()), fix_words]:
        vocabulary.update(t.text for p in phrases for t in p.terms if t.kind == "exact")
    return Knowledge(categories=categories, intents=intents, fix_words=fix_words,
                     diagnose_threshold=float(ints_data.get("diagnose_threshold", 3)),
                     fix_threshold=float(ints_data.get("fix_threshold", 2)), vocabulary=frozenset(vocabulary))


_default: Knowledge | None = None


def default_knowledge() -> Knowledge:
    global _default
    if _default is None:
        _default = load_knowledge()
    return _default


# ---- scoring ---------------------------------------------------------------------------------------------------

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


def _finding_key(check: str) -> tuple[str, str]:
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
        items = diagnosis.items if hasattr(diagnosis, "items") and not isinstance(diagnosis, list) else diagnosis
        for finding in items:
            factor = _SEVERITY_FACTOR.get(finding.severity)
            if not factor:
                continue
            full, prefix = _finding_key(finding.check)
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


# ---- the engine ------------------------------------------------------------------------------------------------

class OfflineEngine:
    """Answers from the knowledge files, the findings and past cases. Never runs anything."""

    name = "offline"

    def __init__(self, knowledge: Knowledge | None = None) -> None:
        self.knowledge = knowledge or default_knowledge()

    # The context (a ToolBox) gives the language, OS, findings, reports, cases and plan building.
    def respond(self, message: str, tools: ToolBox, *, history: list[dict[str, Any]] | None = None,
                notice: str | None = None) -> Reply:
        from . import Reply

        lang = tools.language
        kb = self.knowledge
        details = triage_details(message, None, kb)
        intent = self._direct_intent(details)
        if intent == "driver_updates":
            return self._drivers_report(message, details, tools, notice)
        if intent == "events":
            return self._events_report(message, tools, notice)
        if intent == "cases":
            return self._cases_report(message, tools, notice)

        message_only = details.ranked
        diagnosis = tools.diagnosis()
        carried = False
        if not details.ranked and history and intent is None:
            # a follow-up ("und jetzt?", "still not working") keeps the previous topic
            for previous in reversed(history):
                if previous.get("categories") and previous.get("route", "plan") == "plan":
                    details = triage_details(message, diagnosis, kb)
                    details.ranked = [(c, float(p)) for c, p in previous["categories"] if c in kb.categories]
                    carried = bool(details.ranked)
                    break
        if not carried:
            details = triage_details(message, diagnosis, kb)
        findings = diagnosis.problems if diagnosis is not None else []
        if intent == "diagnose" and not message_only:
            return self._diagnosis_report(message, findings, tools, notice)
        if not details.ranked:
            text = tr("Ich konnte die Nachricht keinem bekannten Problem zuordnen. Beschreibe bitte das Symptom "
                      "(z. B. „kein Internet“, „Drucker druckt nicht“, „Bluescreen“, „PC ist lahm“) oder frage nach "
                      "einer Diagnose („Prüfe System“).",
                      "I could not map the message to a known problem. Please describe the symptom (e.g. “no "
                      "internet”, “printer does not print”, “blue screen”, “PC is slow”) or ask for a diagnosis "
                      "(“check the system”).", lang)
            return Reply(text=_with_notice(text, notice, lang), engine=self.name, notice=notice, categories=[])

        top = details.ranked[0][0]
        category = kb.categories[top]
        used = [f for f in findings if self._finding_matches(f, category)]
        ranked_actions, case_info = self._candidates(message, category, used, tools, findings)
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
            lines.extend(f"  - [{f.severity}] {f.summary(lang)}" for f in used)
        if case_info:
            lines.append(case_info)
        if top == "drivers":
            lines.append(tools.describe_driver_updates(data))
        if plan is not None and plan.steps:
            lines.append(tr("Vorgeschlagener Plan (es wurde nichts ausgeführt):",
                            "Proposed plan (nothing has been run):", lang))
            lines.extend(tools.describe_plan(plan))
            numbers = ",".join(str(i) for i in range(1, len(plan.steps) + 1))
            lines.append(tr("Freigabe einzelner Schritte mit „GO REPAIR: {n}“.", "Approve steps with “GO REPAIR: {n}”.",
                            lang, n=numbers))
        else:
            lines.append(tr("Dafür gibt es keine automatische Reparatur im Katalog – bitte manuell prüfen.",
                            "There is no automatic repair in the catalogue for this – please check manually.", lang))
        if dropped:
            lines.append(tr("Nicht vorgeschlagen: {d}", "Not proposed: {d}", lang, d="; ".join(dropped)))
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
        full, prefix = _finding_key(finding.check)
        return bool(category.findings.get(full) or category.findings.get(prefix))

    def _candidates(self, message: str, category: Category, used: list[Finding], tools: ToolBox,
                    all_findings: list[Finding]) -> tuple[list[dict[str, Any]], str | None]:
        from . import cases

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
        case_info = None
        if scores:
            for action, info in scores.items():
                if info["score"] > 0 and action.split(".", 1)[0] in _PREFIXES[platform] and \
                        not any(e["action"] == action for e in entries):
                    add(action, None, "cases")
            worked = sorted(a for a, i in scores.items() if i["score"] > 0)
            failed = sorted(a for a, i in scores.items() if i["score"] < 0)
            parts = []
            if worked:
                parts.append(tr("geholfen: {a}", "worked: {a}", tools.language, a=", ".join(worked)))
            if failed:
                parts.append(tr("nicht geholfen: {a}", "did not help: {a}", tools.language, a=", ".join(failed)))
            if parts:
                case_info = tr("Ähnliche frühere Fälle – ", "Similar past cases – ", tools.language) + "; ".join(parts) + "."
        return cases.rank_actions(entries, scores, needs=needs), case_info

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

    def _drivers_report(self, message: str, details: Triage, tools: ToolBox, notice: str | None) -> Reply:
        from . import Reply

        lang = tools.language
        frame = tools.driver_updates_frame()
        text = tools.describe_driver_updates(frame)
        text += "\n" + tr("Kein Reparaturplan nötig – für Installationen „Treiber aktualisieren“ schreiben.",
                          "No repair plan needed – write “update drivers” to install updates.", lang)
        return Reply(text=_with_notice(text, notice, lang), engine=self.name, categories=[("drivers", 1.0)],
                     data=frame, route="driver_updates", notice=notice)

    def _events_report(self, message: str, tools: ToolBox, notice: str | None) -> Reply:
        from . import Reply

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
        from . import Reply

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
        from . import Reply

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
        lines.extend(f"  - [{f.severity}] {f.summary(lang)}" for f in findings)
        if plan is not None and plan.steps:
            lines.append(tr("Vorgeschlagener Plan (es wurde nichts ausgeführt):", "Proposed plan (nothing has been run):", lang))
            lines.extend(tools.describe_plan(plan))
        if dropped:
            lines.append(tr("Nicht vorgeschlagen: {d}", "Not proposed: {d}", lang, d="; ".join(dropped)))
        triaged = triage_details(message, findings, self.knowledge).ranked
        return Reply(text=_with_notice("\n".join(lines), notice, lang), engine=self.name, findings=list(findings),
                     plan=plan if plan is not None and plan.steps else None, categories=triaged, route="diagnose",
                     notice=notice)


_PREFIXES = {"windows": ("win", "drivers"), "linux": ("linux", "drivers"), "darwin": ("macos", "drivers")}


def _with_notice(text: str, notice: str | None, lang: str) -> str:
    return f"{notice}\n{text}" if notice else text


# ---- evaluation ------------------------------------------------------------------------------------------------

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


def main(argv: list[str] | None = None) -> int:
    """``python -m techcare.assistant FILE...``: print triage quality figures for labelled files."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m techcare.assistant",
                                     description="Triage quality on labelled message files (category<TAB>lang<TAB>text).")
    parser.add_argument("files", nargs="+")
    parser.add_argument("--misses", action="store_true", help="list the messages whose first category is wrong")
    args = parser.parse_args(argv)
    for name in args.files:
        started = time.perf_counter()
        try:
            result = evaluate(name)
        except (OSError, ValueError, AssistantError) as exc:
            print(f"{name}: {exc}")
            return 2
        elapsed = time.perf_counter() - started
        langs = ", ".join(f"{k}: {v['messages']} msgs, top-1 {v['top1']:.1%}, top-3 {v['top3']:.1%}"
                          for k, v in sorted(result["by_language"].items()))
        print(f"{name}: {result['messages']} messages, top-1 {result['top1']:.1%}, top-3 {result['top3']:.1%} "
              f"({langs}); {elapsed * 1000 / result['messages']:.1f} ms/message")
        if args.misses:
            for miss in result["misses"]:
                print(f"  expected {miss['expected']}, got {miss['got']}: {miss['message']}")
    return 0

