"""When a maintenance schedule's occurrences start, per host time zone (``docs/remote-jobs.md`` §5).

A schedule's ``rrule`` (RFC 5545, evaluated by ``dateutil.rrule``) and naive ``dtstart`` give *local* start times;
each is placed in the host's IANA zone with ``fold=0``, which is what RFC 5545 asks for on daylight-saving days: a
start inside a spring-forward gap runs at the wall-clock offset before the gap (02:30 -> 03:30 CEST), a start in a
repeated hour is its first occurrence (CEST, not CET). An occurrence is named by its local start,
``YYYY-MM-DDTHH:MM``, so the same schedule has the same names on every host while their UTC times differ.

Pure functions (no database); :class:`Rule` is what the backend keeps per schedule. Parsing and placing come from
:mod:`techcare.schedule_time`, the module the sensor host decides with, so the backend and the hosts accept the
same rules and compute the same starts.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule

from techcare.schedule_time import ScheduleTimeError, place
from techcare.schedule_time import parse_dtstart as _parse_dtstart
from techcare.schedule_time import parse_rrule as _parse_rrule

__all__ = ["Occurrence", "Rule", "RuleInvalid", "check_rule", "occurrence_key", "parse_dtstart", "parse_rule",
           "zone_for"]

HORIZON = timedelta(days=8)  # occurrences computed ahead per (schedule, zone)


RuleInvalid = ScheduleTimeError  # ``de`` / ``en`` / ``fmt``: what is wrong and what is allowed


@lru_cache(maxsize=1024)
def zone_for(name: str | None) -> ZoneInfo:
    """The zone of ``name``; ``UTC`` for ``None`` or an unknown name (zones are checked when samples arrive: ``sensor_facts.valid_zone``)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def parse_dtstart(text: object) -> datetime:
    """``YYYY-MM-DDTHH:MM:00`` (naive local time, whole minutes) as a naive datetime, or :class:`RuleInvalid`."""
    return _parse_dtstart(text)


def occurrence_key(local_start: datetime) -> str:
    """The occurrence's name: its local start as ``YYYY-MM-DDTHH:MM``."""
    return local_start.strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True, order=True)
class Occurrence:
    start: datetime  # UTC
    key: str  # local start YYYY-MM-DDTHH:MM
    local: datetime = field(compare=False)  # aware, in the host's zone


@dataclass
class Rule:
    """A schedule's recurrence: ``rrule`` text + naive ``dtstart``, a window and the validity in UTC."""

    text: str
    dtstart: datetime
    window: timedelta
    valid_from: datetime
    valid_until: datetime
    _rule: rrule = field(init=False, repr=False)
    _near: dict[str, tuple[datetime, datetime, list[Occurrence], list[datetime]]] = field(
        init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._rule = parse_rule(self.text, self.dtstart)

    # ---- occurrences ---------------------------------------------------------------------------------------------
    def _place(self, naive: datetime, zone: ZoneInfo) -> Occurrence:
        local = place(naive, zone)
        return Occurrence(start=local.astimezone(UTC), key=occurrence_key(naive), local=local)

    def between(self, zone_name: str | None, since: datetime, until: datetime) -> list[Occurrence]:
        """Occurrences starting in ``[since, until)`` (UTC) and inside the validity, in ``zone_name``."""
        zone = zone_for(zone_name)
        since, until = max(since, self.valid_from), min(until, self.valid_until + timedelta(seconds=1))
        if since >= until:
            return []
        lo = since.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        hi = until.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
        out = [self._place(n, zone) for n in self._rule.between(lo, hi, inc=True)]
        return sorted(o for o in out if since <= o.start < until)

    def latest_before(self, zone_name: str | None, moment: datetime) -> Occurrence | None:
        """The newest occurrence starting at or before ``moment`` (inside the validity), or ``None``."""
        zone = zone_for(zone_name)
        moment = min(moment, self.valid_until)
        naive = moment.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
        for _ in range(3):
            found = self._rule.before(naive, inc=True)
            if found is None:
                return None
            occ = self._place(found, zone)
            if occ.start <= moment:
                return occ if occ.start >= self.valid_from else None
            naive = found - timedelta(seconds=1)
        return None

    def near(self, zone_name: str | None, now: datetime) -> tuple[Occurrence | None, Occurrence | None]:
        """``(current, next)``: the newest occurrence started at or before ``now`` and the one after it. Cached
        per zone for :data:`HORIZON` (this is the check-in's hot path: a bisect in a short list)."""
        key = zone_name or "UTC"
        cached = self._near.get(key)
        if cached is None or not cached[0] <= now < cached[1]:
            first = self.latest_before(zone_name, now)
            upcoming = self.between(zone_name, now, now + HORIZON)
            occs = ([first] if first is not None else []) + [o for o in upcoming if first is None or o > first]
            # valid until the last computed start: later, the list may miss the next occurrence
            valid_to = occs[-1].start if len(occs) > 1 else now + HORIZON
            if first is None and not upcoming:
                valid_to = now + HORIZON
            cached = (now, valid_to, occs, [o.start for o in occs])
            if len(self._near) > 64:
                self._near.clear()
            self._near[key] = cached
        _, _, occs, starts = cached
        i = bisect_right(starts, now)
        return (occs[i - 1] if i > 0 else None), (occs[i] if i < len(occs) else None)

    def is_occurrence(self, zone_name: str | None, key: str) -> Occurrence | None:
        """The occurrence named ``key`` (``YYYY-MM-DDTHH:MM``) in ``zone_name``, or ``None`` if the rule does not
        produce it."""
        try:
            naive = datetime.strptime(key, "%Y-%m-%dT%H:%M")
        except (TypeError, ValueError):
            return None
        if self._rule.after(naive - timedelta(seconds=1), inc=False) != naive:
            return None
        occ = self._place(naive, zone_for(zone_name))
        return occ if self.valid_from <= occ.start <= self.valid_until else None


def parse_rule(text: object, dtstart: datetime) -> rrule:
    """The ``dateutil`` rule of ``text`` (RFC 5545 ``RRULE`` value, without ``RRULE:``), or :class:`RuleInvalid`
    naming the part that is not allowed (:func:`techcare.schedule_time.parse_rrule`)."""
    return _parse_rrule(text, dtstart)


def check_rule(rule: Rule, *, min_gap: timedelta) -> None:
    """:class:`RuleInvalid` unless the rule's occurrences are at least ``min_gap`` (the window) apart, so one
    window ends before the next occurrence starts."""
    naive = list(rule._rule.xafter(rule.dtstart, count=60, inc=True))
    for a, b in zip(naive, naive[1:]):
        if b - a < min_gap:
            raise RuleInvalid("payload.rrule: Termine {a} und {b} liegen näher beieinander als das Zeitfenster "
                              "({w} min); das Fenster muss vor dem nächsten Termin enden.",
                              "payload.rrule: occurrences {a} and {b} are closer than the window ({w} min); a window "
                              "must end before the next occurrence starts.", a=occurrence_key(a),
                              b=occurrence_key(b), w=int(min_gap.total_seconds() // 60))
