"""Every magic in a real InteractiveShell on a replayed Windows PC: chat -> plan -> dry run -> GO REPAIR ->
changelog -> undo, drivers as a DataFrame, stale approvals refused. Repair commands go to a replaying runner
that records them; nothing touches this machine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from techcare.errors import ApprovalError
from techcare.system.runner import CommandResult, Entry
from techcare.system.snapshot import load_snapshot

SNAPSHOT = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots" / "windows11-problems.json"


class FakeWindows:
    """Answers the commands repairs run on the replayed PC: sc.exe keeps a start type per service, everything
    else succeeds silently. Records nothing itself (the ReplayRunner keeps every call)."""

    CODES = {"auto": ("2", "AUTO_START"), "demand": ("3", "DEMAND_START"), "disabled": ("4", "DISABLED")}

    def __init__(self) -> None:
        self.start = {"wuauserv": "disabled"}

    def __call__(self, argv):
        if argv[:2] == ("sc.exe", "qc"):
            code, name = self.CODES[self.start.get(argv[2], "demand")]
            out = (f"[SC] QueryServiceConfig SUCCESS\r\n\r\nSERVICE_NAME: {argv[2]}\r\n"
                   f"        TYPE               : 20  WIN32_SHARE_PROCESS\r\n"
                   f"        START_TYPE         : {code}   {name}\r\n")
            return CommandResult(argv, 0, out, "")
        if argv[:2] == ("sc.exe", "config"):
            self.start[argv[2]] = argv[4]
            return CommandResult(argv, 0, "[SC] ChangeServiceConfig SUCCESS\r\n", "")
        return CommandResult(argv, 0, "", "")


@pytest.fixture
def windows(ip, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    snap = load_snapshot(SNAPSHOT)
    entries = [e for e in snap.entries if not (e.kind == "fact" and e.key == "is_admin")]
    entries.append(Entry("fact", "is_admin", True))
    runner = snap.runner(fallback=FakeWindows())
    for entry in entries[-1:]:
        runner.add(entry)
    tc = ip.user_ns["tc"]
    tc.use_runner(runner)
    ip.run_line_magic("config", "TechCareMagics.streaming = False")
    return ip, tc, runner


def run(ip, cell):
    result = ip.run_cell(cell)
    return result


def test_chat_plan_dry_run_go_repair_changelog_undo(windows, monkeypatch):
    ip, tc, runner = windows
    res = run(ip, "reply = %techcare Windows Update funktioniert nicht")
    assert res.success, res.error_in_exec
    reply = ip.user_ns["reply"]
    assert reply.plan is not None and tc.plan is reply.plan
    actions = [step.action_id for step in reply.plan.steps]
    assert "win.reset_windows_update" in actions

    res = run(ip, "%repair")
    assert res.success and res.result.plan is tc.plan

    before = len(runner.commands_run)
    res = run(ip, "%repair --dry-run 1")
    assert res.success, res.error_in_exec
    assert len(runner.commands_run) == before  # dry run executes nothing

    number = actions.index("win.set_service_start_type") + 1
    res = run(ip, f"result = %repair GO REPAIR: {number}")
    assert res.success, res.error_in_exec
    result = ip.user_ns["result"]
    assert result.ok, result
    assert ("sc.exe", "config", "wuauserv", "start=", "demand") in runner.commands_run
    assert runner.fallback.start["wuauserv"] == "demand"
    # the cell's Out is the run in words (IPython's display of a RunResult), not the object's repr
    shown = ip.display_formatter.format(result)[0]["text/plain"]
    assert f"✔ {number}. win.set_service_start_type: finished" in shown, shown
    assert f"Result: completed · changelog: {result.changelog_path}" in shown and "<RunResult" not in shown
    monkeypatch.setenv("TECHCARE_LANG", "de")
    assert f"✔ {number}. win.set_service_start_type: erledigt" in result.summary()
    assert "Ergebnis: erledigt · Protokoll:" in result.summary()
    monkeypatch.setenv("TECHCARE_LANG", "en")

    frame = run(ip, "%changelog").result
    assert isinstance(frame, pd.DataFrame) and {"started", "finished"} <= set(frame["event"])

    res = run(ip, "%repair --undo")
    assert res.success, res.error_in_exec
    assert runner.fallback.start["wuauserv"] == "disabled"  # restored exactly
    assert [row["status"] for row in res.result] == ["undone"]  # still the list of rows, shown in words
    assert ip.display_formatter.format(res.result)[0]["text/plain"] == "Rollback: 1 of 1 steps undone"
    assert "undone" in set(run(ip, "%changelog").result["event"])


def test_stale_plan_numbers_are_refused(windows):
    ip, tc, _runner = windows
    assert run(ip, "%techcare Windows Update funktioniert nicht").success
    old_plan = tc.plan
    # A new plan arrives behind the technician's back (e.g. another cell): the approval must not apply to it.
    tc.plan = type(old_plan).from_actions([{"action": "win.flush_dns", "params": {}}], platform="windows")
    res = run(ip, "%repair GO REPAIR: 1")
    assert not res.success and isinstance(res.error_in_exec, ApprovalError)
    assert run(ip, "%repair").success          # reviewing the new plan ...
    assert run(ip, "%repair --dry-run 1").success  # ... makes its numbers valid


def test_invalid_approvals_fail_the_cell(windows):
    ip, _tc, _runner = windows
    assert run(ip, "%techcare Windows Update funktioniert nicht").success
    for cell in ("%repair GO REPAIR: 0", "%repair GO REPAIR: 1,,2", "%repair GO REPAIR: 99", "%repair GO REPAIR: bitte"):
        res = run(ip, cell)
        assert not res.success and isinstance(res.error_in_exec, ApprovalError), cell


def test_drivers_and_diagnose_magics(windows):
    ip, _tc, _runner = windows
    res = run(ip, "df = %drivers")
    assert res.success, res.error_in_exec
    df = ip.user_ns["df"]
    assert isinstance(df, pd.DataFrame)
    assert {"device", "hardware_id", "installed_version", "latest_version", "importance", "source"} <= set(df.columns)
    assert isinstance(run(ip, "%drivers --updates").result, pd.DataFrame)
    diagnosis = run(ip, "%diagnose").result
    assert diagnosis.os == "windows" and diagnosis.by_check("firewall").severity == "critical"


def test_sensor_current_sample(windows):
    ip, _tc, _runner = windows
    res = run(ip, "%sensor")
    assert res.success, res.error_in_exec
    assert res.result["os"] == "windows" and "cpu_percent" in res.result


def test_sensor_sample_includes_the_slow_probes(windows):
    ip, _tc, _runner = windows
    sample = ip.run_cell("%sensor").result
    assert sample["pending_updates"] is not None and sample["pending_updates"]["count"] > 0
    assert sample["pending_reboot"] is True
    assert sample["smart"] and any(d["health"] == "failing" for d in sample["smart"])
