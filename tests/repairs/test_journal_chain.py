"""The journal's chain (tester finding 6): every sealed entry carries its place (``seq``) and the checksum of the
entry before it (``prev``), so a whole line that is missing, swapped or repeated is damage, not a different
believable story. Real files, real processes for concurrent appends."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from techcare.repairs import Plan, interrupted, parse_approval, rollback_session, undo_interrupted
from techcare.repairs._changelog import read_journal, session_path
from techcare.repairs._journal import append, head_path, read, seal
from techcare.errors import RepairError

from test_repairs_run import FakeLinux


def entry(n: int, **more) -> dict:
    return {"ts": f"2026-12-02T10:00:{n:02d}.000Z", "session": "s", "event": "started", "step": n, **more}


def journal(path, count: int = 5) -> list[bytes]:
    for n in range(1, count + 1):
        append(path, seal(entry(n)))
    return path.read_bytes().splitlines(keepends=True)


def test_an_intact_chain_is_ok_and_the_chain_fields_are_not_part_of_the_entry(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = journal(path)
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    got = read(path)
    assert got.ok and got.chained and [e["step"] for e in got.entries] == [1, 2, 3, 4, 5]
    assert not any(k in e for e in got.entries for k in ("seq", "prev", "sum"))


@pytest.mark.parametrize(("change", "damaged"), [
    (lambda ls: ls[:2] + ls[3:], [3]),                       # a middle line deleted: the one after it says so
    (lambda ls: ls[1:], [1]),                                # the first line deleted
    (lambda ls: ls[:1] + [ls[2], ls[1]] + ls[3:], [2, 3, 4]),  # two lines swapped
    (lambda ls: ls[:3] + [ls[2]] + ls[3:], [4]),             # a line repeated: the copy is out of place
])
def test_a_missing_swapped_or_repeated_line_is_damage(tmp_path, change, damaged):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b"".join(change(journal(path))))
    got = read(path)
    assert got.damaged == damaged and got.broken == damaged
    assert f"line {damaged[0]}" in got.message("en") and "missing, or entries were swapped" in got.message("en")
    assert f"Zeile {damaged[0]}" in got.message("de") and "fehlt ein Eintrag" in got.message("de")


def test_deleting_the_last_lines_is_seen_through_the_head_record(tmp_path):
    path = tmp_path / "j.jsonl"
    lines = journal(path)
    assert head_path(path).read_bytes() == f"{5:012d} {json.loads(lines[-1])['sum']}\n".encode()
    path.write_bytes(b"".join(lines[:-2]))
    got = read(path)
    assert got.damaged == [4] and got.cut_off == 2
    assert "2 entries that had been written are missing at the end" in got.message("en")
    assert "Am Ende fehlen 2 Einträge" in got.message("de")
    other = json.loads(lines[-1])
    del other["sum"]
    other["step"] = 9
    path.write_bytes(b"".join(lines[:-1]) + seal(other))     # the last line replaced by another sealed entry
    assert read(path).damaged == [5]
    path.write_bytes(b"".join(lines[:-1]) + lines[-1].replace(b'"step": 5', b'"step": 6'))  # a flipped digit
    assert read(path).damaged == [5] and read(path).cut_off == 0                            # said once


def test_without_its_head_record_a_cut_end_cannot_be_seen(tmp_path):
    """Said honestly in docs/durability.md: nothing in the file points at its last line."""
    path = tmp_path / "j.jsonl"
    lines = journal(path)
    head_path(path).unlink()
    path.write_bytes(b"".join(lines[:-1]))
    assert read(path).ok


def test_a_torn_tail_stays_a_crash_and_the_chain_goes_on_after_it(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path, 2)
    with path.open("ab") as out:
        out.write(seal(entry(3))[:30])
    assert read(path).ok and read(path).torn_tail
    append(path, seal(entry(4)), torn_entry={"ts": "x", "session": "s"})
    got = read(path)
    assert got.ok and got.torn_closed == 1 and [e["event"] for e in got.entries][-2:] == ["torn_tail", "started"]
    assert [json.loads(line)["seq"] for line in path.read_bytes().splitlines()[:2]] == [1, 2]


def test_a_flipped_line_is_damage_once_and_the_chain_goes_on_after_it(tmp_path):
    path = tmp_path / "j.jsonl"
    journal(path)
    path.write_bytes(path.read_bytes().replace(b'"step": 3', b'"step": 8'))
    assert read(path).damaged == [3] and read(path).broken == []
    append(path, seal(entry(6)))                              # written after the damage: still read as intact
    assert read(path).damaged == [3]


def test_journals_of_earlier_versions_are_read_and_continued(tmp_path):
    unsealed = tmp_path / "old.jsonl"
    unsealed.write_text("".join(json.dumps(entry(n)) + "\n" for n in (1, 2)), encoding="utf-8")
    sealed = tmp_path / "today.jsonl"   # sealed earlier today, before the chain
    sealed.write_bytes(b"".join(seal(entry(n)) for n in (1, 2, 3)))
    for path in (unsealed, sealed):
        assert read(path).ok and not read(path).chained
        append(path, seal(entry(7)))
        append(path, seal(entry(8)))
        got = read(path)
        assert got.ok and got.chained and [e["step"] for e in got.entries][-2:] == [7, 8]
    lines = sealed.read_bytes().splitlines(keepends=True)
    sealed.write_bytes(b"".join(lines[:2] + lines[3:]))     # the last line before the chain deleted
    assert read(sealed).damaged == [3]                        # the chain's first entry points at it


APPENDER = """
import sys
from pathlib import Path
from techcare.repairs._journal import append, seal
path, who = Path(sys.argv[1]), sys.argv[2]
for n in range(60):
    append(path, seal({"session": "s", "event": "note", "who": who, "n": n}))
"""


def test_two_processes_appending_keep_one_consistent_chain(tmp_path):
    path = tmp_path / "j.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), who]) for who in "ab"]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    got = read(path)
    assert got.ok and len(got.entries) == 120
    assert [json.loads(line)["seq"] for line in path.read_bytes().splitlines()] == list(range(1, 121))


def run(plan: Plan, machine):
    return plan.run(parse_approval("GO REPAIR: alle", plan), machine, confirm=lambda s: True, progress=lambda _: None)


def test_a_deleted_finished_line_blocks_the_automatic_undo_and_doctor_warns():
    from techcare import config
    from techcare.doctor import Doctor
    from techcare.system.runner import ReplayRunner

    machine = FakeLinux()
    plan = Plan.from_actions([{"action": "linux.enable_ufw"},
                              {"action": "linux.restart_unit", "params": {"unit": "nginx.service"}}], platform="linux")
    result = run(plan, machine)
    path = session_path(result.session)
    lines = path.read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"event": "finished"' in line)
    path.write_bytes(b"".join(lines[:at] + lines[at + 1:]))              # step 1's finished line is gone
    [item] = interrupted()
    assert item.step == 1 and not item.proven
    before = len(machine.commands_run)
    with pytest.raises(RepairError):
        undo_interrupted(item, machine)
    with pytest.raises(RepairError):
        rollback_session(result.session, machine, progress=lambda _: None)
    assert len(machine.commands_run) == before and machine.ufw == "active"
    doctor = Doctor(config.get_settings(), runner=ReplayRunner(platform="linux"))
    doctor.check_journals()
    assert doctor.checks[-1].status == "warn" and f"{result.session} Zeile {at + 1}" in doctor.checks[-1].detail
    assert read_journal(result.session).broken == [at + 1]


def test_a_rollback_whose_undone_lines_were_deleted_is_not_run_again():
    machine = FakeLinux()
    plan = Plan.from_actions([{"action": "linux.enable_ufw"},
                              {"action": "linux.restart_unit", "params": {"unit": "nginx.service"}}], platform="linux")
    result = run(plan, machine)
    assert [u["status"] for u in plan.rollback(progress=lambda _: None)] == ["undone", "undone"]
    path = session_path(result.session)
    path.write_bytes(b"".join(line for line in path.read_bytes().splitlines(keepends=True)
                              if b'"event": "undone"' not in line))
    before = len(machine.commands_run)
    with pytest.raises(RepairError) as refused:
        rollback_session(result.session, machine, progress=lambda _: None)
    assert "automatisches Zurücknehmen ist gesperrt" in refused.value.message
    assert len(machine.commands_run) == before and machine.ufw == "inactive"
