"""Text matching for the offline triage, German and English: normalisation (lower case, umlauts folded to
ae/oe/ue/ss, punctuation removed), tokens, and weighted phrases whose terms tolerate typos (Damerau-Levenshtein
distance 1 for words of 5+ letters, 2 for 9+) and German compounds. Pure functions, no knowledge of categories.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Combo", "Phrase", "Term", "normalize", "parse_terms", "tokens"]

_FUZZY_QUALITY = 0.85
_COMPOUND_QUALITY = 0.75

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


def parse_terms(raw: str) -> tuple[Term, ...]:
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
        return cls(raw, parse_terms(raw), float(weight))

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
