"""A step's catalogue action is ``action_id`` in every record of the repairs engine, and journals written by
older versions (field ``action``) are still read."""

from __future__ import annotations

import json

from techcare.repairs import (
    Plan,
    changelog,
    dismiss_interrupted,
    interrupted,
    parse_approval,
    read_entries,
    rollback_session,
)
from techcare.repairs._changelog import ChangelogWriter, session_path
from techcare.system.runner import CommandResult, Entry, ReplayRunner

OLD = "20250101T100000Z-0123456789ab-a1b2c3"


def _old_journal(*events: dict) -> None:
    """A session as a version before action_id wrote it (no machine record either)."""
    path = session_path(OLD)
    path.parent.mkdir(parents=True, exist_ok=True)
    common = {"session": OLD, "plan_id": "0123456789ab", "technician": "Tom", "company": "", "host": "pc-old",
              "platform": "linux"}
    lines = [{"ts": "2025-01-01T10:00:00.000Z", "event": "run", **common, "approved": [1, 2]}]
    lines += [{"ts": f"2025-01-01T10:00:0{i}.000Z", **common, **e} for i, e in enumerate(events, 1)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def _pc_old() -> ReplayRunner:
    return ReplayRunner([Entry("fact", "host", {"hostname": "pc-old"})], platform="linux")


def test_an_old_journal_reads_as_action_id_and_as_written_keeps_its_bytes():
    _old_journal({"event": "started", "step": 1, "action": "linux.apt_clean", "params": {}})
    (entry,) = [e for e in read_entries(OLD) if e["event"] == "started"]
    assert entry["action_id"] == "linux.apt_clean" and "action" not in entry
    (raw,) = [e for e in read_entries(OLD, as_written=True) if e["event"] == "started"]
    assert raw["action"] == "linux.apt_clean" and "action_id" not in raw
    assert changelog(OLD)["action"].tolist()[1:] == ["linux.apt_clean"]


def test_an_interrupted_step_of_an_old_journal_names_its_action_and_can_be_closed():
    _old_journal({"event": "started", "step": 2, "action": "linux.apt_clean", "params": {}})
    (item,) = interrupted(OLD)
    assert item.step == 2 and item.action_id == "linux.apt_clean"
    assert "linux.apt_clean" in item.message("en")
    dismiss_interrupted(item, "checked by hand")
    assert interrupted(OLD) == []
    closing = read_entries(OLD, as_written=True)[-1]
    assert closing["event"] == "abandoned" and closing["action_id"] == "linux.apt_clean" and "action" not in closing


def test_rollback_of_an_old_journal_goes_by_its_recorded_action():
    _old_journal({"event": "started", "step": 1, "action": "linux.apt_clean", "params": {}},
                 {"event": "finished", "step": 1, "action": "linux.apt_clean", "params": {}, "state": {}})
    (result,) = rollback_session(OLD, _pc_old(), progress=lambda _: None)
    assert result["action_id"] == "linux.apt_clean" and result["status"] == "not_undoable"
    assert read_entries(OLD)[-1]["event"] == "undo_skipped"


def test_a_new_run_writes_action_id_in_its_journal_outcomes_and_undo_results():
    plan = Plan.from_actions([{"action": "linux.apt_clean"}], platform="linux")
    runner = ReplayRunner([Entry("fact", "is_admin", True)], platform="linux",
                          fallback=lambda argv: CommandResult(argv, 0, "", "", 0.0))
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, progress=lambda _: None)
    assert [o.action_id for o in result.steps] == ["linux.apt_clean"]
    written = [e for e in read_entries(result.session, as_written=True) if "step" in e]
    assert written and all(e["action_id"] == "linux.apt_clean" and "action" not in e for e in written)
    assert result.to_frame()["action"].tolist() == ["linux.apt_clean"]


def test_the_writer_keeps_what_it_is_given():
    writer = ChangelogWriter(OLD, {"host": "pc-old", "platform": "linux"})
    writer.write("started", step=1, action_id="linux.apt_clean", params={})
    assert read_entries(OLD)[0]["action_id"] == "linux.apt_clean"
