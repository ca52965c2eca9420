"""drivers.install_update for every source the driver module reports, including Apple labels with spaces."""

import pytest

from techcare.errors import RepairError
from techcare.repairs import Plan, get_action, parse_approval
from techcare.system.runner import CommandResult, Entry, ReplayRunner

LABEL = "macOS Sonoma 14.2.1-23C71"
BEFORE = ("Software Update Tool\n\nFinding available software\nSoftware Update found the following new or updated "
          f"software:\n* Label: {LABEL}\n\tTitle: macOS Sonoma 14.2.1, Version: 14.2.1, Size: 1M, Recommended: YES, "
          "Action: restart,\n")


def test_apple_label_with_spaces_is_one_argv_element():
    action = get_action("drivers.install_update")
    params = action.validate_params({"source": "apple", "update_id": LABEL, "hardware_id": ""})
    assert action.commands(params) == [["/usr/sbin/softwareupdate", "--install", LABEL]]


@pytest.mark.parametrize("bad", ["x' ; rm -rf /", "a`b", "line\nbreak"])
def test_quotes_and_control_characters_are_refused(bad):
    with pytest.raises(RepairError, match="update_id"):
        get_action("drivers.install_update").validate_params({"source": "apple", "update_id": bad})


def test_windows_update_ids_stay_strict():
    with pytest.raises(RepairError, match="windows_update"):
        get_action("drivers.install_update").validate_params({"source": "windows_update", "update_id": "has space"})


def test_apple_install_runs_checks_and_verifies_through_the_runner(techcare_env):
    listings = iter([BEFORE, ""])  # check: offered; verify: nothing left

    def fallback(argv):
        if argv[-1] == "-l":
            out = next(listings)
            return CommandResult(argv, 0, out, "" if out else "No new software available.\n")
        return CommandResult(argv, 0, "Installing\nDone.\n", "")

    runner = ReplayRunner([Entry("fact", "is_admin", True)], platform="darwin", fallback=fallback)
    plan = Plan.from_actions([{"action": "drivers.install_update",
                               "params": {"source": "apple", "update_id": LABEL}}], platform="darwin")
    result = plan.run(parse_approval("GO REPAIR: 1", plan), runner=runner, confirm=lambda step: True,
                      progress=lambda line: None)
    assert result.ok, result
    assert ("/usr/sbin/softwareupdate", "--install", LABEL) in runner.commands_run
