"""The dashboard names operating systems as people say them (issue 16, item 13): darwin is macOS."""

from __future__ import annotations

from pathlib import Path

from techcare_backend.dashboard.routes import env

TEMPLATES = Path(__file__).parents[2] / "backend" / "techcare_backend" / "dashboard" / "templates"


def test_os_filter_says_macos_for_darwin_and_keeps_unknown_values():
    render = env.from_string("{{ value | os }}").render
    assert [render(value=v) for v in ("darwin", "windows", "linux", "freebsd", None)] == \
        ["macOS", "Windows", "Linux", "freebsd", "–"]


def test_every_template_shows_an_os_through_the_filter():
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text(encoding="utf-8")
        for expression in ("h.os }}", "c.os }}", "host.os }}"):
            assert expression not in text, f"{path.name}: {expression} without | os"
