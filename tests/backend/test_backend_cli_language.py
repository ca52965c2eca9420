"""``techcare-backend`` speaks the product's language like the client's command lines: every argument has a help
text, German differs from English everywhere, argparse's own words and usage errors follow ``TECHCARE_LANG``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from cli_parsers import own_texts, walk

from techcare.i18n import set_language


def parsers(lang: str) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    from techcare_backend.cli import build_parser

    set_language(lang)
    yield from walk(build_parser())


def test_every_argument_of_techcare_backend_has_a_help_text_in_both_languages() -> None:
    german, english = dict(parsers("de")), dict(parsers("en"))
    try:
        assert german.keys() == english.keys()
        assert {("serve",), ("migrate",), ("maintenance",), ("keys", "create"), ("org", "create")} <= german.keys()
        for path, parser in german.items():
            for action in parser._actions:
                if not isinstance(action, argparse._SubParsersAction):
                    assert action.help, f"techcare-backend {' '.join(path)}: {action.dest} has no help"
            de, en = own_texts(parser), own_texts(english[path])
            assert de.keys() == en.keys(), path
            for key in de:
                assert de[key] != en[key], f"techcare-backend {' '.join(path)} {key}: {de[key]!r} in both"
    finally:
        set_language(None)


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_usage_error_of_techcare_backend_is_in_the_language_and_exits_2(lang: str, capsys: pytest.CaptureFixture,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from techcare_backend.cli import main

    monkeypatch.setenv("TECHCARE_LANG", lang)
    set_language(None)
    with pytest.raises(SystemExit) as stop:
        main(["org", "create", "--edition", "gold", "ACME"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    if lang == "de":
        assert err.startswith("Aufruf: techcare-backend org create") and "Fehler: Argument --edition: ungültige " \
            "Auswahl: 'gold' (möglich: 'community', 'pro', 'pro_business', 'enterprise')" in err
    else:
        assert err.startswith("usage: techcare-backend org create") and "error: argument --edition: invalid " \
            "choice: 'gold'" in err
    assert "Traceback" not in err
