"""The restore point protects risky Windows steps: it cannot be skipped, and Windows' 24-hour limit is no failure."""

import pytest

from techcare.errors import ApprovalError
from techcare.repairs import Plan, parse_approval
from techcare.repairs._model import ps_command
from techcare.repairs._windows import RESTORE_POINT_QUERY
from techcare.system.runner import CommandResult, Entry, ReplayRunner


def risky_plan() -> Plan:
    plan = Plan.from_actions([{"action": "win.sfc_scannow", "params": {}},
                              {"action": "win.set_service_start_type",
                               "params": {"name": "wuauserv", "start_type": "manual"}}], platform="windows")
    assert [s.action_id for s in plan.steps] == ["win.create_restore_point", "win.sfc_scannow",
                                                 "win.set_service_start_type"]
    return plan


def test_approving_an_irreversible_step_without_the_restore_point_is_refused(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = risky_plan()
    with pytest.raises(ApprovalError, match=r"GO REPAIR: 1,2"):
        parse_approval("GO REPAIR: 2", plan)
    assert parse_approval("GO REPAIR: 1,2", plan).steps == (1, 2)
    assert parse_approval("GO REPAIR: 3", plan).steps == (3,)  # undoable on its own: no restore point needed


def test_a_restore_point_from_the_last_24_hours_covers_the_run():
    query = tuple(ps_command(RESTORE_POINT_QUERY))
    answer = CommandResult(query, 0, '{"SequenceNumber":41,"Description":"TechCare","AgeHours":3.2}', "")
    runner = ReplayRunner([Entry("fact", "is_admin", True), Entry("cmd", query, answer)], platform="windows",
                          fallback=lambda argv: CommandResult(argv, 0, "", ""))
    plan = Plan.from_actions([{"action": "win.create_restore_point", "params": {}}], platform="windows")
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner, progress=lambda _: None)
    assert result.ok and "24" in result.steps[0].detail


def test_parameters_changed_after_approval_are_refused():
    plan = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": "/tmp/x"}}], platform="linux")
    approval = parse_approval("GO REPAIR: 1", plan)
    plan.steps[0].params["path"] = "/var/tmp"  # tampering after the technician saw the plan
    with pytest.raises(ApprovalError, match="changed|verändert"):
        plan.run(approval, ReplayRunner([], platform="linux"), progress=lambda _: None)
