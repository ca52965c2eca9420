"""German/English user-facing text.

The product document is German, so German is the default. ``TECHCARE_LANG`` (``de`` or ``en``) chooses;
``set_language()`` overrides it for the running process (the magics use it for ``%config``).
Text is written inline as ``tr("deutsch", "english")`` next to where it is used, so both languages are
reviewed together.
"""

from __future__ import annotations

import os

__all__ = ["LANGUAGES", "get_language", "set_language", "tr"]

LANGUAGES = ("de", "en")
_override: str | None = None


def get_language() -> str:
    """The active language: an explicit ``set_language()``, else ``TECHCARE_LANG``, else ``de``."""
    if _override:
        return _override
    value = os.environ.get("TECHCARE_LANG", "de").strip().lower()
    return value if value in LANGUAGES else "de"


def set_language(lang: str | None) -> None:
    """Force ``de`` or ``en`` for this process; ``None`` goes back to the environment/settings."""
    global _override
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    _override = lang


def tr(de: str, en: str, lang: str | None = None, /, **fmt: object) -> str:
    """Pick the German or English text and format it with ``fmt``."""
    text = en if (lang or get_language()) == "en" else de
    return text.format(**fmt) if fmt else text
