"""Remote jobs at fleet scale: 1,000 simulated sensors long-polling one backend instance (PostgreSQL + Redis).

    .venv/bin/python bench/jobs_bench.py [--sensors 1000] [--runs 50] [--no-pin]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379. Creates a throwaway database
and Redis prefix, starts one ``uvicorn`` worker in a subprocess (on CPU 0 with ``--pin``, the default on 2+ cores;
the simulated sensors run in this process on CPU 1) and measures against the goals of issue 13:

* "run now" latency: a signed diagnose job for one host is POSTed; time until that host's open long-poll
  (``GET /api/sensor/jobs?wait=25``) returns it. Goal p95 <= 2 s.
* memory per idle connected sensor: the server's RSS with all sensors holding a long-poll, minus its RSS before they
  connected (both after a warm-up), divided by the number of sensors. Goal <= 50 KB.
* fan-out: one signed job for all hosts; time from the POST until every host has reported ``succeeded`` and the
  job's listing shows all targets final. Goal <= 30 s.

The sensors are plain asyncio HTTP/1.1 keep-alive connections (what the real sensor's httpx client holds while it
waits), so the load generator stays small. Every host has its own sensor key, created for it through the admin API
(``hostname``: a sensor key serves only its host's jobs, docs/remote-jobs.md §3), as a real fleet is set up; the
server checks that binding on every fetch and report. Results are printed as a Markdown table (record them in
bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "backend"))
sys.path.insert(0, str(ROOT))

from backend_bench import PG_ADMIN, free_port, sample, start_server  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


class SimSensor:
    """One host: a keep-alive connection that long-polls for jobs and reports each one ``succeeded`` at once."""

    def __init__(self, port: int, key: str, host: str, received: dict[tuple[str, str], float],
                 reported: dict[tuple[str, str], float]) -> None:
        self.port, self.key, self.host = port, key, host
        self.received, self.reported = received, reported
        self.polls = 0
        self.connected = asyncio.Event()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        assert self.writer is not None and self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)

    async def run(self, stop: asyncio.Event) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        path = f"/api/sensor/jobs?host={self.host}&wait=25"
        try:
            while not stop.is_set():
                self.polls += 1
                self.connected.set()
                status, body = await self._request("GET", path)
                now = time.perf_counter()
                if status != 200:
                    raise RuntimeError(f"{self.host}: fetch answered {status}: {body[:200]!r}")
                for item in json.loads(body)["jobs"]:
                    self.received[(item["job_id"], self.host)] = now
                    report = json.dumps({"host": self.host, "status": "succeeded", "diagnosis":
                                         {"host": self.host, "os": "windows", "findings": []}}).encode()
                    status, answer = await self._request("POST", f"/api/sensor/jobs/{item['job_id']}/report", report)
                    if status != 200:
                        raise RuntimeError(f"{self.host}: report answered {status}: {answer[:200]!r}")
                    self.reported[(item["job_id"], self.host)] = time.perf_counter()
        finally:
            self.writer.close()


def signed_job(key, hosts: list[str]) -> dict:
    from techcare.fleet._payload import build_payload

    return {"envelope": key.sign(build_payload("diagnose", hosts, signer="Bench"))}


async def sensor_keys(http: httpx.AsyncClient, org, admin_token: str, hosts: list[str]) -> dict[str, str]:
    """One sensor key per host, created for it (bound to it) through the server admin's key route."""
    keys: dict[str, str] = {}
    gate = asyncio.Semaphore(16)

    async def make(host: str) -> None:
        async with gate:
            resp = await http.post(f"/api/admin/organisations/{org.organisation_id}/api-keys",
                                   json={"name": f"sensor {host}", "role": "sensor", "hostname": host},
                                   headers={"Authorization": f"Bearer {admin_token}"})
            resp.raise_for_status()
            keys[host] = resp.json()["key"]

    await asyncio.gather(*(make(h) for h in hosts))
    return keys


async def bench(args: argparse.Namespace, port: int, server: psutil.Process, org,
                admin_token: str) -> dict[str, object]:
    from techcare.signing import SigningKey

    key = SigningKey.generate()
    hosts = [f"pc-{i:05d}" for i in range(args.sensors)]
    base = f"http://127.0.0.1:{port}"
    tech = {"Authorization": f"Bearer {org.keys['technician']}"}
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        t0 = time.perf_counter()
        keys = await sensor_keys(http, org, admin_token, hosts)
        keys_s = time.perf_counter() - t0
        for start in range(0, len(hosts), 500):  # every host has sent a sample (jobs are only for known hosts)
            samples = [{**sample(h), "sample_id": uuid.uuid4().hex} for h in hosts[start:start + 500]]
            resp = await http.post("/api/monitoring/metrics/batch", json={"samples": samples},
                                   headers={"Authorization": f"Bearer {org.keys['sensor']}"})
            resp.raise_for_status()
        # warm-up: one job through one sensor, so lazy imports and pools exist before the memory baseline
        received: dict[tuple[str, str], float] = {}
        reported: dict[tuple[str, str], float] = {}
        stop = asyncio.Event()
        warm = SimSensor(port, keys[hosts[0]], hosts[0], received, reported)
        task = asyncio.create_task(warm.run(stop))
        await warm.connected.wait()
        await asyncio.sleep(0.3)
        (await http.post("/api/jobs", json=signed_job(key, [hosts[0]]), headers=tech)).raise_for_status()
        while not reported:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        rss_before = server.memory_info().rss

        sensors = [warm] + [SimSensor(port, keys[h], h, received, reported) for h in hosts[1:]]
        tasks = [task]
        for sensor in sensors[1:]:
            tasks.append(asyncio.create_task(sensor.run(stop)))
            if len(tasks) % 100 == 0:
                await asyncio.sleep(0.05)  # connect in waves, as sensors do
        await asyncio.gather(*(s.connected.wait() for s in sensors))
        await asyncio.sleep(3.0)  # every long-poll registered and parked
        rss_idle = server.memory_info().rss
        per_sensor_kb = (rss_idle - rss_before) / 1024 / len(sensors)

        latencies: list[float] = []
        for _ in range(args.runs):
            host = random.choice(hosts)
            body = signed_job(key, [host])
            job_id = body["envelope"]["payload"]["job_id"]
            t0 = time.perf_counter()
            (await http.post("/api/jobs", json=body, headers=tech)).raise_for_status()
            while (job_id, host) not in received:
                await asyncio.sleep(0.002)
            latencies.append(received[(job_id, host)] - t0)
            while (job_id, host) not in reported:
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.05)

        body = signed_job(key, hosts)
        job_id = body["envelope"]["payload"]["job_id"]
        t0 = time.perf_counter()
        (await http.post("/api/jobs", json=body, headers=tech)).raise_for_status()
        while sum(1 for h in hosts if (job_id, h) in reported) < len(hosts):
            await asyncio.sleep(0.01)
        t_reported = time.perf_counter() - t0
        job = (await http.get(f"/api/jobs/{job_id}", headers=tech)).json()
        final = sum(1 for t in job["targets"] if t["status"] == "succeeded")
        t_final = time.perf_counter() - t0
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"sensors": len(sensors), "runs": args.runs, "p50": statistics.median(latencies),
            "p95": percentile(latencies, 95), "max": max(latencies), "rss_before_mb": rss_before / 2**20,
            "rss_idle_mb": rss_idle / 2**20, "per_sensor_kb": per_sensor_kb, "fanout_reported_s": t_reported,
            "fanout_final_s": t_final, "fanout_succeeded": final, "keys_s": keys_s}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50, help="single-host 'run now' jobs for the latency figure")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=(os.cpu_count() or 1) >= 2,
                        help="server on CPU 0, simulated sensors on CPU 1 (default on 2+ cores)")
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {1})
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.sensors + 256)), hard))

    name = f"techcare_jobs_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"techcare-jobs-bench-{uuid.uuid4().hex[:8]}:"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    from techcare_backend.core.config import generate_secrets
    from techcare_backend.core.db import migrate
    from techcare_backend.testing import seed

    migrate(url)
    secrets = generate_secrets()
    env = {**os.environ, **secrets, "DATABASE_URL": url, "REDIS_URL": "redis://127.0.0.1:6379/0",
           "REDIS_PREFIX": prefix, "TECHCARE_ENV_FILE": "/nonexistent", "DB_POOL_SIZE": "20"}
    port = free_port()
    proc = start_server(env, port, 1, "0" if args.pin else None)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            org = seed(http, edition="pro_business", admin_token=secrets["ADMIN_TOKEN"])
        result = asyncio.run(bench(args, port, psutil.Process(proc.pid), org, secrets["ADMIN_TOKEN"]))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    ok_latency = result["p95"] <= 2.0
    ok_memory = result["per_sensor_kb"] <= 50
    ok_fanout = result["fanout_final_s"] <= 30 and result["fanout_succeeded"] == result["sensors"]
    print(f"\n{result['sensors']} sensors (one sensor key each, made in {result['keys_s']:.1f} s), 1 uvicorn worker"
          f"{' on CPU 0' if args.pin else ''}, PostgreSQL + Redis\n")
    print("| measure | result | goal |\n|---|---|---|")
    print(f"| 'run now' job reaches its host, p50 / p95 / max ({result['runs']} jobs) | "
          f"{result['p50'] * 1000:.0f} / {result['p95'] * 1000:.0f} / {result['max'] * 1000:.0f} ms | "
          f"p95 <= 2 s {'✔' if ok_latency else '✘'} |")
    print(f"| server memory per idle connected sensor | {result['per_sensor_kb']:.1f} KB "
          f"({result['rss_before_mb']:.0f} -> {result['rss_idle_mb']:.0f} MB) | <= 50 KB {'✔' if ok_memory else '✘'} |")
    print(f"| one job to {result['sensors']} hosts: all reported / job shows all final | "
          f"{result['fanout_reported_s']:.1f} s / {result['fanout_final_s']:.1f} s "
          f"({result['fanout_succeeded']} succeeded) | <= 30 s {'✔' if ok_fanout else '✘'} |")
    sys.exit(0 if ok_latency and ok_memory and ok_fanout else 1)


if __name__ == "__main__":
    main()
