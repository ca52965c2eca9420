"""The maintenance pass with time stamps a real fleet sends (outside trial of issue 18): a host whose clock is far
ahead must not stop every later pass, and a sample that arrives late (a spool sent after a long outage) is rolled up
before retention deletes it, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from test_metrics_scale import NOW, at, engine, maintain, rollups, store, stored_times  # noqa: F401 (fixture)


def test_a_sample_dated_far_ahead_does_not_stop_the_maintenance(engine: Engine) -> None:  # noqa: F811
    far = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    normal = NOW - timedelta(hours=2)
    store(engine, [at(normal, cpu_percent=40.0), at(far, cpu_percent=90.0)], received=NOW - timedelta(minutes=5))
    first = maintain(engine)
    assert first.ran and first.hours >= 1
    assert far in stored_times(engine), "kept raw: the history still shows what the host sent"
    buckets = {k[2] for k in rollups(engine)}
    assert normal.replace(minute=0, second=0, microsecond=0) in buckets
    assert not any(b.year == 9999 for b in buckets), "a wrong clock is not rolled up"
    store(engine, [at(NOW - timedelta(hours=1), cpu_percent=10.0)], received=NOW + timedelta(minutes=10))
    later = maintain(engine, now=NOW + timedelta(hours=1))
    assert later.ran and later.hours >= 1, "the next pass still works"


def test_a_late_sample_older_than_raw_retention_is_rolled_up_before_it_is_deleted(engine: Engine) -> None:  # noqa: F811
    maintain(engine)  # a first pass: the watermark is now NOW - 60 s
    late = [NOW - timedelta(days=40), NOW - timedelta(days=400) + timedelta(days=36)]
    store(engine, [at(t, cpu_percent=33.0) for t in late], received=NOW + timedelta(seconds=5))
    just_after = maintain(engine, now=NOW + timedelta(seconds=10))  # received after this pass's watermark
    assert just_after.ran
    assert sorted(late) == [t for t in stored_times(engine) if t in late], "not deleted before it is rolled up"
    settled = maintain(engine, now=NOW + timedelta(minutes=5))
    assert settled.ran
    hours = {k[2] for k in rollups(engine) if k[1] == "hour"}
    assert all(t.replace(minute=0, second=0, microsecond=0) in hours for t in late)
    assert not any(t in late for t in stored_times(engine)), "rolled up, then deleted by retention"
