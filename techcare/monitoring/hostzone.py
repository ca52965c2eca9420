"""The IANA time zone of the host a runner talks to (``Europe/Berlin``): what the sensor reports as ``timezone`` and
what maintenance schedules are evaluated in (``docs/remote-jobs.md`` §5).

Asked through the runner, the one door to the OS, so a replayed snapshot answers for its recorded PC:

1. a recorded fact: ``timezone`` or ``host["timezone"]`` (a snapshot that recorded its zone);
2. Linux and macOS: the ``/etc/localtime`` link (``.../zoneinfo/Europe/Berlin``; macOS links into
   ``/var/db/timezone/zoneinfo/``), then ``/etc/timezone`` (Debian) and ``ZONE=`` in ``/etc/sysconfig/clock``;
3. Windows: ``tzutil /g`` (``W. Europe Standard Time``) mapped to IANA by the CLDR table below;
4. on the local machine only, the ``TZ`` environment variable first (as tzlocal does), when it names a zone.

Nothing found (a snapshot without a recorded zone, a container without ``/etc/localtime``): ``UTC``, and
:func:`host_zone` says it was not known. Without a new dependency; nothing is imported that the sensor's steady
sampling does not need already.
"""

from __future__ import annotations

import os
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["WINDOWS_ZONES", "host_zone", "valid_zone"]

#: Windows zone ids (``tzutil /g``) -> IANA, the CLDR windowsZones "001" (primary) mapping of the zones in use
WINDOWS_ZONES = {
    "Dateline Standard Time": "Etc/GMT+12", "UTC-11": "Etc/GMT+11", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage", "Pacific Standard Time (Mexico)": "America/Tijuana",
    "Pacific Standard Time": "America/Los_Angeles", "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time (Mexico)": "America/Mazatlan", "Mountain Standard Time": "America/Denver",
    "Central America Standard Time": "America/Guatemala", "Central Standard Time": "America/Chicago",
    "Central Standard Time (Mexico)": "America/Mexico_City", "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota", "Eastern Standard Time": "America/New_York",
    "Eastern Standard Time (Mexico)": "America/Cancun", "US Eastern Standard Time": "America/Indianapolis",
    "Venezuela Standard Time": "America/Caracas", "Atlantic Standard Time": "America/Halifax",
    "SA Western Standard Time": "America/La_Paz", "Central Brazilian Standard Time": "America/Cuiaba",
    "Pacific SA Standard Time": "America/Santiago", "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo", "Argentina Standard Time": "America/Buenos_Aires",
    "SA Eastern Standard Time": "America/Cayenne", "Greenland Standard Time": "America/Godthab",
    "Montevideo Standard Time": "America/Montevideo", "UTC-02": "Etc/GMT+2", "Azores Standard Time":
    "Atlantic/Azores", "Cape Verde Standard Time": "Atlantic/Cape_Verde", "UTC": "Etc/UTC",
    "Coordinated Universal Time": "Etc/UTC", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest", "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw", "W. Central Africa Standard Time": "Africa/Lagos",
    "Morocco Standard Time": "Africa/Casablanca", "GTB Standard Time": "Europe/Bucharest",
    "Middle East Standard Time": "Asia/Beirut", "Egypt Standard Time": "Africa/Cairo",
    "E. Europe Standard Time": "Europe/Chisinau", "South Africa Standard Time": "Africa/Johannesburg",
    "FLE Standard Time": "Europe/Kiev", "Israel Standard Time": "Asia/Jerusalem",
    "Kaliningrad Standard Time": "Europe/Kaliningrad", "Turkey Standard Time": "Europe/Istanbul",
    "Arabic Standard Time": "Asia/Baghdad", "Arab Standard Time": "Asia/Riyadh",
    "Belarus Standard Time": "Europe/Minsk", "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi", "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai", "Azerbaijan Standard Time": "Asia/Baku",
    "Georgian Standard Time": "Asia/Tbilisi", "Afghanistan Standard Time": "Asia/Kabul",
    "West Asia Standard Time": "Asia/Tashkent", "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Calcutta", "Sri Lanka Standard Time": "Asia/Colombo",
    "Nepal Standard Time": "Asia/Katmandu", "Central Asia Standard Time": "Asia/Almaty",
    "Bangladesh Standard Time": "Asia/Dhaka", "Myanmar Standard Time": "Asia/Rangoon",
    "SE Asia Standard Time": "Asia/Bangkok", "N. Central Asia Standard Time": "Asia/Novosibirsk",
    "China Standard Time": "Asia/Shanghai", "North Asia Standard Time": "Asia/Krasnoyarsk",
    "Singapore Standard Time": "Asia/Singapore", "W. Australia Standard Time": "Australia/Perth",
    "Taipei Standard Time": "Asia/Taipei", "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul", "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin", "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney", "West Pacific Standard Time": "Pacific/Port_Moresby",
    "Tasmania Standard Time": "Australia/Hobart", "Lord Howe Standard Time": "Australia/Lord_Howe",
    "Vladivostok Standard Time": "Asia/Vladivostok", "Central Pacific Standard Time": "Pacific/Guadalcanal",
    "New Zealand Standard Time": "Pacific/Auckland", "UTC+12": "Etc/GMT-12", "Fiji Standard Time": "Pacific/Fiji",
    "Tonga Standard Time": "Pacific/Tongatapu", "Samoa Standard Time": "Pacific/Apia",
    "Line Islands Standard Time": "Pacific/Kiritimati",
}

_ZONEINFO_MARKERS = ("/zoneinfo/", "/zoneinfo.default/")


def valid_zone(name: object) -> str | None:
    """``name`` if it is an IANA zone this machine knows (``Europe/Berlin``), else ``None``. ``Etc/UTC``,
    ``UCT``, ``Zulu`` and friends are reported as ``UTC``."""
    if not isinstance(name, str):
        return None
    name = name.strip()
    if not 1 <= len(name) <= 64 or name.startswith(("/", ".")) or ".." in name or "\x00" in name:
        return None
    if name in ("Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu", "Etc/GMT",
                "GMT", "Etc/Greenwich"):
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return name


def _from_path(path: str | None) -> str | None:
    """``Europe/Berlin`` from ``/usr/share/zoneinfo/Europe/Berlin`` (or a relative ``../usr/share/zoneinfo/...``)."""
    if not path:
        return None
    for marker in _ZONEINFO_MARKERS:
        if marker in path:
            return valid_zone(path.rsplit(marker, 1)[1])
    return None


def _fact(runner: Any, name: str) -> Any:
    try:
        return runner.fact(name)
    except (LookupError, NotImplementedError, OSError, ValueError):  # unknown or not recorded
        return None


def _is_local(runner: Any) -> bool:
    from ..system.runner import LocalRunner

    inner = runner
    for _ in range(3):  # Recording/DryRun runners wrap the local one
        if isinstance(inner, LocalRunner):
            return True
        inner = getattr(inner, "inner", None)
        if inner is None:
            return False
    return False


def _windows(runner: Any) -> str | None:
    result = runner.run(["tzutil", "/g"], timeout=10)
    if not result.ok or not result.stdout:
        return None
    name = result.stdout.strip().removesuffix("_dstoff").strip()  # "..._dstoff": daylight saving switched off
    return valid_zone(WINDOWS_ZONES.get(name, ""))


def _unix(runner: Any) -> str | None:
    found = _from_path(runner.read_link("/etc/localtime"))
    if found:
        return found
    text = runner.read_file("/etc/timezone")
    if text.ok and text.content:
        found = valid_zone(text.content.strip().splitlines()[0] if text.content.strip() else "")
        if found:
            return found
    clock = runner.read_file("/etc/sysconfig/clock")
    if clock.ok and clock.content:
        for line in clock.content.splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("ZONE", "TIMEZONE"):
                found = valid_zone(value.strip().strip('"\''))
                if found:
                    return found
    return None


def host_zone(runner: Any) -> tuple[str, bool]:
    """``(zone, known)``: the IANA zone of the runner's host, and False when it was not found (``UTC`` then)."""
    host = _fact(runner, "host")
    for value in (_fact(runner, "timezone"), host.get("timezone") if isinstance(host, dict) else None):
        found = valid_zone(value)
        if found:
            return found, True
    if _is_local(runner):
        tz = os.environ.get("TZ", "").strip()
        found = valid_zone(tz.lstrip(":")) or _from_path(tz)
        if found:
            return found, True
    try:
        found = _windows(runner) if runner.platform == "windows" else _unix(runner)
    except (OSError, ValueError, NotImplementedError):
        found = None
    return (found, True) if found else ("UTC", False)
