"""The assistant uses the project's own types directly: a run's steps by ``action_id``, findings as Finding or
their dict form, and nothing else guessed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from assistant_helpers import firewall_off

from techcare import repairs
from techcare.assistant import cases
from techcare.config import get_settings
from techcare.errors import AssistantError

ASSISTANT = Path(cases.__file__).parent


def _result(plan: repairs.Plan, *outcomes: repairs.StepOutcome, status: str) -> repairs.RunResult:
    return repairs.RunResult(session="s", plan_id=plan.id, dry_run=False, steps=list(outcomes), status=status,
                             changelog_path=get_settings().changelogs_dir / "x.jsonl")


def test_a_recorded_run_keeps_the_actions_its_steps_attempted():
    plan = repairs.Plan.from_actions([{"action": "win.flush_dns"}, {"action": "win.reset_winsock"},
                                      {"action": "win.restart_service", "params": {"name": "Spooler"}}],
                                     platform="windows", symptom="Kein Internet, DNS geht nicht")
    plan.findings = [firewall_off().to_dict()]
    result = _result(plan, repairs.StepOutcome(1, "win.flush_dns", "finished"),
                     repairs.StepOutcome(2, "win.reset_winsock", "failed"),
                     repairs.StepOutcome(3, "win.restart_service", "not_run"), status="failed")
    stored = cases.record_run(plan, result)
    assert stored is not None
    (row,) = cases.search("DNS geht nicht", os="windows").to_dict("records")
    assert row["actions"] == ["win.flush_dns", "win.reset_winsock"] and row["outcome"] == "failure"


def test_findings_are_taken_as_finding_or_its_dict_and_anything_else_is_refused():
    finding = firewall_off()
    for given in (finding, finding.to_dict(), {"check": "firewall", "severity": "critical",
                                                "summary_en": finding.summary_en}):
        assert cases._findings_list([given]) == [{"check": "firewall", "severity": "critical",
                                                  "summary": finding.summary_en}]
    assert cases._findings_list([{"check": "service:Spooler", "severity": "warning"}]) == [
        {"check": "service:Spooler", "severity": "warning"}]
    with pytest.raises(AssistantError, match="Finding 2|Befund 2"):
        cases.record("Drucker", actions=["win.flush_dns"], outcome="success", os="windows",
                     findings=[finding, "the firewall is off"])


def test_the_assistant_inspects_no_signatures_and_probes_no_attributes():
    for path in sorted(ASSISTANT.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in node.names} | {node.module for node in ast.walk(tree)
                                                if isinstance(node, ast.ImportFrom) and node.module}
        assert "inspect" not in imported, path.name
        probes = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Name) and node.func.id == "hasattr"]
        assert not probes, f"{path.name}: hasattr at lines {probes}"


def test_an_answer_shown_in_a_terminal_shows_control_characters_as_text():
    """An answer may quote what a tool read from the machine (an event message holding terminal escapes): the REPL's
    panel and IPython's terminal display show them as text, whole; the reply itself keeps the exact text."""
    import io

    from IPython.lib.pretty import pretty
    from rich.console import Console

    from techcare.assistant.reply import Reply

    text = "Ereignis: \x1b]0;PWNED\x07\x1b[2J gelöscht\n" + "x" * 5000
    reply = Reply(text=text, engine="offline")
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=True, color_system=None).print(reply)
    for shown in (out.getvalue(), pretty(reply)):
        assert "\x1b" not in shown and "\x07" not in shown
        assert "\\x1b]0;PWNED\\x07\\x1b[2J gelöscht" in shown
    assert pretty(reply).endswith("x" * 5000)  # never cut
    assert reply.text == text and str(reply) == text
