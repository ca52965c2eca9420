"""One composition root installs the hooks; importing a module installs none."""

from __future__ import annotations

import subprocess
import sys

from techcare import _wiring, changelog_upload
from techcare.assistant import cases
from techcare.repairs import on_changelog_written, on_run_finished


def test_importing_the_packages_registers_no_hook():
    code = ("import techcare, techcare.repairs as r, techcare.assistant, techcare.session, techcare.changelog_upload;"
            "print(len(r.on_changelog_written), len(r.on_run_finished))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.split() == ["0", "0"], out.stderr


def test_install_registers_the_upload_and_the_case_hook_once():
    saved = on_changelog_written[:], on_run_finished[:]
    try:
        on_changelog_written.clear()
        on_run_finished.clear()
        _wiring.install()
        _wiring.install()
        assert on_changelog_written == [changelog_upload.on_changelog_written]
        assert on_run_finished == [cases.record_run]
    finally:
        on_changelog_written[:], on_run_finished[:] = saved


def test_a_session_wires_before_a_real_run_but_not_for_a_dry_run(monkeypatch):
    from techcare.repairs import Plan
    from techcare.session import Session
    from techcare.system.runner import CommandResult, Entry, ReplayRunner

    calls = []
    monkeypatch.setattr(_wiring, "install", lambda: calls.append("install"))
    runner = ReplayRunner([Entry("fact", "is_admin", True)], platform="linux",
                          fallback=lambda argv: CommandResult(argv, 0, "", "", 0.0))
    session = Session(runner=runner)
    session.plan = Plan.from_actions([{"action": "linux.apt_clean"}], platform="linux")
    session.shown_plan_id = session.plan.id
    assert session.run("GO REPAIR: 1", dry_run=True, progress=lambda _: None).status == "dry_run"
    assert calls == []
    assert session.run("GO REPAIR: 1", progress=lambda _: None).status == "completed"
    assert calls == ["install"]
    session.undo(progress=lambda _: None)
    assert calls == ["install", "install"]
