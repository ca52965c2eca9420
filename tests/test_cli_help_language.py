"""The client's command lines speak the product's language (``TECHCARE_LANG``, default German): every help text,
description, epilog, argparse's own words ("usage:", "options:", "-h") and the usage errors.

The parsers are walked, not sampled: every argument of every parser and subparser has a help text, and in German
each of them differs from its English one (no English sentence left over); the rendered ``--help`` of every command
shows the texts of its language and none of the other's.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from cli_parsers import own_texts, walk

from techcare import cli, doctor, license
from techcare.i18n import set_language
from techcare.i18n_argparse import ERRORS, Parser, translate
from techcare.monitoring import sensor, service
from techcare.tools.drivers import driver_manager

#: every parser of the ``techcare`` command line: the argv that reaches it and the function that builds it
PARSERS: dict[tuple[str, ...], Callable[[], argparse.ArgumentParser]] = {
    (): cli.build_parser,
    ("drivers",): driver_manager.build_parser,
    ("sensor",): sensor._parser,
    ("sensor", "trust"): sensor._trust_parser,
    ("service",): service.build_parser,
    ("doctor",): doctor.build_parser,
    ("license",): license.build_parser,
}

#: what argparse says in English when nobody translates it
ARGPARSE_ENGLISH = ("usage:", "options:", "positional arguments", "show this help message and exit",
                    "show program's version number and exit", "error:", "the following arguments are required",
                    "unrecognized arguments", "invalid choice", "choose from", "expected one argument", "invalid int")


def squash(text: str) -> str:
    """The text without any whitespace: argparse wraps help texts (also at hyphens) to the terminal width."""
    return "".join(text.split())


def parsers(lang: str) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser and subparser, built in ``lang``, with the argv that reaches it. ``techcare``'s own parser
    has placeholders for the pass-through subcommands (their help line is the root's; the argv after the name goes
    to the subcommand's own parser): the real parser stands for them."""
    set_language(lang)
    for path, build in PARSERS.items():
        yield from walk(build(), path, skip=cli.PASSTHROUGH)


def test_every_parser_of_the_command_line_is_walked():
    assert set(cli.PASSTHROUGH) <= {path[0] for path in PARSERS if path}
    paths = [path for path, _ in parsers("de")]
    assert len(paths) == len(set(paths))
    assert {("diagnose",), ("snapshot",), ("report",), ("fleet", "key"), ("plugins", "new"), ("setup",),
            ("sensor", "trust", "add"), ("sensor", "trust", "remove")} <= set(paths)


def test_every_argument_has_a_help_text_and_german_differs_from_english():
    german, english = dict(parsers("de")), dict(parsers("en"))
    assert german.keys() == english.keys()
    seen_en: set[str] = set()
    for path, parser in german.items():
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"techcare {' '.join(path)}: {action.option_strings or action.dest} has no help"
        de, en = own_texts(parser), own_texts(english[path])
        assert de.keys() == en.keys(), path
        for key in de:
            assert de[key].strip() and en[key].strip(), (path, key)
            assert de[key] != en[key], f"techcare {' '.join(path)} {key}: the same in both languages: {de[key]!r}"
        seen_en |= set(en.values())
    all_de = {text for parser in german.values() for text in own_texts(parser).values()}
    assert not all_de & seen_en, all_de & seen_en


def test_argparse_words_are_german_in_german(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    set_language("de")
    parser = Parser(prog="x", description="Beschreibung")
    parser.add_argument("--version", action="version", version="1")
    parser.add_argument("wert", help="ein Wert")
    text = parser.format_help()
    assert text.startswith("Aufruf: x [-h] [--version] wert")
    for words in ("Positionsargumente:", "Optionen:", "-h, --help  diese Hilfe anzeigen und beenden",
                  "--version   Versionsnummer anzeigen und beenden"):
        assert words in text
    assert not any(english in text for english in ARGPARSE_ENGLISH)
    set_language("en")
    text = Parser(prog="x").format_help()
    assert text.startswith("usage: x [-h]") and "options:" in text and "show this help message and exit" in text


def _help(argv: list[str], capsys) -> str:
    try:
        code = cli.main([*argv, "--help"])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    assert code in (0, None), (argv, captured.err)
    return captured.out


@pytest.mark.parametrize("lang", ["de", "en"])
def test_every_help_shows_its_language_and_none_of_the_other(lang, monkeypatch, capsys):
    """``techcare [SUBCOMMAND ...] --help`` for every parser: its own texts in ``lang``, no text of the other
    language, none of argparse's English words in German."""
    monkeypatch.setenv("COLUMNS", "400")
    other = "en" if lang == "de" else "de"
    mine, theirs = dict(parsers(lang)), dict(parsers(other))
    for path, parser in mine.items():
        monkeypatch.setenv("TECHCARE_LANG", lang)
        set_language(None)
        shown = _help(list(path), capsys)
        flat = squash(shown)
        for key, text in own_texts(parser).items():
            assert squash(text) in flat, (path, key, text)
        for key, text in own_texts(theirs[path]).items():
            assert squash(text) not in flat, (path, key, text)
        if lang == "de":
            assert shown.startswith("Aufruf: ") and "Optionen:" in shown, shown
            assert not any(english in shown for english in ARGPARSE_ENGLISH), (path, shown)
        else:
            assert shown.startswith("usage: ") and "options:" in shown, shown


def test_techcare_help_in_a_process(techcare_env):
    """The installed entry point (``python -m techcare``): German by default, English with TECHCARE_LANG=en."""
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("TECHCARE_LANG", None)
    german = subprocess.run([sys.executable, "-m", "techcare", "--help"], env=env, capture_output=True, text=True,
                            timeout=60, cwd=techcare_env)
    assert german.returncode == 0 and german.stderr == "", german.stderr
    assert german.stdout.startswith("Aufruf: techcare [-h]")
    assert "diesen Rechner (nur lesend) oder einen Snapshot diagnostizieren" in german.stdout
    assert not any(english in german.stdout for english in ARGPARSE_ENGLISH), german.stdout
    english = subprocess.run([sys.executable, "-m", "techcare", "--help"], env={**env, "TECHCARE_LANG": "en"},
                             capture_output=True, text=True, timeout=60, cwd=techcare_env)
    assert english.returncode == 0 and english.stdout.startswith("usage: techcare [-h]")
    assert "diagnose this machine (read-only) or a snapshot" in english.stdout and "Aufruf" not in english.stdout


def test_the_language_of_the_env_file_counts_too(techcare_env, capsys):
    """TECHCARE_LANG=en in .env (not in the environment) makes the help English, as the commands' output is."""
    (techcare_env / "test.env").write_text("TECHCARE_LANG=en\n")
    assert _help([], capsys).startswith("usage: techcare")
    set_language(None)
    assert _help(["diagnose"], capsys).startswith("usage: techcare diagnose")
    set_language(None)
    (techcare_env / "test.env").write_text("SENSOR_INTERVAL=abc\n")   # broken: the help is German, the command says
    assert _help([], capsys).startswith("Aufruf: techcare")


@pytest.mark.parametrize(("lang", "said", "not_said"), [
    ("de", ["Aufruf: techcare [-h]", "techcare: unbekannte Angaben: --bogus"], ["usage:", "unrecognized"]),
    ("en", ["usage: techcare [-h]", "techcare: unrecognized arguments: --bogus"], ["Aufruf", "unbekannt"]),
])
def test_a_usage_error_in_a_process(lang, said, not_said, techcare_env):
    env = {**os.environ, "TECHCARE_LANG": lang}
    done = subprocess.run([sys.executable, "-m", "techcare", "diagnose", "--bogus"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=techcare_env)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr
    for text in said:
        assert text in done.stderr, done.stderr
    for text in not_said:
        assert text not in done.stderr, done.stderr


@pytest.mark.parametrize(("argv", "german", "english"), [
    (["snapshot", "bogus", "x.json"], "Argument action: ungültige Auswahl: 'bogus' (möglich: 'save', 'info')",
     "argument action: invalid choice: 'bogus' (choose from 'save', 'info')"),
    (["report", "--lang", "fr"], "Argument --lang: ungültige Auswahl: 'fr' (möglich: 'de', 'en')",
     "invalid choice: 'fr'"),
    (["plugins", "new"], "techcare plugins new: es fehlt: NAME", "the following arguments are required: NAME"),
    (["fleet"], "techcare fleet: es fehlt: ACTION", "the following arguments are required: ACTION"),
    (["diagnose", "--snapshot"], "Argument --snapshot: erwartet einen Wert", "expected one argument"),
    (["sensor", "--interval", "x"], "Fehler: Argument --interval: keine ganze Zahl: 'x'", "invalid int value: 'x'"),
    (["sensor", "trust"], "Fehler: es fehlt: list|add|remove", "the following arguments are required"),
    (["service", "bogus"], "Fehler: Argument action: ungültige Auswahl: 'bogus'", "invalid choice: 'bogus'"),
    (["doctor", "--timeout", "soon"], "Fehler: Argument --timeout: keine Zahl: 'soon'", "invalid float value"),
    (["license", "--bogus"], "Fehler: unbekannte Angaben: --bogus", "unrecognized arguments: --bogus"),
    (["drivers", "--json", "--csv"], "Fehler: Argument --csv: nicht zusammen mit --json erlaubt",
     "argument --csv: not allowed with argument --json"),
])
def test_usage_errors_of_every_command_in_both_languages(argv, german, english, monkeypatch, capsys):
    for lang, said, other in (("de", german, english), ("en", english, german)):
        monkeypatch.setenv("TECHCARE_LANG", lang)
        set_language(None)
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, (lang, argv, err)
        assert said in err and other not in err, (lang, err)
        assert err.startswith("Aufruf: " if lang == "de" else "usage: "), err
        assert "Traceback" not in err


def _argparse_messages() -> set[str]:
    """The messages argparse passes through gettext (its msgids), read from its source."""
    source = inspect.getsource(argparse)
    found = {m.group(2) for m in re.finditer(r"""\b_\(\s*(['"])((?:\\.|(?!\1).)*)\1""", source)}
    for m in re.finditer(r"""ngettext\(\s*(['"])((?:\\.|(?!\1).)*)\1,\s*(['"])((?:\\.|(?!\3).)*)\3""", source):
        found |= {m.group(2), m.group(4)}
    return found


#: argparse messages a user of a finished command line never sees (errors in how a parser is built), and the words
#: that :class:`Parser` gives its own texts instead of translating them
NOT_FOR_USERS = {".__call__() not defined", "conflicting subparser: %s", "conflicting subparser alias: %s",
                 'argument "-" with mode %r', "cannot merge actions - two groups are named %r",
                 "'required' is an invalid argument for positionals", "invalid option string %(option)r: ",
                 "dest= is required for options like %r", "invalid conflict_resolution value: %r",
                 "mutually exclusive arguments must be optional", "cannot have multiple subparser arguments",
                 "%r is not callable", "conflicting option string: %s", "conflicting option strings: %s"}
OWN_WORDS = {"usage: ", "positional arguments", "options", "show this help message and exit",
             "%(prog)s: error: %(message)s\\n"}


def test_the_table_has_every_message_argparse_can_show_a_user():
    """Guards the table against a Python whose argparse says something new (or no longer says something)."""
    messages = _argparse_messages()
    assert set(ERRORS) <= messages, set(ERRORS) - messages
    assert messages - NOT_FOR_USERS - OWN_WORDS <= set(ERRORS), messages - NOT_FOR_USERS - OWN_WORDS - set(ERRORS)


@pytest.mark.parametrize(("english", "german"), [
    ("argument --n: invalid int value: 'x'", "Argument --n: keine ganze Zahl: 'x'"),
    ("argument --f: invalid float value: 'x'", "Argument --f: keine Zahl: 'x'"),
    ("argument --d: invalid date value: 'x'", "Argument --d: ungültiger Wert (date): 'x'"),
    ("argument --j: expected 2 arguments", "Argument --j: erwartet 2 Werte"),
    ("argument --j: expected 1 argument", "Argument --j: erwartet 1 Wert"),
    ("ambiguous option: --s could match --snapshot, --status", "mehrdeutige Option: --s passt zu --snapshot, --status"),
    ("one of the arguments --a --b is required", "eine der Angaben --a --b ist nötig"),
    ("argument --a: ignored explicit argument 'x'", "Argument --a: Wert 'x' hier nicht erlaubt"),
    ("argument COMMAND: invalid choice: '{x}' (choose from 'a')", "Argument COMMAND: ungültige Auswahl: '{x}' "
                                                                  "(möglich: 'a')"),
    ("something argparse says one day", "something argparse says one day"),
])
def test_translate(english, german):
    assert translate(english, "de") == german
    assert translate(english, "en") == english
