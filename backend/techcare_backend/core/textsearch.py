"""Words and stems for the case search: German and English Snowball stems of a text, stop words dropped (the
same words PostgreSQL's ``german``/``english`` configurations drop). SQLite's FTS5 index stores these stems;
PostgreSQL stems on its own."""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"\w+", re.UNICODE)
# Snowball's German and English stop words (the common part; PostgreSQL drops the same words).
STOP_DE = set("""aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
anderm andern anderr anders auch auf aus bei bin bis bist da damit dann der den des dem die das dass daß du er
ihn ihm es ist ich ihr im in ins ja jede jedem jeden jeder jedes kein keine keinem keinen keiner keines mit mich
mir mein meine nach nicht noch nun nur ob oder ohne sehr sein seine sich sie sind so soll über um und uns unter
vom von vor war waren was weil wenn wer wie wieder wir wird wo zu zum zur zwar zwischen ein eine einem einen
einer eines hat hatte hab habe haben doch durch für gegen man muss manche""".split())
STOP_EN = set("""a an and are as at be been but by can did do does for from had has have he her his how i if in
into is it its me my no not of on or our she so than that the their them then there these they this those to
too was we were what when where which while who why will with you your""".split())
_stemmers: dict[str, Any] = {}


def _stem(word: str, lang: str) -> str:
    stemmer = _stemmers.get(lang)
    if stemmer is None:
        import snowballstemmer

        stemmer = _stemmers[lang] = snowballstemmer.stemmer("german" if lang == "de" else "english")
    return stemmer.stemWord(word)


def words(text_value: str, limit: int | None = None) -> list[str]:
    found = [w.lower() for w in _WORD.findall(text_value) if len(w) <= 60]
    return found[:limit] if limit else found


def term_groups(text_value: str, limit: int | None = None) -> list[set[str]]:
    """Per word (stop words dropped), the German and English stems it may match."""
    groups = []
    for w in words(text_value, limit):
        stems = set()
        if w not in STOP_DE:
            stems.add(_stem(w, "de"))
        if w not in STOP_EN:
            stems.add(_stem(w, "en"))
        if stems:
            groups.append(stems)
    return groups


def search_terms(symptom: str, findings: list[Any]) -> str:
    findings_text = " ".join(str(f) for f in findings)[:20000]
    terms = {t for g in term_groups(symptom + " " + findings_text) for t in g}
    return " ".join(sorted(terms))
