"""The repair changelog against damage to its real file (issue 22, items 6-9): a full disk (a real 300 KB tmpfs)
during a run, a torn last line, a flipped byte in the middle, journals of older versions, and the texts of steps
without undo. The counts that must hold: no step runs without its entry on the disk; the entries shown are the
intact ones; nothing whose state cannot be proven is undone automatically."""

from __future__ import annotations

import json

import pytest

from fs_faults import fill, tiny_fs
from techcare import config
from techcare.doctor import Doctor
from techcare.errors import RepairError
from techcare.repairs import (
    Plan,
    changelog,
    dismiss_interrupted,
    interrupted,
    parse_approval,
    read_entries,
    report,
    rollback_session,
    undo_interrupted,
)
from techcare.repairs._changelog import ChangelogWriter, read_journal, session_path
from techcare.repairs._journal import JournalError, head_path, seal
from techcare.system.runner import CommandResult, ReplayRunner

from test_repairs_run import FakeLinux


def run(plan: Plan, machine, approval: str = "GO REPAIR: alle"):
    lines: list[str] = []
    result = plan.run(parse_approval(approval, plan), machine, confirm=lambda s: True, progress=lines.append)
    return result, lines


def ufw_and_nginx() -> Plan:
    return Plan.from_actions([{"action": "linux.enable_ufw"},
                              {"action": "linux.restart_unit", "params": {"unit": "nginx.service"}}], platform="linux")


def flip(path, old: bytes, new: bytes, nth: int = 0) -> None:
    """Change bytes of one line in the real file (a flipped bit: still JSON, another meaning)."""
    data = path.read_bytes()
    at = -1
    for _ in range(nth + 1):
        at = data.index(old, at + 1)
    path.write_bytes(data[:at] + new + data[at + len(old):])


# ---- 6: no step runs unless its entry is complete and on the disk ---------------------------------------

APPLY = {("ufw", "--force", "enable"): 1, ("systemctl", "restart", "nginx.service"): 2}


class ChattyUfw(FakeLinux):
    """``ufw enable`` prints a lot: step 1's ``finished`` entry needs more room than a full disk's last page."""

    def answer(self, argv):
        result = super().answer(argv)
        if argv == ("ufw", "--force", "enable"):
            return CommandResult(argv, 0, result.stdout + "rule added\n" * 800, "", 0.01)
        return result


def test_a_disk_full_mid_run_stops_the_run_cleanly_and_no_step_runs_without_its_entry(tmp_path, monkeypatch):
    from techcare.repairs import sessions

    with tiny_fs(tmp_path / "tiny", "300k") as tiny:
        monkeypatch.setenv("TECHCARE_DATA_DIR", str(tiny / "data"))
        config.reset_settings()
        machine = ChattyUfw()
        filled = []
        on_disk_at_apply: dict[int, list[str]] = {}

        def spy(argv):
            if argv in APPLY:   # what the journal holds for this step when its change is made
                journal = read_journal(sessions()[-1])
                on_disk_at_apply[APPLY[argv]] = [e["event"] for e in journal.entries if e.get("step") == APPLY[argv]]
            if argv == ("ufw", "--force", "enable") and not filled:
                filled.append(fill(tiny))                               # the disk fills while step 1 applies

        machine.on_command = spy
        result, lines = run(ufw_and_nginx(), machine)
        # the count: a change is made only after its step's started and prepared entries are on the disk
        assert on_disk_at_apply == {1: ["started", "prepared"]}                        # step 2 never ran
        assert ("systemctl", "restart", "nginx.service") not in machine.commands_run
        assert result.status == "failed" and result.failed_step == 1
        assert [s.status for s in result.steps] == ["failed", "not_run"]
        assert "Datenträger ist voll" in result.messages[-1] and str(session_path(result.session)) in lines[-1]
        assert "unterbrochen" in result.steps[0].detail                                # it ran: said so
        journal = read_journal(result.session)
        assert journal.ok and not journal.torn_tail                                     # no half entry
        assert [e["event"] for e in journal.entries][:3] == ["run", "started", "prepared"]
        assert [e["event"] for e in journal.entries][3:] in ([], ["run_finished"])    # tried: it may still fit
        # on the next start step 1 is interrupted (it ran; its end is not on the disk): its undo is offered
        filled[0].unlink()
        [item] = interrupted()
        assert item.step == 1 and item.prepared and item.proven
        assert undo_interrupted(item, machine)["status"] == "undone" and machine.ufw == "inactive"


def test_a_full_disk_before_the_run_runs_nothing_and_leaks_no_oserror(tmp_path, monkeypatch):
    with tiny_fs(tmp_path / "tiny", "300k") as tiny:
        monkeypatch.setenv("TECHCARE_DATA_DIR", str(tiny / "data"))
        config.reset_settings()
        (tiny / "data" / "changelogs").mkdir(parents=True)
        filler = fill(tiny)
        machine = FakeLinux()
        with pytest.raises(JournalError) as caught:
            run(ufw_and_nginx(), machine)
        assert isinstance(caught.value, RepairError) and caught.value.kind == "full"
        assert "Ohne vollständigen Eintrag läuft kein Schritt" in caught.value.message
        assert not [argv for argv in machine.commands_run if argv[0] in ("ufw", "systemctl")]
        filler.unlink()


# ---- 7: a torn last line never swallows the next entry --------------------------------------------------

def interrupted_session(**more) -> str:
    """A journal as a killed process leaves it: step 1 started and prepared, no end."""
    session = "20261202T100000Z-abcdef-1234"
    writer = ChangelogWriter(session, {"plan_id": "abcdef", "host": "srv-kunde", "platform": "linux",
                                       "machine": {"host": "srv-kunde", "platform": "linux"}})
    base = {"step": 1, "action_id": "linux.enable_ufw", "params": {}}
    writer.write("run", approved=[1], plan={"steps": []})
    writer.write("started", **base)
    writer.write("prepared", **base, state={"previous": "inactive"})
    return session


def test_a_dismissal_after_a_torn_tail_is_kept_so_the_step_is_not_undone_later():
    session = interrupted_session()
    path = session_path(session)
    fragment = seal({"ts": "2026-12-02T10:00:09.000Z", "session": session, "event": "finished", "step": 1})[:40]
    with path.open("ab") as out:
        out.write(fragment)                                              # killed while writing "finished"
    [item] = interrupted()
    dismiss_interrupted(item, "checked by hand")
    assert interrupted() == []                                           # the dismissal was not merged away
    journal = read_journal(session)
    assert journal.ok and journal.torn_closed == 1
    assert [e["event"] for e in journal.entries][-2:] == ["torn_tail", "abandoned"]


# ---- 8: damage is said everywhere it is read; no automatic undo of what cannot be proven -------------------

def test_a_damaged_finished_line_is_not_taken_for_an_interrupted_step_to_undo(tmp_path):
    machine = FakeLinux()
    result, _ = run(ufw_and_nginx(), machine)
    assert result.status == "completed"
    path = session_path(result.session)
    flip(path, b'"event": "finished"', b'"event": "finishes"')           # step 1's end line is damaged
    [item] = interrupted()                                               # it looks started-and-prepared now
    assert item.step == 1 and not item.proven and "beschädigt" in item.message()
    before = len(machine.commands_run)
    with pytest.raises(RepairError) as refused:
        undo_interrupted(item, machine)
    assert "Zeile 4" in refused.value.message and len(machine.commands_run) == before and machine.ufw == "active"
    with pytest.raises(RepairError):
        rollback_session(result.session, machine, progress=lambda _: None)
    assert len(machine.commands_run) == before
    frame = changelog(result.session)
    assert frame.attrs["damaged"] == {result.session: [4]} and list(frame["event"])[-1] == "damaged"
    assert len(frame) - 1 == len(read_entries(result.session)) == 7                 # the intact entries, shown
    text = report(result.session, lang="de", out_dir=tmp_path).markdown
    assert "beschädigt (Zeile 4)" in text and "Nicht belegt (Protokoll beschädigt)" in text
    assert "| 1 |" in text and "Unterbrochen" not in text
    dismiss_interrupted(item, "checked by hand")                          # the technician closes it by hand


def test_an_undone_step_is_not_undone_twice_when_its_undone_line_is_damaged():
    machine = FakeLinux()
    plan = ufw_and_nginx()
    result, _ = run(plan, machine)
    assert [u["status"] for u in plan.rollback(progress=lambda _: None)] == ["undone", "undone"]
    flip(session_path(result.session), b'"event": "undone"', b'"event": "undona"')
    before = len(machine.commands_run)
    with pytest.raises(RepairError) as refused:
        rollback_session(result.session, machine, progress=lambda _: None)
    assert "automatisches Zurücknehmen ist gesperrt" in refused.value.message
    assert len(machine.commands_run) == before


def test_a_started_step_behind_a_damaged_line_is_not_reported_as_not_run(tmp_path):
    session = interrupted_session()
    flip(session_path(session), b'"event": "started"', b'"event": "startet"')
    text = report(session, lang="en", out_dir=tmp_path).markdown
    assert "Not proven (changelog damaged)" in text and "Not run" not in text
    assert "line 2" in text


def test_a_journal_of_an_older_version_without_checksums_is_read_and_undone_normally():
    machine = FakeLinux()
    result, _ = run(Plan.from_actions([{"action": "linux.enable_ufw"}], platform="linux"), machine)
    path = session_path(result.session)
    old = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for entry in old:
        entry.pop("sum")
        entry["action"] = entry.pop("action_id", None) if "action_id" in entry else None
        if entry["action"] is None:
            del entry["action"]
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in old), encoding="utf-8")
    head_path(path).unlink()                                   # an older version wrote no head record either
    journal = read_journal(result.session)
    assert journal.ok and journal.unverified == len(old)
    undone = rollback_session(result.session, machine, progress=lambda _: None)
    assert [u["status"] for u in undone] == ["undone"] and machine.ufw == "inactive"
    assert read_journal(result.session).ok                                 # new sealed entries after old ones


def test_doctor_and_changelog_agree_on_a_damaged_session(tmp_path):
    machine = FakeLinux()
    result, _ = run(ufw_and_nginx(), machine)
    flip(session_path(result.session), b'"event": "prepared"', b'"event": "prepares"', nth=1)
    doctor = Doctor(config.get_settings(), runner=ReplayRunner(platform="linux"))
    doctor.check_journals()
    assert doctor.checks[-1].status == "warn" and f"{result.session} Zeile 6" in doctor.checks[-1].detail
    assert changelog().attrs["damaged"] == {result.session: [6]}


# ---- 9: a step without undo --------------------------------------------------------------------------------

class VacuumFails(FakeLinux):
    def answer(self, argv):
        if argv[:1] == ("journalctl",) and argv[1].startswith("--vacuum-size"):
            return CommandResult(argv, 1, "", "Failed to vacuum: permission denied\n", 0.01)
        return super().answer(argv)


def test_a_failed_step_without_undo_is_not_said_to_be_undone():
    result, lines = run(Plan.from_actions([{"action": "linux.enable_ufw"}, {"action": "linux.journal_vacuum"}],
                                          platform="linux"), VacuumFails())
    assert result.failed_step == 2
    message = result.messages[-1]
    assert "zurückgenommen." not in message.split("plan.rollback")[0] and "kein Undo" in message
    assert "Der erledigte Schritt 1 kann mit plan.rollback() zurückgenommen werden." in message


def test_a_step_without_undo_is_reported_once_not_on_every_rollback():
    machine = FakeLinux()
    result, _ = run(Plan.from_actions([{"action": "linux.journal_vacuum"}], platform="linux"), machine)
    assert result.status == "completed"
    first = rollback_session(result.session, machine, progress=lambda _: None)
    assert [r["status"] for r in first] == ["not_undoable"]
    assert rollback_session(result.session, machine, progress=lambda _: None) == []
    assert rollback_session(result.session, machine, progress=lambda _: None) == []
    assert [e["event"] for e in read_entries(result.session)].count("undo_skipped") == 1


def test_a_journal_that_became_a_directory_is_one_message_at_start_and_refuses_runs():
    from techcare.repairs import startup_check

    session = interrupted_session()
    path = session_path(session)
    path.unlink()
    path.mkdir()
    [message] = startup_check()
    assert str(path) in message and "kein Ordner" in message
    machine = FakeLinux()
    with pytest.raises(RepairError) as refused:                      # interrupted steps cannot be ruled out
        run(Plan.from_actions([{"action": "linux.enable_ufw"}], platform="linux"), machine)
    assert str(path) in refused.value.message
    assert not [argv for argv in machine.commands_run if argv[0] == "ufw"]
