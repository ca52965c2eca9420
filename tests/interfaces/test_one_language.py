"""German output stays German and English output stays English (issue 16, item 14).

The CLI and the plain REPL run for real on every shipped snapshot under ``TECHCARE_LANG=de`` and ``=en``. The
markers are taken from the source itself: every German/English pair (``tr("…", "…")``, ``msg``, ``Message``,
``x_de, x_en = "…", "…"``, ``Finding(…, summary_de, summary_en)``, word tables of ``("deutsch", "english")``)
gives the phrases only one language uses. A marker that occurs in a snapshot or in the driver database is data
(an update title, a tool's own message) and is not used, so machine data can never fail the test.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
TECHCARE = str(Path(sys.executable).parent / "techcare")
_PAIR_CALLS = {"tr", "_tr", "msg", "Message"}
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def _snapshots() -> list[Path]:
    seen: dict[str, Path] = {}
    for folder in (ROOT / "tests" / "system" / "fixtures" / "snapshots", ROOT / "notebooks" / "data"):
        for path in sorted(folder.glob("*.json")):
            seen.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path)
    return list(seen.values())


SNAPSHOTS = _snapshots()


def _pieces(node: ast.AST) -> list[str] | None:
    """The literal text of a str constant or f-string (the parts between the placeholders)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _PLACEHOLDER.split(node.value)
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return None


def _pairs(tree: ast.AST) -> tuple[list[tuple[list[str], list[str]]], set[str]]:
    """German/English pairs of literal text, and every other string constant (identifiers such as ``events``)."""
    phrases: list[tuple[list[str], list[str]]] = []
    paired: set[int] = set()

    def add(de: ast.AST, en: ast.AST) -> None:
        de_parts, en_parts = _pieces(de), _pieces(en)
        if de_parts is not None and en_parts is not None:
            phrases.append((de_parts, en_parts))
            paired.update((id(de), id(en)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in _PAIR_CALLS and len(node.args) >= 2:
                add(node.args[0], node.args[1])
            if name == "Finding" and len(node.args) >= 5:
                add(node.args[3], node.args[4])
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            for key, value in keywords.items():
                if key.endswith("_de") and key[:-3] + "_en" in keywords:
                    add(value, keywords[key[:-3] + "_en"])
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and len(target.elts) == len(node.value.elts):
                    names = [getattr(t, "id", "") for t in target.elts]
                    for i, n in enumerate(names):
                        if n.endswith("_de") and n[:-3] + "_en" in names:
                            add(node.value.elts[i], node.value.elts[names.index(n[:-3] + "_en")])
        elif isinstance(node, ast.Dict) and node.values and all(
                isinstance(v, ast.Tuple) and len(v.elts) == 2
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in v.elts) for v in node.values):
            for v in node.values:
                add(v.elts[0], v.elts[1])  # type: ignore[attr-defined]
    constants = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                 and id(n) not in paired}
    return phrases, constants


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" .,:;–-()'\"„“[]|→")


@cache
def markers() -> dict[str, frozenset[str]]:
    """``{"de": phrases only German uses, "en": phrases only English uses}`` from the client's source."""
    phrases: list[tuple[list[str], list[str]]] = []
    identifiers: set[str] = set()
    for path in sorted((ROOT / "techcare").rglob("*.py")):
        found_phrases, constants = _pairs(ast.parse(path.read_text(encoding="utf-8")))
        phrases += found_phrases
        identifiers |= constants
    corpus = {"de": " ".join(p for de, _ in phrases for p in de), "en": " ".join(p for _, en in phrases for p in en)}
    data = " ".join(p.read_text(encoding="utf-8", errors="replace") for p in SNAPSHOTS).lower()
    data += (ROOT / "techcare" / "tools" / "drivers" / "driver_database.json").read_text(encoding="utf-8").lower()
    found: dict[str, set[str]] = {"de": set(), "en": set()}
    for de_parts, en_parts in phrases:
        for lang, parts in (("de", de_parts), ("en", en_parts)):
            other = corpus["en" if lang == "de" else "de"]
            for part in parts:
                for line in part.splitlines():
                    phrase = _clean(line)
                    if len(phrase) >= 12 and len(phrase.split()) >= 2 and phrase not in other \
                            and phrase.lower() not in data:
                        found[lang].add(phrase)
    for de_parts, en_parts in phrases:  # single words (tr("kritisch", "critical")) that are no identifier
        if len(de_parts) == 1 and len(en_parts) == 1 and de_parts != en_parts:
            for lang, word in (("de", de_parts[0].strip()), ("en", en_parts[0].strip())):
                other = corpus["en" if lang == "de" else "de"]
                if re.fullmatch(r"\w{6,}", word) and word not in identifiers and word.lower() not in identifiers \
                        and not re.search(rf"\b{re.escape(word)}\b", other, re.IGNORECASE) \
                        and not re.search(rf"\b{re.escape(word.lower())}\b", data):
                    found[lang].add(word)
    return {lang: frozenset(items) for lang, items in found.items()}


def run(args: list[str], lang: str, tmp_path: Path, stdin: str | None = None) -> str:
    env = {**os.environ, "TECHCARE_LANG": lang, "COLUMNS": "1000", "LINES": "200", "TERM": "dumb",
           "TECHCARE_HOME": str(tmp_path / "home"), "TECHCARE_DATA_DIR": str(tmp_path / "data"),
           "TECHCARE_ENV_FILE": str(tmp_path / "tc.env"), "PYTHONWARNINGS": "ignore"}
    (tmp_path / "tc.env").write_text("TECHNICIAN_NAME='Erika'\n")
    proc = subprocess.run([TECHCARE, *args], input=stdin or "", capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(tmp_path))
    assert "Traceback" not in proc.stderr, proc.stderr
    return " ".join((proc.stdout + "\n" + proc.stderr).split())


def other_language(text: str, lang: str) -> list[str]:
    """Markers of the other language that occur in ``text`` (a word marker only as a whole word)."""
    foreign = markers()["en" if lang == "de" else "de"]
    return sorted(m for m in foreign if re.search(_bounded(m), text))


def _bounded(marker: str) -> str:
    """The marker as a whole word or phrase ("not run" must not match "cannot run")."""
    start = r"\b" if re.match(r"\w", marker) else ""
    end = r"\b" if re.search(r"\w$", marker) else ""
    return start + re.escape(marker) + end


def test_the_markers_come_from_the_source_and_know_both_languages():
    found = markers()
    assert {"ist nicht installiert", "Treiber-Inventar nicht lesbar", "Warnung", "nicht verfügbar"} <= found["de"]
    assert {"is not installed", "Driver inventory could not be read"} <= found["en"]
    assert "events" not in found["en"] and "critical" not in found["en"]  # identifiers and data words are no markers
    assert not found["de"] & found["en"]
    assert other_language("Firewall (ufw) is off. smartctl is not installed", "de") == ["is not installed"]
    assert other_language("ok Firewall (ufw) ist aus.", "en") == []


COMMANDS = {
    "diagnose": (lambda snap: ["diagnose", "--snapshot", str(snap)], None),
    "drivers": (lambda snap: ["drivers", "--snapshot", str(snap), "--all"], None),
    "snapshot info": (lambda snap: ["snapshot", "info", str(snap)], None),
    "plain REPL": (lambda snap: ["--plain", "--snapshot", str(snap)], "hilfe\ndiagnose\ntreiber\nplan\nhilfe\nexit\n"),
}


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_cli_output_on_a_shipped_snapshot_is_in_one_language(command, snapshot, lang, tmp_path):
    make_args, stdin = COMMANDS[command]
    text = run(make_args(snapshot), lang, tmp_path, stdin)
    assert len(text) > 80, text
    foreign = other_language(text, lang)
    assert foreign == [], f"{foreign} in the {lang} output: {text}"


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_repair_run_and_its_report_are_in_one_language(lang, tmp_path):
    """A (harmless, replayed) repair approved in a script, then the customer report: REPL lines and the written
    Markdown report. The replay answers no command, so nothing runs on this machine."""
    linux = next(p for p in SNAPSHOTS if p.stem == "linux-debian-problems")
    text = run(["--plain", "--approve", "GO REPAIR: 1", "--snapshot", str(linux)], lang, tmp_path,
               "plan add linux.flush_dns\nGO REPAIR: 1\nreport\nexit\n")
    reports = sorted((tmp_path / "data" / "reports").glob(f"*.{lang}.md"))
    assert reports, text
    report = " ".join(reports[-1].read_text(encoding="utf-8").split())
    assert other_language(text, lang) == [] and other_language(report, lang) == [], (text, report)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_driver_sources_in_the_frame_attrs_are_in_the_session_language(lang, monkeypatch):
    from techcare.tools.drivers import drivers

    monkeypatch.setenv("TECHCARE_LANG", lang)
    for snapshot in SNAPSHOTS:
        sources = drivers(snapshot=snapshot).attrs["sources"]
        shown = " ".join(str(s["detail"]) for s in sources)
        assert shown.strip(), snapshot  # every shipped snapshot has a source that says why it is unavailable
        assert other_language(shown, lang) == [], (snapshot, shown)
        assert all({"detail_de", "detail_en"} <= set(s) for s in sources)
