"""Driver version comparison that refuses to guess.

:func:`compare_versions` returns ``-1``/``0``/``1`` or ``None`` when the two strings cannot honestly be
compared. Rules:

- The numeric core is the first run of dot/underscore separated numbers (``512.95``, ``31.0.15.2849``,
  ``2.0.6``, ``5.10.0`` of ``5.10.0-21-amd64``); cores compare number by number, missing parts count as 0.
- Hex versions (``0x000000de``, fwupd ``VersionFormat: hex``) compare as integers when both are hex.
- NVIDIA's Windows form ``31.0.15.2849`` is the display version ``528.49`` (last five digits of the last two
  groups); :func:`compare_versions` converts when one side has four parts and the other two and the vendor is
  NVIDIA (``vendor="nvidia"`` or a ``VEN_10DE`` hardware id).
- Two cores of different schemes (part counts differing by two or more, e.g. ``512.95`` against
  ``31.0.15.2849`` without a vendor mapping) are *not comparable* -> ``None``.
- Equal cores: a suffix that marks a pre-release (``alpha``, ``beta``, ``rc``, ``pre``, ``dev``) is older than
  no suffix; other suffixes compare by their own numbers when they share a prefix (``-k1`` < ``-k2``),
  vendor suffixes that differ in kind (``-amd64`` against ``-generic``) are equal in version; anything
  else is ``None``.

Dates are the fallback (:func:`compare_dates`), done by the caller only when versions say ``None``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

__all__ = ["compare_dates", "compare_versions", "nvidia_display_version", "parse_date", "version_key"]

_CORE = re.compile(r"(\d+(?:[._]\d+)*)")
_HEX = re.compile(r"^0x([0-9a-fA-F]+)$")
_PRE = ("alpha", "beta", "pre", "rc", "dev", "preview", "b", "a")
_ARCH_SUFFIX = re.compile(r"^[-+~.]?(amd64|x86_64|arm64|aarch64|generic|whql|lts|k|default)\b", re.I)


def version_key(version: str | None) -> tuple[tuple[int, ...], str] | None:
    """``(numbers, suffix)`` of a version string, or ``None`` if it has no number."""
    if version is None:
        return None
    text = str(version).strip()
    if not text:
        return None
    hexmatch = _HEX.match(text)
    if hexmatch:
        return (int(hexmatch.group(1), 16),), "hex"
    match = _CORE.search(text)
    if not match:
        return None
    numbers = tuple(int(p) for p in re.split(r"[._]", match.group(1)))
    return numbers, text[match.end() :].strip().lower()


def nvidia_display_version(version: str | None) -> str | None:
    """``31.0.15.2849`` (Windows driver version of an NVIDIA driver) -> ``528.49``; else ``None``."""
    key = version_key(version)
    if not key or key[1] == "hex" or len(key[0]) != 4:
        return None
    digits = f"{key[0][2]}{key[0][3]:04d}"
    if len(digits) < 5:
        return None
    tail = digits[-5:]
    return f"{int(tail[:3])}.{tail[3:]}"


def _cmp_tuples(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    pa, pb = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (pa > pb) - (pa < pb)


def _suffix_rank(suffix: str) -> tuple[str, tuple[int, ...]] | None:
    text = suffix.lstrip("-+~._ ")
    match = re.match(r"([a-z]*)[-._]?(\d+(?:[._]\d+)*)?", text)
    if not match:
        return None
    word = match.group(1)
    nums = tuple(int(n) for n in re.split(r"[._]", match.group(2))) if match.group(2) else ()
    return word, nums


def _compare_suffix(sa: str, sb: str) -> int | None:
    if sa == sb:
        return 0
    ra, rb = _suffix_rank(sa), _suffix_rank(sb)
    a_pre = bool(ra and ra[0] in _PRE and sa.lstrip("-+~._ ")[:1].isalpha())
    b_pre = bool(rb and rb[0] in _PRE and sb.lstrip("-+~._ ")[:1].isalpha())
    if not sa:
        return 1 if b_pre else (0 if _ARCH_SUFFIX.match(sb) else None)
    if not sb:
        return -1 if a_pre else (0 if _ARCH_SUFFIX.match(sa) else None)
    if a_pre and not b_pre:
        return -1
    if b_pre and not a_pre:
        return 1
    if ra and rb and ra[0] == rb[0] and (ra[1] or rb[1]):
        return _cmp_tuples(ra[1], rb[1])
    if a_pre and b_pre and ra and rb:
        order = {w: i for i, w in enumerate(("dev", "a", "alpha", "b", "beta", "pre", "preview", "rc"))}
        return (order[ra[0]] > order[rb[0]]) - (order[ra[0]] < order[rb[0]])
    if _ARCH_SUFFIX.match(sa) and _ARCH_SUFFIX.match(sb):
        return 0
    return None


def _is_nvidia(vendor: str | None, hardware_id: str | None) -> bool:
    return bool((vendor and "nvidia" in vendor.lower()) or (hardware_id and "VEN_10DE" in hardware_id.upper()))


def compare_versions(
    installed: str | None, available: str | None, *, vendor: str | None = None, hardware_id: str | None = None
) -> int | None:
    """``-1`` if ``installed`` is older than ``available``, ``0`` equal, ``1`` newer, ``None`` not comparable."""
    ka, kb = version_key(installed), version_key(available)
    if ka is None or kb is None:
        return None
    (na, sa), (nb, sb) = ka, kb
    if (sa == "hex") != (sb == "hex"):
        return None
    if sa == "hex":
        return (na > nb) - (na < nb)
    if len(na) != len(nb) and _is_nvidia(vendor, hardware_id) and {len(na), len(nb)} == {2, 4}:
        a = nvidia_display_version(installed) if len(na) == 4 else installed
        b = nvidia_display_version(available) if len(nb) == 4 else available
        return compare_versions(a, b)
    if abs(len(na) - len(nb)) >= 2:
        return None
    core = _cmp_tuples(na, nb)
    if core:
        return core
    return _compare_suffix(sa, sb)


_DOTNET_DATE = re.compile(r"\\?/Date\((-?\d+)(?:[+-]\d{4})?\)\\?/")
_WMI_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?\.[\d*]{6}[+-][\d*]{3}$")
_DOTTED_DMY = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")
_SLASH_MDY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_date(value: object) -> date | None:
    """A date from every shape drivers report: PowerShell 5.1 ``\\/Date(ms)\\/``, ISO 8601 (PowerShell 7,
    fwupd, JSON files), WMI ``20230815000000.000000-000``, German ``21.06.2006``, US ``06/21/2006``,
    unix seconds (int). ``None`` when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=timezone.utc).date()
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, dict):  # PowerShell 5.1 DateTime with -Depth: {"value": "\/Date(..)\/", "DateTime": ".."}
        return parse_date(value.get("value") or value.get("DateTime"))
    text = str(value).strip()
    match = _DOTNET_DATE.search(text)
    if match:
        try:
            return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc).date()
        except (OverflowError, OSError, ValueError):
            return None
    match = _WMI_DATE.match(text)
    if match:
        return _safe_date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    match = _DOTTED_DMY.match(text)
    if match:
        return _safe_date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
    match = _SLASH_MDY.match(text)
    if match:
        return _safe_date(int(match.group(3)), int(match.group(1)), int(match.group(2)))
    iso = text.replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(iso).date()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def compare_dates(installed: date | None, available: date | None) -> int | None:
    if installed is None or available is None:
        return None
    return (installed > available) - (installed < available)
