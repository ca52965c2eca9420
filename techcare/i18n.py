"""German/English user-facing text.

The product document is German, so German is the default. ``TECHCARE_LANG`` (``de`` or ``en``) chooses;
``set_language()`` overrides it for the running process (the magics use it for ``%config``).
Text is written inline as ``tr("deutsch", "english")`` next to where it is used, so both languages are
reviewed together.

A text made before anyone knows the language it will be read in (why a probe could not answer, why a driver
source is unavailable, what a SMART log says) is a :class:`Message` built with ``msg("deutsch", "english")``:
it keeps both languages and picks one when it is shown (``str()``, f-strings, :func:`localize`). Data — a device
name, an update title, a tool's own output — goes in as a format parameter and stays as the machine wrote it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["LANGUAGES", "Message", "get_language", "localize", "msg", "set_language", "tr"]

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


@dataclass(frozen=True)
class Message:
    """A user-facing text in German and English; ``str()`` and formatting pick the active language.

    ``"x" in message`` looks in both languages (paths, tool names and exit codes are in both).
    """

    de: str
    en: str

    def text(self, lang: str | None = None) -> str:
        return self.en if (lang or get_language()) == "en" else self.de

    def __str__(self) -> str:
        return self.text()

    def __format__(self, spec: str) -> str:
        return format(self.text(), spec)

    def __bool__(self) -> bool:
        return bool(self.de or self.en)

    def __contains__(self, item: str) -> bool:
        return item in self.de or item in self.en

    def __add__(self, other: Message | str) -> Message:
        if isinstance(other, Message):
            return Message(self.de + other.de, self.en + other.en)
        return Message(self.de + other, self.en + other)

    def __radd__(self, other: str) -> Message:
        return Message(other + self.de, other + self.en)

    @classmethod
    def data(cls, value: str) -> Message:
        """Text that is the same in every language because it is data (a tool's own error line)."""
        return cls(value, value)

    @classmethod
    def join(cls, sep: str, items: Any) -> Message:
        """``sep.join`` over messages and plain strings (plain strings are data and stay as they are)."""
        items = list(items)
        return cls(sep.join(localize(i, "de") for i in items), sep.join(localize(i, "en") for i in items))


def msg(de: str, en: str, /, **fmt: object) -> Message:
    """A :class:`Message` formatted with ``fmt`` in both languages (a ``Message`` parameter is put in each in its
    own language)."""
    if not fmt:
        return Message(de, en)
    return Message(de.format(**{k: localize(v, "de") if isinstance(v, Message) else v for k, v in fmt.items()}),
                   en.format(**{k: localize(v, "en") if isinstance(v, Message) else v for k, v in fmt.items()}))


def localize(value: Any, lang: str | None = None) -> str:
    """A :class:`Message` in ``lang`` (default: the active language); anything else as ``str()`` (data)."""
    if isinstance(value, Message):
        return value.text(lang)
    return "" if value is None else str(value)
