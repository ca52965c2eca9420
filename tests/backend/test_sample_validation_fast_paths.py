"""The per-sample fast paths of the metrics schema (bench/README.md, Backend) keep the rules they speed up.

Whole numbers are checked inside pydantic-core (a union of a strict integer and a whole float), host names, time
zones and tags that passed once are looked up instead of checked again, and ``...Z`` date-times keep pydantic's
zero-offset tzinfo. None of that may let through what the slow path refused, or hand one sample's cleaned value to
another by reference.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pydantic import ValidationError

from techcare_backend import sensor_facts
from techcare_backend.schemas import DiskSample, EventSample, MetricSampleCreate, MetricSampleFields, PendingUpdates


def _sample(**extra: object) -> dict:
    base = {"sample_id": "sample-0001", "timestamp": "2026-02-17T10:30:00Z", "hostname": "pc-01", "os": "windows",
            "cpu_percent": 5.0, "ram_percent": 6.0}
    base.update(extra)
    return base


@pytest.mark.parametrize("raw, expected", [("2", 2), ("2.0", 2), ("0", 0), ("100000", 100_000), ("1e2", 100)])
def test_a_whole_number_is_an_integer_or_a_number_without_fraction(raw: str, expected: int) -> None:
    value = PendingUpdates.model_validate_json(f'{{"count": {raw}}}').count
    assert value == expected and type(value) is int


@pytest.mark.parametrize("raw", ["2.5", "true", "false", '"2"', "null", "100001", "-1", "100001.0", "[]"])
def test_anything_else_is_one_error_naming_the_rule_and_range(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        PendingUpdates.model_validate_json(f'{{"count": {raw}}}')
    [error] = info.value.errors()
    assert error["loc"] == ("count",) and error["type"] == "whole_number"
    assert "whole number from 0 to 100000" in error["msg"]


def test_python_input_follows_the_same_rule() -> None:
    assert DiskSample.model_validate({"mount": "C:", "total": 10.0, "used": 4, "free": 6, "percent": 40.0}).total == 10
    for bad in (True, "10", 10.5):
        with pytest.raises(ValidationError):
            DiskSample.model_validate({"mount": "C:", "total": bad, "used": 4, "free": 6, "percent": 40.0})


def test_the_json_schema_still_says_integer_with_bounds() -> None:
    schema = PendingUpdates.model_json_schema()["properties"]["count"]
    assert schema["type"] == "integer" and schema["minimum"] == 0 and schema["maximum"] == 100_000
    event_id = EventSample.model_json_schema()["properties"]["event_id"]["anyOf"][0]
    assert event_id["type"] == "integer" and event_id["maximum"] == 2**53 - 1


def test_an_event_id_may_still_be_text() -> None:
    assert EventSample.model_validate_json('{"event_id": "0x1F"}').event_id == "0x1F"
    assert EventSample.model_validate_json('{"event_id": 7034.0}').event_id == 7034


def test_a_host_name_that_passed_once_does_not_open_the_door_for_similar_bad_names() -> None:
    MetricSampleFields.model_validate_json(json.dumps(_sample(hostname="pc-01")))
    for bad in ("pc-01 ", " pc-01", "pc-01\x00", "pc-01/x", "pc-\u200b01", "pc-01\n"):
        with pytest.raises(ValidationError):
            MetricSampleFields.model_validate_json(json.dumps(_sample(hostname=bad)))
    MetricSampleFields.model_validate_json(json.dumps(_sample(hostname="pc-01")))


def test_zero_offset_times_are_utc_and_other_offsets_are_converted() -> None:
    zulu = MetricSampleFields.model_validate_json(json.dumps(_sample(timestamp="2026-02-17T10:30:00Z"))).timestamp
    plus = MetricSampleFields.model_validate_json(json.dumps(_sample(timestamp="2026-02-17T12:30:00+02:00"))).timestamp
    naive = MetricSampleFields.model_validate_json(json.dumps(_sample(timestamp="2026-02-17T10:30:00"))).timestamp
    assert zulu == plus == naive
    assert all(t.utcoffset() == timedelta(0) for t in (zulu, plus, naive))
    assert zulu.isoformat() == plus.isoformat() == "2026-02-17T10:30:00+00:00"
    with pytest.raises(ValidationError, match="out of range"):
        MetricSampleFields.model_validate_json(json.dumps(_sample(timestamp="0001-01-01T00:00:00+05:00")))


def test_cleaned_tags_are_copies_not_the_cached_list() -> None:
    first = MetricSampleCreate.model_validate_json(json.dumps(_sample(tags=["Kunde:Baeckerei", "server", "x y"])))
    assert first.tags == ["kunde:baeckerei", "server"]
    first.tags.append("changed")
    second = MetricSampleCreate.model_validate_json(json.dumps(_sample(tags=["Kunde:Baeckerei", "server", "x y"])))
    assert second.tags == ["kunde:baeckerei", "server"]
    assert MetricSampleCreate.model_validate_json(json.dumps(_sample(tags="a, b"))).tags == ["a", "b"]


def test_a_text_seen_as_tags_is_not_mistaken_for_a_list_and_bad_elements_still_refused() -> None:
    MetricSampleCreate.model_validate_json(json.dumps(_sample(tags="server")))
    assert MetricSampleCreate.model_validate_json(json.dumps(_sample(tags=["server"]))).tags == ["server"]
    for bad in ([1], [["server"]], [{"a": 1}], 5):
        with pytest.raises(ValidationError):
            MetricSampleCreate.model_validate_json(json.dumps(_sample(tags=bad)))


def test_time_zones_are_cached_with_their_verdict() -> None:
    for _ in range(2):
        assert MetricSampleCreate.model_validate_json(json.dumps(_sample(timezone="Europe/Berlin"))).timezone \
            == "Europe/Berlin"
        assert MetricSampleCreate.model_validate_json(json.dumps(_sample(timezone="Mars/Base"))).timezone is None
    with pytest.raises(ValidationError):
        MetricSampleCreate.model_validate_json(json.dumps(_sample(timezone=5)))


def test_the_caches_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sensor_facts, "_SEEN_MAX", 3)
    sensor_facts._tags.clear()
    for i in range(10):
        assert sensor_facts.sample_tags([f"t{i}"]) == [f"t{i}"]
        assert len(sensor_facts._tags) <= 3
