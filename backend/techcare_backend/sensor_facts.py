"""What a sensor reports about its host besides metrics: its IANA time zone and its tags (``SENSOR_TAGS``).

A leaf module (the sample schema and the tag and schedule code import it). Both are cleaned, never refused: an
unknown zone or an invalid tag is dropped and the sample is stored, so a sensor's spool is never blocked by them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MAX_TAGS_PER_HOST", "TAG_PATTERN", "clean_tags", "sample_tags", "sample_zone", "valid_tag", "valid_zone"]

TAG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}(:[a-z0-9][a-z0-9_.-]{0,62})?$"
TAG = re.compile(TAG_PATTERN)
MAX_TAGS_PER_HOST = 32


def valid_zone(name: object) -> str | None:
    """``name`` if it is an IANA zone this machine knows (``Europe/Berlin``), else ``None``."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or name.startswith(("/", ".")) or ".." in name \
            or "\x00" in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return name


def valid_tag(tag: object) -> bool:
    return isinstance(tag, str) and TAG.fullmatch(tag) is not None


def clean_tags(tags: Iterable[object]) -> list[str]:
    """The valid tags of ``tags`` (trimmed, lowercased, each once, at most :data:`MAX_TAGS_PER_HOST`)."""
    out: list[str] = []
    for tag in tags:
        if isinstance(tag, str):
            tag = tag.strip().lower()
            if valid_tag(tag) and tag not in out:
                out.append(tag)
    return out[:MAX_TAGS_PER_HOST]


def _text(value: object, field: str) -> str:
    """``value`` as text without NUL or lone surrogates (like every other text of a sample), else ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be text")
    if "\x00" in value:
        raise ValueError(f"{field} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{field} must not contain lone surrogates") from None
    return value


def sample_zone(value: object) -> str | None:
    """A sample's ``timezone``: text (or null); kept if it is a known IANA zone, else ``None`` (the sample is stored
    anyway: an unknown zone must not block the sensor's spool)."""
    if value is None:
        return None
    return valid_zone(_text(value, "timezone"))


def sample_tags(value: object) -> list[str] | None:
    """A sample's ``tags``: a list of texts or one comma-separated text (or null). ``None`` when not sent (an older
    sensor: its tags stay as they are), else the valid ones (invalid tags are dropped, the sample is stored; an
    empty list removes the sensor's tags)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _text(value, "tags").split(",")
    if not isinstance(value, list):
        raise ValueError("tags must be a list of texts or one comma-separated text")
    return clean_tags(_text(v, "tags[]") for v in value)
