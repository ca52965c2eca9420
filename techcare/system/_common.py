"""Helpers shared by the per-OS probe modules (no OS access of its own)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from typing import Any

from ..i18n import msg
from .records import NOT_IN_SNAPSHOT, PARSE_ERROR, DiskUsage, Metrics, ProbeResult, unknown
from .runner import CommandRunner


class ParseError(ValueError):
    """A tool's output that does not have the documented shape (a probe turns it into an explained unknown)."""


def to_int(value: Any) -> int | None:
    """A whole number from a decoded value: ints, floats (truncated) and numeric text; ``None`` for anything
    else (missing, booleans, words). Booleans are not numbers here: ``True`` is never a count of 1."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None


def time_sort_key(iso: str | None) -> float:
    """An ISO 8601 time as epoch seconds for sorting (newest first = ``reverse=True``); missing or unreadable
    times sort oldest. A time without an offset is taken as UTC."""
    if not iso:
        return float("-inf")
    try:
        stamp = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return float("-inf")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


_VERSION_PART = re.compile(r"\d+|[^\W\d_]+")


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A version string as a sortable key: runs of digits compare as numbers, runs of letters as lower-case
    text (a number sorts before a word at the same place), separators are ignored. ``"6.1.0-13-amd64"`` <
    ``"6.1.0-9-amd64"`` is false; ``"14.10"`` > ``"14.9"``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower())
                 for part in _VERSION_PART.findall(version or ""))


def metrics_from_fact(runner: CommandRunner) -> ProbeResult:
    """The ``metrics`` probe is the same everywhere: psutil facts (or their snapshot record)."""
    try:
        raw = runner.fact("metrics")
    except LookupError:
        return unknown("metrics", NOT_IN_SNAPSHOT, msg("Messwerte sind nicht im Snapshot", "metrics are not in the snapshot"),
                       source="psutil")
    if not isinstance(raw, dict):
        return unknown("metrics", PARSE_ERROR, msg("Messwerte sind kein Objekt ({t})", "metrics are not an object ({t})",
                                                   t=type(raw).__name__), source="psutil")
    return ProbeResult("metrics", "ok", parse_metrics(raw), source="psutil")


def to_number(value: Any) -> float | None:
    """A finite measured number, or ``None`` when the value is missing, a boolean, text that is no number, NaN or
    infinite: a value that was not measured stays ``None`` (never 0)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def parse_metrics(raw: dict[str, Any]) -> Metrics:
    """The metrics fact as a record; every value missing, null or unreadable stays ``None``."""
    swap = raw.get("swap") if isinstance(raw.get("swap"), dict) else None
    disks = [DiskUsage(mount=str(d.get("mount") or ""), total=to_int(d.get("total")), used=to_int(d.get("used")),
                       free=to_int(d.get("free")), percent=to_number(d.get("percent")),
                       device=str(d.get("device") or ""), fstype=str(d.get("fstype") or ""))
             for d in (raw.get("disks") if isinstance(raw.get("disks"), list) else []) if isinstance(d, dict)]
    load = raw.get("load_avg")
    load_avg = [to_number(x) for x in load] if isinstance(load, list) else None
    return Metrics(cpu_percent=to_number(raw.get("cpu_percent")), ram_percent=to_number(raw.get("ram_percent")),
                   ram_total=to_int(raw.get("ram_total")) or 0, ram_available=to_int(raw.get("ram_available")) or 0,
                   swap_percent=to_number(swap.get("percent")) if swap else None,
                   disks=disks, uptime_seconds=to_number(raw.get("uptime_seconds")),
                   load_avg=load_avg if load_avg and None not in load_avg else None,
                   cpu_count=to_int(raw.get("cpu_count")) or 1)


def loads_json(text: str) -> Any:
    """json.loads that tolerates a UTF-8 BOM and surrounding whitespace; empty text is ``None``."""
    text = text.lstrip("\ufeff").strip()
    return json.loads(text) if text else None
