"""The host executor's refusals in both languages (tests of the remote-jobs verification)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from techcare.i18n import set_language
from techcare.monitoring.executor import Refusal


def refused(call: Callable[[], object]) -> tuple[str, str, str]:
    """``(reason, German text, English text)`` of the Refusal ``call()`` raises in each language."""
    seen = []
    for lang in ("de", "en"):
        set_language(lang)
        try:
            with pytest.raises(Refusal) as caught:
                call()
        finally:
            set_language(None)
        seen.append(caught.value)
    assert seen[0].reason == seen[1].reason
    return seen[0].reason, seen[0].message, seen[1].message
