"""A plugin check end to end: check -> finding -> plan -> run -> undo on a replayed PC; ``snapshot save`` records
what the check read, so a replay of the snapshot gives the same finding; a broken check is an ``unknown``
finding, never a broken diagnosis."""

from __future__ import annotations

import pytest
from plugin_texts import LOB, write_plugin

from techcare import diagnose, repairs, save_snapshot
from techcare.system.runner import CommandResult, Entry, ReplayRunner

UNIT_STATE = ("systemctl", "is-active", "lexware-db.service")


class Machine:
    """A replayed PC whose accounting unit is stopped until it is restarted."""

    def __init__(self, active: bool = False) -> None:
        self.active = active
        self.changes: list[tuple[str, ...]] = []

    def __call__(self, argv):
        if argv == UNIT_STATE:
            return CommandResult(argv, 0 if self.active else 3, "active\n" if self.active else "failed\n", "", 0.0)
        if argv[:2] in (("systemctl", "restart"), ("systemctl", "stop")):
            self.changes.append(argv)
            self.active = argv[1] == "restart"
            return CommandResult(argv, 0, "", "", 0.0)
        return CommandResult(argv, None, "", "not recorded", 0.0, "not_recorded")


def _runner(machine: Machine) -> ReplayRunner:
    return ReplayRunner([Entry("fact", "is_admin", True), Entry("fact", "host", {"hostname": "buero-pc"})],
                        platform="linux", fallback=machine)


def test_check_finding_plan_run_undo(home):
    write_plugin(home, "acme_lob.py", LOB)
    machine = Machine()
    runner = _runner(machine)
    diagnosis = diagnose(runner=runner, drivers=False)
    finding = diagnosis.by_check("acme.lob_service")
    assert (finding.severity, finding.summary("en"), finding.probe) == \
        ("critical", "Accounting service stopped", "plugin:acme-lob")
    assert "acme.restart_lob" in diagnosis.repair_ids()
    plan = repairs.plan(diagnosis, include=["acme.restart_lob"])
    assert [(s.action_id, s.params) for s in plan.steps] == [("acme.restart_lob", {"unit": "lexware-db.service"})]
    result = plan.run(repairs.parse_approval("GO REPAIR: 1", plan), runner, progress=lambda _: None)
    assert result.ok and machine.active and machine.changes == [("systemctl", "restart", "lexware-db.service")]
    assert diagnose(runner=runner, drivers=False).by_check("acme.lob_service").severity == "ok"
    assert plan.rollback(progress=lambda _: None)[0]["status"] == "undone"
    assert not machine.active and machine.changes[-1] == ("systemctl", "stop", "lexware-db.service")


def test_snapshot_save_records_the_plugin_check_and_the_replay_answers_it(home, tmp_path):
    write_plugin(home, "acme_lob.py", LOB)
    path = tmp_path / "pc.tcsnap.json"
    save_snapshot(path, runner=_runner(Machine()))
    from techcare.system.snapshot import load_snapshot

    recorded = [e.key for e in load_snapshot(path).entries if e.kind == "cmd"]
    assert UNIT_STATE in recorded
    assert diagnose(snapshot=path, drivers=False).by_check("acme.lob_service").severity == "critical"


def test_a_snapshot_without_the_unit_gives_unknown(home):
    write_plugin(home, "acme_lob.py", LOB)
    finding = diagnose(runner=ReplayRunner([], platform="linux"), drivers=False).by_check("acme.lob_service")
    assert finding.severity == "unknown" and "not_recorded" in finding.summary("en")


@pytest.mark.parametrize(("body", "said"), [
    ("raise RuntimeError('db locked')", "RuntimeError: db locked"),
    ("return 'all good'", "returned str instead of a Finding"),
    ("return Finding('firewall', 'services', 'ok', 'x', 'x')", "finding firewall does not belong to the check"),
])
def test_a_broken_check_is_an_unknown_finding_and_the_rest_of_the_diagnosis_stays(home, body, said):
    text = LOB.replace("def lob_check(runner):\n", f"def lob_check(runner):\n    {body}\n", 1)
    write_plugin(home, "acme_lob.py", text)
    diagnosis = diagnose(runner=_runner(Machine()), drivers=False)
    finding = diagnosis.by_check("acme.lob_service")
    assert finding.severity == "unknown" and said in finding.summary("en") and "acme-lob" in finding.summary("de")
    assert [f for f in diagnosis.items if f.check == "firewall"]  # the built-in checks are all there


def test_a_check_that_hangs_is_stopped(home, monkeypatch):
    from techcare.plugins import _manager

    text = LOB.replace("def lob_check(runner):\n", "def lob_check(runner):\n    import time; time.sleep(3)\n", 1)
    write_plugin(home, "acme_lob.py", text)
    from techcare.diagnosis import Finding

    (finding,) = _manager.findings(_runner(Machine()), "linux", Finding, timeout=0.2)
    assert finding.severity == "unknown" and "stopped after 0.2 s" in finding.summary("en")


def test_a_check_for_another_platform_does_not_run(home):
    write_plugin(home, "acme_lob.py", LOB)
    windows = ReplayRunner([Entry("fact", "host", {"hostname": "w", "os": "windows"})], platform="windows")
    assert diagnose(runner=windows, drivers=False).by_check("acme.lob_service") is None


HANGS = '''
import time
from techcare.plugins import hookimpl, DiagnosisCheck

def hang(runner):
    runner.run(("systemctl", "is-active", "lexware-db.service"))
    time.sleep(10000)

@hookimpl
def techcare_checks(register):
    register(DiagnosisCheck(id="acme.hang", area="services", title_de="Hängt", title_en="Hangs", run=hang,
                            platforms=("linux",)))
'''

IN_A_PROCESS = '''
import sys
from techcare import diagnose, save_snapshot
from techcare.system.runner import CommandResult, Entry, ReplayRunner
from techcare.system.snapshot import load_snapshot

def machine(argv):
    return CommandResult(argv, 3, "failed", "", 0.0)

runner = ReplayRunner([Entry("fact", "is_admin", True), Entry("fact", "host", {"hostname": "buero-pc"})],
                      platform="linux", fallback=machine)
if sys.argv[1] == "snapshot":
    save_snapshot(sys.argv[2], runner=runner)
    print("saved", [e.key for e in load_snapshot(sys.argv[2]).entries if e.kind == "cmd"])
else:
    print("said", diagnose(runner=runner, drivers=False, timeout=1).by_check("acme.hang").summary("en"))
'''


@pytest.mark.parametrize("what", ["snapshot", "diagnose"])
def test_a_check_that_never_returns_does_not_keep_the_process_alive(home, tmp_path, what):
    """A check that hangs is given up after the time limit in ``diagnose`` and in ``snapshot save`` (the
    snapshot is written, with what the check read until then), and the process exits: nothing waits for it."""
    import os
    import subprocess
    import sys

    write_plugin(home, "acme_hang.py", HANGS)
    path = tmp_path / "pc.tcsnap.json"
    env = {**os.environ, "PROBE_TIMEOUT": "1", "TECHCARE_LANG": "en"}
    try:
        done = subprocess.run([sys.executable, "-c", IN_A_PROCESS, what, str(path)], env=env, capture_output=True,
                              text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: the process did not exit while a plugin check hung")
    assert done.returncode == 0, done.stderr
    if what == "snapshot":
        assert "saved" in done.stdout and "'lexware-db.service'" in done.stdout and path.is_file()
        assert "plugin check acme.hang: stopped after 1 s" in done.stderr
    else:
        assert "Unknown: check acme.hang of plugin acme-hang gave no result (stopped after 5 s)" in done.stdout


def test_the_time_limit_is_said_rounded(home):
    from techcare.diagnosis import Finding
    from techcare.plugins import _manager

    text = LOB.replace("def lob_check(runner):\n", "def lob_check(runner):\n    import time; time.sleep(3)\n", 1)
    write_plugin(home, "acme_lob.py", text)
    (finding,) = _manager.findings(_runner(Machine()), "linux", Finding, timeout=0.21346)
    assert "(stopped after 0.2 s)" in finding.summary("en") and "(nach 0.2 s abgebrochen)" in finding.summary("de")
