"""Temp/cache cleanup outside the allowed roots: refused at the step's check, with the reason, before anything is
prepared or moved (it used to be run anyway and then report a failed undo, "check by hand", for a cleanup that
never started); a quarantine that was never written restores as nothing; the allowed roots are absolute paths of
this OS only."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from techcare.repairs import Plan, parse_approval
from techcare.repairs._fsops import FILES, allowed_roots, restore
from techcare.system.runner import CommandResult, LocalRunner

REFUSAL = ("refused: /srv/daten is not a temp or cache directory (allowed: /tmp, /var/tmp; more via "
           "TECHCARE_CLEAN_ROOTS)")


class RefusingFsops(LocalRunner):
    """Answers the cleanup helper as it answers for a directory outside the temp and cache roots (exit 2 and the
    JSON refusal); records every command; any other command is a test failure."""

    def __init__(self) -> None:
        super().__init__(platform="linux")
        self.argv: list[tuple[str, ...]] = []

    def run(self, argv: Sequence[str], *, timeout: float = 0, input: str | None = None) -> CommandResult:
        self.argv.append(tuple(argv))
        assert "techcare.repairs._fsops" in argv and "scan" in argv, argv
        return CommandResult(tuple(argv), 2, json.dumps({"error": REFUSAL}) + "\n", "")


@pytest.mark.parametrize("lang", ["de", "en"])
def test_cleanup_of_a_directory_outside_the_temp_roots_fails_at_its_check_with_the_reason(lang, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", lang)
    runner = RefusingFsops()
    plan = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": "/srv/daten"}}],
                             platform="linux")
    said: list[str] = []
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, progress=said.append)
    [step] = result.steps
    assert (result.status, step.status) == ("failed", "failed")
    assert step.detail.startswith("Vorprüfung" if lang == "de" else "Check"), step.detail
    assert "/srv/daten is not a temp or cache directory" in step.detail
    assert ("wird nicht bereinigt" if lang == "de" else "is not cleaned") in step.detail
    assert step.undo is None and step.undo_status is None, "nothing ran, so nothing is undone or 'failed to undo'"
    assert [a for a in runner.argv if "clean" in a or "restore" in a] == []
    assert "undo" not in " ".join(said).lower() and "rückgängig" not in " ".join(said).lower()


def test_a_quarantine_that_was_never_written_restores_nothing(tmp_path):
    assert restore(tmp_path / "never-made") == {"root": None, "restored": 0, "conflicts": [], "errors": []}
    (tmp_path / "empty" / FILES).mkdir(parents=True)
    assert restore(tmp_path / "empty")["restored"] == 0
    stray = tmp_path / "stray" / FILES / "a.log"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")
    with pytest.raises(FileNotFoundError):  # files without their manifest: where they belong is unknown
        restore(tmp_path / "stray")
    assert stray.exists()


@pytest.mark.skipif(os.name == "nt", reason="the POSIX list (Windows adds %WINDIR%\\Temp and %LOCALAPPDATA%\\Temp)")
def test_the_allowed_roots_are_absolute_paths_of_this_system(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TECHCARE_CLEAN_ROOTS", os.pathsep.join(["relative/dir", str(tmp_path / "extra")]))
    roots = allowed_roots()
    assert all(r.is_absolute() for r in roots)
    assert not [r for r in roots if tmp_path in r.parents and r != tmp_path / "extra"], roots  # no cwd-relative root
    assert not [r for r in roots if "Windows" in str(r)], roots
    assert (tmp_path / "extra").resolve() in roots and Path("/tmp").resolve() in roots
