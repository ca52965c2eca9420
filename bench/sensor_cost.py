"""Sensor cost on this machine: CPU time per sample and peak RSS of the sensor process.

    .venv/bin/python bench/sensor_cost.py [--samples N] [--remote-jobs]

The sensor runs in a child process exactly as in production (real probes on this machine, the real spool in a
temporary TECHCARE_HOME, samples forwarded through the real BackendClient to an in-process fake backend, so no
network is involved). CPU time counts the sensor process *and* the tools its probes start (os.times children),
because a probe that shells out to smartctl costs the machine just as much.

Reported: the first sample (every probe, cold caches), the steady-state sample (slow probes cached), the peak RSS
(VmHWM) of the sensor process, and the same numbers for ``python -c pass`` in the same run.
Goals: <= 150 ms CPU per steady sample, <= 60 MB peak RSS. Exit status 1 when a goal is missed.

``--remote-jobs``: the sensor runs with ``REMOTE_JOBS=on`` (the executor created, its recovery run) and each
steady sample also pays one sampling interval's worth of idle job polls (300 s / 25 s long-poll = 12 answers of
``GET /api/sensor/jobs`` with no jobs and no occurrences), as the job thread does. It also lists which heavy modules
(repairs, diagnosis, drivers, dateutil, cryptography, pandas) were imported: none should be until a job arrives.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

GOAL_CPU_MS = 150.0
GOAL_RSS_MB = 60.0
POLLS_PER_INTERVAL = 300 // 25
HEAVY = ("techcare.repairs", "techcare.diagnosis", "techcare.tools.drivers", "techcare.schedule_time", "dateutil",
         "cryptography", "pandas")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def child(samples: int, remote_jobs: bool = False) -> None:
    started = _cpu()
    import httpx

    from techcare.backend_client import BackendClient
    from techcare.config import load_settings
    from techcare.monitoring.sensor import Sensor

    stored: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/sensor/jobs":
            return httpx.Response(200, json={"jobs": [], "cancelled": [], "occurrences": []})
        body = json.loads(request.content)
        items = body["samples"] if request.url.path.endswith("/batch") else [body]
        results = []
        for item in items:
            results.append({"sample_id": item["sample_id"],
                            "status": "duplicate" if item["sample_id"] in stored else "created"})
            stored.add(item["sample_id"])
        if request.url.path.endswith("/batch"):
            return httpx.Response(200, json={"results": results})
        return httpx.Response(201, json=results[0])

    client = BackendClient("http://bench.invalid", "tck_bench", client=httpx.Client(transport=httpx.MockTransport(handler)))
    sensor = Sensor(settings=load_settings(), client=client, interval=300)
    assert sensor.jobs is remote_jobs, "REMOTE_JOBS in the settings"
    if remote_jobs:
        sensor.executor().recover()  # what the job thread does once at start
    import_cpu = _cpu() - started
    per_sample = []
    for _ in range(samples):
        before = _cpu()
        sensor.take()
        outcome = sensor.flush()
        if remote_jobs:
            for _ in range(POLLS_PER_INTERVAL):
                assert sensor.executor().poll(wait=0) == []
        per_sample.append(_cpu() - before)
        assert outcome.remaining == 0, outcome
    sensor.close()
    heavy = sorted(name for name in HEAVY if name in sys.modules)
    print(json.dumps({"remote_jobs": remote_jobs, "heavy_imported": heavy,
                      "import_and_setup_ms": import_cpu * 1000, "first_ms": per_sample[0] * 1000,
                      "steady_ms": sorted(per_sample[1:])[len(per_sample[1:]) // 2] * 1000 if samples > 1 else None,
                      "steady_max_ms": max(per_sample[1:]) * 1000 if samples > 1 else None,
                      "peak_rss_mb": _peak_rss_mb(), "samples": samples, "stored": len(stored)}))


def _run_child(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, cpu, wall


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--remote-jobs", action="store_true",
                        help="REMOTE_JOBS=on: the executor and a sampling interval's idle job polls per sample")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.samples, args.remote_jobs)
        return 0
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "TECHCARE_HOME": home, "TECHCARE_ENV_FILE": os.path.join(home, "none.env"),
               "TECHCARE_DATA_DIR": os.path.join(home, "data"), "REMOTE_JOBS": "on" if args.remote_jobs else "off",
               "SENSOR_TAGS": "kunde:bench,rolle:kasse"}
        open(env["TECHCARE_ENV_FILE"], "w").close()
        base, base_cpu, base_wall = _run_child([sys.executable, "-c",
                                                "import resource;print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                                               env)
        base_rss = int(base.stdout.strip()) / 1024
        proc, total_cpu, wall = _run_child([sys.executable, __file__, "--child", "--samples", str(args.samples),
                                            *(["--remote-jobs"] if args.remote_jobs else [])], env)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 2
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = [
        ("python -c pass: CPU ms / peak RSS MB", f"{base_cpu * 1000:.0f}", f"{base_rss:.1f}"),
        ("sensor: import + setup CPU ms", f"{result['import_and_setup_ms']:.0f}", ""),
        ("sensor: first sample CPU ms (all probes, cold)", f"{result['first_ms']:.0f}", ""),
        (("sensor: steady sample + 12 idle job polls CPU ms (median / max)" if result["remote_jobs"] else
          "sensor: steady sample CPU ms (median / max)"),
         f"{result['steady_ms']:.0f} / {result['steady_max_ms']:.0f}", ""),
        ("sensor: peak RSS MB (VmHWM)", "", f"{result['peak_rss_mb']:.1f}"),
        ("sensor process total: CPU s / wall s", f"{total_cpu:.2f}", f"{wall:.2f}"),
    ]
    print(f"{'measure':64} {'cpu':>12} {'rss':>8}")
    for name, cpu, rss in rows:
        print(f"{name:64} {cpu:>12} {rss:>8}")
    print(f"REMOTE_JOBS={'on' if result['remote_jobs'] else 'off'}; heavy modules imported: "
          f"{', '.join(result['heavy_imported']) or 'none'}")
    ok = result["steady_ms"] <= GOAL_CPU_MS and result["peak_rss_mb"] <= GOAL_RSS_MB
    print(f"goals: steady <= {GOAL_CPU_MS:.0f} ms CPU, peak RSS <= {GOAL_RSS_MB:.0f} MB -> {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
