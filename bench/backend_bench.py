"""Backend benchmarks against PostgreSQL + Redis, each beside a bare FastAPI endpoint on the same server.

    .venv/bin/python bench/backend_bench.py [--duration 10] [--connections 16] [--cases 1000000] [--no-pin]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), Redis on 127.0.0.1:6379 and ``wrk`` (apt install wrk).
Creates a throwaway database and Redis prefix, starts ``uvicorn`` in a subprocess and measures. By default (``--pin``,
on 2+ cores) the server runs as 1 worker on CPU 0 and the load generator on CPU 1, with PostgreSQL and Redis
unpinned: the ratios then compare the server's own cost per request, as in production, where the database and the
clients are other machines. ``--no-pin`` (default 2 workers) lets everything share all cores. Measured:

* bare endpoint (async and sync) requests/s,
* single-sample ingest requests/s (goal >= 0.6 x bare),
* batch ingest samples/s (goal >= 20,000),
* validate requests/s and p99 (goal >= 0.7 x bare, p99 <= 10 ms),
* case search p95 with ``--cases`` cases loaded (goal <= 25 ms).

Results are printed as a Markdown table (record them in bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample(hostname: str) -> dict:
    return {"sample_id": str(uuid.uuid4()), "timestamp": "2026-02-17T10:30:00Z", "hostname": hostname,
            "os": "windows", "cpu_percent": 45.2, "ram_percent": 62.1, "swap_percent": 3.0,
            "disks": [{"mount": "C:\\", "total": 500_000_000_000, "used": 250_000_000_000,
                       "free": 250_000_000_000, "percent": 50.0}],
            "services": {"firewall": "on", "antivirus": "on", "update_service": "ok", "failed": []},
            "pending_updates": {"count": 2, "security": 1}, "pending_reboot": False,
            "events": [{"time": "2026-02-17T10:00:00Z", "level": "error", "source": "Service Control Manager",
                        "message": "The Print Spooler service terminated unexpectedly.", "event_id": 7034}],
            "smart": [{"device": "PHYSICALDRIVE0", "health": "passed", "model": "Samsung SSD 870 EVO",
                       "temperature_c": 34}], "dropped_samples": 0, "agent_version": "0.1.0", "uptime_seconds": 86400}


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


DONE = textwrap.dedent("""
    done = function(summary, latency, requests)
        io.write(string.format("P95_US %d\\n", latency:percentile(95)))
    end
""")


def run_wrk(url: str, script: str, duration: int, connections: int, threads: int = 1) -> dict:
    script += DONE
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        proc = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", path,
                               url], capture_output=True, text=True, check=True)
        out = proc.stdout
    finally:
        os.unlink(path)
    if proc.stderr.strip():
        raise SystemExit(f"wrk script error: {proc.stderr}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "90", "99"):
        m = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if m:
            value, unit = float(m.group(1)), m.group(2)
            lat[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    p95 = re.search(r"P95_US (\d+)", out)
    if p95:
        lat["95"] = int(p95.group(1)) / 1000
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "lat_ms": lat, "non2xx": int(non2xx.group(1)) if non2xx else 0, "raw": out}


def post_script(path: str, body: str, headers: dict[str, str], dynamic: str = "") -> str:
    hdr = "\n".join(f'wrk.headers["{k}"] = {lua_string(v)}' for k, v in headers.items())
    return textwrap.dedent(f"""
        wrk.method = "POST"
        wrk.path = {lua_string(path)}
        wrk.headers["Content-Type"] = "application/json"
        {hdr}
        local template = {lua_string(body)}
        local counter = 0
        math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
        request = function()
            counter = counter + 1
            local id = string.format("%08x%08x%06x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), counter)
            local body = template:gsub("@ID@", id)
            return wrk.format(nil, nil, nil, body)
        end
    """) + dynamic


def start_server(env: dict[str, str], port: int, workers: int = 1, cpus: str | None = None) -> subprocess.Popen:
    pin = ["taskset", "-c", cpus] if cpus else []
    proc = subprocess.Popen([*pin, sys.executable, "-m", "uvicorn", "backend_server:app", "--app-dir", str(ROOT / "bench"),
                             "--port", str(port), "--log-level", "warning", "--no-access-log", "--workers", str(workers)],
                            env=env, cwd=ROOT)
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


# A realistic corpus: symptoms as technicians write them, "<device/app> <problem> [<context>]" from DE and EN phrase
# sets (below), devices Zipf-distributed (printers, Outlook and WLAN come up far more often than scanners), problems
# and contexts uniform, ~30 % of the symptoms with a context phrase. Each common word then occurs in 0.5-5 % of the
# cases (the earlier 46-word vocabulary put every query word in ~13 % of a million cases, which no real case base
# does).
DEVICES_DE = ["Drucker", "Outlook", "WLAN", "Laptop", "PC", "Netzwerkdrucker", "Teams", "VPN", "Bildschirm",
              "Windows Update", "Festplatte", "OneDrive", "Excel", "Word", "Tastatur", "Maus", "Dockingstation",
              "Netzlaufwerk", "Browser", "Chrome", "Firefox", "Edge", "Webcam", "Headset", "Mikrofon", "Akku",
              "Lüfter", "Grafikkarte", "Bluetooth", "USB-Stick", "SSD", "Scanner", "Virenscanner", "Zertifikat",
              "Anmeldung", "Kennwort", "Druckwarteschlange", "Soundkarte", "Touchpad", "Monitor"]
PROBLEMS_DE = ["druckt nicht", "startet nicht", "stürzt ständig ab", "hängt sich auf", "ist extrem langsam",
               "wird nicht erkannt", "verbindet sich nicht", "bricht die Verbindung ab", "flackert",
               "zeigt eine Fehlermeldung", "reagiert nicht mehr", "friert ein", "meldet Fehler 0x80070005",
               "bleibt schwarz", "synchronisiert nicht", "lädt nicht", "ist voll", "macht laute Geräusche",
               "fragt ständig nach dem Kennwort", "lässt sich nicht installieren", "ist abgelaufen",
               "wird sehr heiß", "hat keinen Ton", "zeigt einen Bluescreen", "öffnet keine Anhänge"]
CONTEXTS_DE = ["nach dem Update", "seit gestern", "beim Hochfahren", "nach einem Neustart", "im Homeoffice",
               "nur morgens", "nach der Treiberinstallation", "beim Drucken von PDFs", "im Büro-WLAN",
               "nach dem Windows-Update", "bei mehreren Benutzern", "nach dem Umzug", "seit dem Stromausfall"]
DEVICES_EN = ["printer", "Outlook", "wifi", "laptop", "PC", "network printer", "Teams", "VPN", "screen",
              "Windows Update", "hard drive", "OneDrive", "Excel", "Word", "keyboard", "mouse", "docking station",
              "network drive", "browser", "Chrome", "Firefox", "Edge", "webcam", "headset", "microphone", "battery",
              "fan", "graphics card", "Bluetooth", "USB stick", "SSD", "scanner", "antivirus", "certificate",
              "login", "password", "print queue", "sound card", "touchpad", "monitor"]
PROBLEMS_EN = ["is not printing", "does not start", "keeps crashing", "hangs", "is extremely slow",
               "is not recognized", "does not connect", "keeps disconnecting", "flickers", "shows an error message",
               "stopped responding", "freezes", "reports error 0x80070005", "stays black", "does not sync",
               "is not charging", "is full", "makes loud noises", "keeps asking for the password",
               "fails to install", "has expired", "gets very hot", "has no sound", "shows a blue screen",
               "cannot open attachments"]
CONTEXTS_EN = ["after the update", "since yesterday", "at boot", "after a restart", "when working from home",
               "only in the morning", "after installing the driver", "when printing PDFs", "on the office wifi",
               "after the Windows update", "for several users", "after moving desks", "since the power cut"]
QUERIES = ["Drucker druckt nicht", "printer not printing", "Outlook startet nicht", "wifi keeps disconnecting",
           "Laptop sehr langsam nach Update", "blue screen after driver update", "VPN verbindet sich nicht",
           "USB stick not recognized", "Festplatte voll", "Teams crashes at boot"]


def zipf_weights(n: int, s: float = 0.9) -> list[float]:
    return [1 / (rank ** s) for rank in range(1, n + 1)]


def symptom(rng: random.Random, de: bool) -> str:
    devices, problems, contexts = (DEVICES_DE, PROBLEMS_DE, CONTEXTS_DE) if de else (DEVICES_EN, PROBLEMS_EN,
                                                                                     CONTEXTS_EN)
    text = f"{rng.choices(devices, ZIPF[len(devices)])[0]} {rng.choice(problems)}"
    return f"{text} {rng.choice(contexts)}" if rng.random() < 0.3 else text


ZIPF = {len(DEVICES_DE): zipf_weights(len(DEVICES_DE)), len(DEVICES_EN): zipf_weights(len(DEVICES_EN))}


ACTIONS = ["win.restart_service", "win.sfc_scannow", "win.dism_restore_health", "win.flush_dns", "win.reset_winsock",
           "win.clear_temp_files", "win.reset_windows_update", "linux.apt_clean", "linux.restart_unit",
           "macos.flush_dns", "drivers.install_update"]
OSES = ["windows", "linux", "darwin"]


def load_cases(dsn: str, org_id: str, count: int) -> float:
    """COPY ``count`` synthetic cases (German and English symptoms); GIN index rebuilt after the load."""
    rng = random.Random(42)
    start = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX IF EXISTS ix_cases_search_vector")
        with conn.cursor() as cur:
            with cur.copy("COPY cases (organisation_id, symptom, language, os, findings, actions, actions_key, "
                          "outcome, created_at) FROM STDIN") as copy:
                for i in range(count):
                    de = rng.random() < 0.5
                    text = symptom(rng, de)
                    actions = sorted(set(rng.sample(ACTIONS, rng.randint(1, 3))))
                    copy.write_row((org_id, text, "de" if de else "en", rng.choice(OSES), "[]",
                                    json.dumps(actions), ",".join(actions),
                                    "success" if rng.random() < 0.7 else "failure", "2026-01-01T00:00:00Z"))
        conn.execute("CREATE INDEX ix_cases_search_vector ON cases USING GIN (search_vector)")
        conn.execute("""INSERT INTO case_stats (organisation_id, actions_key, successes, failures)
                        SELECT organisation_id, actions_key, count(*) FILTER (WHERE outcome = 'success'),
                               count(*) FILTER (WHERE outcome = 'failure') FROM cases GROUP BY 1, 2
                        ON CONFLICT (organisation_id, actions_key) DO UPDATE
                        SET successes = EXCLUDED.successes, failures = EXCLUDED.failures""")
        conn.execute("ANALYZE cases")
    return time.perf_counter() - start


def batch_ingest(base: str, key: str, batches: int, size: int, senders: int) -> float:
    bodies = [json.dumps({"samples": [sample(f"PC-{b % 50}-{i % 20}") for i in range(size)]}).encode()
              for b in range(batches)]
    queue = list(bodies)
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {key}",
                                                               "Content-Type": "application/json"}) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                r = http.post("/api/monitoring/metrics/batch", content=body)
                if r.status_code != 200 or r.json()["created"] != size:
                    errors.append(r.text[:200])

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"batch errors: {errors[:3]}")
    return batches * size / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--senders", type=int, default=4, help="parallel batch senders")
    parser.add_argument("--workers", type=int, default=None,
                        help="uvicorn workers (bare and API alike); default 1 with --pin, else 2")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=(os.cpu_count() or 1) >= 2,
                        help="server on CPU 0, load generator on CPU 1 (PostgreSQL and Redis unpinned): the server's "
                             "cost is measured, not the load generator's and the database's (default on 2+ cores)")
    args = parser.parse_args()
    if args.workers is None:
        args.workers = 1 if args.pin else 2
    if args.pin:  # this process (batch senders) and its children (wrk) off the server's core
        os.sched_setaffinity(0, {1})

    name = f"techcare_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"techcare-bench-{uuid.uuid4().hex[:8]}:"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    sys.path.insert(0, str(ROOT / "backend"))
    from techcare_backend.core.config import generate_secrets
    from techcare_backend.core.db import migrate
    from techcare_backend.testing import seed

    migrate(url)
    secrets = generate_secrets()
    env = {**os.environ, **secrets, "DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:6379/0",
           "REDIS_PREFIX": prefix, "TECHCARE_ENV_FILE": "/nonexistent", "DB_POOL_SIZE": "20"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_server(env, port, args.workers, "0" if args.pin else None)
    results: dict[str, object] = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            org = seed(http, edition="enterprise", admin_token=secrets["ADMIN_TOKEN"])
        c, d = args.connections, args.duration
        # Every request a new sample of one of many hosts (a fleet), not 16 connections fighting over one host row.
        sample_body = re.sub(r'"sample_id": "[^"]+"', '"sample_id": "@ID@"', json.dumps(sample("PC-@ID@")))
        validate_body = json.dumps({"key": org.license_key, "fingerprint": "bench-fingerprint-0001",
                                    "nonce": "@ID@", "client_version": "0.1.0"})
        # warm-up
        run_wrk(base, post_script("/bench/bare", sample_body, {}), 2, c)
        run_wrk(base, post_script("/api/licenses/validate", validate_body, {}), 2, c)
        bare = run_wrk(base, post_script("/bench/bare", sample_body, {}), d, c)
        bare_sync = run_wrk(base, post_script("/bench/bare-sync", sample_body, {}), d, c)
        ingest = run_wrk(base, post_script("/api/monitoring/metrics", sample_body,
                                           {"Authorization": f"Bearer {org.keys['sensor']}"}), d, c)
        validate = run_wrk(base, post_script("/api/licenses/validate", validate_body, {}), d, c)
        batch_rate = batch_ingest(base, org.keys["sensor"], args.batches, 1000, args.senders)
        load_s = load_cases(f"host=127.0.0.1 port=5432 user=postgres dbname={name}", org.organisation_id, args.cases)
        queries = QUERIES
        search_script = textwrap.dedent(f"""
            wrk.headers["Authorization"] = "Bearer {org.keys['technician']}"
            local queries = {{{", ".join(lua_string(q.replace(" ", "%20")) for q in queries)}}}
            local i = 0
            request = function()
                i = i + 1
                return wrk.format("GET", "/api/cases/search?limit=10&q=" .. queries[(i % #queries) + 1])
            end
        """)
        search_1 = run_wrk(base, search_script, d, 1)
        search_c = run_wrk(base, search_script, d, 4)
        results = {"bare_rps": bare["rps"], "bare_sync_rps": bare_sync["rps"], "ingest": ingest, "validate": validate,
                   "batch_samples_per_s": batch_rate, "cases_loaded": args.cases, "load_seconds": load_s,
                   "search_1conn": search_1, "search_4conn": search_c}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(r.scan_iter(match=prefix + "*", count=1000))
        if keys:
            r.delete(*keys)
        r.close()

    bare_rps = results["bare_rps"]
    ing, val = results["ingest"], results["validate"]
    s1, s4 = results["search_1conn"], results["search_4conn"]
    where = ("server pinned to CPU 0; wrk and batch senders on CPU 1; PostgreSQL and Redis unpinned" if args.pin
             else "server, load generator, PostgreSQL and Redis share all cores")
    print(f"\nwrk -c{args.connections} -d{args.duration}s, {args.workers} uvicorn worker(s), PostgreSQL 16 + Redis 7, "
          f"{os.cpu_count()} cores ({where})\n")
    print("| measurement | result | goal |")
    print("|---|---|---|")
    print(f"| bare FastAPI endpoint (async, returns `{{}}`) | {bare_rps:.0f} req/s | baseline |")
    print(f"| bare FastAPI endpoint (sync def, threadpool) | {results['bare_sync_rps']:.0f} req/s | – |")
    print(f"| single-sample ingest | {ing['rps']:.0f} req/s = {ing['rps'] / bare_rps:.2f} x bare, p99 "
          f"{ing['lat_ms'].get('99', 0):.1f} ms, non-2xx {ing['non2xx']} | >= 0.6 x bare |")
    print(f"| batch ingest (1,000/batch, {args.senders} senders) | {results['batch_samples_per_s']:.0f} samples/s | >= 20,000 |")
    print(f"| validate | {val['rps']:.0f} req/s = {val['rps'] / bare_rps:.2f} x bare, p50 "
          f"{val['lat_ms'].get('50', 0):.1f} ms, p95 {val['lat_ms'].get('95', 0):.1f} ms, p99 {val['lat_ms'].get('99', 0):.1f} ms | >= 0.7 x bare, "
          f"p99 <= 10 ms |")
    print(f"| case search, {results['cases_loaded']:,} cases, 1 connection | p50 {s1['lat_ms'].get('50', 0):.1f} ms, "
          f"p95 {s1['lat_ms'].get('95', 0):.1f} ms, p99 {s1['lat_ms'].get('99', 0):.1f} ms, {s1['rps']:.0f} req/s "
          f"| p95 <= 25 ms |")
    print(f"| case search, 4 connections | p50 {s4['lat_ms'].get('50', 0):.1f} ms, p95 {s4['lat_ms'].get('95', 0):.1f}"
          f" ms, p99 {s4['lat_ms'].get('99', 0):.1f} ms, {s4['rps']:.0f} req/s | – |")
    print(f"\n(loading {results['cases_loaded']:,} cases with COPY + GIN index: {results['load_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
