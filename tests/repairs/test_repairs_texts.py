"""Texts of a run that must say what happened (issue 22, item 9): an update search that fails after the run is
"unknown", never "None updates"; a step without undo is said once, not again on every undo call."""

from __future__ import annotations

import pytest

from techcare.i18n import set_language
from techcare.repairs import get_action
from techcare.repairs._model import StepContext
from techcare.system.runner import ReplayRunner


@pytest.mark.parametrize(("action_id", "platform"), [("linux.install_updates", "linux"),
                                                     ("win.install_updates", "windows"),
                                                     ("macos.install_updates", "macos")])
@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_failed_update_search_after_the_run_is_unknown_not_none_updates(action_id, platform, lang):
    set_language(lang)
    try:
        action = get_action(action_id)
        ctx = StepContext(ReplayRunner(platform=platform), action.validate_params({}))
        verdict = action.verify(ctx)           # every command answers "not recorded": the search fails
        assert verdict.needed is None
        assert "None" not in verdict.detail and verdict.detail
        assert ("unbekannt" if lang == "de" else "unknown") in verdict.detail.lower() \
            or ("fehlgeschlagen" if lang == "de" else "failed") in verdict.detail.lower()
    finally:
        set_language(None)
