"""Session rules the interfaces rely on: a plan never follows the technician to another machine, and undo
always undoes the last real run even after a newer plan arrived."""

import pytest

from techcare.errors import RepairError
from techcare.repairs import Plan
from techcare.session import Session
from techcare.system.runner import CommandResult, Entry, ReplayRunner


def runner(host: str) -> ReplayRunner:
    return ReplayRunner([Entry("fact", "is_admin", True), Entry("fact", "host", {"hostname": host, "os": "linux"})],
                        platform="linux", fallback=lambda argv: CommandResult(argv, 0, "", ""))


def test_changing_the_machine_drops_the_plan_and_its_approval():
    session = Session(runner=runner("kunde-a"))
    session.plan = Plan.from_actions([{"action": "linux.flush_dns", "params": {}}], platform="linux")
    session.show_plan()
    session.use_runner(runner("kunde-b"))
    assert session.plan is None and session.shown_plan_id is None
    with pytest.raises(RepairError):
        session.run("GO REPAIR: 1")


def test_undo_targets_the_last_run_even_after_a_new_plan():
    session = Session(runner=runner("kunde-a"))
    session.plan = Plan.from_actions([{"action": "linux.flush_dns", "params": {}}], platform="linux")
    session.show_plan()
    result = session.run("GO REPAIR: 1")
    assert result.ok
    session.add_step("linux.apt_clean")  # a newer plan replaces the current one
    rows = session.undo()
    assert isinstance(rows, list)  # rolled back the run's session instead of refusing
