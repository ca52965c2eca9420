"""The monthly maintenance report for a 50-PC customer: how long rendering it takes (goal: <= 1 s).

    .venv/bin/python bench/report_bench.py [--pcs 50] [--runs 5] [--backend] [--sqlite]

1. Rendering (``techcare.fleet.report.render_report``, the code the dashboard download and ``fleet.report`` run)
   on data shaped like ``GET /api/reports/maintenance`` returns it: ``--pcs`` Windows PCs with a *daily* schedule
   (31 occurrences each in December 2026 — the heavy case; a weekly schedule has 4-5), 85 % ran with three steps,
   5 % failed with an undone step, 7 % missed, 3 % skipped, four findings per PC. German and English, HTML and
   Markdown; the first render (cold: repair-catalogue titles looked up) and the median of ``--runs`` more.
2. With ``--backend``: the same month through the backend's own code on a throwaway PostgreSQL database
   (``--sqlite``: embedded SQLite): organisation, tagged hosts and a signed daily schedule stored with
   ``crud_schedules``, the month's windows recorded as missed and then reported (ran/failed/skipped) through
   ``crud_schedules.record_report`` (the sensor route's code), and the timed part: ``crud_reports.maintenance_report``
   (the body of ``GET /api/reports/maintenance``) + ``render_report``.

Printed as Markdown (recorded in bench/README.md, "Maintenance report").
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
MONTH = "2026-12"
TAG = "kunde:bench"
STEPS = [{"number": 1, "action": "win.create_restore_point", "params": {}},
         {"number": 2, "action": "win.clear_temp_files", "params": {"older_than_days": 7}},
         {"number": 3, "action": "win.flush_dns", "params": {}}]
GOAL = 1.0


def outcome(rng: random.Random) -> tuple[str, str | None, list[dict[str, Any]]]:
    """A run's status, reason and reported steps, in the mix of the module docstring."""
    draw = rng.random()
    if draw < 0.85:
        return "ran", None, [{"number": s["number"], "action": s["action"], "status": "finished",
                              "detail": "ok", "session": f"2026{rng.randrange(10**8):08d}"} for s in STEPS]
    if draw < 0.90:
        return "failed", "step_failed", [
            {"number": 1, "action": STEPS[0]["action"], "status": "finished", "detail": ""},
            {"number": 2, "action": STEPS[1]["action"], "status": "failed", "undo": "undone",
             "detail": "Zugriff verweigert: C:\\Windows\\Temp\\x.tmp"}]
    if draw < 0.97:
        return "missed", rng.choice(["not_fetched", "no_report"]), []
    return "skipped", "disabled", []


def report_data(pcs: int, rng: random.Random) -> dict[str, Any]:
    """The JSON of GET /api/reports/maintenance for ``pcs`` PCs with a daily schedule in December 2026."""
    hosts = []
    for i in range(pcs):
        occurrences = []
        for day in range(1, 32):
            status, reason, steps = outcome(rng)
            occurrences.append({"schedule_id": "a" * 32, "schedule": "Tägliche Wartung", "occurrence":
                                f"2026-12-{day:02d}T02:00", "timezone": "Europe/Berlin",
                                "planned_local": f"2026-12-{day:02d}T02:00:00+01:00",
                                "planned_utc": f"2026-12-{day:02d}T01:00:00+00:00", "status": status,
                                "reason": reason, "message": None, "steps": steps})
        hosts.append({
            "host": f"pc-{i:03d}", "os": "windows", "timezone": "Europe/Berlin", "timezone_known": True,
            "tags": [TAG], "status": "online", "last_seen": "2026-12-31T23:55:00+00:00",
            "sample_at": "2026-12-31T23:55:00+00:00", "disk_max_percent": rng.uniform(30, 97),
            "smart_failing": rng.random() < 0.05, "pending_updates": rng.randrange(0, 8),
            "pending_reboot": rng.random() < 0.2, "diagnosis_at": "2026-12-20T10:00:00+00:00",
            "occurrences": occurrences, "counts": {},
            "findings": [{"source": "diagnosis", "check": f"check_{k}", "severity": sev,
                          "summary": f"Befund {k} auf pc-{i:03d}"}
                         for k, sev in enumerate(("critical", "warning", "warning", "error"))]})
    return {"v": 1, "kind": "maintenance_report", "organisation": "Bench IT", "tag": TAG, "month": MONTH,
            "period": {"from": "2026-12-01T00:00:00+00:00", "until": "2027-01-01T00:00:00+00:00"},
            "generated_at": "2027-01-01T08:00:00+00:00", "lang": "de",
            "schedules": [{"schedule_id": "a" * 32, "name": "Tägliche Wartung", "tag": TAG, "revision": 1,
                           "rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "dtstart": "2026-12-01T02:00:00",
                           "window_minutes": 120, "catch_up": False, "allow_high_risk": False,
                           "allow_reboot": False, "signer": "Bench", "platforms": ["windows"], "status": "active",
                           "hosts": [h["host"] for h in hosts]}],
            "hosts": hosts, "totals": {}}


def timed(fn: Any, runs: int) -> tuple[float, float, Any]:
    """(first call, median of ``runs`` further calls) in seconds, and the last result."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), result


def render_only(pcs: int, runs: int) -> list[tuple[str, float, float, int]]:
    from techcare.fleet.report import render_report

    data = report_data(pcs, random.Random(14))
    rows = []
    for lang in ("de", "en"):
        first, median, (markdown, document) = timed(lambda lang=lang: render_report(data, lang), runs)
        rows.append((lang, first, median, len(markdown) + len(document)))
    return rows


def database(sqlite: bool) -> tuple[str, Any]:
    if sqlite:
        tmp = tempfile.TemporaryDirectory(prefix="report-bench-")
        return f"sqlite:///{tmp.name}/bench.db", tmp.cleanup
    import psycopg

    name = f"report_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def through_backend(pcs: int, runs: int, sqlite: bool, profile: bool = False) -> tuple[Any, ...]:
    """Build seconds, (first, median) of crud_reports.maintenance_report and of render_report, and the totals."""
    from techcare.fleet.report import render_report
    from techcare.signing import SigningKey
    from techcare_backend import crud_reports, crud_schedules
    from techcare_backend.core.db import make_engine, make_sessionmaker, migrate
    from techcare_backend.models import Host, HostTag, Organisation

    rng = random.Random(14)
    url, cleanup = database(sqlite)
    try:
        migrate(url)
        engine = make_engine(url)
        sessionmaker = make_sessionmaker(engine)
        t0 = time.perf_counter()
        created = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        end = datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
        names = [f"pc-{i:03d}" for i in range(pcs)]
        key = SigningKey.generate()
        with sessionmaker() as session:
            org = Organisation(name="Bench IT")
            session.add(org)
            session.flush()
            session.add_all([Host(organisation_id=org.id, hostname=n, os="windows", last_seen=end,
                                  last_sample_at=end, last={}, timezone="Europe/Berlin",
                                  disk_max_percent=rng.uniform(30, 97), pending_updates=rng.randrange(0, 8))
                             for n in names])
            session.add_all([HostTag(organisation_id=org.id, hostname=n, tag=TAG, source="technician",
                                     created_at=created, created_by="bench") for n in names])
            session.flush()
            variant = {"steps": STEPS, "approval": "GO REPAIR: 1-3", "approved_steps": [1, 2, 3],
                       "plan_fingerprint": "0123456789ab"}
            payload = {"v": 1, "kind": "schedule", "schedule_id": uuid.uuid4().hex, "revision": 1,
                       "name": "Tägliche Wartung", "tag": TAG, "hosts": names, "variants": {"windows": variant},
                       "rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "dtstart": "2026-11-30T02:00:00",
                       "window_minutes": 120, "catch_up": False, "allow_high_risk": False, "allow_reboot": False,
                       "valid_from": iso(created), "valid_until": iso(created + timedelta(days=365)),
                       "issued_at": iso(created), "signer": "Bench"}
            schedule, _, _ = crud_schedules.create_schedule(session, organisation_id=org.id,
                                                            envelope=key.sign(payload), created_by="bench",
                                                            actor="bench", now=created)
            org_id, schedule_id = org.id, schedule.id
            session.commit()
        with sessionmaker() as session:  # every window of December has passed: recorded as missed
            crud_reports.maintenance_report(session, organisation_id=org_id, month=MONTH, tag=TAG, now=end)
            session.commit()
        with sessionmaker() as session:  # the hosts' (late) reports: ran, failed, skipped; the rest stays missed
            for name in names:
                for day in range(1, 32):
                    status, reason, steps = outcome(rng)
                    if status != "missed":
                        crud_schedules.record_report(session, organisation_id=org_id, schedule_id=schedule_id,
                                                     occurrence=f"2026-12-{day:02d}T02:00", hostname=name,
                                                     status=status, reason=reason, message=None, steps=steps,
                                                     now=end)
            session.commit()
        build = time.perf_counter() - t0

        def fetch() -> dict[str, Any]:
            with sessionmaker() as session:
                data = crud_reports.maintenance_report(session, organisation_id=org_id, month=MONTH, tag=TAG,
                                                       now=end)
                session.commit()
            return data

        first, median, data = timed(fetch, runs)
        render_first, render_median, _ = timed(lambda: render_report(data, "de"), runs)
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(fetch)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        engine.dispose()
    finally:
        cleanup()
    return build, (first, median), (render_first, render_median), data["totals"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pcs", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", action="store_true", help="also through the backend's crud code")
    parser.add_argument("--sqlite", action="store_true", help="embedded SQLite instead of PostgreSQL (--backend)")
    parser.add_argument("--profile", action="store_true", help="cProfile of the report data call (stderr)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    import techcare.fleet.report  # noqa: F401 - the import is not part of a render

    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    import techcare.repairs  # noqa: F401 - the catalogue the step titles come from, loaded once per process

    catalogue = time.perf_counter() - t0
    rows = render_only(args.pcs, args.runs)
    print(f"\n{args.pcs} PCs, daily schedule, {MONTH} ({args.pcs * 31:,} occurrences); render_report, "
          f"first call and median of {args.runs}. Once per process before: import of techcare.fleet.report "
          f"{imported * 1000:.0f} ms, the repair catalogue (step titles) {catalogue * 1000:.0f} ms\n")
    print("| language | first (cold) | median | output |")
    print("|---|---:|---:|---:|")
    for lang, first, median, size in rows:
        print(f"| {lang} | {first * 1000:.0f} ms | {median * 1000:.0f} ms | {size / 1024:.0f} KiB |")
    worst = max(first for _, first, _, _ in rows)
    if args.backend:
        build, fetched, rendered, totals = through_backend(args.pcs, args.runs, args.sqlite, args.profile)
        kind = "SQLite (embedded)" if args.sqlite else "PostgreSQL 16"
        print(f"\nthrough the backend ({kind}; built in {build:.1f} s), totals {totals}\n")
        print("| | first | median |")
        print("|---|---:|---:|")
        print(f"| report data: crud_reports.maintenance_report | {fetched[0] * 1000:.0f} ms | "
              f"{fetched[1] * 1000:.0f} ms |")
        print(f"| render_report (de) of that data | {rendered[0] * 1000:.0f} ms | {rendered[1] * 1000:.0f} ms |")
        print(f"| together | {(fetched[0] + rendered[0]) * 1000:.0f} ms | "
              f"{(fetched[1] + rendered[1]) * 1000:.0f} ms |")
        data_goal = fetched[1] + rendered[1] <= GOAL
        print(f"\nthe download through the backend (data + render, median) within {GOAL:g} s: "
              f"{'yes' if data_goal else 'no'}")
    print(f"\ngoal: the report renders in <= {GOAL:g} s: {'met' if worst <= GOAL else 'NOT met'} (worst first "
          f"render {worst * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
