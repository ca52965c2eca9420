"""Metrics at fleet scale (issue 18): a fleet's year of samples in a throwaway PostgreSQL database, loaded with COPY.

    .venv/bin/python bench/metrics_scale_bench.py [--hosts 5000] [--fleet-hosts 5000] [--raw-days 30]
        [--rollup-days 365] [--interval 300] [--partition daily|weekly] [--queries 200] [--at 21:30] [--keep]
        [--port 5432]

Needs PostgreSQL on 127.0.0.1 (``--port``, default 5432; user postgres, trust). Creates a database ``techcare_metrics_bench_*``, migrates it
(0008: ``metric_samples`` partitioned), then loads with COPY:

* raw samples of ``--hosts`` hosts every ``--interval`` seconds for the last ``--raw-days`` days (the sensor's real
  payload, ~1 KB of JSON), plus one expired day (the maintenance pass drops it);
* hourly and daily rollups of those hosts for ``--rollup-days`` days;
* the ``hosts`` table with ``--fleet-hosts`` rows (the fleet page reads only that table).

Measured, each through the code the server runs (``crud.host_history``, ``dashboard.queries.fleet_page``,
``crud.list_hosts``, ``run_maintenance``): host history 24 h (raw), 30 d (hourly rollups) and 365 d (daily rollups)
p50/p95 over random hosts; the fleet page (100 rows of ``--fleet-hosts``) and the full host list p50/p95; one
maintenance pass that re-rolls one day of every host's samples and drops the expired day's partition, the same day
re-rolled once more (nothing changed) and a regular pass (one interval of every host's samples); the database size
per month of data (raw partitions and rollups), and, while the catch-up pass runs, single-sample inserts on a
connection of their own every 20 ms (how long ingest waits behind the pass). ``--at`` is the UTC time of day the
benchmark's "now" is set to (today), so the pass's window covers the same hours whatever the wall clock says.
``--partition weekly`` lays the raw table out in 7-day
partitions instead, for the daily-vs-weekly comparison. Prints a Markdown table (record it in bench/README.md).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "backend")]
PG_ADMIN = "host=127.0.0.1 port={port} user=postgres dbname=postgres"
ORG = "11111111-2222-3333-4444-555555555555"


def payload_template() -> str:
    """The validated sample as the server stores it, with markers for the values that vary."""
    from techcare_backend.schemas import MetricSampleCreate

    body = {"sample_id": "SAMPLEID", "timestamp": "2026-01-01T00:00:00Z", "hostname": "HOSTNAME", "os": "windows",
            "cpu_percent": 11.25, "ram_percent": 22.25, "swap_percent": 33.25,
            "disks": [{"mount": "C:", "total": 500_000_000_000, "used": 250_000_000_000, "free": 250_000_000_000,
                       "percent": 44.25},
                      {"mount": "D:", "total": 1_000_000_000_000, "used": 100_000_000_000,
                       "free": 900_000_000_000, "percent": 10.0}],
            "services": {"firewall": "on", "antivirus": "on", "update_service": "ok", "failed": []},
            "pending_updates": {"count": 2, "security": 1}, "pending_reboot": False,
            "events": [{"time": "2026-01-01T00:00:00Z", "level": "error", "source": "Service Control Manager",
                        "message": "The Print Spooler service terminated unexpectedly.", "event_id": 7034}],
            "smart": [{"device": "PHYSICALDRIVE0", "health": "passed", "model": "Samsung SSD 870 EVO",
                       "temperature_c": 34}],
            "dropped_samples": 0, "agent_version": "0.1.0", "uptime_seconds": 86400}
    text = MetricSampleCreate.model_validate(body).model_dump_json()
    assert "\\" not in text and "\t" not in text  # safe for COPY's text format as is
    return text


def copy_raw(conn: psycopg.Connection, hosts: list[str], start: datetime, end: datetime, interval: int,
             received: datetime | None = None) -> int:
    template = payload_template()
    rng = random.Random(18)
    rows = 0
    # the value columns (migration 0009) as ingest writes them: the payload's numbers, the fullest disk (D: is at
    # 10 %), the worst SMART rank (one disk, passed = 0)
    with conn.cursor() as cur, cur.copy("COPY metric_samples (organisation_id, sample_id, hostname, os, ts, "
                                        "received_at, payload, cpu_percent, ram_percent, swap_percent, "
                                        "disk_max_percent, smart_rank) FROM STDIN") as copy:
        buf = io.StringIO()
        t = start
        step = timedelta(seconds=interval)
        while t < end:
            stamp = t.strftime("%Y-%m-%dT%H:%M:%SZ")
            got = (received or t).isoformat()
            for h in hosts:
                sid = uuid.uuid4().hex
                cpu, ram = f"{rng.random() * 100:.2f}", f"{rng.random() * 100:.2f}"
                swap, disk = f"{rng.random() * 20:.2f}", f"{rng.random() * 100:.1f}"
                p = (template.replace("SAMPLEID", sid, 1).replace("HOSTNAME", h, 1)
                     .replace("2026-01-01T00:00:00Z", stamp, 1)
                     .replace("11.25", cpu, 1).replace("22.25", ram, 1)
                     .replace("33.25", swap, 1).replace("44.25", disk, 1))
                buf.write(f"{ORG}\t{sid}\t{h}\twindows\t{stamp}\t{got}\t{p}\t{cpu}\t{ram}\t{swap}\t"
                          f"{max(float(disk), 10.0)}\t0\n")
                rows += 1
            if buf.tell() > 8_000_000:
                copy.write(buf.getvalue())
                buf = io.StringIO()
            t += step
        copy.write(buf.getvalue())
    return rows


def copy_rollups(conn: psycopg.Connection, hosts: list[str], start: datetime, end: datetime, interval: int) -> int:
    rng = random.Random(19)
    per_hour = 3600 // interval
    cols = ("organisation_id, hostname, resolution, bucket, samples, "
            + ", ".join(f"{m}_min, {m}_avg, {m}_max, {m}_n" for m in ("cpu", "ram", "swap", "disk"))
            + ", smart_worst, smart_failing, updated_at")
    rows = 0
    now = datetime.now(UTC).isoformat()

    def line(h: str, res: str, bucket: datetime, n: int) -> str:
        vals = []
        for _ in range(4):
            lo = rng.random() * 50
            vals += [f"{lo:.2f}", f"{lo + 10:.2f}", f"{lo + 25:.2f}", str(n)]
        return f"{ORG}\t{h}\t{res}\t{bucket.isoformat()}\t{n}\t" + "\t".join(vals) + f"\tpassed\tf\t{now}\n"

    with conn.cursor() as cur, cur.copy(f"COPY metric_rollups ({cols}) FROM STDIN") as copy:
        buf = io.StringIO()
        day = start
        while day < end:
            for h in hosts:
                for hour in range(24):
                    buf.write(line(h, "hour", day + timedelta(hours=hour), per_hour))
                buf.write(line(h, "day", day, per_hour * 24))
                rows += 25
            if buf.tell() > 8_000_000:
                copy.write(buf.getvalue())
                buf = io.StringIO()
            day += timedelta(days=1)
        copy.write(buf.getvalue())
    return rows


def copy_hosts(conn: psycopg.Connection, names: list[str], now: datetime) -> None:
    rng = random.Random(20)
    last = json.dumps({"pending_reboot": False, "agent_version": "0.1.0"})
    with conn.cursor() as cur, cur.copy(
            "COPY hosts (organisation_id, hostname, os, last_seen, last_sample_at, cpu_percent, ram_percent, "
            "disk_max_percent, firewall, antivirus, smart_failing, pending_updates, last) FROM STDIN") as copy:
        for i, h in enumerate(names):
            seen = now - timedelta(seconds=rng.randint(0, 3000))
            copy.write_row((ORG, h, "windows", seen, seen, rng.random() * 100, rng.random() * 100,
                            rng.random() * 100, "off" if i % 97 == 0 else "on", "on", i % 501 == 0,
                            rng.randint(0, 5), last))


class IngestProbe(threading.Thread):
    """Inserts one sample every 20 ms on a connection of its own (as ingest does: into the parent table, routed to
    today's partition) until stopped; reports how many, and the median and slowest insert."""

    def __init__(self, dsn: str, now: datetime) -> None:
        super().__init__(daemon=True)
        self.dsn, self.now, self.halt, self.took = dsn, now, threading.Event(), []

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.halt.is_set():
                t0 = time.perf_counter()
                conn.execute("INSERT INTO metric_samples (organisation_id, sample_id, hostname, os, ts, received_at, "
                             "payload, cpu_percent, ram_percent, swap_percent, disk_max_percent, smart_rank) VALUES "
                             "(%s, %s, 'PROBE', 'windows', %s, %s, '{}', 1, 1, 1, 1, 0)",
                             (ORG, uuid.uuid4().hex, self.now, self.now))
                self.took.append((time.perf_counter() - t0) * 1000)
                self.halt.wait(0.02)

    def stop(self) -> str:
        self.halt.set()
        self.join()
        with psycopg.connect(self.dsn, autocommit=True) as conn:  # out of the passes that follow
            conn.execute("DELETE FROM metric_samples WHERE hostname = 'PROBE'")
        if not self.took:
            return "none ran"
        return (f"{len(self.took)} inserts, p50 {statistics.median(self.took):.1f} ms, "
                f"slowest {max(self.took):.0f} ms")


def timings(fn, runs: int) -> tuple[float, float]:
    fn()  # warm
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    out.sort()
    return statistics.median(out), out[max(0, int(len(out) * 0.95) - 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=5000)
    ap.add_argument("--fleet-hosts", type=int, default=5000)
    ap.add_argument("--raw-days", type=int, default=30)
    ap.add_argument("--rollup-days", type=int, default=365)
    ap.add_argument("--interval", type=int, default=300)
    ap.add_argument("--partition", choices=["daily", "weekly"], default="daily")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--at", default="21:30", help="UTC time of day (HH:MM) of the benchmark's now, today")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--port", type=int, default=5432, help="PostgreSQL's port on 127.0.0.1 (user postgres, trust)")
    args = ap.parse_args()
    admin_dsn = PG_ADMIN.format(port=args.port)
    if min(args.hosts, args.fleet_hosts, args.raw_days, args.rollup_days, args.interval, args.queries) < 1:
        ap.error("every number must be at least 1")
    try:
        at = datetime.strptime(args.at, "%H:%M")
    except ValueError:
        ap.error(f"--at {args.at!r}: expected HH:MM (UTC), e.g. 21:30")

    from sqlalchemy.orm import Session
    from techcare_backend import crud
    from techcare_backend.core.db import make_engine, migrate
    from techcare_backend.core.metrics_maintenance import _set_state, partitions, run_maintenance
    from techcare_backend.dashboard import queries

    width = 1 if args.partition == "daily" else 7
    name = f"techcare_metrics_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:{args.port}/{name}"
    dsn = f"host=127.0.0.1 port={args.port} user=postgres dbname={name}"
    result: dict[str, str] = {}
    try:
        migrate(url)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        now = today.replace(hour=at.hour, minute=at.minute)
        raw_from = today - timedelta(days=args.raw_days)
        hosts = [f"PC-{i:05d}" for i in range(args.hosts)]
        fleet = hosts + [f"FLEET-{i:05d}" for i in range(max(0, args.fleet_hosts - args.hosts))]
        engine = make_engine(url)
        with psycopg.connect(dsn, autocommit=True) as conn:
            # the partition layout under test: drop the migration's empty day partitions, create days or weeks
            with engine.begin() as sa_conn:
                existing = partitions(sa_conn)
            for pname, _, _ in existing:
                conn.execute(f'DROP TABLE "{pname}"')
            start = raw_from - timedelta(days=width)  # one expired period the pass will drop
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            start = epoch + timedelta(days=((start - epoch).days // width) * width)
            t = start
            while t < today + timedelta(days=8):
                conn.execute(f'CREATE TABLE "metric_samples_p{t:%Y%m%d}" PARTITION OF metric_samples '
                             f"FOR VALUES FROM ('{t.isoformat()}') TO ('{(t + timedelta(days=width)).isoformat()}')")
                t += timedelta(days=width)
            t0 = time.perf_counter()
            raw_rows = copy_raw(conn, hosts, raw_from - timedelta(days=1), now, args.interval)
            load_raw = time.perf_counter() - t0
            t0 = time.perf_counter()
            roll_rows = copy_rollups(conn, hosts, today - timedelta(days=args.rollup_days), today, args.interval)
            copy_hosts(conn, fleet, now)
            load_roll = time.perf_counter() - t0
            conn.execute("VACUUM ANALYZE")
            raw_bytes = conn.execute("SELECT coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) FROM pg_inherits i "
                                     "WHERE i.inhparent = 'metric_samples'::regclass").fetchone()[0]
            roll_bytes = conn.execute("SELECT pg_total_relation_size('metric_rollups')").fetchone()[0]
            db_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        n_parts = len(existing)
        with engine.begin() as sa_conn:
            n_parts = len(partitions(sa_conn))

        rng = random.Random(21)
        with Session(engine) as session:
            def history(span: timedelta):
                def run() -> None:
                    out = crud.host_history(session, organisation_id=ORG, hostname=rng.choice(hosts),
                                            since=now - span, until=now, retention_days=args.raw_days, now=now)
                    assert out["points"], span
                return run

            for label, span in (("24 h (raw)", timedelta(hours=24)), ("30 d (hourly rollups)", timedelta(days=30)),
                                ("365 d (daily rollups)", timedelta(days=365))):
                p50, p95 = timings(history(span), args.queries)
                result[f"host history {label}"] = f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"
            p50, p95 = timings(lambda: queries.fleet_page(session, organisation_id=ORG, overdue_after=900,
                                                          disk_warning=90.0, sort="cpu", desc=True),
                               max(20, args.queries // 5))
            result[f"fleet page ({len(fleet)} hosts, 100 rows, sorted by CPU)"] = f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"
            p50, p95 = timings(lambda: crud.list_hosts(session, organisation_id=ORG, overdue_after=900),
                               max(10, args.queries // 20))
            result[f"GET /hosts list ({len(fleet)} hosts)"] = f"p50 {p50:.1f} ms, p95 {p95:.1f} ms"

        # one pass: a day of every host's samples counts as newly received, the expired period is dropped
        with engine.begin() as sa_conn:
            _set_state(sa_conn, "rollup_watermark", now - timedelta(days=1))
        probe = IngestProbe(dsn, now)
        probe.start()
        t0 = time.perf_counter()
        report = run_maintenance(engine, retention_days=args.raw_days, rollup_retention_days=max(1, args.rollup_days - 1),
                                 now=now, width_days=width)
        took = time.perf_counter() - t0
        result["single-sample inserts while the catch-up pass ran"] = probe.stop()
        result["maintenance pass (1 day re-rolled, expired partition dropped)"] = (
            f"{took:.2f} s ({report.hours} hourly + {report.days} daily rollups, "
            f"{len(report.partitions_dropped)} partition(s) dropped, {report.rollups_deleted} expired rollups deleted, "
            f"{report.day_scans} day(s) scanned whole; "
            + ", ".join(f"{k} {v:.2f} s" for k, v in report.phases.items()) + ")")

        def again(label: str, at: datetime) -> None:
            t0 = time.perf_counter()
            rep = run_maintenance(engine, retention_days=args.raw_days,
                                  rollup_retention_days=max(1, args.rollup_days - 1), now=at, width_days=width)
            result[label] = (f"{time.perf_counter() - t0:.2f} s ({rep.hours} hourly + {rep.days} daily rollups "
                             f"written, {rep.day_scans} day(s) scanned whole; "
                             + ", ".join(f"{k} {v:.2f} s" for k, v in rep.phases.items()) + ")")

        # the same day once more: every hour recomputed, none changed
        with engine.begin() as sa_conn:
            _set_state(sa_conn, "rollup_watermark", now - timedelta(days=1))
        again("maintenance pass, the same day again (nothing changed)", now)
        # the regular pass: one interval's samples of every host arrived since the last one
        with psycopg.connect(dsn, autocommit=True) as conn:
            copy_raw(conn, hosts, now, now + timedelta(seconds=args.interval), args.interval,
                     received=now + timedelta(seconds=30))
        again(f"regular pass ({args.interval} s of samples of every host)", now + timedelta(seconds=120))
        engine.dispose()
        per_month_raw = raw_bytes / raw_rows * args.hosts * 86400 / args.interval * 30  # by the sample, not the day
        per_month_roll = roll_bytes / args.rollup_days * 30
        result["raw samples per month"] = f"{per_month_raw / 2**30:.2f} GiB ({raw_rows:,} rows loaded in {load_raw:.0f} s)"
        result["rollups per month"] = f"{per_month_roll / 2**20:.1f} MiB ({roll_rows:,} rows loaded in {load_roll:.0f} s)"
        result["database"] = f"{db_bytes / 2**30:.2f} GiB, {n_parts} partitions ({args.partition})"
    finally:
        if not args.keep:
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        buffers = admin.execute("SHOW shared_buffers").fetchone()[0]
    print(f"\n{args.hosts} hosts every {args.interval} s, raw {args.raw_days} d, rollups {args.rollup_days} d, "
          f"{args.partition} partitions, shared_buffers {buffers}\n")
    print("| measure | result |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
