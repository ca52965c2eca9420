"""What a technician sees in the shell, the plain REPL and the magics: the banner names the replayed PC, results
are shown as findings and tables (never raw objects), approval hints only name steps the plan has, and %sensor
says whether its sample was sent."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from techcare.config import get_settings
from techcare.errors import ApprovalError
from techcare.repairs import parse_approval
from techcare.repl import Repl
from techcare.session import Session
from techcare.shell import banner

SNAPSHOTS = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots"
WINDOWS = SNAPSHOTS / "windows11-problems.json"
LINUX = SNAPSHOTS / "linux-debian-problems.json"


def repl_for(session: Session) -> tuple[Repl, list[str]]:
    shown: list[str] = []

    def say(obj) -> None:
        from rich.console import Console

        console = Console(width=160, record=True, highlight=False)
        with console.capture() as capture:
            console.print(obj, markup=False)
        shown.append(capture.get())

    return Repl(session, say=say, interactive=False), shown


def test_banner_of_a_snapshot_session_names_the_replayed_pc_not_this_machine():
    text = banner(get_settings(), session=Session(snapshot=WINDOWS))
    machine = text.splitlines()[1]
    assert "WS-EMPFANG-01" in machine and "Microsoft Windows 11 Pro" in machine and "windows11-problems.json" in machine
    assert socket.gethostname() not in machine


def test_banner_of_the_plain_repl_lists_its_own_words_not_the_magics(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plain = banner(get_settings(), session=Session(snapshot=LINUX), plain=True)
    assert "%" not in plain.splitlines()[-1] and "drivers" in plain and "help" in plain
    assert "Debian GNU/Linux 12 (bookworm)" in plain
    assert "%diagnose" in banner(get_settings(), session=Session(snapshot=LINUX))


def test_repl_shows_the_driver_report_not_a_truncated_frame():
    repl, shown = repl_for(Session(snapshot=WINDOWS))
    repl.handle("treiber")
    text = shown[-1]
    assert "rows x" not in text and "NVIDIA GeForce RTX 3080" in text and "VERFÜGBARE UPDATES" in text


def test_repl_report_says_where_it_was_written_not_the_object(monkeypatch):
    session = Session(snapshot=LINUX)
    session.add_step("linux.flush_dns")
    session.run("GO REPAIR: 1", dry_run=True, progress=lambda *a, **k: None)
    repl, shown = repl_for(session)
    repl.handle("report")
    assert "Reparaturprotokoll geschrieben:" in shown[-1] and "Report(" not in shown[-1]
    assert ".de.md" in shown[-1] and ".de.html" in shown[-1]


def test_hints_of_a_one_step_plan_name_only_step_1():
    session = Session(snapshot=LINUX)
    session.add_step("linux.flush_dns")
    text = session.plan.text()
    assert "GO REPAIR: 1 " in text + " " and "1,2" not in text and "1-1" not in text
    repl, shown = repl_for(session)
    repl.handle("hilfe")
    assert "GO REPAIR: 1 ·" in shown[-1] and "1,2" not in shown[-1]


def test_a_refused_approval_suggests_only_approvals_that_are_accepted():
    session = Session(snapshot=LINUX)
    session.add_step("linux.flush_dns")
    session.add_step("linux.apt_clean")
    with pytest.raises(ApprovalError) as info:
        parse_approval("GO REPAIR: 99", session.plan)
    message = str(info.value)
    assert "1,2,3" not in message and "1-2" in message
    for suggestion in session.plan.approval_examples():
        assert suggestion in message
        assert parse_approval(suggestion, session.plan).steps  # what the hint offers is accepted


def test_session_repr_is_in_the_session_language(monkeypatch):
    session = Session(snapshot=LINUX)
    session.add_step("linux.flush_dns")
    assert repr(session).startswith("<TechCare-Sitzung: Snapshot") and "(1 Schritt)" in repr(session)
    monkeypatch.setenv("TECHCARE_LANG", "en")
    assert repr(session).startswith("<TechCare session: snapshot") and "(1 step)" in repr(session)
    assert repr(Session()) == "<TechCare session: this PC>"


def test_diagnose_magic_in_the_terminal_shows_the_findings(ip, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    result = ip.run_cell(f"%diagnose --snapshot {LINUX}")
    assert result.success, result.error_in_exec
    diagnosis = result.result
    assert diagnosis.os == "linux"  # the object is still returned
    text = ip.display_formatter.format(diagnosis)[0]["text/plain"]
    assert "<Diagnosis" not in text and "Firewall (ufw) is off." in text and "nginx.service" in text


@pytest.mark.parametrize(("lang", "said"), [("de", "--since/--until/--resolution nur zusammen mit --history HOST"),
                                            ("en", "--since/--until/--resolution only with --history HOST")])
def test_sensor_magic_history_options_need_a_host(ip, monkeypatch, lang, said):
    from IPython.core.error import UsageError

    monkeypatch.setenv("TECHCARE_LANG", lang)
    with pytest.raises(UsageError) as caught:
        ip.run_line_magic("sensor", "--resolution hour")
    assert str(caught.value) == said
    with pytest.raises(UsageError, match="minute"):  # argparse names the bad choice and the allowed ones
        ip.run_line_magic("sensor", "--history PC-1 --resolution minute")


def test_sensor_magic_says_the_sample_was_not_sent_and_shows_a_table(ip, monkeypatch):
    ip.user_ns["tc"].use_snapshot(WINDOWS)
    result = ip.run_cell("%sensor")
    assert result.success, result.error_in_exec
    sample = result.result
    assert sample["os"] == "windows" and "cpu_percent" in sample  # still the sample (a dict)
    text = ip.display_formatter.format(sample)[0]["text/plain"]
    assert "nicht gesendet" in text and "Prozessorlast" in text and "{'" not in text
    assert "nicht gesendet" in sample._repr_html_()


@pytest.mark.parametrize(("lang", "severity", "area"), [("de", "✖ kritisch", "Dienste"), ("en", "✖ critical", "services")])
def test_diagnosis_table_says_severities_areas_and_macos_in_the_session_language(monkeypatch, lang, severity, area):
    from rich.console import Console

    monkeypatch.setenv("TECHCARE_LANG", lang)
    diagnosis = Session(snapshot=SNAPSHOTS / "macos14-problems.json").diagnose()
    console = Console(width=300, highlight=False)
    with console.capture() as capture:
        console.print(diagnosis)
    text = capture.get()
    other = "✖ critical" if lang == "de" else "✖ kritisch"
    assert severity in text and other not in text and f" {area} " in text
    assert "(macOS)" in text and "darwin" not in text


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_failed_run_says_each_step_escapes_what_the_machine_said_and_how_to_undo(monkeypatch, lang, tmp_path):
    """RunResult.summary(): what %repair shows as the cell's result and the plain REPL prints after GO REPAIR — a
    line per step, the result and the changelog, the undo command of the interface showing it; a step detail
    carrying terminal control sequences (a command's output) is shown escaped, never sent to the terminal."""
    from techcare.repairs import RunResult, StepOutcome
    from techcare.repl import _render_run

    monkeypatch.setenv("TECHCARE_LANG", lang)
    monkeypatch.setattr(RunResult, "rollback_available", property(lambda self: [1]))
    result = RunResult(session="S1", plan_id="P1", dry_run=False, status="failed", failed_step=2,
                       changelog_path=tmp_path / "S1.jsonl",
                       steps=[StepOutcome(1, "linux.clear_temp_files", "finished", "1.2 GB"),
                              StepOutcome(2, "linux.restart_service", "failed", "\x1b]0;owned\x07\x1b[2Jexit 1")])
    text = result.summary()
    lines = text.splitlines()
    assert lines[0] == ("✔ 1. linux.clear_temp_files: " + ("erledigt" if lang == "de" else "finished") + " – 1.2 GB")
    assert lines[1].startswith("✖ 2. linux.restart_service: " + ("fehlgeschlagen" if lang == "de" else "failed"))
    assert "\x1b" not in text and "\x07" not in text and "exit 1" in lines[1]
    assert str(tmp_path / "S1.jsonl") in lines[2]
    assert lines[3].endswith("%repair --undo") and _render_run(result).splitlines()[3].endswith(": undo")
