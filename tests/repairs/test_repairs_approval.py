"""The GO REPAIR approval parser: a table of valid and invalid inputs plus property-based tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from techcare.errors import ApprovalError
from techcare.repairs import Plan, Step, parse_approval


def make_plan(n: int = 5) -> Plan:
    ids = ["linux.apt_clean", "linux.journal_vacuum", "linux.clear_temp_files", "linux.flush_dns", "linux.enable_ufw",
           "linux.dpkg_configure", "linux.apt_fix_broken", "linux.install_updates"]
    return Plan([Step(i + 1, ids[i], {"max_size": "500M"} if ids[i] == "linux.journal_vacuum" else
                      ({"path": "/var/tmp", "older_than_days": 7, "keep_backup": True}
                       if ids[i] == "linux.clear_temp_files" else {})) for i in range(n)], platform="linux")


PLAN = make_plan(5)

VALID = [
    ("GO REPAIR: 1,2,3", (1, 2, 3)),
    ("go repair 1-3", (1, 2, 3)),
    ("GO REPAIR: alle", (1, 2, 3, 4, 5)),
    ("GO REPAIR: all", (1, 2, 3, 4, 5)),
    ("go repair: ALLE", (1, 2, 3, 4, 5)),
    ("  Go   Repair :  3 , 1  ", (1, 3)),
    ("GO REPAIR:5", (5,)),
    ("GO REPAIR: 1 - 2, 4", (1, 2, 4)),
    ("gO rEpAiR 2-2", (2,)),
    ("GO REPAIR: 1,2,3\n", (1, 2, 3)),
    ("GO\tREPAIR:\t4", (4,)),
]

INVALID = [
    "", "   ", "GO", "GO REPAIR", "GO REPAIR:", "GO REPAIR: ", "REPAIR: 1", "GO REPAIRS: 1", "GOREPAIR: 1",
    "GO REPAIR: 0", "GO REPAIR: 6", "GO REPAIR: 1,,2", "GO REPAIR: ,1", "GO REPAIR: 1,", "GO REPAIR: 3-1",
    "GO REPAIR: 1-6", "GO REPAIR: 0-2", "GO REPAIR: 1,1", "GO REPAIR: 1-3,2", "GO REPAIR: eins", "GO REPAIR: 1 2",
    "GO REPAIR: -1", "GO REPAIR: 1.5", "GO REPAIR: 1;2", "yes", "ok, go repair 1", "GO REPAIR: alles",
    "GO REPAIR: all,1", "GO REPAIR: ١", "GO REPAIR: ２", "GO REPAIR: 1--2", "GO REPAIR: 1-2-3", "GO REPAIR: 99999999999999",
    "GO REPAIR 1 please", "GO REPAIR: 1\n2", "GO REPAIR: " + "1," * 300 + "1",
]


@pytest.mark.parametrize(("text", "steps"), VALID)
def test_valid_approvals(text, steps):
    approval = parse_approval(text, PLAN)
    assert approval.steps == steps and approval.plan_id == PLAN.id


@pytest.mark.parametrize("text", INVALID)
def test_invalid_approvals_are_refused_saying_what_is_valid(text):
    with pytest.raises(ApprovalError) as info:
        parse_approval(text, PLAN)
    message = str(info.value)
    assert "GO REPAIR: 1,2,3" in message and "1-5" in message


def test_refusal_names_the_problem_in_english(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(ApprovalError, match="There is no step 9"):
        parse_approval("GO REPAIR: 9", PLAN)
    with pytest.raises(ApprovalError, match="named twice"):
        parse_approval("GO REPAIR: 2,2", PLAN)


def test_non_text_and_empty_plan_are_refused():
    with pytest.raises(ApprovalError):
        parse_approval(None, PLAN)  # type: ignore[arg-type]
    with pytest.raises(ApprovalError):
        parse_approval("GO REPAIR: alle", Plan([], platform="linux"))


def _fmt(numbers: list[int], style: st.DataObject) -> str:
    sep = style.draw(st.sampled_from([",", ", ", " , ", ",  "]))
    prefix = style.draw(st.sampled_from(["GO REPAIR: ", "go repair ", "Go Repair:", "  GO  REPAIR :  ", "go repair:"]))
    return prefix + sep.join(str(n) for n in numbers) + style.draw(st.sampled_from(["", " ", "\n"]))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_formatting_of_a_valid_selection_parses_to_it(data):
    n = data.draw(st.integers(1, 8))
    plan = make_plan(n)
    chosen = data.draw(st.lists(st.integers(1, n), min_size=1, max_size=n, unique=True))
    approval = parse_approval(_fmt(chosen, data), plan)
    assert approval.steps == tuple(sorted(chosen))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_number_outside_the_plan_is_always_refused(data):
    n = data.draw(st.integers(1, 8))
    plan = make_plan(n)
    good = data.draw(st.lists(st.integers(1, n), max_size=n, unique=True))
    bad = data.draw(st.one_of(st.just(0), st.integers(n + 1, 10_000)))
    numbers = good + [bad]
    data.draw(st.randoms()).shuffle(numbers)
    with pytest.raises(ApprovalError):
        parse_approval(_fmt(numbers, data), plan)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_either_parses_strictly_or_raises_approval_error(text):
    try:
        approval = parse_approval(text, PLAN)
    except ApprovalError:
        return
    # Anything accepted really is a GO REPAIR approval naming steps of this plan.
    assert text.strip().lower().startswith("go")
    assert approval.steps and all(1 <= s <= 5 for s in approval.steps)
    assert len(set(approval.steps)) == len(approval.steps)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20))
def test_garbage_after_the_prefix_is_refused_unless_it_is_a_selection(body):
    text = "GO REPAIR: " + body
    try:
        approval = parse_approval(text, PLAN)
    except ApprovalError:
        return
    cleaned = body.strip().lower()
    assert cleaned in ("alle", "all") or all(ch in "0123456789-, \t" for ch in cleaned)
    assert approval.steps
