"""What a sensor reports about its host besides metrics: its IANA time zone and its tags (``SENSOR_TAGS``).

A leaf module (the sample schema and the tag and schedule code import it). Both are cleaned, never refused: an
unknown zone or an invalid tag is dropped and the sample is stored, so a sensor's spool is never blocked by them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
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


# A sensor sends the same zone and tags with every sample (a batch holds up to 1,000): the cleaned answer for a text
# seen before is looked up instead of checked again. Bounded; cleared when full (a dict read/write is atomic).
_SEEN_MAX = 4096
_zones: dict[str, str | None] = {}
_tags: dict[tuple[Any, ...] | str, tuple[str, ...]] = {}


def sample_zone(value: object) -> str | None:
    """A sample's ``timezone``: text (or null); kept if it is a known IANA zone, else ``None`` (the sample is stored
    anyway: an unknown zone must not block the sensor's spool)."""
    if value is None:
        return None
    if type(value) is str:
        try:
            return _zones[value]
        except KeyError:
            pass
    zone = valid_zone(_text(value, "timezone"))
    if len(_zones) >= _SEEN_MAX:
        _zones.clear()
    _zones[value] = zone  # type: ignore[index]  # (_text refused anything but a str)
    return zone


def sample_tags(value: object) -> list[str] | None:
    """A sample's ``tags``: a list of texts or one comma-separated text (or null). ``None`` when not sent (an older
    sensor: its tags stay as they are), else the valid ones (invalid tags are dropped, the sample is stored; an
    empty list removes the sensor's tags)."""
    if value is None:
        return None
    key: tuple[Any, ...] | str | None = value if type(value) is str else None
    if type(value) is list:
        try:
            key = tuple(value)  # only texts are ever stored (anything else raised below before)
            seen = _tags.get(key)
        except TypeError:  # an unhashable element: checked below
            key = seen = None
    else:
        seen = _tags.get(key) if key is not None else None
    if seen is not None:
        return list(seen)
    if isinstance(value, str):
        value = _text(value, "tags").split(",")
    if not isinstance(value, list):
        raise ValueError("tags must be a list of texts or one comma-separated text")
    cleaned = clean_tags(_text(v, "tags[]") for v in value)
    if key is not None:
        if len(_tags) >= _SEEN_MAX:
            _tags.clear()
        _tags[key] = tuple(cleaned)
    return cleaned
