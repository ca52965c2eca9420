"""Magics behaviour the runbooks rely on (in a kernel-like shell, where %diagnose shows a progress bar)."""

from __future__ import annotations

from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "linux-debian-problems.json"


@pytest.fixture
def ip():
    from IPython.core.interactiveshell import InteractiveShell

    from techcare.session import reset_session

    shell = InteractiveShell.instance()
    reset_session()
    shell.run_line_magic("load_ext", "techcare")
    yield shell
    reset_session()


def test_diagnose_with_a_missing_snapshot_fails_before_showing_a_progress_bar(ip, tmp_path):
    from IPython.utils.capture import capture_output

    from techcare.errors import SnapshotError

    missing = tmp_path / "gibt-es-nicht.json"
    with capture_output() as captured, pytest.raises(SnapshotError, match="gibt-es-nicht.json"):
        ip.run_line_magic("diagnose", f"--snapshot {missing}")
    assert captured.outputs == []


def test_diagnose_with_a_snapshot_shows_progress_and_diagnoses_it(ip):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = ip.run_line_magic("diagnose", f"--snapshot {SNAPSHOT}")
    assert result.os == "linux"
    assert "firewall" in set(result.findings.check)
    assert len(captured.outputs) == 1  # the progress bar (an HBox with ipywidgets)

