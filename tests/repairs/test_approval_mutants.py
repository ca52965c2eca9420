"""The approval's safety rules, one behaviour per test (survivors of `scripts/mutation approval`): the plan id is
a pinned hash of exactly platform, actions and parameters; an Approval however it was built runs only steps
of the plan it belongs to; the restore point guards every high-risk or irreversible Windows step, undoable or
not; the refusals before anything runs (platform, admin rights, high-risk confirmation) say what is wrong."""

from __future__ import annotations

import hashlib
import json

import pytest

from techcare import features
from techcare.errors import ApprovalError, LicenseError, RepairError
from techcare.repairs import Approval, Plan, Step, parse_approval, read_entries
from techcare.repairs import _catalog
from techcare.repairs._model import Action
from techcare.system.runner import CommandResult, Entry, ReplayRunner


def linux(admin: bool = True, platform: str = "linux") -> ReplayRunner:
    """A machine that answers every command with success and records what ran."""
    return ReplayRunner([Entry("fact", "is_admin", admin), Entry("fact", "host", {"hostname": "PC-7"})],
                        platform=platform, fallback=lambda argv: CommandResult(argv, 0, "", "", 0.01))


def two_steps() -> Plan:
    return Plan([Step(1, "linux.flush_dns", {}), Step(2, "linux.journal_vacuum", {"max_size": "500M"})],
                platform="linux")


# ---- the plan id ----------------------------------------------------------------------------------------------

def test_plan_id_is_a_pinned_hash_of_platform_actions_and_parameters():
    plan = two_steps()
    blob = json.dumps({"platform": "linux", "steps": [["linux.flush_dns", {}],
                                                      ["linux.journal_vacuum", {"max_size": "500M"}]]},
                      sort_keys=True)
    assert plan.id == plan.fingerprint() == hashlib.sha256(blob.encode()).hexdigest()[:12] == "bc425bdd8803"
    assert Plan([], platform="windows").id == "22aa9ca4992a"


def test_plan_id_changes_with_any_part_of_what_runs():
    base = two_steps().id
    other_param = Plan([Step(1, "linux.flush_dns", {}), Step(2, "linux.journal_vacuum", {"max_size": "100M"})],
                       platform="linux").id
    other_order = Plan([Step(1, "linux.journal_vacuum", {"max_size": "500M"}), Step(2, "linux.flush_dns", {})],
                       platform="linux").id
    fewer = Plan([Step(1, "linux.flush_dns", {})], platform="linux").id
    assert len({base, other_param, other_order, fewer}) == 4
    # reasons and checks are what the technician reads, not what runs: they do not change the id
    worded = Plan([Step(1, "linux.flush_dns", {}, "Grund", "reason", "dns"),
                   Step(2, "linux.journal_vacuum", {"max_size": "500M"})], platform="linux")
    assert worded.id == base


def test_a_plan_changed_after_it_was_shown_is_refused_even_with_its_own_approval(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = two_steps()
    approval = parse_approval("GO REPAIR: 1,2", plan)
    plan.steps[1].params["max_size"] = "1K"          # edited in place after approval
    with pytest.raises(ApprovalError, match=rf"Plan {plan.id} was changed after it was shown"):
        plan.approved(approval)


# ---- an Approval, however it was built -------------------------------------------------------------------------

@pytest.mark.parametrize("steps", [(0,), (3,), (-1,), (), (1, 3), (0, 1)])
def test_an_approval_built_by_hand_with_steps_outside_the_plan_runs_nothing(steps, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = two_steps()
    runner = linux()
    with pytest.raises(ApprovalError, match="The approval names no valid steps"):
        plan.run(Approval(plan.id, steps, "GO REPAIR: 1"), runner, progress=lambda _: None)
    assert [kind for kind, _ in runner.calls if kind == "cmd"] == [] and read_entries() == []
    assert plan.last_run is None


def test_a_hand_built_approval_inside_the_plan_runs_exactly_its_steps_once():
    plan = two_steps()
    assert [s.number for s in plan.approved(Approval(plan.id, (2, 1, 2), "x"))] == [1, 2]
    assert [s.number for s in plan.approved(Approval(plan.id, (2,), "x"))] == [2]
    assert [s.number for s in plan.approved(Approval(plan.id, (1,), "x"))] == [1]


def test_anything_but_an_approval_of_this_plan_is_refused(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = two_steps()
    with pytest.raises(ApprovalError, match="Nothing runs without an approval"):
        plan.approved("GO REPAIR: 1")                                  # type: ignore[arg-type]
    with pytest.raises(ApprovalError, match=rf"belongs to plan abc, not to this plan {plan.id}"):
        plan.approved(Approval("abc", (1,), "GO REPAIR: 1"))


# ---- the parser's exact results -------------------------------------------------------------------------------

def test_all_approves_every_step_and_keeps_the_text_without_surrounding_space():
    plan = Plan([Step(i, a, {}) for i, a in enumerate(["linux.flush_dns", "linux.apt_clean", "linux.enable_ufw"], 1)],
                platform="linux")
    approval = parse_approval("  GO REPAIR: alle  \n", plan)
    assert approval == Approval(plan.id, (1, 2, 3), "GO REPAIR: alle")
    assert parse_approval("GO REPAIR: 3-3", plan).steps == (3,)
    assert parse_approval("GO REPAIR: 1-3", plan).steps == (1, 2, 3)
    assert parse_approval("GO REPAIR: 3,1", plan) == Approval(plan.id, (1, 3), "GO REPAIR: 3,1")


def test_the_longest_accepted_approval_is_500_characters():
    plan = two_steps()
    text = "GO REPAIR: " + " " * (500 - len("GO REPAIR: 1")) + "1"
    assert len(text) == 500 and parse_approval(text, plan).steps == (1,)
    with pytest.raises(ApprovalError):
        parse_approval(text + " ", plan)


@pytest.mark.parametrize(("text", "en"), [
    (None, "The approval must be text."),
    ("GO REPAIR: " + "1" * 600, "Approval too long."),
    ("yes", "Not an approval: the text does not start with GO REPAIR."),
    ("GO REPAIR:", "The approval names no steps."),
    ("GO REPAIR: 1,x", "'x' is not a step number."),
    ("GO REPAIR: 2-1", "Range 2-1 is reversed."),
    ("GO REPAIR: 1-3", "There is no step 3."),
    ("GO REPAIR: 0", "There is no step 0."),
    ("GO REPAIR: 1,1-2", "Step 1 is named twice."),
])
def test_each_refusal_says_why_and_what_is_valid(text, en, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(ApprovalError) as caught:
        parse_approval(text, two_steps())               # type: ignore[arg-type]
    assert str(caught.value) == f"{en} Valid: 'GO REPAIR: 1,2', 'GO REPAIR: 1-2' or 'GO REPAIR: all' (steps 1 to 2)."


def test_a_refusal_in_german_lists_the_valid_forms_for_a_one_step_plan(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    with pytest.raises(ApprovalError) as caught:
        parse_approval("GO REPAIR: 2", Plan([Step(1, "linux.flush_dns", {})], platform="linux"))
    assert str(caught.value) == ("Schritt 2 gibt es nicht. Gültig: „GO REPAIR: 1“ oder „GO REPAIR: alle“ "
                                 "(Schritte 1 bis 1).")


def test_an_empty_plan_has_nothing_to_approve(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(ApprovalError, match="The plan has no steps – nothing to approve."):
        parse_approval("GO REPAIR: alle", Plan([], platform="linux"))


# ---- the restore point ------------------------------------------------------------------------------------------

class HighRiskUndoable(Action):
    """Like a plugin's action: high risk, but it can be undone."""

    id = "test.high_risk_undoable"
    title_de = title_en = "Riskant, umkehrbar"
    platforms = ("windows",)
    risk = "high"
    needs_admin = True

    def commands(self, params):
        return [["cmd.exe", "/c", "ver"]]


@pytest.fixture
def plugin_action(monkeypatch):
    real = _catalog._all
    action = HighRiskUndoable()
    monkeypatch.setattr(_catalog, "_all", lambda: {**real(), action.id: action})
    assert action.undo_reason({}) is None and action.risk == "high"
    return action


def test_a_high_risk_undoable_action_gets_a_restore_point_that_cannot_be_skipped(plugin_action, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = Plan.from_actions([{"action": "win.clear_temp_files"}, {"action": plugin_action.id}], platform="windows")
    assert [s.action_id for s in plan.steps] == ["win.create_restore_point", "win.clear_temp_files", plugin_action.id]
    first = plan.steps[0]
    assert first.params == {"description": "TechCare"}
    assert (first.reason_de, first.reason_en) == ("Sicherung vor riskanten oder nicht umkehrbaren Schritten.",
                                                  "Safety net before risky or irreversible steps.")
    with pytest.raises(ApprovalError) as caught:
        parse_approval("GO REPAIR: 3", plan)
    assert str(caught.value) == ("Step 1 (restore point) protects the risky/irreversible step 3 and must be approved "
                                 "with it: GO REPAIR: 1,3")
    assert parse_approval("GO REPAIR: 1,3", plan).steps == (1, 3)
    assert parse_approval("GO REPAIR: 2", plan).steps == (2,)       # an undoable low-risk step needs none
    assert parse_approval("GO REPAIR: 1", plan).steps == (1,)


def test_several_protected_steps_are_named_together(plugin_action, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = Plan.from_actions([{"action": "win.sfc_scannow"}, {"action": plugin_action.id}], platform="windows")
    with pytest.raises(ApprovalError) as caught:
        parse_approval("GO REPAIR: 2-3", plan)
    assert str(caught.value) == ("Step 1 (restore point) protects the risky/irreversible steps 2, 3 and must be "
                                 "approved with them: GO REPAIR: 1,2,3")


def test_only_windows_plans_with_a_risky_or_irreversible_step_get_a_restore_point(plugin_action):
    undoable = Plan.from_actions([{"action": "win.enable_firewall"}, {"action": "win.clear_temp_files"}],
                                 platform="windows")
    assert [s.action_id for s in undoable.steps] == ["win.enable_firewall", "win.clear_temp_files"]
    irreversible = Plan.from_actions([{"action": "win.dism_restore_health"}], platform="windows")
    assert [s.action_id for s in irreversible.steps] == ["win.create_restore_point", "win.dism_restore_health"]
    own = Plan.from_actions([{"action": plugin_action.id}, {"action": "win.create_restore_point"}], platform="windows")
    assert [s.action_id for s in own.steps] == [plugin_action.id, "win.create_restore_point"]   # never a second one
    high_linux = Plan.from_actions([{"action": "linux.install_updates"}], platform="linux")
    assert [s.action_id for s in high_linux.steps] == ["linux.install_updates"]


def test_a_plan_without_a_restore_point_approves_risky_steps_alone(plugin_action):
    plan = Plan([Step(1, plugin_action.id, {}), Step(2, "win.sfc_scannow", {})], platform="windows")
    assert parse_approval("GO REPAIR: 1", plan).steps == (1,)
    assert parse_approval("GO REPAIR: 2", plan).steps == (2,)


# ---- refusals before anything runs ------------------------------------------------------------------------------

def test_a_plan_for_another_platform_is_refused_naming_both(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = two_steps()
    runner = linux(platform="windows")
    with pytest.raises(RepairError, match="The plan is for linux, this system is windows."):
        plan.run(parse_approval("GO REPAIR: 1", plan), runner, progress=lambda _: None)


def test_steps_needing_admin_rights_on_a_plain_account_stop_the_whole_run(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = Plan([Step(1, "linux.flush_dns", {}), Step(2, "linux.apt_clean", {}), Step(3, "linux.enable_ufw", {})],
                platform="linux")
    runner = linux(admin=False)
    needs = [s.number for s in plan.steps if s.needs_admin]
    assert needs, "the plan must hold a step that needs admin rights"
    with pytest.raises(RepairError) as caught:
        plan.run(parse_approval("GO REPAIR: alle", plan), runner, progress=lambda _: None)
    assert str(caught.value) == (f"Step(s) {', '.join(map(str, needs))} need administrator/root rights; TechCare is "
                                 "not elevated. Nothing ran.")
    assert plan.last_run is None
    result = plan.run(parse_approval("GO REPAIR: alle", plan), linux(admin=True), progress=lambda _: None)
    assert result.status in ("completed", "failed") and plan.last_run is result


def test_a_dry_run_needs_no_admin_rights_and_says_what_the_real_run_will_need():
    plan = Plan([Step(1, "linux.flush_dns", {}), Step(2, "linux.enable_ufw", {})], platform="linux")
    lines: list[str] = []
    result = plan.run(parse_approval("GO REPAIR: alle", plan), linux(admin=False), dry_run=True,
                      progress=lines.append)
    assert result.ok and result.status == "dry_run" and plan.last_run is None
    needs = [s.number for s in plan.steps if s.needs_admin]
    assert any(", ".join(map(str, needs)) in line for line in lines if line.startswith("⚠")) == bool(needs)


def test_a_high_risk_step_runs_only_when_confirmed(monkeypatch):
    plan = Plan([Step(1, "linux.flush_dns", {}), Step(2, "linux.install_updates", {})], platform="linux")
    assert [s.risk for s in plan.steps] == ["low", "high"]
    approval = parse_approval("GO REPAIR: alle", plan)
    asked: list[int] = []
    unconfirmed = plan.run(approval, linux(), progress=lambda _: None)
    assert {s.number: s.status for s in unconfirmed.steps}[2] == "not_confirmed"
    declined = plan.run(approval, linux(), progress=lambda _: None, confirm=lambda s: asked.append(s.number) or False)
    assert asked == [2] and {s.number: s.status for s in declined.steps}[2] == "not_confirmed"
    confirmed = plan.run(approval, linux(), progress=lambda _: None, confirm=lambda s: True)
    assert {s.number: s.status for s in confirmed.steps}[2] != "not_confirmed"


def test_the_quota_counts_only_the_steps_that_will_run(monkeypatch):
    counted: list[int] = []

    def quota(n: int) -> None:
        counted.append(n)
        if n > 1:
            raise LicenseError("quota")

    monkeypatch.setattr(features, "require_repairs", quota)
    plan = Plan([Step(1, "linux.flush_dns", {}), Step(2, "linux.install_updates", {})], platform="linux")
    approval = parse_approval("GO REPAIR: alle", plan)
    plan.run(approval, linux(), progress=lambda _: None)                 # the high-risk step is declined
    with pytest.raises(LicenseError):
        plan.run(approval, linux(), progress=lambda _: None, confirm=lambda s: True)
    assert counted == [1, 2]


# ---- one rule for line breaks; approvals of the wrong type ---------------------------------------------------------

@pytest.mark.parametrize("text", ["GO REPAIR: 1\n,2", "GO REPAIR: 1,\n2", "GO REPAIR:\n1", "GO REPAIR: 1\n\n2", "GO REPAIR: 1\r,2",
                                  "GO REPAIR: 1-\n2", "GO REPAIR: 1\r\n,2", "GO REPAIR: alle\nund mehr"])
def test_a_line_break_inside_the_approval_is_refused_wherever_it_is(text, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(ApprovalError) as caught:
        parse_approval(text, two_steps())
    assert str(caught.value).startswith("The approval must be one line (it contains a line break).")
    assert "GO REPAIR: 1,2" in str(caught.value)


@pytest.mark.parametrize("text", ["GO REPAIR: 1,2\n", "\n  GO REPAIR: 1,2  \r\n", "GO REPAIR: 1,2\r\n\r\n"])
def test_line_breaks_around_the_approval_are_not_part_of_it(text):
    approval = parse_approval(text, two_steps())
    assert approval.steps == (1, 2) and approval.text == "GO REPAIR: 1,2"


@pytest.mark.parametrize("steps", [("1",), (1.0,), (True,), (None,), "12", [1]])
def test_an_approval_built_by_hand_with_steps_that_are_no_numbers_is_refused_not_a_crash(steps, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = two_steps()
    runner = linux()
    with pytest.raises(ApprovalError, match="The approval names no valid steps"):
        plan.run(Approval(plan.id, steps, "GO REPAIR: 1"), runner, progress=lambda _: None)   # type: ignore[arg-type]
    assert runner.commands_run == [] and plan.last_run is None


# ---- both languages, exactly ---------------------------------------------------------------------------------------

def test_every_refusal_is_said_in_german_too(monkeypatch, plugin_action):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    plan = two_steps()
    valid = " Gültig: „GO REPAIR: 1,2“, „GO REPAIR: 1-2“ oder „GO REPAIR: alle“ (Schritte 1 bis 2)."
    cases = [
        (lambda: parse_approval(None, plan), "Freigabe muss Text sein." + valid),                 # type: ignore
        (lambda: parse_approval("GO REPAIR: 1", Plan([], platform="linux")),
         "Der Plan hat keine Schritte – nichts freizugeben."),
        (lambda: parse_approval("GO REPAIR: 1\n2", plan),
         "Die Freigabe muss eine Zeile sein (sie enthält einen Zeilenumbruch)." + valid),
        (lambda: plan.approved("GO REPAIR: 1"),                                                 # type: ignore
         "Nichts läuft ohne Freigabe: erst parse_approval('GO REPAIR: …', plan)."),
        (lambda: plan.approved(Approval("abc", (1,), "x")),
         f"Die Freigabe gehört zu Plan abc, nicht zu diesem Plan {plan.id} – bitte neu freigeben."),
        (lambda: plan.approved(Approval(plan.id, (0,), "x")), "Die Freigabe nennt keine gültigen Schritte."),
    ]
    for call, text in cases:
        with pytest.raises(ApprovalError) as caught:
            call()
        assert str(caught.value) == text
    approval = parse_approval("GO REPAIR: 1", plan)
    plan.steps[0].params["x"] = 1
    with pytest.raises(ApprovalError) as caught:
        plan.approved(approval)
    assert str(caught.value) == (f"Der Plan {plan.id} wurde nach dem Anzeigen verändert – bitte neu ansehen und "
                                 "freigeben.")
    windows = Plan.from_actions([{"action": "win.sfc_scannow"}, {"action": plugin_action.id}], platform="windows")
    with pytest.raises(ApprovalError) as caught:
        parse_approval("GO REPAIR: 3", windows)
    assert str(caught.value) == ("Schritt 1 (Wiederherstellungspunkt) sichert den riskanten/nicht umkehrbaren Schritt "
                                 "3 ab und muss mit freigegeben werden: GO REPAIR: 1,3")
    with pytest.raises(ApprovalError) as caught:
        parse_approval("GO REPAIR: 2,3", windows)
    assert str(caught.value) == ("Schritt 1 (Wiederherstellungspunkt) sichert die riskanten/nicht umkehrbaren "
                                 "Schritte 2, 3 ab und muss mit freigegeben werden: GO REPAIR: 1,2,3")


def test_the_refusals_before_a_run_are_said_in_german_too(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    plan = Plan([Step(1, "linux.flush_dns", {}), Step(2, "linux.enable_ufw", {})], platform="linux")
    with pytest.raises(RepairError) as caught:
        plan.run(parse_approval("GO REPAIR: 1", plan), linux(platform="windows"), progress=lambda _: None)
    assert str(caught.value) == "Der Plan ist für linux, dieses System ist windows."
    needs = ", ".join(str(s.number) for s in plan.steps if s.needs_admin)
    with pytest.raises(RepairError) as caught:
        plan.run(parse_approval("GO REPAIR: alle", plan), linux(admin=False), progress=lambda _: None)
    assert str(caught.value) == (f"Schritt(e) {needs} brauchen Administrator-/root-Rechte; TechCare läuft nicht "
                                 "erhöht. Nichts wurde ausgeführt.")


# ---- the plan id and the restore point, the remaining details ------------------------------------------------------

def test_the_plan_id_does_not_depend_on_the_order_parameters_were_given_in():
    one = Plan([Step(1, "linux.journal_vacuum", {"max_size": "500M", "zz": 1})], platform="linux")
    other = Plan([Step(1, "linux.journal_vacuum", {"zz": 1, "max_size": "500M"})], platform="linux")
    assert one.id == other.id


def test_the_plan_id_covers_parameters_that_are_not_plain_json():
    from pathlib import PurePosixPath

    as_path = Plan([Step(1, "linux.clear_temp_files", {"path": PurePosixPath("/var/tmp")})], platform="linux")
    as_text = Plan([Step(1, "linux.clear_temp_files", {"path": "/var/tmp"})], platform="linux")
    assert as_path.id == as_text.id == as_path.fingerprint()


def test_a_step_undoable_only_with_some_parameters_is_judged_with_the_given_ones():
    without_backup = Plan.from_actions([{"action": "win.clear_temp_files", "params": {"keep_backup": False}}],
                                       platform="windows")
    with_backup = Plan.from_actions([{"action": "win.clear_temp_files", "params": {"keep_backup": True}}],
                                    platform="windows")
    assert without_backup.steps[0].undo_note() is not None and with_backup.steps[0].undo_note() is None
    assert [s.action_id for s in without_backup.steps] == ["win.create_restore_point", "win.clear_temp_files"]
    assert [s.action_id for s in with_backup.steps] == ["win.clear_temp_files"]
    assert without_backup.steps[0].check == ""


def test_the_refusals_are_exact_in_english(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    plan = two_steps()
    cases = [
        (lambda: parse_approval("GO REPAIR: 1", Plan([], platform="linux")),
         "The plan has no steps – nothing to approve."),
        (lambda: plan.approved("GO REPAIR: 1"),                                                 # type: ignore
         "Nothing runs without an approval: use parse_approval('GO REPAIR: …', plan) first."),
        (lambda: plan.approved(Approval("abc", (1,), "x")),
         f"The approval belongs to plan abc, not to this plan {plan.id} – please approve again."),
        (lambda: plan.approved(Approval(plan.id, (9,), "x")), "The approval names no valid steps."),
        (lambda: plan.run(parse_approval("GO REPAIR: 1", plan), linux(platform="windows"), progress=lambda _: None),
         "The plan is for linux, this system is windows."),
    ]
    for call, text in cases:
        with pytest.raises((ApprovalError, RepairError)) as caught:
            call()
        assert str(caught.value) == text
    approval = parse_approval("GO REPAIR: 1", plan)
    plan.steps[0].params["x"] = 1
    with pytest.raises(ApprovalError) as caught:
        plan.approved(approval)
    assert str(caught.value) == f"Plan {plan.id} was changed after it was shown – review and approve it again."


def test_a_missing_prefix_and_a_too_long_text_are_said_in_german_too(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    valid = " Gültig: „GO REPAIR: 1,2“, „GO REPAIR: 1-2“ oder „GO REPAIR: alle“ (Schritte 1 bis 2)."
    for text, why in (("ja", "Keine Freigabe: der Text beginnt nicht mit GO REPAIR."),
                      ("GO REPAIR: " + "1" * 600, "Freigabe zu lang.")):
        with pytest.raises(ApprovalError) as caught:
            parse_approval(text, two_steps())
        assert str(caught.value) == why + valid


@pytest.mark.parametrize(("text", "why"), [
    ("GO REPAIR:", "Die Freigabe nennt keine Schritte."),
    ("GO REPAIR: 1,X2", "„X2“ ist keine Schrittnummer."),
    ("GO REPAIR: 1,\u00a02", "„\u00a02“ ist keine Schrittnummer."),      # only spaces and tabs separate items
    ("GO REPAIR: 1,\u20032", "„\u20032“ ist keine Schrittnummer."),
    ("GO REPAIR: 2-1", "Bereich 2-1 ist rückwärts."),
    ("GO REPAIR: 2,1-2", "Schritt 2 ist doppelt genannt."),
])
def test_item_refusals_in_german_and_only_spaces_and_tabs_around_a_step_number(text, why, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    with pytest.raises(ApprovalError) as caught:
        parse_approval(text, two_steps())
    assert str(caught.value) == why + " Gültig: „GO REPAIR: 1,2“, „GO REPAIR: 1-2“ oder „GO REPAIR: alle“ " \
                                      "(Schritte 1 bis 2)."
