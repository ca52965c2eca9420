"""The Assistant with the offline engine: plans from findings, direct reports, memory, resume, reset."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from assistant_helpers import make_diagnosis

from techcare import repairs
from techcare.assistant import Assistant, Reply, list_sessions
from techcare.config import get_settings
from techcare.errors import AssistantError
from techcare.system.runner import ReplayRunner


def _actions(reply: Reply) -> list[str]:
    return [s.action_id for s in reply.plan.steps]


def test_windows_update_message_gives_a_numbered_plan_with_finding_parameters(windows_diagnosis):
    bot = Assistant(engine="offline", diagnosis=windows_diagnosis, language="de")
    reply = bot.ask("Windows Update funktioniert nicht")
    assert reply.engine == "offline" and reply.route == "plan"
    assert reply.categories[0][0] == "windows_update"
    assert isinstance(reply.plan, repairs.Plan)
    actions = _actions(reply)
    assert "win.reset_windows_update" in actions
    step = next(s for s in reply.plan.steps if s.action_id == "win.set_service_start_type")
    assert step.params == {"name": "wuauserv", "start_type": "manual"}
    assert [s.number for s in reply.plan.steps] == list(range(1, len(actions) + 1))
    assert [f.check for f in reply.findings] == ["update_service"]
    assert "GO REPAIR" in reply.text and "wuauserv" in reply.text
    assert reply.plan.symptom == "Windows Update funktioniert nicht"


def test_english_reply(windows_diagnosis):
    reply = Assistant(engine="offline", diagnosis=windows_diagnosis, language="en").ask("the firewall is off")
    assert reply.categories[0][0] == "firewall"
    assert "Proposed plan" in reply.text and "nothing has been run" in reply.text
    step = next(s for s in reply.plan.steps if s.action_id == "win.enable_firewall")
    assert [p.lower() for p in step.params["profiles"]] == ["public"]


def test_the_assistant_runs_nothing(windows_diagnosis):
    runner = ReplayRunner(platform="windows")
    bot = Assistant(engine="offline", diagnosis=windows_diagnosis, runner=runner)
    for message in ("Windows Update funktioniert nicht", "Firewall einschalten", "kein Internet", "PC ist lahm"):
        reply = bot.ask(message)
        assert reply.plan is not None
    assert runner.commands_run == []
    assert repairs.changelog().empty


def test_linux_plan_uses_linux_actions():
    bot = Assistant(engine="offline", diagnosis=make_diagnosis("linux"), language="en")
    reply = bot.ask("disk is full, no space left on device")
    assert reply.categories[0][0] == "disk_full"
    assert set(_actions(reply)) <= {"linux.apt_clean", "linux.journal_vacuum", "linux.clear_temp_files"}
    assert _actions(reply)


def test_category_without_catalogue_repair_says_so():
    reply = Assistant(engine="offline", diagnosis=make_diagnosis("windows"), language="en").ask("user cant log in")
    assert reply.categories[0][0] == "account_login"
    assert reply.plan is None
    assert "no automatic repair" in reply.text


def test_driver_check_routes_to_the_driver_report_without_a_plan(windows_driver_runner):
    bot = Assistant(engine="offline", diagnosis=make_diagnosis("windows"), runner=windows_driver_runner)
    reply = bot.ask("Prüfe Treiber-Updates")
    assert reply.route == "driver_updates"
    assert reply.plan is None
    assert reply.data is not None and len(reply.data) >= 1
    assert "NVIDIA" in reply.text or "Intel" in reply.text or "Realtek" in reply.text
    assert "Treiberprüfung" in reply.text


def test_driver_update_request_proposes_installs(windows_driver_runner):
    bot = Assistant(engine="offline", diagnosis=make_diagnosis("windows"), runner=windows_driver_runner)
    reply = bot.ask("Treiber aktualisieren bitte")
    assert reply.route == "plan"
    installs = [s for s in reply.plan.steps if s.action_id == "drivers.install_update"]
    assert installs and all(s.params["update_id"] and s.params["source"] for s in installs)
    from techcare.tools.drivers import _windows

    # only the two read-only report queries ran; installing is left to the approved plan
    assert set(windows_driver_runner.commands_run) <= {tuple(_windows.INVENTORY_ARGV), tuple(_windows.WU_ARGV)}


def test_recent_events_request(windows_diagnosis):
    from techcare.system.records import EventRecord

    events = [EventRecord(time="2026-11-27T10:00:00Z", level="error", source="Disk", message="The device has a bad block.",
                          event_id=7)]
    bot = Assistant(engine="offline", diagnosis=make_diagnosis("windows", events=events), language="en")
    reply = bot.ask("show the event log")
    assert reply.route == "events" and reply.plan is None
    assert "bad block" in reply.text


def test_unrecognised_message_asks_for_the_symptom():
    reply = Assistant(engine="offline", diagnosis=make_diagnosis("windows"), language="en").ask("hello there")
    assert reply.plan is None and reply.categories == []
    assert "describe the symptom" in reply.text


def test_follow_up_keeps_the_topic(windows_diagnosis):
    bot = Assistant(engine="offline", diagnosis=make_diagnosis("windows"), language="de")
    first = bot.ask("Drucker druckt nicht")
    follow = bot.ask("und jetzt?")
    assert follow.categories[0][0] == first.categories[0][0] == "printer"
    assert "Weiter beim Thema" in follow.text


def test_empty_and_oversized_messages_are_clear_errors():
    bot = Assistant(engine="offline", diagnosis=make_diagnosis("windows"), language="en")
    with pytest.raises(AssistantError, match="empty"):
        bot.ask("   ")
    with pytest.raises(AssistantError, match="too long"):
        bot.ask("x" * 20_001)


def test_bad_constructor_arguments_name_what_is_allowed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(AssistantError, match="auto | claude | offline"):
        Assistant(engine="gpt")
    with pytest.raises(AssistantError, match="de | en"):
        Assistant(language="fr")
    with pytest.raises(AssistantError, match="session"):
        Assistant(session="../../etc/passwd")
    with pytest.raises(AssistantError, match="ANTHROPIC_API_KEY"):
        Assistant(engine="claude")


def test_no_key_means_offline_by_default(windows_diagnosis):
    assert Assistant(diagnosis=windows_diagnosis).engine == "offline"


def test_sessions_are_json_lines_and_resumable(windows_diagnosis):
    bot = Assistant(engine="offline", diagnosis=windows_diagnosis)
    first = bot.ask("Windows Update funktioniert nicht")
    bot.ask("Firewall ist aus")
    path = get_settings().sessions_dir / f"{bot.session_id}.jsonl"
    assert path.exists() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0]["type"] == "session" and [entry["user"] for entry in lines[1:]] == \
        ["Windows Update funktioniert nicht", "Firewall ist aus"]
    assert lines[1]["plan"]["id"] == first.plan.id

    resumed = Assistant(session=bot.session_id, engine="offline", diagnosis=windows_diagnosis)
    assert [t["user"] for t in resumed.history] == ["Windows Update funktioniert nicht", "Firewall ist aus"]
    assert resumed.last_plan is not None
    assert [s.action_id for s in resumed.last_plan.steps] == [s.action_id for s in bot.last_plan.steps]
    resumed.ask("und jetzt?")
    assert len(Assistant(session=bot.session_id, engine="offline", diagnosis=windows_diagnosis).history) == 3
    frame = list_sessions()
    assert bot.session_id in set(frame["session"]) and int(frame.loc[frame.session == bot.session_id, "turns"].iloc[0]) == 3


def test_a_truncated_last_line_does_not_lose_the_session(windows_diagnosis):
    bot = Assistant(engine="offline", diagnosis=windows_diagnosis)
    bot.ask("kein Internet")
    with bot.path.open("a", encoding="utf-8") as handle:
        handle.write('{"type": "turn", "user": "abgebr')
    assert [t["user"] for t in Assistant(session=bot.session_id, engine="offline").history] == ["kein Internet"]


def test_reset_starts_a_new_session(windows_diagnosis):
    bot = Assistant(engine="offline", diagnosis=windows_diagnosis)
    bot.ask("kein Internet")
    old = bot.session_id
    new = bot.reset()
    assert new != old and bot.session_id == new
    assert bot.history == [] and bot.last_plan is None
    assert (get_settings().sessions_dir / f"{old}.jsonl").exists()


def test_streaming_callback_gets_the_text(windows_diagnosis):
    chunks: list[str] = []
    reply = Assistant(engine="offline", diagnosis=windows_diagnosis, stream=True).ask("kein Internet", on_text=chunks.append)
    assert "".join(chunks) == reply.text


def test_reply_renders(windows_diagnosis):
    reply = Assistant(engine="offline", diagnosis=windows_diagnosis).ask("kein Internet")
    assert "<pre" in reply._repr_html_()
    assert str(reply) == reply.text
    assert reply.to_dict()["plan"]["actions"][0]["action"].startswith("win.")
    from rich.console import Console

    console = Console(record=True, width=100)
    console.print(reply)
    assert "TechCare (offline)" in console.export_text()


SNAPSHOT = Path(__file__).parent.parent / "system" / "fixtures" / "snapshots" / "windows11-problems.json"


def test_technician_session_on_a_replayed_windows_machine():
    """Through the interfaces' Session (shell/REPL/magics) on a captured Windows 11 machine with problems."""
    from techcare.session import Session

    tc = Session(snapshot=SNAPSHOT)
    printer = tc.ask("Drucker spinnt")
    assert tc.diagnosis is not None and tc.diagnosis.os == "windows"  # the assistant used the session's diagnosis
    assert printer.categories[0][0] == "printer"
    assert ("win.restart_service", {"name": "Spooler"}) in [(s.action_id, s.params) for s in printer.plan.steps]
    assert any(f.check == "service:Spooler" for f in printer.findings)
    assert tc.plan is printer.plan and tc.shown_plan_id == printer.plan.id
    sound = tc.ask("kein Ton mehr")
    assert ("win.restart_service", {"name": "Audiosrv"}) in [(s.action_id, s.params) for s in sound.plan.steps]
    assert tc.last_run is None and repairs.changelog().empty


def test_system_check_request_reports_findings_and_plans_their_repairs(windows_diagnosis):
    reply = Assistant(engine="offline", diagnosis=windows_diagnosis, language="de").ask("Prüfe System")
    assert reply.route == "diagnose"
    assert "Diagnose: 2 Probleme." in reply.text
    assert {f.check for f in reply.findings} == {"firewall", "update_service"}
    assert {"win.enable_firewall", "win.set_service_start_type", "win.reset_windows_update"} <= \
        {s.action_id for s in reply.plan.steps}


def test_past_cases_request(windows_diagnosis):
    from techcare.assistant import cases

    cases.record("Drucker druckt nicht", actions=["win.restart_service"], outcome="success", os="windows", language="de")
    reply = Assistant(engine="offline", diagnosis=windows_diagnosis, language="de").ask("ähnliche Fälle: Drucker druckt nicht")
    assert reply.route == "cases" and reply.plan is None
    assert "Drucker druckt nicht → win.restart_service (success" in reply.text
    assert len(reply.data) == 1


def test_an_unwritable_session_directory_does_not_lose_the_answer(windows_diagnosis, caplog):
    sessions = get_settings().sessions_dir
    sessions.parent.mkdir(parents=True, exist_ok=True)
    sessions.write_text("not a directory")  # the sessions path is blocked by a file
    bot = Assistant(engine="offline", diagnosis=windows_diagnosis)
    reply = bot.ask("kein Internet")
    assert reply.plan is not None and len(bot.history) == 1
    assert "not saved" in caplog.text
