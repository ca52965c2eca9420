"""An undo runs only on the machine (or the replayed snapshot) its step ran on: every changelog entry records the
machine, and undo after an interruption, rollback and ``plan.rollback`` all refuse any other, naming both."""

from __future__ import annotations

from pathlib import Path

import pytest

import techcare
from techcare.errors import RepairError
from techcare.repairs import (
    Plan,
    interrupted,
    parse_approval,
    plan,
    read_entries,
    rollback_session,
    startup_check,
    undo_interrupted,
)
from techcare.repairs._changelog import ChangelogWriter
from techcare.system.runner import CommandResult, FileResult, LocalRunner
from techcare.system.snapshot import load_snapshot

SNAPSHOTS = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots"


def running(argv: tuple[str, ...]) -> CommandResult:
    """Every command not in the snapshot succeeds; services are running (as after a restart)."""
    if argv[:2] == ("sc.exe", "query"):
        return CommandResult(argv, 0, f"SERVICE_NAME: {argv[2]}\r\n        STATE              : 4  RUNNING\r\n",
                             "", 0.01)
    return CommandResult(argv, 0, "", "", 0.01)


def replay_of(name: str):
    """A replay of a committed customer snapshot (commands it did not record succeed)."""
    return load_snapshot(SNAPSHOTS / name).runner(fallback=running)


class OtherPC(LocalRunner):
    """This machine as PC B would look to TechCare: another OS machine id and host name (the data directory is
    the same, as with TechCare on a USB stick)."""

    def read_file(self, path: str) -> FileResult:
        if path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
            return FileResult(path, "b" * 32 + "\n", None)
        return super().read_file(path)

    def fact(self, name: str):
        value = super().fact(name)
        return {**value, "hostname": "pc-b"} if name == "host" else value


def interrupt_undo(session: str, step: int, action: str, params: dict) -> None:
    """What a process killed right after writing ``undo_started`` leaves behind."""
    first = read_entries(session)[0]
    ChangelogWriter.continuing(session, first).write("undo_started", step=step, action=action, params=params)


def windows_run():
    """Restart the print spooler of the replayed Windows 11 PC (its plan proposes that)."""
    p = plan(techcare.diagnose(snapshot=str(SNAPSHOTS / "windows11-problems.json")))
    step = next(s for s in p.steps if s.action_id == "win.restart_service" and s.params["name"] == "Spooler")
    result = p.run(parse_approval(f"GO REPAIR: {step.number}", p), replay_of("windows11-problems.json"),
                   progress=lambda _: None)
    assert result.completed == [step.number], result.steps
    return p, step, result


def test_every_entry_records_the_machine_it_was_written_on():
    _, _, result = windows_run()
    machines = {str(e.get("machine")) for e in read_entries(result.session)}
    assert len(machines) == 1
    machine = read_entries(result.session)[0]["machine"]
    assert machine["platform"] == "windows" and machine["replay"] is True and machine["id"].startswith("snapshot:")
    assert machine["host"] == load_snapshot(SNAPSHOTS / "windows11-problems.json").hostname


def test_undo_of_an_interrupted_step_of_a_windows_replay_is_refused_on_this_linux_machine():
    _, step, result = windows_run()
    interrupt_undo(result.session, step.number, step.action_id, step.params)
    [item] = interrupted()
    assert item.machine["platform"] == "windows" and "Wiedergabe eines Snapshots" in item.where
    assert item.where_in("en") in startup_check("en")[0] and "replay of a snapshot" in item.where_in("en")
    written = len(read_entries(result.session))
    with pytest.raises(RepairError) as refused:
        undo_interrupted(item)                        # default runner: this Linux machine
    message = str(refused.value)
    assert item.where in message and "(linux)" in message and "Zurückgenommen wird nur dort" in message
    with pytest.raises(RepairError, match="Snapshot"):
        undo_interrupted(item, replay_of("linux-debian-problems.json"))   # another snapshot is not that PC either
    assert len(read_entries(result.session)) == written and interrupted() == [item]
    # on a replay of the same snapshot the undo runs
    assert undo_interrupted(item, replay_of("windows11-problems.json"))["status"] == "undone"
    assert interrupted() == []


def test_rollback_of_a_replayed_run_is_refused_here_and_runs_on_the_replay():
    _, step, result = windows_run()
    with pytest.raises(RepairError, match="windows"):
        rollback_session(result.session, progress=lambda _: None)
    assert "undo_started" not in [e["event"] for e in read_entries(result.session)]
    [done] = rollback_session(result.session, replay_of("windows11-problems.json"), progress=lambda _: None)
    assert done["status"] == "undone" and done["step"] == step.number


def test_pc_b_cannot_undo_what_ran_on_pc_a_with_the_same_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_CLEAN_ROOTS", str(tmp_path))  # a temp root outside /tmp (e.g. /dev/shm) as well
    target = tmp_path / "temp"
    target.mkdir()
    (target / "old.log").write_bytes(b"x" * 100)
    import os
    import time

    old = time.time() - 30 * 86400
    os.utime(target / "old.log", (old, old))
    p = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": str(target)}}], platform="linux")
    result = p.run(parse_approval("GO REPAIR: 1", p), LocalRunner(platform="linux"), progress=lambda _: None)
    assert result.completed == [1] and not (target / "old.log").exists()
    with pytest.raises(RepairError) as refused:
        rollback_session(result.session, OtherPC(platform="linux"), progress=lambda _: None)
    assert "pc-b (linux)" in str(refused.value)
    assert not (target / "old.log").exists()          # nothing was put back on the wrong machine
    assert rollback_session(result.session, LocalRunner(platform="linux"), progress=lambda _: None)[0]["status"] == (
        "undone")
    assert (target / "old.log").read_bytes() == b"x" * 100


def test_changelogs_written_before_machines_were_recorded_compare_host_and_platform():
    session = "20260101T120000Z-abcdef123456-a1b2c3"
    ChangelogWriter(session, {"plan_id": "abcdef123456", "host": "PC-KUNDE-07", "platform": "windows"}).write(
        "started", step=1, action="win.flush_dns", params={})
    [item] = interrupted()
    assert item.where == "PC-KUNDE-07 (windows)"
    with pytest.raises(RepairError, match="PC-KUNDE-07"):
        undo_interrupted(item)
    assert read_entries(session)[-1]["event"] == "started"
