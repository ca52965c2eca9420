"""When a maintenance schedule's occurrences start and whether one may run now (``docs/remote-jobs.md`` §5).

Pure functions and values (no I/O, no settings): the sensor host decides with them whether a signed schedule's
occurrence is really due, the technician's side checks a rule before signing it, and the backend may import them
as well (a leaf module: it needs only the standard library, ``dateutil`` and :mod:`techcare.i18n`).

The rules, as RFC 5545 has them:

- A schedule is an ``RRULE`` (``FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0``) and a *naive* ``dtstart``
  (``2026-12-06T02:00:00``): both are read in the **host's own** IANA time zone, so "Sunday 02:00" is 02:00 on
  every host, whatever its zone.
- An occurrence is named by its local start, ``YYYY-MM-DDTHH:MM`` (:func:`occurrence_key`); on every host the
  same schedule has the same names, while their UTC instants differ.
- A local start inside a spring-forward gap runs at the wall-clock offset before the gap (02:30 on 28 March 2027
  in Berlin → 03:30 CEST); a start in a repeated hour (autumn) is its first occurrence (02:30 CEST, not CET).
  That is Python's ``zoneinfo`` with ``fold=0`` (:func:`place`).
- The window is elapsed time: an occurrence may run from its start for ``window`` (a 120-minute window that
  starts at 02:00 on the autumn change day ends at 03:00 CET, two real hours later).
- With ``catch_up`` an occurrence whose window a host missed (it was off) may still run once, at the next
  check-in, until the next occurrence starts; without it, it is missed.

Allowed RRULE parts (the same list as the backend's check): FREQ=DAILY|WEEKLY|MONTHLY, INTERVAL, BYDAY, BYMONTHDAY,
BYHOUR, BYMINUTE, BYSETPOS, BYMONTH, COUNT, UNTIL (local time, without ``Z``), WKST; each at most once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

from .i18n import tr

__all__ = ["ALLOWED_PARTS", "FREQUENCIES", "MAX_WINDOW_MINUTES", "MIN_WINDOW_MINUTES", "Occurrence", "Recurrence",
           "ScheduleTimeError", "occurrence_key", "parse_dtstart", "parse_occurrence_key", "parse_rrule", "place",
           "zone"]

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY")
ALLOWED_PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYHOUR", "BYMINUTE", "BYSETPOS", "BYMONTH", "COUNT",
                 "UNTIL", "WKST")
MAX_RULE_LENGTH = 500
MIN_WINDOW_MINUTES = 5
MAX_WINDOW_MINUTES = 1440
_DTSTART = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:00")
_KEY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")


class ScheduleTimeError(ValueError):
    """A rule, start, zone or window that is not allowed. ``str()`` / :attr:`message` in the session language;
    :attr:`de`, :attr:`en` and :attr:`fmt` let a server answer in the request's language
    (``tr(exc.de, exc.en, lang, **exc.fmt)``)."""

    def __init__(self, de: str, en: str, **fmt: Any) -> None:
        self.de, self.en, self.fmt = de, en, fmt
        self.message = tr(de, en, **fmt)
        super().__init__(self.message)


# ---- parsing -------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (``Europe/Berlin``), or :class:`ScheduleTimeError`."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or name.startswith(("/", ".")) or ".." in name:
        raise ScheduleTimeError("Zeitzone {z!r} ist kein IANA-Name wie Europe/Berlin.",
                                "Time zone {z!r} is not an IANA name such as Europe/Berlin.", z=name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleTimeError("Zeitzone {z!r} ist unbekannt (erwartet ein IANA-Name wie Europe/Berlin).",
                                "Time zone {z!r} is unknown (expected an IANA name such as Europe/Berlin).",
                                z=name) from None


def parse_dtstart(text: object) -> datetime:
    """``YYYY-MM-DDTHH:MM:00`` (local time without zone, whole minutes) as a naive datetime."""
    if not isinstance(text, str) or not _DTSTART.fullmatch(text):
        raise ScheduleTimeError(
            "dtstart={v!r}: erwartet eine Ortszeit ohne Zone in ganzen Minuten, z.B. 2026-12-06T02:00:00.",
            "dtstart={v!r}: expected a local time without zone in whole minutes, e.g. 2026-12-06T02:00:00.",
            v=text if isinstance(text, str) else type(text).__name__)
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise ScheduleTimeError("dtstart={v!r} ist kein gültiges Datum.", "dtstart={v!r} is not a valid date.",
                                v=text) from None


def occurrence_key(local_start: datetime) -> str:
    """An occurrence's name: its local (wall-clock) start as ``YYYY-MM-DDTHH:MM``. For an aware datetime the
    wall clock of its own zone is used; pass the *rule's* naive start to name a start inside a gap."""
    return local_start.strftime("%Y-%m-%dT%H:%M")


def parse_occurrence_key(text: object) -> datetime:
    """The naive local start named by ``YYYY-MM-DDTHH:MM``."""
    if isinstance(text, str) and _KEY.fullmatch(text):
        try:
            return datetime.strptime(text, "%Y-%m-%dT%H:%M")
        except ValueError:
            pass
    raise ScheduleTimeError("Termin {v!r}: erwartet eine Ortszeit wie 2026-12-06T02:00.",
                            "Occurrence {v!r}: expected a local time such as 2026-12-06T02:00.",
                            v=text if isinstance(text, str) else type(text).__name__)


def parse_rrule(text: object, dtstart: datetime) -> rrule:
    """The ``dateutil`` rule of ``text`` (an RFC 5545 ``RRULE`` value without ``RRULE:``) from the naive
    ``dtstart``, or :class:`ScheduleTimeError` naming the part that is not allowed and what is."""
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_RULE_LENGTH:
        raise ScheduleTimeError(
            "rrule: erwartet eine RRULE als Text (bis {m} Zeichen), z.B. FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0.",
            "rrule: expected an RRULE as text (up to {m} characters), e.g. FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0.",
            m=MAX_RULE_LENGTH)
    if dtstart.tzinfo is not None:
        raise ScheduleTimeError("dtstart muss eine Ortszeit ohne Zone sein.", "dtstart must be a local time without "
                                "zone.")
    parts: dict[str, str] = {}
    for part in text.upper().split(";"):
        name, sep, value = part.partition("=")
        if not sep or not value or name not in ALLOWED_PARTS or name in parts:
            raise ScheduleTimeError("rrule: {p!r} ist nicht erlaubt (erlaubt: {a}; jeweils einmal).",
                                    "rrule: {p!r} is not allowed (allowed: {a}; each once).", p=part,
                                    a=", ".join(ALLOWED_PARTS))
        parts[name] = value
    if parts.get("FREQ") not in FREQUENCIES:
        raise ScheduleTimeError("rrule: FREQ={v} ist nicht erlaubt (erlaubt: {a}).",
                                "rrule: FREQ={v} is not allowed (allowed: {a}).", v=parts.get("FREQ"),
                                a=", ".join(FREQUENCIES))
    if parts.get("UNTIL", "").endswith("Z"):
        raise ScheduleTimeError("rrule: UNTIL in Ortszeit ohne „Z“ angeben (dtstart ist Ortszeit).",
                                "rrule: give UNTIL in local time without 'Z' (dtstart is local time).")
    try:
        rule = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ScheduleTimeError("rrule ist keine gültige RRULE: {e}.", "rrule is not a valid RRULE: {e}.",
                                e=exc) from None
    if not isinstance(rule, rrule):
        raise ScheduleTimeError("rrule: genau eine RRULE erwartet.", "rrule: expected exactly one RRULE.")
    return rule


def place(naive: datetime, where: tzinfo) -> datetime:
    """The aware local start of the naive wall-clock time ``naive`` in zone ``where`` (RFC 5545): in a gap the
    offset before it applies (02:30 → 03:30 summer time), in a repeated hour the first one (``fold=0``)."""
    return naive.replace(tzinfo=where, fold=0).astimezone(UTC).astimezone(where)


# ---- occurrences ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Occurrence:
    """One occurrence on one host: ``start``/``end`` in UTC (the window), ``key`` its name, ``local`` its aware
    local start (03:30 for a rule start of 02:30 inside a gap; the key still says 02:30)."""

    start: datetime
    key: str = field(compare=False)
    local: datetime = field(compare=False)
    end: datetime = field(compare=False)

    def is_open(self, now: datetime) -> bool:
        """True when ``now`` is inside ``[start, end]``."""
        return self.start <= now <= self.end


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ScheduleTimeError("{n} braucht eine Zeitzone (aware datetime).", "{n} needs a time zone (aware "
                                "datetime).", n=name)
    return moment.astimezone(UTC)


class Recurrence:
    """A schedule's recurrence on one host: ``rrule`` + naive ``dtstart`` read in the zone ``tz`` (IANA name or
    ``tzinfo``; default UTC), each occurrence open for ``window_minutes`` (5..1440), counted only inside
    ``[valid_from, valid_until]`` (aware, optional). ``catch_up``: a missed window may run late, until the next
    occurrence starts.

    >>> r = Recurrence("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "2027-03-27T02:30:00", tz="Europe/Berlin")
    >>> days = r.between(datetime(2027, 3, 27, tzinfo=UTC), datetime(2027, 3, 29, tzinfo=UTC))
    >>> [o.local.isoformat() for o in days]
    ['2027-03-27T02:30:00+01:00', '2027-03-28T03:30:00+02:00']
    """

    def __init__(self, rrule_text: str, dtstart: str | datetime, *, tz: str | tzinfo | None = None,
                 window_minutes: int = 60, catch_up: bool = False, valid_from: datetime | None = None,
                 valid_until: datetime | None = None) -> None:
        self.dtstart = dtstart if isinstance(dtstart, datetime) else parse_dtstart(dtstart)
        self.rule = parse_rrule(rrule_text, self.dtstart)
        self.text = rrule_text
        self.tz: tzinfo = UTC if tz is None else zone(tz) if isinstance(tz, str) else tz
        if isinstance(window_minutes, bool) or not isinstance(window_minutes, int) \
                or not MIN_WINDOW_MINUTES <= window_minutes <= MAX_WINDOW_MINUTES:
            raise ScheduleTimeError("window_minutes={v!r}: erlaubt sind {lo} bis {hi} Minuten.",
                                    "window_minutes={v!r}: allowed are {lo} to {hi} minutes.", v=window_minutes,
                                    lo=MIN_WINDOW_MINUTES, hi=MAX_WINDOW_MINUTES)
        self.window = timedelta(minutes=window_minutes)
        self.catch_up = bool(catch_up)
        self.valid_from = _utc(valid_from, "valid_from") if valid_from is not None else None
        self.valid_until = _utc(valid_until, "valid_until") if valid_until is not None else None

    def _occurrence(self, naive: datetime) -> Occurrence:
        local = place(naive, self.tz)
        start = local.astimezone(UTC)
        return Occurrence(start=start, key=occurrence_key(naive), local=local, end=start + self.window)

    def _valid(self, occ: Occurrence) -> bool:
        return (self.valid_from is None or occ.start >= self.valid_from) \
            and (self.valid_until is None or occ.start <= self.valid_until)

    def _naive(self, moment: datetime) -> datetime:
        return moment.astimezone(self.tz).replace(tzinfo=None)

    # ---- listing -------------------------------------------------------------------------------------------
    def between(self, since: datetime, until: datetime) -> list[Occurrence]:
        """The occurrences starting in ``[since, until)`` (aware), inside the validity, in start order."""
        since, until = _utc(since, "since"), _utc(until, "until")
        if since >= until:
            return []
        # a day of margin each side: UTC offsets are below 24 h, the exact test is on the UTC start
        found = self.rule.between(self._naive(since) - timedelta(days=1), self._naive(until) + timedelta(days=1),
                                  inc=True)
        occs = (self._occurrence(n) for n in found)
        return sorted(o for o in occs if since <= o.start < until and self._valid(o))

    def latest(self, now: datetime) -> Occurrence | None:
        """The newest occurrence that started at or before ``now`` (inside the validity), or ``None``."""
        now = _utc(now, "now")
        if self.valid_until is not None:
            now = min(now, self.valid_until)
        probe = self._naive(now) + timedelta(days=1)
        while True:
            naive = self.rule.before(probe, inc=True)
            if naive is None:
                return None
            occ = self._occurrence(naive)
            if occ.start <= now:
                return occ if self._valid(occ) else None
            probe = naive - timedelta(seconds=1)

    def next_after(self, moment: datetime) -> Occurrence | None:
        """The first occurrence starting strictly after ``moment`` (inside the validity), or ``None``."""
        moment = _utc(moment, "moment")
        probe = self._naive(moment) - timedelta(days=1)
        while True:
            naive = self.rule.after(probe, inc=False)
            if naive is None:
                return None
            occ = self._occurrence(naive)
            if occ.start > moment:
                return occ if self.valid_until is None or occ.start <= self.valid_until else None
            probe = naive

    # ---- one occurrence ----------------------------------------------------------------------------------
    def is_occurrence(self, local_start: str | datetime) -> Occurrence | None:
        """The occurrence named ``local_start`` (``YYYY-MM-DDTHH:MM`` or a naive datetime) if the rule produces it
        and it lies inside the validity, else ``None``."""
        naive = parse_occurrence_key(local_start) if isinstance(local_start, str) else local_start
        if naive.tzinfo is not None:
            raise ScheduleTimeError("is_occurrence erwartet eine Ortszeit ohne Zone.", "is_occurrence expects a "
                                    "local time without zone.")
        if self.rule.after(naive - timedelta(seconds=1), inc=False) != naive:
            return None
        occ = self._occurrence(naive)
        return occ if self._valid(occ) else None

    def window_state(self, occ: Occurrence, now: datetime) -> str:
        """Where ``now`` stands for ``occ``: ``"early"`` (before its start), ``"open"`` (inside its window),
        ``"catch_up"`` (window over, ``catch_up`` set and the next occurrence has not started) or ``"closed"``."""
        now = _utc(now, "now")
        if now < occ.start:
            return "early"
        if now <= occ.end:
            return "open"
        if self.catch_up:
            following = self.next_after(occ.start)
            if following is None or following.start > now:
                return "catch_up"
        return "closed"

    def current_window(self, now: datetime) -> Occurrence | None:
        """The occurrence that may run at ``now``: the newest started one while its window is open, or — with
        ``catch_up`` — after its window too, until the next occurrence starts. ``None`` when nothing is due."""
        occ = self.latest(now)
        if occ is None:
            return None
        return occ if self.window_state(occ, now) in ("open", "catch_up") else None

    def min_gap(self, count: int = 60) -> timedelta | None:
        """The shortest distance between the first ``count`` rule starts (wall clock), ``None`` for fewer than
        two; a schedule's window must not be longer (one window ends before the next occurrence starts)."""
        starts = list(self.rule.xafter(self.dtstart, count=count, inc=True))
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        return min(gaps) if gaps else None
