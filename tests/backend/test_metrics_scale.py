"""Metrics at fleet scale (issue 18): day partitions, retention, rollups, the maintenance pass and the history's
resolution, on real PostgreSQL and on SQLite. Each test has a database of its own (retention deletes by time,
for every organisation), and a fixed ``NOW``, so nothing depends on the wall clock."""

from __future__ import annotations

import statistics
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from backend_helpers import sample
from sqlalchemy import Engine, func, select, text

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
ORG = "00000000-0000-0000-0000-0000000000aa"


DAY_SCAN: dict[Engine, bool] = {}  # engines whose passes scan each touched day whole (PostgreSQL's other read path)


@pytest.fixture(params=["postgres", "postgres-day-scan", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    from techcare_backend.core.db import make_engine, migrate

    if request.param.startswith("postgres"):
        url = request.getfixturevalue("fresh_postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'metrics.sqlite3'}"
    migrate(url)
    eng = make_engine(url)
    if request.param == "postgres-day-scan":
        DAY_SCAN[eng] = True
    yield eng
    DAY_SCAN.pop(eng, None)
    eng.dispose()


def store(engine: Engine, samples: list[dict[str, Any]], received: datetime, org: str = ORG) -> list[str]:
    """Through the real ingestion code (``crud.ingest_samples``), with ``received`` as the server time."""
    from sqlalchemy.orm import Session
    from techcare_backend import crud
    from techcare_backend.schemas import MetricSampleCreate

    with Session(engine) as session:
        statuses = crud.ingest_samples(session, organisation_id=org, now=received,
                                       samples=[MetricSampleCreate.model_validate(s) for s in samples])
        session.commit()
    return statuses


def at(moment: datetime, host: str = "PC-1", **values: Any) -> dict[str, Any]:
    return sample(hostname=host, timestamp=moment.isoformat(), **values)


def maintain(engine: Engine, now: datetime = NOW, **kwargs: Any) -> Any:
    from techcare_backend.core.metrics_maintenance import run_maintenance

    kwargs.setdefault("day_scan", DAY_SCAN.get(engine))
    return run_maintenance(engine, retention_days=kwargs.pop("retention_days", 30),
                           rollup_retention_days=kwargs.pop("rollup_retention_days", 400), now=now, **kwargs)


def stored_times(engine: Engine) -> list[datetime]:
    from techcare_backend.models import MetricSample

    with engine.connect() as conn:
        return sorted(t if t.tzinfo else t.replace(tzinfo=UTC)
                      for t in conn.execute(select(MetricSample.ts)).scalars())


def rollups(engine: Engine) -> dict[tuple[str, str, datetime], dict[str, Any]]:
    from sqlalchemy.orm import Session
    from techcare_backend.models import MetricRollup

    with Session(engine) as session:
        out = {}
        for r in session.scalars(select(MetricRollup)):
            row = {c: getattr(r, c) for c in MetricRollup.__table__.columns.keys()}
            out[(r.hostname, r.resolution, row["bucket"])] = row
        return out


def test_retention_drops_exactly_what_is_older_than_the_setting(engine: Engine) -> None:
    from techcare_backend.core.metrics_maintenance import partitions, raw_cutoff

    cutoff = raw_cutoff(NOW, 30)
    assert cutoff == datetime(2026, 11, 2, tzinfo=UTC)  # whole UTC days: midnight, 30 days before today
    kept = [cutoff, cutoff + timedelta(hours=5), NOW - timedelta(hours=1)]
    dropped = [cutoff - timedelta(seconds=1), cutoff - timedelta(days=3), datetime(2001, 1, 1, tzinfo=UTC)]
    store(engine, [at(t) for t in kept + dropped], received=NOW - timedelta(minutes=5))
    report = maintain(engine)
    assert report.ran, report.skipped
    assert stored_times(engine) == sorted(kept)
    # the expired samples were rolled up before they went
    hours = {k[2] for k in rollups(engine) if k[1] == "hour"}
    assert datetime(2026, 10, 30, tzinfo=UTC) in {h.replace(hour=0) for h in hours}
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            days = partitions(conn)
        assert all(hi > cutoff for _, _, hi in days), "no partition older than the cutoff is left"
        assert min(lo for _, lo, _ in days) == cutoff
        assert max(hi for _, _, hi in days) >= NOW + timedelta(days=7), "partitions are created ahead"
        assert "metric_samples_p20261101" in report.partitions_dropped or \
            "metric_samples_p20261030" in report.partitions_dropped or report.raw_deleted == len(dropped)
    # rollups older than their own retention go as well
    old = maintain(engine, now=NOW + timedelta(days=60), retention_days=30, rollup_retention_days=40)
    assert old.rollups_deleted > 0
    cut = raw_cutoff(NOW + timedelta(days=60), 40)
    assert all(k[2] >= cut for k in rollups(engine))


def _expected(values: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"samples": len(values)}
    for m in ("cpu", "ram", "swap", "disk"):
        xs = [v[m] for v in values if v[m] is not None]
        out[m] = (min(xs), statistics.fmean(xs), max(xs)) if xs else (None, None, None)
    ranks = {"passed": 0, "unknown": 1, "warning": 2, "failing": 3}
    states = [s for v in values for s in v["smart"]]
    out["smart_worst"] = max(states, key=ranks.__getitem__) if states else None
    return out


def _check(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert row["samples"] == expected["samples"]
    for m in ("cpu", "ram", "swap", "disk"):
        got = (row[f"{m}_min"], row[f"{m}_avg"], row[f"{m}_max"])
        assert got == pytest.approx(expected[m]) if expected[m][0] is not None else got == (None, None, None), m
    assert row["smart_worst"] == expected["smart_worst"]
    assert row["smart_failing"] == (expected["smart_worst"] == "failing")


VALUE_COLUMNS = ("cpu_percent", "ram_percent", "swap_percent", "disk_max_percent", "smart_rank")


def forget_value_columns(engine: Engine, where: str = "true") -> int:
    """Make stored samples look as samples stored before migration 0009: value columns NULL, numbers only in the
    payload."""
    with engine.begin() as conn:
        return conn.execute(text(f"UPDATE metric_samples SET {', '.join(c + ' = NULL' for c in VALUE_COLUMNS)} "
                                 f"WHERE {where}")).rowcount


@pytest.mark.parametrize("stored_before_0009", [False, True], ids=["value-columns", "half-payload-only"])
def test_rollups_equal_the_aggregates_of_the_raw_samples_and_a_second_pass_changes_nothing(
        engine: Engine, stored_before_0009: bool) -> None:
    """Rollups equal min/avg/max computed here from the samples sent; with ``half-payload-only`` every other sample
    has no value columns (stored before migration 0009) and its numbers come from the payload: the same result."""
    import random

    rng = random.Random(18)
    start = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    raw: list[tuple[str, datetime, dict[str, Any]]] = []
    bodies = []
    for i in range(150):  # two hosts, 150 samples over ~12 hours, some without swap, disks or SMART
        host = f"PC-{i % 2}"
        t = start + timedelta(minutes=5 * i + rng.randint(0, 4))
        cpu, ram = round(rng.uniform(0, 100), 2), round(rng.uniform(0, 100), 2)
        swap = None if i % 7 == 0 else round(rng.uniform(0, 50), 2)
        disks = [] if i % 11 == 0 else [{"mount": f"/d{k}", "total": 100, "used": 1, "free": 99,
                                         "percent": round(rng.uniform(0, 100), 1)} for k in range(1 + i % 3)]
        smart = ([] if i % 5 == 0 else
                 [{"device": "/dev/sda", "health": rng.choice(["passed", "passed", "unknown", "warning"])}])
        if i == 77:
            smart = [{"device": "/dev/sdb", "health": "failing"}]
        body = at(t, host, cpu_percent=cpu, ram_percent=ram, swap_percent=swap, disks=disks, smart=smart)
        bodies.append(body)
        raw.append((host, t, {"cpu": cpu, "ram": ram, "swap": swap,
                              "disk": max((d["percent"] for d in disks), default=None),
                              "smart": [s["health"] for s in smart]}))
    store(engine, bodies, received=NOW - timedelta(minutes=10))
    if stored_before_0009:
        odd = ", ".join(f"'{b['sample_id']}'" for b in bodies[1::2])
        assert forget_value_columns(engine, f"sample_id IN ({odd})") == len(bodies[1::2])
    first = maintain(engine)
    table = rollups(engine)
    hour_groups: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    day_groups: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    for host, t, values in raw:
        hour_groups.setdefault((host, t.replace(minute=0, second=0, microsecond=0)), []).append(values)
        day_groups.setdefault((host, t.replace(hour=0, minute=0, second=0, microsecond=0)), []).append(values)
    assert {(h, b) for h, r, b in table if r == "hour"} == set(hour_groups)
    assert {(h, b) for h, r, b in table if r == "day"} == set(day_groups)
    for (host, bucket), values in hour_groups.items():
        _check(table[(host, "hour", bucket)], _expected(values))
    for (host, bucket), values in day_groups.items():
        _check(table[(host, "day", bucket)], _expected(values))
    assert first.hours == len(hour_groups) and first.days == len(day_groups)
    assert first.day_scans == (1 if DAY_SCAN.get(engine) else 0), "the read path under test was taken"

    second = maintain(engine, now=NOW + timedelta(minutes=5))
    assert second.ran and (second.hours, second.days) == (0, 0)
    assert rollups(engine) == table, "a second pass changes nothing"

    # a late sample (a sensor's spool after an outage) updates its hour and day on the next pass, nothing else
    late_t = start + timedelta(minutes=31)
    store(engine, [at(late_t, "PC-0", cpu_percent=100.0, ram_percent=0.0, swap_percent=None, disks=[],
                      smart=[{"device": "/dev/sda", "health": "failing"}])], received=NOW + timedelta(minutes=6))
    third = maintain(engine, now=NOW + timedelta(minutes=20))
    assert (third.hours, third.days) == (1, 1)
    late = {"cpu": 100.0, "ram": 0.0, "swap": None, "disk": None, "smart": ["failing"]}
    hour = late_t.replace(minute=0)
    after = rollups(engine)
    _check(after[("PC-0", "hour", hour)], _expected(hour_groups[("PC-0", hour)] + [late]))
    _check(after[("PC-0", "day", hour.replace(hour=0))], _expected(day_groups[("PC-0", hour.replace(hour=0))] + [late]))
    changed = {k for k in after if after[k] != table[k]}
    assert changed == {("PC-0", "hour", hour), ("PC-0", "day", hour.replace(hour=0))}


def test_ingest_writes_the_value_columns_a_rollup_reads(engine: Engine) -> None:
    """Ingestion (PostgreSQL: the hot path's statement; SQLite: Core inserts) stores each sample's CPU, RAM, swap,
    fullest disk and worst SMART rank beside its payload, NULL where the sample has none."""
    disks = [{"mount": m, "total": 100, "used": 1, "free": 99, "percent": p} for m, p in (("C:", 12.5), ("D:", 97.0))]
    smart = [{"device": d, "health": h} for d, h in (("0", "passed"), ("1", "warning"), ("2", "unknown"))]
    bodies = [at(NOW - timedelta(minutes=30), "PC-1", cpu_percent=1.5, ram_percent=2.25, swap_percent=3.0,
                 disks=disks, smart=smart),
              at(NOW - timedelta(minutes=25), "PC-1", cpu_percent=0, ram_percent=100, swap_percent=None, disks=[],
                 smart=[]),
              at(NOW - timedelta(minutes=20), "PC-2", cpu_percent=99.99, ram_percent=0.01,
                 smart=[{"device": "x", "health": "failing"}, {"device": "y", "health": "passed"}])]
    assert store(engine, bodies, received=NOW) == ["created"] * 3
    with engine.begin() as conn:
        got = {r[0]: tuple(r[1:]) for r in conn.execute(text(
            f"SELECT sample_id, {', '.join(VALUE_COLUMNS)} FROM metric_samples"))}
    assert got == {bodies[0]["sample_id"]: (1.5, 2.25, 3.0, 97.0, 2),
                   bodies[1]["sample_id"]: (0.0, 100.0, None, None, None),
                   bodies[2]["sample_id"]: (99.99, 0.01, 3.0, 50.0, 3)}


def stamp(engine: Engine, moment: datetime) -> Any:
    """A time for a raw SQL insert as the model's column type stores it (SQLite: UTC text)."""
    if engine.dialect.name == "postgresql":
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def test_migration_0009_keeps_older_samples_readable(request: pytest.FixtureRequest, tmp_path: Any) -> None:
    """Samples stored under 0008 (no value columns) survive the upgrade unchanged, and both the maintenance pass
    and the raw history read their numbers from the payload, next to samples stored after it."""
    from sqlalchemy.orm import Session
    from techcare_backend import crud
    from techcare_backend.core.db import make_engine, migrate

    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=2)
    for url in (request.getfixturevalue("fresh_postgres_url"), f"sqlite:///{tmp_path / 'm9.sqlite3'}"):
        migrate(url, "0008")
        engine = make_engine(url)
        try:
            old = [at(now - timedelta(minutes=20 + m), cpu_percent=float(10 + m), ram_percent=50.0,
                      disks=[{"mount": "/", "total": 9, "used": 1, "free": 8, "percent": 40.0 + m}],
                      smart=[{"device": "a", "health": "warning"}]) for m in (0, 5)]
            with engine.begin() as conn:  # as 0008's code wrote them
                for b in old:
                    conn.execute(text("INSERT INTO metric_samples (organisation_id, sample_id, hostname, os, ts, "
                                      "received_at, payload) VALUES (:o, :s, :h, 'windows', :t, :r, "
                                      + ("CAST(:p AS jsonb))" if engine.dialect.name == "postgresql" else ":p)")),
                                 {"o": ORG, "s": b["sample_id"], "h": b["hostname"],
                                  "t": stamp(engine, datetime.fromisoformat(b["timestamp"])), "r": stamp(engine, now),
                                  "p": __import__("json").dumps(b)})
                before = conn.execute(text("SELECT id, sample_id, payload FROM metric_samples ORDER BY id")).all()
            migrate(url)
            with engine.begin() as conn:
                after = conn.execute(text(f"SELECT id, sample_id, payload, {', '.join(VALUE_COLUMNS)} "
                                          "FROM metric_samples ORDER BY id")).all()
            assert [tuple(r[:3]) for r in after] == [tuple(r) for r in before]
            assert all(r[3:] == (None,) * 5 for r in after)
            new = at(now - timedelta(minutes=10), cpu_percent=90.0, ram_percent=50.0, disks=[], smart=[])
            store(engine, [new], received=now)
            report = maintain(engine, now=now + timedelta(minutes=5))
            assert report.hours == 1
            (hour,) = [r for k, r in rollups(engine).items() if k[1] == "hour"]
            assert (hour["samples"], hour["cpu_min"], hour["cpu_max"], hour["cpu_avg"]) == (3, 10.0, 90.0,
                                                                                            pytest.approx(115 / 3))
            assert (hour["disk_min"], hour["disk_max"], hour["disk_n"]) == (40.0, 45.0, 2)
            assert hour["smart_worst"] == "warning"
            with Session(engine) as session:
                points = crud.host_history(session, organisation_id=ORG, hostname="PC-1", since=now - timedelta(hours=1),
                                           until=now, retention_days=30, now=now)["points"]
            assert [(p["cpu"]["avg"], p["disk"]["max"], p["smart_worst"]) for p in points] == [
                (15.0, 45.0, "warning"), (10.0, 40.0, "warning"), (90.0, None, None)]
            # and back: downgrading to 0008 keeps every sample (without the columns), upgrading again works
            from alembic import command
            from techcare_backend.core.db import alembic_config

            with engine.begin() as conn:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                command.downgrade(cfg, "0008")
            with engine.begin() as conn:
                assert conn.execute(text("SELECT count(*) FROM metric_samples")).scalar() == 3
                columns = conn.execute(text("SELECT * FROM metric_samples LIMIT 1")).keys()
            assert not set(VALUE_COLUMNS) & set(columns)
            migrate(url)
            assert store(engine, [at(now, cpu_percent=1.0)], received=now) == ["created"]
        finally:
            engine.dispose()


def test_two_instances_running_maintenance_at_once_do_it_once(engine: Engine) -> None:
    from techcare_backend.core.db import make_engine

    store(engine, [at(NOW - timedelta(hours=h)) for h in range(1, 6)], received=NOW - timedelta(minutes=5))
    other = make_engine(engine.url.render_as_string(hide_password=False))  # a second instance, its own pool
    seen: dict[str, Any] = {}

    def meanwhile() -> None:  # instance A holds the lock: B (another connection, another thread) runs now
        thread = threading.Thread(target=lambda: seen.setdefault("b", maintain(other)))
        thread.start()
        thread.join(30)

    try:
        a = maintain(engine, after_lock=meanwhile)
    finally:
        other.dispose()
    b = seen["b"]
    assert a.ran and not b.ran and b.skipped
    assert "another" in b.summary("en") and "übersprungen" in b.summary("de")
    assert a.hours == 5 and a.days == 1
    assert len([k for k in rollups(engine) if k[1] == "hour"]) == 5


def test_history_answers_across_the_raw_rollup_boundary(engine: Engine) -> None:
    from sqlalchemy.orm import Session
    from techcare_backend import crud

    times = [NOW - timedelta(days=d, hours=h) for d in range(0, 40) for h in (1, 13)]
    store(engine, [at(t, cpu_percent=float(i % 90)) for i, t in enumerate(times)],
          received=NOW - timedelta(minutes=5))
    maintain(engine)  # rolls everything up, then drops raw samples before 2026-11-02
    with Session(engine) as session:
        def ask(since: datetime, until: datetime = NOW) -> dict[str, Any]:
            return crud.host_history(session, organisation_id=ORG, hostname="PC-1", since=since, until=until,
                                     retention_days=30, now=NOW)

        recent = ask(NOW - timedelta(hours=24))
        assert recent["resolution"] == "raw" and len(recent["points"]) == 2
        assert recent["points"][0]["cpu"]["min"] == recent["points"][0]["cpu"]["max"]
        month = ask(NOW - timedelta(days=30))
        assert month["resolution"] == "hour" and len(month["points"]) == 60
        long = ask(NOW - timedelta(days=40))  # reaches 8 days past raw retention
        assert long["resolution"] == "day"
        days = [p["t"] for p in long["points"]]
        assert days[0] < crud.metrics.raw_cutoff(NOW, 30) <= days[-1], "both sides of the boundary"
        assert len(days) == 40 and all(p["samples"] == 2 for p in long["points"][1:-1])
        # a short range entirely before raw retention is answered from hourly rollups
        past = ask(NOW - timedelta(days=35, hours=12), NOW - timedelta(days=34, hours=12))
        assert past["resolution"] == "hour" and [p["samples"] for p in past["points"]] == [1, 1]
        assert session.scalar(select(func.count()).select_from(crud.metrics.MetricSample)) == 61


def test_migration_of_a_table_with_samples_keeps_every_sample(request: pytest.FixtureRequest,
                                                              tmp_path: Any) -> None:
    """Migrate to 0007 (the unpartitioned table), store samples of many days (also odd ones: year 2001, 9000),
    then upgrade: every row survives with id and payload, and ingestion goes on (duplicates stay duplicates)."""
    from techcare_backend.core.db import make_engine, migrate

    urls = [request.getfixturevalue("fresh_postgres_url"), f"sqlite:///{tmp_path / 'm.sqlite3'}"]
    for url in urls:
        migrate(url, "0007")
        engine = make_engine(url)
        try:
            real_now = datetime.now(UTC)
            times = ([real_now - timedelta(days=d, minutes=m) for d in range(0, 45, 3) for m in (0, 7)]
                     + [datetime(2001, 5, 5, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)])
            bodies = [at(t, f"PC-{i % 3}") for i, t in enumerate(times)]
            with engine.begin() as conn:  # the 0007 table, written as 0007's code did
                for b in bodies:
                    conn.execute(text("INSERT INTO metric_samples (organisation_id, sample_id, hostname, os, ts, "
                                      "received_at, payload) VALUES (:o, :s, :h, 'windows', :t, :r, :p)"),
                                 {"o": ORG, "s": b["sample_id"], "h": b["hostname"],
                                  "t": datetime.fromisoformat(b["timestamp"]), "r": real_now,
                                  "p": __import__("json").dumps(b)})
                before = conn.execute(text("SELECT id, sample_id, payload FROM metric_samples ORDER BY id")).all()
            migrate(url)
            with engine.begin() as conn:
                after = conn.execute(text("SELECT id, sample_id, payload FROM metric_samples ORDER BY id")).all()
            assert len(after) == len(bodies) and after == before
            if engine.dialect.name == "postgresql":
                with engine.begin() as conn:
                    kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'metric_samples'")).scalar()
                    in_default = conn.execute(text("SELECT count(*) FROM metric_samples_default")).scalar()
                assert kind == "p" and in_default == 2  # only the year-2001 and year-9000 samples
            assert store(engine, bodies[:2] + [at(real_now)], received=real_now) == ["duplicate", "duplicate",
                                                                                     "created"]
            with engine.begin() as conn:
                new_id = conn.execute(text("SELECT max(id) FROM metric_samples")).scalar()
            assert new_id > before[-1][0], "ids keep growing after the migration"
        finally:
            engine.dispose()


def test_settings_refuse_bad_retention_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from techcare.errors import ConfigError
    from techcare_backend.core.config import load_backend_settings

    monkeypatch.setenv("TECHCARE_ENV", "development")
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path))
    ok = load_backend_settings(tmp_path / "none.env")
    assert (ok.metrics_retention_days, ok.metrics_rollup_retention_days) == (30, 400)
    cases = {("METRICS_RETENTION_DAYS", "0"): "METRICS_RETENTION_DAYS",
             ("METRICS_RETENTION_DAYS", "thirty"): "METRICS_RETENTION_DAYS",
             ("METRICS_ROLLUP_RETENTION_DAYS", "5000"): "METRICS_ROLLUP_RETENTION_DAYS",
             ("METRICS_MAINTENANCE_SECONDS", "5"): "METRICS_MAINTENANCE_SECONDS"}
    for (key, value), named in cases.items():
        monkeypatch.setenv(key, value)
        with pytest.raises(ConfigError) as info:
            load_backend_settings(tmp_path / "none.env")
        assert named in str(info.value) and info.value.key == named
        monkeypatch.delenv(key)
    monkeypatch.setenv("METRICS_RETENTION_DAYS", "90")
    monkeypatch.setenv("METRICS_ROLLUP_RETENTION_DAYS", "60")
    with pytest.raises(ConfigError) as info:
        load_backend_settings(tmp_path / "none.env")
    assert info.value.key == "METRICS_ROLLUP_RETENTION_DAYS" and "90" in str(info.value)


def test_maintenance_command_runs_one_pass(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from techcare_backend.cli import main
    from techcare_backend.core.db import make_engine

    monkeypatch.setenv("TECHCARE_ENV", "development")
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db = tmp_path / "techcare-backend.sqlite3"
    assert main(["migrate"]) == 0
    engine = make_engine(f"sqlite:///{db}")
    now = datetime.now(UTC)
    store(engine, [at(now - timedelta(hours=2)), at(now - timedelta(days=90))], received=now - timedelta(minutes=5))
    engine.dispose()
    capsys.readouterr()
    monkeypatch.setenv("TECHCARE_LANG", "en")
    assert main(["maintenance"]) == 0
    out = capsys.readouterr().out
    assert "Maintenance done" in out and "2 hourly" in out and "1 raw samples" in out
    monkeypatch.setenv("TECHCARE_LANG", "de")
    assert main(["maintenance"]) == 0
    assert "Wartung fertig" in capsys.readouterr().out
    monkeypatch.setenv("METRICS_RETENTION_DAYS", "-3")
    assert main(["maintenance"]) == 2
    assert "METRICS_RETENTION_DAYS" in capsys.readouterr().err


def test_maintenance_on_a_fresh_embedded_database_migrates_it_first(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A newcomer's first command may be the maintenance pass (cron set up before the server ever ran): on the
    embedded default it migrates the database, as serve does, instead of failing on missing tables."""
    from techcare_backend.cli import main

    monkeypatch.setenv("TECHCARE_ENV", "development")
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TECHCARE_LANG", "en")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["maintenance"]) == 0, capsys.readouterr().err
    assert "Maintenance done" in capsys.readouterr().out
    assert (tmp_path / "techcare-backend.sqlite3").exists()
    # migrating a database that cannot be reached is the same clear failure as a pass that cannot reach it
    monkeypatch.setenv("AUTO_MIGRATE", "true")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/unreachable")
    assert main(["maintenance"]) == 1
    err = capsys.readouterr().err
    assert "Maintenance failed" in err and "Is the database reachable" in err and "Traceback" not in err


def test_the_server_runs_maintenance_on_its_own(tmp_path: Any) -> None:
    """With METRICS_MAINTENANCE_SECONDS set, the app runs a pass right after start and then on that schedule."""
    import time

    from fastapi.testclient import TestClient
    from techcare_backend.core.db import make_engine, migrate
    from techcare_backend.main import create_app
    from techcare_backend.testing import make_settings

    settings = make_settings(None, None, data_dir=tmp_path, metrics_maintenance_seconds=60)
    migrate(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    now = datetime.now(UTC)
    store(engine, [at(now - timedelta(hours=1), f"PC-{uuid.uuid4().hex[:6]}")], received=now - timedelta(minutes=2))
    with TestClient(create_app(settings)):
        deadline = time.monotonic() + 20
        last = None
        while time.monotonic() < deadline and last is None:
            with engine.connect() as conn:
                last = conn.execute(text("SELECT detail FROM metrics_maintenance WHERE name = 'last_pass'")).scalar()
            time.sleep(0.1)
    engine.dispose()
    assert last is not None, "no pass ran"


def test_history_api_says_its_resolution(client: Any, make_org: Any, app: Any) -> None:
    from techcare_backend.models import MetricRollup

    org = make_org("pro_business")
    now = datetime.now(UTC).replace(microsecond=0)
    body = [at(now - timedelta(minutes=m), "HIST-1", cpu_percent=float(m)) for m in (10, 20, 30)]
    assert client.post("/api/monitoring/metrics/batch", json={"samples": body},
                       headers=org.headers("sensor")).json()["created"] == 3
    tech = org.headers("technician")
    day = client.get("/api/monitoring/hosts/HIST-1/history", headers=tech)
    assert day.status_code == 200, day.text
    out = day.json()
    assert out["resolution"] == "raw" and [p["cpu"]["avg"] for p in out["points"]] == [30.0, 20.0, 10.0]
    bucket = (now - timedelta(days=3)).replace(minute=0, second=0)
    with app.state.ctx.sessionmaker() as db:  # a rollup row, as the maintenance pass writes them
        db.add(MetricRollup(organisation_id=org.organisation_id, hostname="HIST-1", resolution="hour", bucket=bucket,
                            samples=12, cpu_min=1.0, cpu_avg=2.0, cpu_max=3.0, cpu_n=12, smart_worst="warning",
                            updated_at=now))
        db.commit()
    week = client.get("/api/monitoring/hosts/HIST-1/history", headers=tech,
                      params={"since": (now - timedelta(days=7)).isoformat()}).json()
    assert week["resolution"] == "hour" and len(week["points"]) == 1
    assert week["points"][0]["cpu"] == {"min": 1.0, "avg": 2.0, "max": 3.0}
    assert week["points"][0]["smart_worst"] == "warning" and week["points"][0]["samples"] == 12
    forced = client.get("/api/monitoring/hosts/HIST-1/history", headers=tech, params={"resolution": "raw"}).json()
    assert forced["resolution"] == "raw"
    empty = client.get("/api/monitoring/hosts/HIST-1/history", headers=tech,
                       params={"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()})
    assert empty.status_code == 200 and empty.json()["points"] == []  # an empty range, as /metrics answers it
    bad = client.get("/api/monitoring/hosts/HIST-1/history", headers=tech, params={"resolution": "minute"})
    assert bad.status_code == 422 and "resolution" in bad.json()["detail"]
    assert client.get("/api/monitoring/hosts/NOPE/history", headers=tech).status_code == 404
    assert client.get("/api/monitoring/hosts/HIST-1/history", headers=org.headers("sensor")).status_code == 403

    # the client library (monitoring.history, behind %sensor --history) follows the resolution the backend chose
    import pandas as pd
    from techcare import monitoring
    from techcare.backend_client import BackendClient

    lib = BackendClient("http://testserver", org.keys["technician"], client=client)
    recent = monitoring.history("HIST-1", client=lib)
    assert recent.attrs["resolution"] == "raw" and recent["cpu_percent"].tolist() == [30.0, 20.0, 10.0]
    assert recent["firewall"].tolist() == ["on"] * 3 and recent["disk_max_percent"].tolist() == [50.0] * 3
    weekly = monitoring.history("HIST-1", since=(now - timedelta(days=7)).isoformat(), client=lib)
    assert weekly.attrs["resolution"] == "hour" and weekly.index.tolist() == [pd.Timestamp(bucket)]
    row = weekly.iloc[0]
    assert (row.cpu_percent, row.cpu_percent_min, row.cpu_percent_max, row.samples, row.smart_worst) == (
        2.0, 1.0, 3.0, 12, "warning")
    assert monitoring.plot_history(weekly) is not None  # the average columns keep their names: one chart for both
    daily = monitoring.history("HIST-1", since=(now - timedelta(days=7)).isoformat(), resolution="day", client=lib)
    assert daily.attrs["resolution"] == "day" and len(daily) == 0  # no daily rollup stored
    # a long range whose samples are not rolled up yet (the pass runs every few minutes): the samples themselves
    fresh = monitoring.history("HIST-1", since=(now - timedelta(days=400)).isoformat(), client=lib)
    assert fresh.attrs["resolution"] == "raw" and fresh["cpu_percent"].tolist() == [30.0, 20.0, 10.0]


def test_days_mostly_inside_the_window_are_scanned_whole() -> None:
    """After hours without maintenance the pass reads a day that lies at least 12 h inside its window in one scan
    (no separate search for its touched hours); bounded by rollup retention and the future limit."""
    from techcare_backend.core.metrics_maintenance import _window_days

    day = datetime(2026, 12, 1, tzinfo=UTC)
    far = day + timedelta(days=30)
    assert _window_days(None, day + timedelta(days=3), day - timedelta(days=400), far) == [], "first pass: search"
    assert _window_days(day + timedelta(hours=12), day + timedelta(days=1), day, far) == [day]
    assert _window_days(day + timedelta(hours=12, seconds=1), day + timedelta(days=1), day, far) == []
    assert _window_days(day - timedelta(hours=1), day + timedelta(days=2, hours=11), day, far) == [
        day, day + timedelta(days=1)]
    assert _window_days(day - timedelta(days=5), day + timedelta(days=2), day, far) == [day, day + timedelta(days=1)]
    assert _window_days(day, day + timedelta(days=5), day, day + timedelta(days=2)) == [day, day + timedelta(days=1)]


def test_a_pass_after_a_day_without_maintenance_scans_that_day_whole(request: pytest.FixtureRequest) -> None:
    """The catch-up pass on PostgreSQL: the missed day is scanned whole (``day_scans``), the few hours of the day
    before it that arrived in the window are read back by their touched hours, and every rollup equals the
    aggregates of its samples, as on the other path."""
    from techcare_backend.core.db import make_engine, migrate

    url = request.getfixturevalue("fresh_postgres_url")
    migrate(url)
    engine = make_engine(url)
    try:
        start = NOW - timedelta(days=2) + timedelta(hours=3)  # 2026-11-30 13:30: the last pass before the gap
        assert maintain(engine, now=start).ran
        day = datetime(2026, 12, 1, tzinfo=UTC)
        raw: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
        t = start
        while t < NOW - timedelta(minutes=2):
            for host in ("PC-1", "PC-2"):
                cpu = float((t.hour * 7 + t.minute + len(host)) % 100)
                store(engine, [at(t, host, cpu_percent=cpu, ram_percent=50.0, swap_percent=None, disks=[], smart=[])],
                      received=t)
                raw.setdefault((host, t.replace(minute=0)), []).append(
                    {"cpu": cpu, "ram": 50.0, "swap": None, "disk": None, "smart": []})
            t += timedelta(minutes=20)
        report = maintain(engine)
        assert report.day_scans == 1, report.as_dict()  # 2026-12-01; 11-30 and 12-02 by their touched hours
        table = rollups(engine)
        assert {(h, hour) for h, r, hour in table if r == "hour"} == set(raw)
        for (host, hour), values in raw.items():
            _check(table[(host, "hour", hour)], _expected(values))
        whole_day = [v for (h, hour), vs in raw.items() if h == "PC-1" and hour.date() == day.date() for v in vs]
        _check(table[("PC-1", "day", day)], _expected(whole_day))
        again = maintain(engine, now=NOW + timedelta(minutes=5))
        assert (again.hours, again.days) == (0, 0)
    finally:
        engine.dispose()


@pytest.fixture()
def pg_engine(fresh_postgres_url: str) -> Iterator[Engine]:
    from techcare_backend.core.db import make_engine, migrate

    migrate(fresh_postgres_url)
    eng = make_engine(fresh_postgres_url)
    yield eng
    eng.dispose()


def test_an_expired_partition_is_detached_in_a_transaction_before_it_is_dropped(pg_engine: Engine) -> None:
    """Dropping a day partition unlinks its files before its locks go (a second or more at fleet scale): while
    still attached that would hold the parent's lock and stop every ingest and history read meanwhile. The pass
    detaches it (a catalog change), commits, and drops the detached table in a transaction of its own."""
    from sqlalchemy import event
    from techcare_backend.core.metrics_maintenance import EXPIRED_PREFIX, create_partition, day_floor, partitions

    old = NOW - timedelta(days=33)
    with pg_engine.begin() as conn:  # the day's partition, as the pass had created it then
        create_partition(conn, day_floor(old), day_floor(old) + timedelta(days=1))
    store(pg_engine, [at(old), at(NOW - timedelta(hours=1))], received=NOW - timedelta(minutes=5))
    steps: list[str] = []
    event.listen(pg_engine, "before_cursor_execute", lambda _c, _cur, stmt, *_a: steps.append(stmt))
    event.listen(pg_engine, "commit", lambda _c: steps.append("COMMIT"))
    report = maintain(pg_engine)
    name = f"metric_samples_p{old:%Y%m%d}"
    assert name in report.partitions_dropped
    detach = next(i for i, s in enumerate(steps) if "DETACH PARTITION" in s and name in s)
    drop = next(i for i, s in enumerate(steps) if s.startswith("DROP TABLE") and EXPIRED_PREFIX in s)
    assert detach < steps.index("COMMIT", detach) < drop, steps[detach:drop + 1]
    assert stored_times(pg_engine) == [NOW - timedelta(hours=1)]
    with pg_engine.begin() as conn:
        assert name not in {n for n, _, _ in partitions(conn)}
        assert conn.execute(text("SELECT count(*) FROM pg_class WHERE relname LIKE 'metric\\_samples\\_expired%'")
                            ).scalar_one() == 0


def test_a_day_is_scanned_whole_when_its_touched_hours_would_cost_more_than_the_scan(pg_engine: Engine) -> None:
    """``_day_scan``'s estimate: reading a touched hour back costs ~DAY_SCAN_RATIO samples, so a day is scanned
    whole once touched hours x ratio reach the day's samples by the partition's statistics; a partition never
    analysed, the default one or a day without a partition is read back hour by hour."""
    from techcare_backend.core.metrics_maintenance import (DAY_SCAN_RATIO, _day_scan, create_partition, day_floor,
                                                           partitions)

    day = day_floor(NOW) - timedelta(days=1)
    with pg_engine.begin() as conn:
        if not any(lo == day for _, lo, _ in partitions(conn)):
            create_partition(conn, day, day + timedelta(days=1))
        layout = partitions(conn)
        assert _day_scan(conn, day, 10_000, layout) is False, "never analysed: no estimate, read back"
    samples = 2 * DAY_SCAN_RATIO
    store(pg_engine, [at(day + timedelta(minutes=10 * i), host=f"PC-{i % 3}") for i in range(samples)],
          received=NOW - timedelta(minutes=5))
    with pg_engine.begin() as conn:
        conn.execute(text(f'ANALYZE "metric_samples_p{day:%Y%m%d}"'))
        assert _day_scan(conn, day, 1, layout) is False  # 30 < 60
        assert _day_scan(conn, day, 2, layout) is True  # 60 >= 60
        assert _day_scan(conn, day - timedelta(days=400), 10_000, layout) is False, "no partition for that day"


def test_a_partition_left_detached_by_a_stopped_pass_is_dropped_by_the_next(pg_engine: Engine) -> None:
    """A pass killed between detaching an expired partition and dropping it leaves a table no partition list
    shows; the next pass finds it by its name, drops it and reports it, and keeps every other sample."""
    from techcare_backend.core.metrics_maintenance import EXPIRED_PREFIX

    kept = [NOW - timedelta(days=2), NOW - timedelta(hours=1)]
    store(pg_engine, [at(t) for t in kept], received=NOW - timedelta(minutes=5))
    day = NOW - timedelta(days=2)
    name = f"metric_samples_p{day:%Y%m%d}"
    leftover = EXPIRED_PREFIX + name.removeprefix("metric_samples_")
    with pg_engine.begin() as conn:  # the state a pass stopped after its detach step leaves
        conn.execute(text("CREATE TABLE gone (LIKE metric_samples)"))
        conn.execute(text(f'ALTER TABLE gone RENAME TO "{leftover}"'))
        conn.execute(text(f"INSERT INTO \"{leftover}\" SELECT * FROM metric_samples WHERE ts < :t"),
                     {"t": NOW - timedelta(days=1)})
    report = maintain(pg_engine)
    assert name in report.partitions_dropped, report.as_dict()
    with pg_engine.begin() as conn:
        assert conn.execute(text("SELECT to_regclass(:n)"), {"n": f'"{leftover}"'}).scalar() is None
    assert stored_times(pg_engine) == kept
    assert maintain(pg_engine, now=NOW + timedelta(minutes=10)).partitions_dropped == []


@pytest.mark.parametrize("lang", ["de", "en"])
def test_migrating_refuses_a_postgresql_older_than_14_and_says_what_to_do(lang: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from techcare.errors import ConfigError
    from techcare_backend.core.db import _check_version

    monkeypatch.setenv("TECHCARE_LANG", lang)
    _check_version("140000", "14.0")
    _check_version("160004", "16.4 (Debian 16.4-1.pgdg120+1)")
    with pytest.raises(ConfigError) as err:
        _check_version("130016", "13.16 (Debian 13.16-0+deb11u1)")
    assert "13.16" in str(err.value) and "14" in str(err.value) and "DATABASE_URL" in str(err.value)
    assert ("zu alt" if lang == "de" else "too old") in str(err.value)
