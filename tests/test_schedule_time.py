"""techcare.schedule_time: RFC 5545 occurrences in the host's zone, daylight-saving days, windows and catch-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from techcare import i18n
from techcare.schedule_time import (
    ALLOWED_PARTS,
    Recurrence,
    ScheduleTimeError,
    occurrence_key,
    parse_dtstart,
    parse_occurrence_key,
    parse_rrule,
    place,
    zone,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def listed(rec: Recurrence, since: datetime, until: datetime) -> list[tuple[str, str, str]]:
    return [(o.key, o.local.isoformat(), o.start.isoformat()) for o in rec.between(since, until)]


# ---- daylight-saving days ------------------------------------------------------------------------------------------

def test_berlin_spring_forward_a_start_in_the_gap_runs_at_the_offset_before_it():
    rec = Recurrence("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "2027-03-26T02:30:00", tz="Europe/Berlin")
    assert listed(rec, utc(2027, 3, 27), utc(2027, 3, 30)) == [
        ("2027-03-27T02:30", "2027-03-27T02:30:00+01:00", "2027-03-27T01:30:00+00:00"),
        # 02:30 does not exist on 28 March 2027: RFC 5545 takes the offset before the gap -> 03:30 CEST
        ("2027-03-28T02:30", "2027-03-28T03:30:00+02:00", "2027-03-28T01:30:00+00:00"),
        ("2027-03-29T02:30", "2027-03-29T02:30:00+02:00", "2027-03-29T00:30:00+00:00"),
    ]
    gap = rec.is_occurrence("2027-03-28T02:30")
    assert gap is not None and gap.local.hour == 3 and gap.key == "2027-03-28T02:30"


def test_berlin_fall_back_a_repeated_hour_runs_once_at_its_first_occurrence():
    rec = Recurrence("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "2026-10-24T02:30:00", tz="Europe/Berlin")
    got = listed(rec, utc(2026, 10, 24), utc(2026, 10, 27))
    assert got == [
        ("2026-10-24T02:30", "2026-10-24T02:30:00+02:00", "2026-10-24T00:30:00+00:00"),
        ("2026-10-25T02:30", "2026-10-25T02:30:00+02:00", "2026-10-25T00:30:00+00:00"),  # CEST, not CET
        ("2026-10-26T02:30", "2026-10-26T02:30:00+01:00", "2026-10-26T01:30:00+00:00"),
    ]
    # the second 02:30 (CET, 01:30 UTC) is no occurrence of its own: nothing is due then
    assert rec.current_window(utc(2026, 10, 25, 1, 30)).start == utc(2026, 10, 25, 0, 30)
    assert rec.current_window(utc(2026, 10, 25, 1, 31)) is None


def test_a_window_is_elapsed_time_across_the_fall_back():
    rec = Recurrence("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "2026-10-04T02:00:00", tz="Europe/Berlin",
                     window_minutes=120)
    occ = rec.is_occurrence("2026-10-25T02:00")
    assert occ is not None
    assert occ.local.isoformat() == "2026-10-25T02:00:00+02:00"
    # two real hours: ends at 03:00 CET (wall clock shows only one hour more)
    assert occ.end.astimezone(zone("Europe/Berlin")).isoformat() == "2026-10-25T03:00:00+01:00"
    assert rec.window_state(occ, utc(2026, 10, 25, 1, 59)) == "open"
    assert rec.window_state(occ, utc(2026, 10, 25, 2, 1)) == "closed"


def test_new_york_spring_and_fall():
    rec = Recurrence("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", "2027-03-07T02:30:00", tz="America/New_York")
    spring = rec.is_occurrence("2027-03-14T02:30")  # 02:00 EST -> 03:00 EDT
    assert spring is not None and spring.local.isoformat() == "2027-03-14T03:30:00-04:00"
    assert spring.start == utc(2027, 3, 14, 7, 30)
    fall = Recurrence("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", "2026-10-30T01:30:00", tz="America/New_York")
    first = fall.is_occurrence("2026-11-01T01:30")  # 01:00-02:00 happens twice: EDT first
    assert first is not None and first.start == utc(2026, 11, 1, 5, 30)
    assert [o.key for o in fall.between(utc(2026, 11, 1), utc(2026, 11, 2))] == ["2026-11-01T01:30"]


def test_lord_howe_half_hour_daylight_saving():
    rec = Recurrence("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=15", "2026-09-27T02:15:00", tz="Australia/Lord_Howe")
    assert listed(rec, utc(2026, 9, 26), utc(2026, 10, 11)) == [
        ("2026-09-27T02:15", "2026-09-27T02:15:00+10:30", "2026-09-26T15:45:00+00:00"),
        # 02:00 -> 02:30 on 4 October 2026: 02:15 runs at +10:30, i.e. 02:45 +11:00
        ("2026-10-04T02:15", "2026-10-04T02:45:00+11:00", "2026-10-03T15:45:00+00:00"),
        ("2026-10-11T02:15", "2026-10-11T02:15:00+11:00", "2026-10-10T15:15:00+00:00"),
    ]
    back = Recurrence("FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=45", "2027-03-28T01:45:00", tz="Australia/Lord_Howe")
    occ = back.is_occurrence("2027-04-04T01:45")  # 02:00 -> 01:30: 01:45 twice, the first at +11:00
    assert occ is not None and occ.start == utc(2027, 4, 3, 14, 45)


def test_lord_howe_gap_start_exactly():
    rec = Recurrence("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=15", "2026-09-27T02:15:00", tz="Australia/Lord_Howe")
    occ = rec.is_occurrence("2026-10-04T02:15")
    assert occ is not None
    assert occ.local.isoformat() == "2026-10-04T02:45:00+11:00"
    assert occ.start == utc(2026, 10, 3, 15, 45)


def test_utc_and_other_zones_share_the_names_not_the_instants():
    rule, start = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "2026-12-06T02:00:00"
    since, until = utc(2026, 12, 5), utc(2026, 12, 8)
    starts = {}
    for tz in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"):
        occs = Recurrence(rule, start, tz=tz).between(since, until)
        assert [o.key for o in occs] == ["2026-12-06T02:00"], tz
        starts[tz] = occs[0].start
    assert starts == {"UTC": utc(2026, 12, 6, 2), "Europe/Berlin": utc(2026, 12, 6, 1),
                      "America/New_York": utc(2026, 12, 6, 7), "Asia/Kolkata": utc(2026, 12, 5, 20, 30)}
    assert Recurrence(rule, start).tz is UTC  # no zone given: UTC


def test_monthly_last_friday_and_day_31():
    rec = Recurrence("FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1;BYHOUR=22;BYMINUTE=0", "2026-12-01T22:00:00",
                     tz="America/New_York")
    assert [o.key for o in rec.between(utc(2026, 12, 1), utc(2027, 4, 1))] == [
        "2026-12-25T22:00", "2027-01-29T22:00", "2027-02-26T22:00", "2027-03-26T22:00"]
    d31 = Recurrence("FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=3;BYMINUTE=0", "2027-01-01T03:00:00")
    assert [o.key[:10] for o in d31.between(utc(2027, 1, 1), utc(2027, 6, 1))] == [
        "2027-01-31", "2027-03-31", "2027-05-31"]


def test_count_until_interval_and_validity():
    rec = Recurrence("FREQ=DAILY;INTERVAL=2;COUNT=3;BYHOUR=4;BYMINUTE=0", "2026-12-01T04:00:00")
    assert [o.key for o in rec.between(utc(2026, 11, 1), utc(2027, 1, 1))] == [
        "2026-12-01T04:00", "2026-12-03T04:00", "2026-12-05T04:00"]
    until = Recurrence("FREQ=DAILY;UNTIL=20261203T040000;BYHOUR=4;BYMINUTE=0", "2026-12-01T04:00:00")
    assert len(until.between(utc(2026, 11, 1), utc(2027, 1, 1))) == 3
    valid = Recurrence("FREQ=DAILY;BYHOUR=4;BYMINUTE=0", "2026-12-01T04:00:00", valid_from=utc(2026, 12, 2),
                       valid_until=utc(2026, 12, 4, 4))
    assert [o.key for o in valid.between(utc(2026, 11, 1), utc(2027, 1, 1))] == [
        "2026-12-02T04:00", "2026-12-03T04:00", "2026-12-04T04:00"]
    assert valid.is_occurrence("2026-12-01T04:00") is None  # before valid_from
    assert valid.is_occurrence("2026-12-05T04:00") is None  # after valid_until
    assert valid.next_after(utc(2026, 12, 4, 4)) is None
    assert valid.latest(utc(2026, 12, 20)).key == "2026-12-04T04:00"


# ---- is_occurrence, windows, catch-up -----------------------------------------------------------------------------

def test_is_occurrence_only_for_starts_the_rule_produces():
    rec = Recurrence("FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "2026-12-06T02:00:00", tz="Europe/Berlin")
    assert rec.is_occurrence("2026-12-13T02:00") is not None
    assert rec.is_occurrence(datetime(2026, 12, 20, 2, 0)) is not None
    assert rec.is_occurrence("2026-12-13T02:01") is None  # wrong minute
    assert rec.is_occurrence("2026-12-14T02:00") is None  # a Monday
    assert rec.is_occurrence("2026-11-29T02:00") is None  # before dtstart
    with pytest.raises(ScheduleTimeError, match="2026-12-06T02:00"):
        rec.is_occurrence("2026-12-13 02:00")
    with pytest.raises(ScheduleTimeError):
        rec.is_occurrence(datetime(2026, 12, 13, 2, tzinfo=UTC))


def test_current_window_and_window_state():
    rec = Recurrence("FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "2026-12-01T02:00:00", tz="Europe/Berlin", window_minutes=60)
    occ = rec.is_occurrence("2026-12-05T02:00")
    assert occ is not None and occ.start == utc(2026, 12, 5, 1)
    assert rec.window_state(occ, utc(2026, 12, 5, 0, 59)) == "early"
    assert rec.window_state(occ, utc(2026, 12, 5, 1)) == "open"
    assert rec.window_state(occ, utc(2026, 12, 5, 2)) == "open"  # the end is inside
    assert rec.window_state(occ, utc(2026, 12, 5, 2, 0, 1)) == "closed"
    assert rec.current_window(utc(2026, 12, 5, 1, 30)) == occ
    assert rec.current_window(utc(2026, 12, 5, 3)) is None  # missed without catch-up
    assert rec.current_window(utc(2026, 11, 30)) is None  # before the first occurrence


def test_catch_up_runs_late_until_the_next_occurrence_starts():
    rec = Recurrence("FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "2026-12-01T02:00:00", tz="Europe/Berlin", window_minutes=60,
                     catch_up=True)
    occ = rec.is_occurrence("2026-12-05T02:00")
    assert rec.window_state(occ, utc(2026, 12, 5, 12)) == "catch_up"
    assert rec.current_window(utc(2026, 12, 5, 12)) == occ
    assert rec.current_window(utc(2026, 12, 6, 0, 59)) == occ  # 01:59 local: the next starts at 02:00
    assert rec.window_state(occ, utc(2026, 12, 6, 1)) == "closed"  # the next occurrence has started
    assert rec.current_window(utc(2026, 12, 6, 1)).key == "2026-12-06T02:00"


def test_catch_up_of_the_last_occurrence_has_no_next_one():
    rec = Recurrence("FREQ=DAILY;COUNT=2;BYHOUR=2;BYMINUTE=0", "2026-12-01T02:00:00", catch_up=True)
    last = rec.is_occurrence("2026-12-02T02:00")
    assert rec.window_state(last, utc(2026, 12, 20)) == "catch_up"


def test_latest_and_next_across_the_gap():
    rec = Recurrence("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "2027-03-26T02:30:00", tz="Europe/Berlin")
    assert rec.latest(utc(2027, 3, 28, 1, 29)).key == "2027-03-27T02:30"
    assert rec.latest(utc(2027, 3, 28, 1, 30)).key == "2027-03-28T02:30"
    assert rec.next_after(utc(2027, 3, 27, 2)).start == utc(2027, 3, 28, 1, 30)
    assert rec.min_gap() == timedelta(days=1)


# ---- parsing and errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, named", [
    ("FREQ=HOURLY", "DAILY, WEEKLY, MONTHLY"),
    ("FREQ=DAILY;BYSECOND=5", "BYSECOND"),
    ("FREQ=DAILY;FREQ=WEEKLY", "each once"),
    ("RRULE:FREQ=DAILY", "RRULE:FREQ"),
    ("FREQ=DAILY;UNTIL=20270101T000000Z", "without 'Z'"),
    ("FREQ=DAILY;BYHOUR=25", "not a valid RRULE"),
    ("", "expected an RRULE"),
    ("BYHOUR=2", "FREQ=None"),
])
def test_rules_that_are_not_allowed_are_named(text, named):
    i18n.set_language("en")
    with pytest.raises(ScheduleTimeError) as err:
        parse_rrule(text, datetime(2026, 12, 1, 2))
    assert named in err.value.message
    assert "FREQ" in err.value.message or "RRULE" in err.value.message or "UNTIL" in err.value.message


def test_errors_speak_german_and_carry_both_texts():
    i18n.set_language("de")
    with pytest.raises(ScheduleTimeError) as err:
        parse_rrule("FREQ=YEARLY", datetime(2026, 12, 1))
    assert "nicht erlaubt" in str(err.value) and "DAILY" in str(err.value)
    assert "not allowed" in i18n.tr(err.value.de, err.value.en, "en", **err.value.fmt)
    with pytest.raises(ScheduleTimeError) as err:
        parse_rrule("FREQ=DAILY;BYSECOND=1", datetime(2026, 12, 1))
    assert all(part in err.value.message for part in ALLOWED_PARTS)


@pytest.mark.parametrize("value", ["2026-12-06T02:00", "2026-12-06T02:00:30", "2026-12-06 02:00:00",
                                   "2026-12-06T02:00:00Z", "2026-02-30T02:00:00", 20261206, None])
def test_dtstart_must_be_local_whole_minutes(value):
    with pytest.raises(ScheduleTimeError):
        parse_dtstart(value)


def test_zone_window_and_awareness_errors():
    i18n.set_language("en")
    with pytest.raises(ScheduleTimeError, match="unknown"):
        zone("Mars/Olympus_Mons")
    with pytest.raises(ScheduleTimeError, match="IANA"):
        zone("../etc/passwd")
    for bad in (4, 1441, True, "60"):
        with pytest.raises(ScheduleTimeError, match="5 to 1440"):
            Recurrence("FREQ=DAILY", "2026-12-01T02:00:00", window_minutes=bad)  # type: ignore[arg-type]
    rec = Recurrence("FREQ=DAILY", "2026-12-01T02:00:00")
    with pytest.raises(ScheduleTimeError, match="needs a time zone"):
        rec.current_window(datetime(2026, 12, 2, 2))


def test_keys_round_trip_and_place():
    assert occurrence_key(datetime(2026, 12, 6, 2, 0)) == "2026-12-06T02:00"
    assert parse_occurrence_key("2026-12-06T02:00") == datetime(2026, 12, 6, 2, 0)
    for bad in ("2026-12-06T02:00:00", "2026-13-06T02:00", "", None):
        with pytest.raises(ScheduleTimeError):
            parse_occurrence_key(bad)
    berlin = zone("Europe/Berlin")
    assert place(datetime(2027, 3, 28, 2, 30), berlin).isoformat() == "2027-03-28T03:30:00+02:00"
    assert place(datetime(2026, 10, 25, 2, 30), berlin).isoformat() == "2026-10-25T02:30:00+02:00"
