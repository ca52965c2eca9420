"""The triage knowledge: problem categories (phrases, word combinations, findings, default repairs per OS) and
intents, read from the data files ``knowledge/categories.json`` and ``knowledge/intents.json`` so technicians can
extend them without touching code. ``TECHCARE_KNOWLEDGE_DIR`` may name a directory with replacements.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import AssistantError
from ..i18n import tr
from .text import Combo, Phrase, normalize, parse_terms

__all__ = ["CATEGORIES", "PLATFORMS", "Category", "Intent", "Knowledge", "default_knowledge", "load_knowledge"]

#: The problem categories the engine knows at least (the knowledge file may add more).
CATEGORIES = ("windows_update", "network", "dns", "wifi", "slow_performance", "disk_full", "disk_health", "drivers",
              "printer", "audio", "display", "boot", "bluescreen", "firewall", "antivirus", "malware_suspect",
              "service_failed", "updates_pending", "time_sync", "account_login")
PLATFORMS = ("windows", "linux", "darwin")


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
                terms = tuple(term for t in combo["all"] for term in parse_terms(t))
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
