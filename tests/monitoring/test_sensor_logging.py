"""The sensor's log lines (stderr, journald, the launchd log file): one record per line, control characters shown.

A log message can carry a backend's or a machine's words (a refusal's text, a host name); whoever reads the log with
``cat`` or ``journalctl`` must not have their terminal driven by it, and a line break in such words must not forge a
log line of its own."""

from __future__ import annotations

import logging

import pytest

EVIL = "abgelehnt: evil\x1b]0;PWNED\x07\x1b[2J\n2026-12-02 00:00:00,000 INFO forged line"
SHOWN = "abgelehnt: evil\\x1b]0;PWNED\\x07\\x1b[2J\\n2026-12-02 00:00:00,000 INFO forged line"


@pytest.fixture
def techcare_logger():
    root = logging.getLogger("techcare")
    level, handlers = root.level, list(root.handlers)
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_the_log_file_and_stderr_show_control_characters_and_line_breaks_as_text(tmp_path, monkeypatch, capsys,
                                                                                  techcare_logger):
    from techcare.monitoring.sensor import setup_logging

    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    log_file = tmp_path / "sensor.log"
    setup_logging(platform="linux", log_file=str(log_file))
    logging.getLogger("techcare.monitoring.sensor").error("%s", EVIL)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("techcare.monitoring.sensor").exception("sending failed")
    for handler in techcare_logger.handlers:
        handler.flush()
    for text in (log_file.read_text(encoding="utf-8"), capsys.readouterr().err):
        assert "\x1b" not in text and "\x07" not in text
        lines = text.splitlines()
        assert lines[0].endswith(" ERROR " + SHOWN)
        assert lines[1].endswith(" ERROR sending failed") and lines[2] == "Traceback (most recent call last):"
        assert lines[-1] == "ValueError: boom"  # a traceback stays a readable traceback


def test_journald_lines_keep_their_priority_and_show_control_characters(monkeypatch, capsys, techcare_logger):
    from techcare.monitoring.sensor import setup_logging

    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")
    setup_logging(platform="linux")
    logging.getLogger("techcare.monitoring.sensor").warning("%s", EVIL)
    assert capsys.readouterr().err == f"<4>{SHOWN}\n"
