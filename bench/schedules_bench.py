"""Maintenance schedules at fleet scale: what working out the due occurrences costs the backend per sensor check-in.

    .venv/bin/python bench/schedules_bench.py [--hosts 5000] [--tags 200] [--step-minutes 20] [--sqlite]

The fleet of issue 14's goal: 5,000 hosts in 200 tags (25 hosts each), one weekly schedule per tag (Sunday 02:00
local, a 2-hour window, Windows + Linux variants, signed like the real ones), hosts spread over seven time zones
(half of them Europe/Berlin, some without a reported zone, i.e. UTC). Stored through the backend's own crud code in
a throwaway PostgreSQL database (default; PostgreSQL on 127.0.0.1:5432, user postgres, trust) or embedded SQLite
(``--sqlite``).

Then every host checks in every ``--step-minutes`` simulated minutes from Saturday 12:00 to Sunday 14:00 UTC, so
every host's window opens once (Tokyo first, New York last) and every occurrence is handed out: each check-in is
``DueIndex.due(...)``, the call ``GET /api/sensor/jobs`` makes for schedules (the jobs part of that route is
measured by ``bench/jobs_bench.py``). Timed per check-in with ``time.perf_counter``: all of them, those that only
looked in memory, and those that claimed an occurrence in the database (one per host and week). Goal: p95 <= 1 ms
per check-in. Printed as Markdown (recorded in bench/README.md, "Maintenance schedules").
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
ZONES = [("Europe/Berlin", 50), ("Europe/Vienna", 10), ("Europe/Zurich", 10), ("Europe/London", 10),
         ("America/New_York", 8), ("Asia/Tokyo", 4), (None, 8)]
START = datetime(2026, 12, 12, 12, 0, tzinfo=UTC)  # a Saturday
END = datetime(2026, 12, 13, 14, 0, tzinfo=UTC)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def database(sqlite: bool) -> tuple[str, object]:
    """A throwaway database URL and its clean-up."""
    if sqlite:
        tmp = tempfile.TemporaryDirectory(prefix="schedules-bench-")
        return f"sqlite:///{tmp.name}/bench.db", tmp.cleanup
    import psycopg

    name = f"schedules_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def build(sessionmaker, hosts: int, tags: int, rng: random.Random) -> tuple[str, list[str]]:
    from techcare.signing import SigningKey
    from techcare_backend import crud_schedules
    from techcare_backend.models import Host, HostTag, Organisation

    key = SigningKey.generate()
    created = START - timedelta(days=5)
    names = [f"pc-{i:05d}" for i in range(hosts)]
    zones = [z for z, weight in ZONES for _ in range(weight)]
    with sessionmaker() as session:
        org = Organisation(name=f"Bench {uuid.uuid4().hex[:6]}")
        session.add(org)
        session.flush()
        session.add_all([Host(organisation_id=org.id, hostname=n, os="windows", last_seen=created,
                              last_sample_at=created, last={}, timezone=rng.choice(zones)) for n in names])
        per_tag = hosts // tags
        groups = [names[i * per_tag:(i + 1) * per_tag] for i in range(tags)]
        session.add_all([HostTag(organisation_id=org.id, hostname=h, tag=f"kunde:k{i:03d}", source="technician",
                                 created_at=created, created_by="bench") for i, g in enumerate(groups) for h in g])
        session.flush()
        variant = {"steps": [{"number": 1, "action": "win.clear_temp", "params": {"older_than_days": 7}},
                             {"number": 2, "action": "win.check_disk", "params": {}}],
                   "approval": "GO REPAIR: 1,2", "approved_steps": [1, 2], "plan_fingerprint": "0123456789ab"}
        for i, group in enumerate(groups):
            payload = {"v": 1, "kind": "schedule", "schedule_id": uuid.uuid4().hex, "revision": 1,
                       "name": f"Wochenwartung k{i:03d}", "tag": f"kunde:k{i:03d}", "hosts": group,
                       "variants": {"windows": variant, "linux": variant},
                       "rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "dtstart": "2026-12-06T02:00:00",
                       "window_minutes": 120, "catch_up": False, "allow_high_risk": False, "allow_reboot": False,
                       "valid_from": iso(created), "valid_until": iso(created + timedelta(days=365)),
                       "issued_at": iso(created), "signer": "Bench"}
            crud_schedules.create_schedule(session, organisation_id=org.id, envelope=key.sign(payload),
                                           created_by="bench", actor="bench", now=created)
        session.commit()
    return org.id, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--step-minutes", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true", help="embedded SQLite instead of PostgreSQL")
    args = parser.parse_args()

    from techcare_backend.core.db import make_engine, make_sessionmaker, migrate
    from techcare_backend.crud_schedules import DueIndex

    url, cleanup = database(args.sqlite)
    try:
        migrate(url)
        engine = make_engine(url)
        sessionmaker = make_sessionmaker(engine)
        rng = random.Random(14)
        t0 = time.perf_counter()
        org, names = build(sessionmaker, args.hosts, args.tags, rng)
        print(f"built {args.hosts} hosts, {args.tags} tags and schedules in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        index = DueIndex()
        t0 = time.perf_counter()
        index.due(sessionmaker, org, names[0], START)
        cold = (time.perf_counter() - t0) * 1000
        memory: list[float] = []
        claims: list[float] = []
        handed = 0
        now = START
        while now <= END:
            order = names[:]
            rng.shuffle(order)
            for host in order:
                t0 = time.perf_counter()
                got = index.due(sessionmaker, org, host, now)
                took = (time.perf_counter() - t0) * 1000
                if got:
                    handed += len(got)
                    claims.append(took)
                else:
                    memory.append(took)
            now += timedelta(minutes=args.step_minutes)
        engine.dispose()
    finally:
        cleanup()  # type: ignore[operator]
    every = memory + claims
    kind = "SQLite (embedded)" if args.sqlite else "PostgreSQL 16"
    print(f"\n{args.hosts:,} hosts, {args.tags} tags with a weekly schedule each, {kind}; every host checks in "
          f"every {args.step_minutes} simulated minutes, {START:%a %H:%M} to {END:%a %H:%M} UTC "
          f"({len(every):,} check-ins, {handed:,} occurrences handed out)\n")
    print("| check-ins | n | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, values in (("all", every), ("nothing to claim (memory only)", memory),
                          ("claimed an occurrence (database)", claims)):
        if values:
            print(f"| {label} | {len(values):,} | {statistics.median(values):.3f} ms | "
                  f"{percentile(values, 95):.3f} ms | {percentile(values, 99):.3f} ms | {max(values):.2f} ms |")
    print(f"\nfirst check-in of the organisation on a cold instance (index load): {cold:.0f} ms")
    ok = percentile(every, 95) <= 1.0
    print(f"goal p95 <= 1 ms per check-in: {'met' if ok else 'NOT met'}")
    if handed != args.hosts:
        print(f"WARNING: {handed} occurrences handed out, expected {args.hosts}")


if __name__ == "__main__":
    main()
