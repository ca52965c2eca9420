"""Dashboard fleet page with 5,000 hosts: server time to first byte (beside ``/api/health`` in the same run) and
time until the page is rendered in headless Chromium.

    .venv/bin/python bench/dashboard_bench.py [--hosts 5000] [--requests 40] [--renders 10]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), Redis on 127.0.0.1:6379, /usr/bin/chromium
(scripts/ensure-browser) and Playwright for Python. Creates a throwaway database and Redis prefix, runs the backend
(``techcare_backend.testing.start_backend``) in a subprocess, feeds it one sample per host through the batch API
and logs in through the real login form. Goals (issue 9): TTFB <= 300 ms, rendered <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

SERVER = textwrap.dedent("""
    import json, sys, threading
    from techcare_backend.testing import start_backend
    b = start_backend(sys.argv[1], sys.argv[2], redis_prefix=sys.argv[3], rate_limit_ip_per_minute=10**7,
                      rate_limit_key_per_minute=10**7)
    print(json.dumps({"url": b.url, "admin_token": b.admin_token}), flush=True)
    sys.stdin.read()
    b.stop()
""")


def sample(i: int, now: datetime) -> dict:
    disk = 40 + (i * 7) % 58
    return {"sample_id": str(uuid.uuid4()), "timestamp": (now - timedelta(seconds=i % 600)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"), "hostname": f"ws-{i:05d}.corp.example", "os": ("windows", "linux", "darwin")[i % 3],
            "cpu_percent": (i * 13) % 100, "ram_percent": 30 + (i * 17) % 70, "swap_percent": 2.0,
            "disks": [{"mount": "C:", "total": 512 * 10**9, "used": 512 * 10**7 * disk, "free": 512 * 10**7 * (100 - disk),
                       "percent": disk}],
            "services": {"firewall": "off" if i % 97 == 0 else "on", "antivirus": "off" if i % 89 == 0 else "on",
                         "update_service": "ok", "failed": []},
            "pending_updates": {"count": i % 7, "security": i % 2}, "pending_reboot": i % 11 == 0,
            "events": [], "smart": [{"device": "disk0", "health": "failing" if i % 211 == 0 else "passed",
                                     "model": "NVMe", "temperature_c": 40}],
            "dropped_samples": 0, "agent_version": "1.0.0", "uptime_seconds": 86400}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ttfb(client: httpx.Client, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        with client.stream("GET", path) as resp:  # returns once the status line and headers arrived
            first = time.perf_counter()
            assert resp.status_code == 200, (path, resp.status_code)
            resp.read()
        out.append((first - start) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=5000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--renders", type=int, default=10)
    args = ap.parse_args()

    db = f"techcare_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"techcare-bench-{uuid.uuid4().hex[:8]}:"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    proc = subprocess.Popen([sys.executable, "-c", SERVER, f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
                             REDIS_URL, prefix], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        url = info["url"]
        sys.path.insert(0, str(ROOT / "backend"))
        from techcare_backend.testing import seed

        org = seed(httpx.Client(base_url=url, timeout=60), admin_token=info["admin_token"], edition="enterprise")
        now = datetime.now(UTC)
        t0 = time.perf_counter()
        samples = [sample(i, now) for i in range(args.hosts)]
        for start in range(0, len(samples), 1000):
            r = httpx.post(url + "/api/monitoring/metrics/batch", json={"samples": samples[start:start + 1000]},
                           headers=org.headers("sensor"), timeout=120)
            r.raise_for_status()
            assert r.json()["created"] == len(samples[start:start + 1000]), r.json()["results"][:3]
        print(f"loaded {args.hosts} hosts in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        client = httpx.Client(base_url=url, timeout=60)
        page = client.get("/dashboard/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        r = client.post("/dashboard/login", data={"api_key": org.keys["technician"], "csrf": token})
        assert r.status_code == 303, r.text
        fleet = client.get("/dashboard/fleet")
        found = re.search(r'id="count-total">(\d+)<', fleet.text)
        assert found and int(found.group(1)) == args.hosts, (fleet.status_code, found and found.group(1))
        paths = ["/api/health", "/dashboard/fleet", "/dashboard/fleet?per_page=500",
                 "/dashboard/fleet?status=problems", "/dashboard/fleet?sort=cpu&dir=desc&page=20",
                 "/dashboard/fleet?q=ws-0499", "/dashboard/alerts", "/dashboard/hosts/ws-00042.corp.example"]
        for p in paths:  # warm up
            ttfb(client, p, 3)
        rows = []
        for p in paths:
            values = ttfb(client, p, args.requests)
            rows.append((p, statistics.median(values), pct(values, 0.95), max(values)))

        from playwright.sync_api import sync_playwright

        renders = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
            ctx = browser.new_context(viewport={"width": 1400, "height": 900})
            pg = ctx.new_page()
            pg.goto(url + "/dashboard/login")
            pg.fill("#api_key", org.keys["technician"])
            pg.click("#login")
            pg.wait_for_url("**/dashboard/fleet")
            for _ in range(args.renders):
                start = time.perf_counter()
                pg.goto(url + "/dashboard/fleet", wait_until="load")
                pg.wait_for_selector("#fleet tbody tr >> nth=99")
                wall = (time.perf_counter() - start) * 1000
                nav = pg.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                                  " return [n.responseStart, n.loadEventEnd]; }")
                renders.append((wall, nav[0], nav[1]))
            browser.close()

        print(f"\n{args.hosts} hosts, PostgreSQL + Redis, backend in one uvicorn process; "
              f"{args.requests} sequential requests per row\n")
        print("| request | TTFB p50 | p95 | max |")
        print("|---|---|---|---|")
        for p, p50, p95, mx in rows:
            print(f"| `{p}` | {p50:.1f} ms | {p95:.1f} ms | {mx:.1f} ms |")
        walls = [r[0] for r in renders]
        print(f"\nChromium, fleet page (100 rows of {args.hosts}) until load + rows in the DOM, {args.renders} runs: "
              f"median {statistics.median(walls):.0f} ms, max {max(walls):.0f} ms "
              f"(navigation timing: responseStart median {statistics.median(r[1] for r in renders):.0f} ms, "
              f"loadEventEnd median {statistics.median(r[2] for r in renders):.0f} ms)")
        return 0
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        rc = redis.Redis.from_url(REDIS_URL)
        keys = list(rc.scan_iter(match=prefix + "*", count=1000))
        if keys:
            rc.delete(*keys)
        rc.close()


if __name__ == "__main__":
    sys.exit(main())
