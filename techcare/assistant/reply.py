"""One answer of the assistant, whichever engine gave it: the text, the findings it used and the proposed plan."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..diagnosis import Finding
    from ..repairs import Plan

__all__ = ["Reply", "plan_record"]


@dataclass
class Reply:
    """One answer: the text, the findings it used, the proposed Plan (numbered steps) if any."""

    text: str
    engine: str
    findings: list[Finding] = field(default_factory=list)
    plan: Plan | None = None
    categories: list[tuple[str, float]] = field(default_factory=list)
    notice: str | None = None
    route: str = "answer"          # plan | driver_updates | events | cases | diagnose | answer
    data: Any = None               # e.g. the driver report DataFrame for route="driver_updates"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    session: str = ""

    def __str__(self) -> str:
        return self.text

    @property
    def steps(self) -> list[Any]:
        return list(self.plan.steps) if self.plan is not None else []

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "engine": self.engine, "notice": self.notice, "route": self.route,
                "categories": [[c, p] for c, p in self.categories],
                "findings": [f.check for f in self.findings],
                "plan": plan_record(self.plan), "tool_calls": self.tool_calls, "session": self.session}

    def __rich__(self) -> Any:
        from rich.panel import Panel
        from rich.text import Text

        return Panel(Text(_terminal(self.text)), title=f"TechCare ({self.engine})", expand=False)

    def _repr_html_(self) -> str:
        notice = f"<div style='color:#ef6c00'>{html.escape(self.notice)}</div>" if self.notice else ""
        body = html.escape(self.text if not self.notice else self.text.removeprefix(self.notice).lstrip("\n"))
        return (f"<div class='techcare-reply'>{notice}<pre style='white-space:pre-wrap;font-family:inherit'>{body}</pre>"
                f"<small>{html.escape(self.engine)}</small></div>")

    def __repr__(self) -> str:
        steps = len(self.plan.steps) if self.plan is not None else 0
        return f"<Reply engine={self.engine} route={self.route} steps={steps} text={self.text[:60]!r}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Terminal IPython: the answer, then the proposed plan with its exact commands."""
        if cycle:
            printer.text(repr(self))
            return
        printer.text(_terminal(self.text))
        if self.plan is not None and self.plan.steps:
            printer.text("\n\n" + self.plan.text())


def _terminal(text: str) -> str:
    """The answer as a terminal shows it: control characters as text (an answer can quote what a tool read from the
    machine, e.g. an event message, or a prompt injection in it), never cut."""
    from ..system.records import visible

    return visible(text, limit=10**9)


def plan_record(plan: Plan | None) -> dict[str, Any] | None:
    """What a session file keeps of a plan: its id and the catalogue ids with their parameters."""
    if plan is None:
        return None
    return {"id": plan.id, "actions": [{"action": s.action_id, "params": dict(s.params)} for s in plan.steps]}
