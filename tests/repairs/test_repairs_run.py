"""Plans and execution: building plans, refusals before anything runs, rollback, write-ahead changelog, quota, hooks."""

from __future__ import annotations

import json

import pytest

from techcare import features
from techcare.diagnosis import Diagnosis, Finding
from techcare.errors import ApprovalError, LicenseError, RepairError
from techcare.repairs import (
    Plan,
    Step,
    changelog,
    on_run_finished,
    parse_approval,
    plan,
    read_entries,
    rollback_session,
)
from techcare.repairs._changelog import session_path
from techcare.system.runner import CommandResult, Entry, ReplayRunner


class FakeLinux(ReplayRunner):
    """A small stateful Linux: systemd units, ufw, apt cache. ``broken`` units fail to start."""

    def __init__(self, *, admin: bool = True, broken: tuple[str, ...] = ()) -> None:
        super().__init__([Entry("fact", "is_admin", admin), Entry("fact", "host", {"hostname": "srv-kunde"})],
                         platform="linux", fallback=self.answer)
        self.units = {"nginx.service": "failed", "cups.service": "failed"}
        self.ufw = "inactive"
        self.broken = set(broken)
        self.on_command = None

    def answer(self, argv: tuple[str, ...]) -> CommandResult:
        if self.on_command:
            self.on_command(argv)
        ok = CommandResult(argv, 0, "", "", 0.01)
        match argv:
            case ("systemctl", "is-active", unit):
                state = self.units.get(unit, "inactive")
                return CommandResult(argv, 0 if state == "active" else 3, state + "\n", "", 0.01)
            case ("systemctl", "restart", unit):
                if unit in self.broken:
                    return CommandResult(argv, 1, "", f"Job for {unit} failed because the control process exited "
                                                      "with error code.\n", 0.01)
                self.units[unit] = "active"
            case ("systemctl", "stop", unit):
                self.units[unit] = "inactive"
            case ("ufw", "status"):
                return CommandResult(argv, 0, f"Status: {self.ufw}\n", "", 0.01)
            case ("ufw", "--force", "enable"):
                self.ufw = "active"
                return CommandResult(argv, 0, "Firewall is active and enabled on system startup\n", "", 0.01)
            case ("ufw", "disable"):
                self.ufw = "inactive"
                return CommandResult(argv, 0, "Firewall stopped and disabled on system startup\n", "", 0.01)
        return ok


def four_step_plan() -> Plan:
    return Plan.from_actions([{"action": "linux.enable_ufw"},
                              {"action": "linux.restart_unit", "params": {"unit": "nginx.service"}},
                              {"action": "linux.restart_unit", "params": {"unit": "cups.service"}},
                              {"action": "linux.journal_vacuum"}], platform="linux")


def test_step_3_of_4_fails_step_3_undone_then_rollback_undoes_1_and_2_in_reverse(monkeypatch):
    monkeypatch.setenv("TECHNICIAN_NAME", "Anna Berger")
    monkeypatch.setenv("COMPANY", "PC-Hilfe Berger")
    from techcare import config
    config.reset_settings()
    machine = FakeLinux(broken=("cups.service",))
    p = four_step_plan()
    lines: list[str] = []
    result = p.run(parse_approval("GO REPAIR: alle", p), machine, confirm=lambda s: True, progress=lines.append)
    assert result.status == "failed" and result.failed_step == 3
    assert [s.status for s in result.steps] == ["finished", "finished", "failed", "not_run"]
    assert result.steps[2].undo and machine.units["cups.service"] == "inactive"  # step 3 undone (was failed)
    assert result.rollback_available == [1, 2]
    assert any("plan.rollback()" in line for line in lines)
    assert machine.ufw == "active" and machine.units["nginx.service"] == "active"

    before = len(machine.commands_run)
    undone = p.rollback(progress=lines.append)
    assert [u["step"] for u in undone] == [2, 1] and all(u["status"] == "undone" for u in undone)
    assert machine.commands_run[before:] == [("systemctl", "stop", "nginx.service"), ("ufw", "disable")]
    assert machine.ufw == "inactive" and machine.units["nginx.service"] == "inactive"

    events = [(e["event"], e.get("step")) for e in read_entries(result.session)]
    assert events == [("run", None),
                      ("started", 1), ("prepared", 1), ("finished", 1),
                      ("started", 2), ("prepared", 2), ("finished", 2),
                      ("started", 3), ("prepared", 3), ("failed", 3),
                      ("run_finished", None),
                      ("undo_started", 2), ("undone", 2), ("undo_started", 1), ("undone", 1)]
    entries = read_entries(result.session)
    assert all(e["technician"] == "Anna Berger" and e["company"] == "PC-Hilfe Berger" and e["host"] == "srv-kunde"
               for e in entries)
    failed = next(e for e in entries if e["event"] == "failed")
    assert failed["undo_status"] == "undone"
    assert [c["argv"] for c in failed["commands"]][-2:] == [["systemctl", "restart", "cups.service"],
                                                             ["systemctl", "stop", "cups.service"]]
    restart = next(c for c in failed["commands"] if c["argv"][:2] == ["systemctl", "restart"])
    assert restart["returncode"] == 1 and "control process exited" in restart["stderr"]
    # a second rollback finds nothing left to undo
    assert rollback_session(result.session, machine, progress=lambda _: None) == []

    frame = changelog(result.session)
    assert list(frame["event"]) == [e for e, _ in events]
    assert str(frame["ts"].dtype).startswith("datetime64")


def test_started_and_undo_state_are_on_disk_before_apply_runs():
    machine = FakeLinux()
    p = Plan.from_actions([{"action": "linux.enable_ufw"}], platform="linux")
    seen: dict[str, list[str]] = {}

    def spy(argv):
        if argv == ("ufw", "--force", "enable"):
            path = next(session_path(s) for s in __import__("techcare.repairs", fromlist=["sessions"]).sessions())
            seen["events"] = [json.loads(line)["event"] for line in path.read_text().splitlines()]
            seen["state"] = [json.loads(line).get("state") for line in path.read_text().splitlines()]

    machine.on_command = spy
    p.run(parse_approval("GO REPAIR: 1", p), machine, confirm=lambda s: True, progress=lambda _: None)
    assert seen["events"] == ["run", "started", "prepared"]
    assert seen["state"][-1] == {"previous": "inactive"}


def test_steps_needing_admin_are_refused_before_anything_runs():
    machine = FakeLinux(admin=False)
    p = four_step_plan()
    with pytest.raises(RepairError, match="1, 2, 3, 4"):
        p.run(parse_approval("GO REPAIR: alle", p), machine, confirm=lambda s: True)
    assert machine.commands_run == [] and read_entries() == []
    # a dry run is harmless and allowed
    assert p.run(parse_approval("GO REPAIR: alle", p), machine, dry_run=True, progress=lambda _: None).ok


def test_high_risk_steps_ask_once_more_and_default_to_no():
    machine = FakeLinux()
    p = four_step_plan()
    result = p.run(parse_approval("GO REPAIR: 1,2", p), machine, progress=lambda _: None)  # no confirm callback
    assert [s.status for s in result.steps] == ["not_confirmed", "finished"]
    assert machine.ufw == "inactive"
    asked = []
    result = p.run(parse_approval("GO REPAIR: 1", p), FakeLinux(), confirm=lambda s: asked.append(s.number) or True,
                   progress=lambda _: None)
    assert asked == [1] and result.steps[0].status == "finished"


def test_run_needs_an_approval_for_this_very_plan():
    p, other = four_step_plan(), Plan.from_actions([{"action": "linux.apt_clean"}], platform="linux")
    with pytest.raises(ApprovalError, match=other.id):
        p.run(parse_approval("GO REPAIR: 1", other), FakeLinux())
    with pytest.raises(ApprovalError):
        p.run("GO REPAIR: 1", FakeLinux())  # type: ignore[arg-type]
    win = Plan.from_actions([{"action": "win.flush_dns"}], platform="windows")
    with pytest.raises(RepairError, match="windows"):
        win.run(parse_approval("GO REPAIR: 1", win), FakeLinux())
    with pytest.raises(RepairError):
        p.rollback()  # never ran


def test_community_monthly_limit_is_asked_before_and_counted_after(monkeypatch, licensed):
    p = Plan.from_actions([{"action": "linux.restart_unit", "params": {"unit": "nginx.service"}},
                           {"action": "linux.restart_unit", "params": {"unit": "cups.service"}}], platform="linux")
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS
    p.run(parse_approval("GO REPAIR: 1,2", p), FakeLinux(), progress=lambda _: None)
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 2
    features.record_repairs(features.repairs_remaining() - 1)
    machine = FakeLinux()
    with pytest.raises(LicenseError):
        p.run(parse_approval("GO REPAIR: alle", p), machine)
    assert machine.commands_run == []
    licensed("pro")
    assert p.run(parse_approval("GO REPAIR: alle", p), FakeLinux(), progress=lambda _: None).ok


def test_dry_run_counts_nothing_and_changes_nothing():
    machine = FakeLinux()
    p = four_step_plan()
    result = p.run(parse_approval("GO REPAIR: alle", p), machine, dry_run=True, progress=lambda _: None)
    assert result.status == "dry_run" and machine.commands_run == [] and machine.ufw == "inactive"
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS
    assert p.last_run is None


def test_on_run_finished_hooks_get_plan_and_result_and_cannot_break_a_run():
    calls = []

    def good(plan_obj, result):
        calls.append((plan_obj.id, result.status))

    def bad(plan_obj, result):
        raise RuntimeError("learning database down")

    on_run_finished.extend([bad, good])
    try:
        p = Plan.from_actions([{"action": "linux.apt_clean"}], platform="linux")
        result = p.run(parse_approval("GO REPAIR: 1", p), FakeLinux(), progress=lambda _: None)
    finally:
        on_run_finished.remove(bad)
        on_run_finished.remove(good)
    assert calls == [(p.id, result.status)]


def test_a_crashing_action_part_becomes_a_recorded_failure(monkeypatch):
    from techcare.repairs import get_action

    action = get_action("linux.enable_ufw")
    monkeypatch.setattr(type(action), "verify", lambda self, ctx: 1 / 0)
    machine = FakeLinux()
    p = Plan.from_actions([{"action": "linux.enable_ufw"}], platform="linux")
    result = p.run(parse_approval("GO REPAIR: 1", p), machine, confirm=lambda s: True, progress=lambda _: None)
    assert result.status == "failed" and "ZeroDivisionError" in result.steps[0].detail
    assert machine.ufw == "inactive"  # undone


# ---- plans -----------------------------------------------------------------------------------------------------

def _diagnosis(os_name: str, findings: list[Finding]) -> Diagnosis:
    return Diagnosis(host={"hostname": "PC-MUELLER"}, os=os_name, items=findings, probes={})


def test_plan_from_diagnosis_numbers_steps_worst_first_with_params_and_notes():
    d = _diagnosis("windows", [
        Finding("pending_updates", "updates", "warning", "3 Updates", "3 updates", repairs=["win.install_updates"]),
        Finding("firewall", "services", "critical", "Firewall aus", "Firewall off", repairs=["win.enable_firewall"],
                repair_params={"win.enable_firewall": {"profiles": ["Public"]}}),
        Finding("service:Spooler", "services", "warning", "Spooler steht", "Spooler stopped",
                repairs=["win.restart_service"]),  # no name -> note, not a step
        Finding("ghost", "services", "warning", "x", "x", repairs=["win.does_not_exist"]),
        Finding("ok", "metrics", "ok", "gut", "fine", repairs=["win.flush_dns"]),  # not a problem
    ])
    p = plan(d)
    assert [s.action_id for s in p.steps] == ["win.create_restore_point", "win.enable_firewall", "win.install_updates"]
    assert [s.number for s in p.steps] == [1, 2, 3]
    assert p.steps[1].params == {"profiles": ["public"]} and p.steps[1].reason_de == "Firewall aus"
    assert p.host == "PC-MUELLER" and p.platform == "windows"
    assert any("win.restart_service" in n and "name" in n for n in p.notes)
    assert any("win.does_not_exist" in n for n in p.notes)
    assert [f["check"] for f in p.findings] == ["firewall", "pending_updates", "service:Spooler", "ghost"]


def test_plan_from_linux_diagnosis_has_no_restore_point_and_dedupes():
    d = _diagnosis("linux", [
        Finding("disk_usage:/", "metrics", "critical", "voll", "full", repairs=["linux.apt_clean", "linux.journal_vacuum"]),
        Finding("disk_usage:/var", "metrics", "warning", "voll", "full", repairs=["linux.apt_clean"]),
    ])
    p = plan(d)
    assert [s.action_id for s in p.steps] == ["linux.apt_clean", "linux.journal_vacuum"]
    assert plan(d).id == p.id  # stable
    assert plan(d, include=["linux.journal_vacuum"]).id != p.id


def test_from_actions_refuses_unknown_ids_bad_params_and_wrong_platform():
    with pytest.raises(RepairError, match="win.flush_dsn.*win.flush_dns"):
        Plan.from_actions([{"action": "win.flush_dsn"}], platform="windows")
    with pytest.raises(RepairError, match="unit"):
        Plan.from_actions([{"action": "linux.restart_unit", "params": {"unit": "x; reboot"}}], platform="linux")
    with pytest.raises(RepairError, match="linux"):
        Plan.from_actions([{"action": "win.flush_dns"}], platform="linux")
    with pytest.raises(RepairError):
        Plan.from_actions([{"action": "linux.apt_clean", "shell": "rm -rf /"}], platform="linux")
    with pytest.raises(RepairError):
        Plan.from_actions(["linux.apt_clean"], platform="linux")  # type: ignore[list-item]
    with pytest.raises(RepairError, match="beos"):
        Plan.from_actions([], platform="beos")


def test_show_lists_number_action_params_risk_admin_undo_and_commands(capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    p = Plan.from_actions([{"action": "win.restart_service", "params": {"name": "Spooler"}},
                           {"action": "win.reset_winsock"}], platform="windows", symptom="no internet")
    text = p.show()
    assert capsys.readouterr().out.strip() == text.strip()
    assert "1. Create a System Restore point" in text  # added before the irreversible high-risk step
    assert "3. Reset Winsock and TCP/IP  [win.reset_winsock]" in text
    assert "Parameters: name='Spooler' | Risk: low | Admin: yes | Undo: yes" in text
    assert "Risk: high" in text and "Undo: no – The Winsock catalog" in text
    assert "$ netsh.exe winsock reset" in text and "$ netsh.exe int ip reset" in text
    assert "GO REPAIR: 1-3" in text
    frame = p.to_frame()
    assert list(frame.index) == [1, 2, 3] and frame.loc[3, "risk"] == "high" and not frame.loc[3, "undoable"]
    assert "<table>" in p._repr_html_() and "netsh.exe winsock reset" in p._repr_html_()


def test_plan_id_depends_on_steps_and_params():
    a = Plan.from_actions([{"action": "linux.restart_unit", "params": {"unit": "a.service"}}], platform="linux")
    b = Plan.from_actions([{"action": "linux.restart_unit", "params": {"unit": "a.service"}}], platform="linux")
    c = Plan.from_actions([{"action": "linux.restart_unit", "params": {"unit": "b.service"}}], platform="linux")
    assert a.id == b.id != c.id
    with pytest.raises(RepairError):
        Plan([Step(2, "linux.apt_clean", {})], platform="linux")


def test_a_timed_out_apply_fails_the_step_and_long_output_is_truncated_in_the_changelog():
    class Hanging(FakeLinux):
        def answer(self, argv):
            if argv == ("ufw", "--force", "enable"):
                self.ufw = "active"  # half done when the timeout hit
                return CommandResult(argv, None, "x" * 20_000, "", 600.0, "timeout")
            return super().answer(argv)

    machine = Hanging()
    p = Plan.from_actions([{"action": "linux.enable_ufw"}], platform="linux")
    result = p.run(parse_approval("GO REPAIR: 1", p), machine, confirm=lambda s: True, progress=lambda _: None)
    assert result.status == "failed" and "timeout" in result.steps[0].detail
    assert machine.ufw == "inactive"  # undo put the previous state back
    failed = next(e for e in read_entries(result.session) if e["event"] == "failed")
    out = next(c for c in failed["commands"] if c["argv"] == ["ufw", "--force", "enable"])
    assert out["error"] == "timeout" and len(out["stdout"]) < 4_200 and "chars cut" in out["stdout"]


@pytest.mark.parametrize(("snapshot", "expected"), [
    ("windows11-problems.json", {"win.create_restore_point", "win.enable_firewall", "win.install_updates"}),
    ("linux-debian-problems.json", {"linux.enable_ufw", "linux.restart_unit", "linux.install_updates"}),
    ("macos14-problems.json", {"macos.enable_firewall", "macos.install_updates"}),
])
def test_plan_from_recorded_customer_snapshots_dry_runs(snapshot, expected):
    from pathlib import Path

    import techcare

    path = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots" / snapshot
    assert path.exists(), f"{snapshot} is a committed fixture"
    d = techcare.diagnose(snapshot=str(path))
    p = plan(d)
    assert expected <= {s.action_id for s in p.steps} and p.notes == []
    result = p.run(parse_approval("GO REPAIR: alle", p), ReplayRunner(platform=p.platform),
                   dry_run=True, progress=lambda _: None)
    assert result.status == "dry_run" and len(result.steps) == len(p.steps)


def test_dry_run_warns_about_missing_admin_rights_and_progress_shows_each_step():
    p = four_step_plan()
    lines: list[str] = []
    p.run(parse_approval("GO REPAIR: alle", p), FakeLinux(admin=False), dry_run=True, progress=lines.append)
    assert "1, 2, 3, 4" in lines[0] and "Rechte" in lines[0]
    assert [ln.split(":")[0] for ln in lines if ln.startswith("[")] == [
        "[1/4] 1. Firewall einschalten (ufw)", "[2/4] 2. systemd-Unit neu starten", "[3/4] 3. systemd-Unit neu starten",
        "[4/4] 4. Systemjournal verkleinern"]
    lines.clear()
    p.run(parse_approval("GO REPAIR: 2", p), FakeLinux(), progress=lines.append)
    assert lines[-1].startswith("[1/1] 2. systemd-Unit neu starten: ✔ nginx.service ist jetzt active.")
    assert lines[-1].endswith(" s)")


@pytest.mark.parametrize(("snapshot", "elevated"), [("linux-debian-problems.json", True),
                                                     ("windows11-problems.json", True),
                                                     ("macos14-problems.json", False)])
def test_a_replayed_snapshot_is_as_elevated_as_its_host_was(snapshot, elevated):
    """Snapshots record elevation in the host fact only: an administrator's capture runs admin steps on replay,
    a user's capture is refused before anything runs."""
    from pathlib import Path

    import techcare
    from techcare.system.snapshot import load_snapshot

    path = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots" / snapshot
    d = techcare.diagnose(snapshot=str(path))
    p = plan(d)
    admin = [s.number for s in p.steps if s.needs_admin]
    assert admin, "the fixture's plan has steps that need administrator rights"
    approval = parse_approval("GO REPAIR: " + ",".join(map(str, admin)), p)
    machine = load_snapshot(path).runner(fallback=lambda argv: CommandResult(argv, 0, "", "", 0.01))
    if elevated:
        result = p.run(approval, machine, confirm=lambda s: True, progress=lambda _: None)
        assert {s.number for s in result.steps} == set(admin) and machine.commands_run
    else:
        with pytest.raises(RepairError, match="Administrator"):
            p.run(approval, machine, confirm=lambda s: True, progress=lambda _: None)
        assert read_entries() == []


def test_every_write_outside_a_dry_run_reaches_on_changelog_written():
    """Run, rollback, undo and dismissal of interrupted steps: each tells the hooks (the backend upload hangs there)."""
    from techcare.repairs import dismiss_interrupted, interrupted, on_changelog_written, undo_interrupted
    from techcare.repairs._changelog import ChangelogWriter

    seen: list[str] = []

    def broken(_session: str) -> None:
        raise RuntimeError("a hook bug never breaks a repair")

    on_changelog_written[:0] = [broken, seen.append]
    try:
        machine = FakeLinux()
        p = four_step_plan()
        p.run(parse_approval("GO REPAIR: 2", p), machine, dry_run=True, progress=lambda _: None)
        assert seen == []
        result = p.run(parse_approval("GO REPAIR: 2", p), machine, progress=lambda _: None)
        assert result.completed == [2] and seen == [result.session]
        p.rollback(progress=lambda _: None)
        assert seen == [result.session] * 2
        writer = ChangelogWriter.continuing(result.session, read_entries(result.session)[0])
        writer.write("undo_started", step=2, action="linux.restart_unit", params={"unit": "nginx.service"})
        writer.write("started", step=4, action="linux.journal_vacuum", params={})
        first, second = sorted(interrupted(), key=lambda i: i.step)
        assert undo_interrupted(first, machine)["status"] == "undone"
        dismiss_interrupted(second, "checked")
        assert seen == [result.session] * 4
    finally:
        on_changelog_written.remove(broken)
        on_changelog_written.remove(seen.append)


def test_the_run_progress_in_a_terminal_shows_control_characters_as_text(capsys):
    """A step's progress line can carry a command's output or a name read from the machine (a service called
    ``"x\\x1b]0;…\\x07"``): the default progress printer shows the escape, the terminal never runs it."""
    from techcare.repairs._execute import _default_progress

    _default_progress()("Schritt 1: Dienst x\x1b]0;PWNED\x07\x1b[2J gestartet")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "Schritt 1: Dienst x\\x1b]0;PWNED\\x07\\x1b[2J gestartet" in out
