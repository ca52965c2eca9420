"""The plan checklist widget: the selection is the approval, the button runs it through the session, and a
stale plan is refused the same way as %repair. Without a kernel it renders as text/HTML."""

from __future__ import annotations

import pytest

from techcare.repairs import Plan
from techcare.session import Session
from techcare.system.runner import CommandResult, Entry, ReplayRunner
from techcare.widgets import PlanView, diagnosis_progress, have_widgets

pytestmark = pytest.mark.skipif(not have_widgets(), reason="ipywidgets is part of the notebook extra")


def linux_session(tmp_path):
    runner = ReplayRunner([Entry("fact", "is_admin", True)], platform="linux",
                          fallback=lambda argv: CommandResult(argv, 0, "", ""))
    session = Session(runner=runner)
    session.plan = Plan.from_actions([{"action": "linux.flush_dns", "params": {}},
                                      {"action": "linux.apt_clean", "params": {}}], platform="linux")
    return session, runner


def test_checklist_selection_is_the_approval(tmp_path):
    session, runner = linux_session(tmp_path)
    view = session.show_plan()
    assert isinstance(view, PlanView)
    box = view.widget()
    checkboxes = [c for c in box.children if type(c).__name__ == "Checkbox"]
    button = next(c for c in box.children if type(c).__name__ == "Button")
    assert len(checkboxes) == 2 + 2  # two steps, "confirm high risk", "dry run"
    button.click()                    # nothing selected: nothing runs
    assert session.last_run is None and not runner.commands_run
    checkboxes[0].value = True        # approve step 1 only
    button.click()
    assert session.last_run is not None and session.last_run.ok
    assert [s.number for s in session.last_run.steps] == [1]
    assert any("resolvectl" in " ".join(argv) or "systemd-resolve" in " ".join(argv) for argv in runner.commands_run)


def test_button_of_a_stale_plan_runs_nothing(tmp_path):
    session, runner = linux_session(tmp_path)
    view = session.show_plan()
    box = view.widget()
    session.plan = Plan.from_actions([{"action": "linux.apt_clean", "params": {}}], platform="linux")
    next(c for c in box.children if type(c).__name__ == "Checkbox").value = True
    next(c for c in box.children if type(c).__name__ == "Button").click()
    assert session.last_run is None and not runner.commands_run


def test_terminal_rendering_is_text(capsys, tmp_path):
    session, _runner = linux_session(tmp_path)
    session.show_plan()._ipython_display_()
    out = capsys.readouterr().out
    assert "GO REPAIR" in out and "linux.flush_dns" in out


def test_diagnosis_progress_callback_counts_probes():
    update = diagnosis_progress(total=2)
    assert update is not None
    update("metrics", None)
    update("firewall", None)
