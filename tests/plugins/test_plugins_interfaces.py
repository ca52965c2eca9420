"""``techcare plugins`` / ``plugins new NAME``, ``%techcare plugins``, and the scaffold's own test run as a new
user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from plugin_texts import LOB, write_plugin

from techcare import cli, plugins
from techcare.errors import ConfigError


def test_cli_lists_plugins_with_what_they_add_and_errors(home, capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    monkeypatch.setenv("COLUMNS", "200")
    write_plugin(home, "acme_lob.py", LOB)
    write_plugin(home, "broken.py", "raise RuntimeError('boom')\n")
    assert cli.main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "acme-lob 1.2.0" in out and "acme.restart_lob (medium risk)" in out and "acme-kb" in out
    assert "not loaded" in out and "RuntimeError: boom" in out
    assert cli.main(["plugins", "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["acme-lob"]["loaded"] and listed["broken"]["error"] == "RuntimeError: boom"


def test_cli_says_there_are_none_in_german(home, capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    monkeypatch.setenv("COLUMNS", "200")
    assert cli.main(["plugins"]) == 0
    assert "Keine Plugins. Ein neues anlegen: techcare plugins new NAME" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "said"), [("Acme LOB", "is not valid"), ("win-tools", "namespace of TechCare"),
                                            ("x-", "is not valid")])
def test_new_refuses_bad_names(tmp_path, name, said, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(ConfigError, match=said):
        plugins.new(name, tmp_path)


def test_new_never_overwrites(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    (tmp_path / "acme-lob").mkdir()
    assert cli.main(["plugins", "new", "acme-lob", "--dir", str(tmp_path)]) == 2
    assert "already exists; nothing was overwritten" in capsys.readouterr().err


def test_new_writes_a_package_whose_own_test_passes(tmp_path, capsys):
    assert cli.main(["plugins", "new", "acme-lob", "--dir", str(tmp_path)]) == 0
    folder = tmp_path / "acme-lob"
    assert str(folder) in capsys.readouterr().out
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == \
        ["README.md", "pyproject.toml", "src/acme_lob.py", "tests/test_acme_lob.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TECHCARE_", "PYTEST_"))}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the package needs no pytest plugin; starting faster
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "3 passed" in run.stdout, run.stdout + run.stderr


def test_the_written_plugin_loads_as_a_file_plugin(home, tmp_path):
    folder = plugins.new("acme-lob", tmp_path)
    write_plugin(home, "acme_lob.py", (folder / "src" / "acme_lob.py").read_text())
    row = plugins.frame("en").set_index("name").loc["acme-lob"]
    assert row["loaded"] and row["checks"] == ["acme_lob.service"] and row["risks"] == {"acme_lob.start_service": "low"}


def test_magic_lists_and_creates(ip, home, tmp_path):
    write_plugin(home, "acme_lob.py", LOB)
    frame = ip.run_line_magic("techcare", "plugins")
    assert list(frame["name"]) == ["acme-lob"]
    folder = ip.run_line_magic("techcare", f"plugins new acme-x --dir {tmp_path}")
    assert (folder / "src" / "acme_x.py").is_file()
    result = ip.run_cell("%techcare plugins new")
    assert not result.success and type(result.error_in_exec).__name__ == "UsageError"
    assert "%techcare plugins new NAME" in str(result.error_in_exec)


def test_a_chat_message_starting_with_plugins_is_chat(ip, home, monkeypatch):
    from techcare.session import get_session

    seen = []
    monkeypatch.setattr(type(get_session()), "ask", lambda self, message, on_text=None: seen.append(message) or message)
    ip.run_line_magic("config", "TechCareMagics.streaming = False")
    assert ip.run_line_magic("techcare", "plugins sind kaputt") == "plugins sind kaputt" and seen
