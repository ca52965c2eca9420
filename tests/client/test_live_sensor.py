"""The sensor as a real process against a live backend on PostgreSQL + Redis: backend outages, SIGKILL in the
middle of a send, restarts. The server must end with exactly the samples taken, none twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from service_helpers import wait_until

from .live import REDIS_HOST, REDIS_PORT, Proxy, need_backend, need_redis, restart_kwargs, unique_host

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

SPOOLED = re.compile(r"sample (\S+) spooled")


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    return wait_until(predicate, timeout=timeout, what=what, interval=0.1)


class SensorProcess:
    def __init__(self, env: dict[str, str], log: Path, args: list[str]) -> None:
        self.log = log
        self.handle = log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "techcare.monitoring.sensor", *args], env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.handle)

    def kill(self, sig=signal.SIGKILL) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.handle.close()
        return code


def logged_ids(log: Path) -> list[str]:
    return SPOOLED.findall(log.read_text(errors="replace")) if log.exists() else []


@pytest.fixture
def live(postgres_url, tmp_path):
    need_backend()
    need_redis()
    from techcare_backend.testing import seed, start_backend

    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    backend = start_backend(postgres_url, redis_url, redis_prefix=f"techcare-test-{uuid.uuid4().hex[:10]}:",
                            rate_limit_ip_per_minute=100_000, rate_limit_key_per_minute=100_000)
    port = int(backend.url.rsplit(":", 1)[1])
    org = seed(backend, edition="pro_business")
    proxy = Proxy(port)
    env_file = tmp_path / "sensor.env"
    env_file.write_text(f"BACKEND_URL={proxy.url}\nNETWORK_METHOD=vpn\nLICENSE_KEY={org.license_key}\n"
                        f"EDITION=pro_business\nTECHCARE_API_KEY={org.keys['sensor']}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TECHCARE_", "BACKEND_", "LICENSE_"))}
    env.update({"TECHCARE_ENV_FILE": str(env_file), "TECHCARE_HOME": str(tmp_path / "sensor-home"),
                "TECHCARE_DATA_DIR": str(tmp_path / "data"), "TECHCARE_LANG": "en", "PYTHONUNBUFFERED": "1"})
    state = {"backend": backend, "port": port, "org": org, "proxy": proxy, "env": env, "redis_url": redis_url,
             "postgres_url": postgres_url, "restart": restart_kwargs(backend)}

    def stop_backend():
        state["backend"].stop()

    def start_again():
        state["backend"] = start_backend(postgres_url, redis_url, port=port, rate_limit_ip_per_minute=100_000,
                                         rate_limit_key_per_minute=100_000, **state["restart"])

    state["stop_backend"], state["start_backend"] = stop_backend, start_again
    yield state
    proxy.close()
    state["backend"].stop()


def server_ids(state, hostname: str) -> list[str]:
    backend = state["backend"]
    r = httpx.get(f"{backend.url}/api/monitoring/hosts/{hostname}/metrics",
                  params={"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
                  headers={"Authorization": f"Bearer {state['org'].keys['admin']}"}, timeout=10)
    if r.status_code == 404:     # the host has sent nothing yet
        return []
    assert r.status_code == 200, r.text
    return [s["sample_id"] for s in r.json()]


def test_outage_kill_and_restart_lose_nothing_and_store_nothing_twice(live, tmp_path):
    host = unique_host()
    log = tmp_path / "sensor.log"
    args = ["--interval", "1", "--hostname", host]
    sensor = SensorProcess(live["env"], log, args)
    try:
        wait_for(lambda: len(server_ids(live, host)) >= 3, what="first samples on the server")
        # 1. the backend goes away for a while: samples pile up in the spool
        live["stop_backend"]()
        before = len(logged_ids(log))
        wait_for(lambda: len(logged_ids(log)) >= before + 3, what="samples spooled during the outage")
        live["start_backend"]()
        wait_for(lambda: set(server_ids(live, host)) >= set(logged_ids(log)[:before + 3]), what="catch-up")
        # 2. SIGKILL in the middle of a send: the server stored the sample, the acknowledgement never arrived
        count = len(server_ids(live, host))
        live["proxy"].hold.set()
        wait_for(lambda: len(server_ids(live, host)) > count, what="a send reaching the server")
        assert sensor.kill(signal.SIGKILL) == -signal.SIGKILL
        live["proxy"].hold.clear()
        # 3. restart the sensor while the backend is down (offline license grace, spooling)
        live["stop_backend"]()
        sensor = SensorProcess(live["env"], log, args)
        before = len(logged_ids(log))
        wait_for(lambda: len(logged_ids(log)) >= before + 2, what="samples spooled after the restart")
        # 4. the backend comes back: everything drains
        live["start_backend"]()
        wait_for(lambda: set(server_ids(live, host)) >= set(logged_ids(log)), timeout=45, what="drain")
        assert sensor.kill(signal.SIGTERM) == 0
    finally:
        if sensor.proc.poll() is None:
            sensor.kill(signal.SIGKILL)
        live["proxy"].hold.clear()

    # anything taken after the last check is still in the spool: forward it, then compare
    from techcare.backend_client import BackendClient
    from techcare.config import load_settings
    from techcare.monitoring.sensor import Sensor
    from techcare.monitoring.spool import Spool

    settings = load_settings(live["env"]["TECHCARE_ENV_FILE"], techcare_home=live["env"]["TECHCARE_HOME"])
    with Spool(Path(live["env"]["TECHCARE_HOME"]) / "sensor-spool.sqlite3") as spool:
        client = BackendClient(live["backend"].url, live["org"].keys["sensor"])
        outcome = Sensor(settings=settings, client=client, spool=spool, hostname=host).flush()
        client.close()
        assert outcome.remaining == 0 and outcome.rejected == 0
    taken = logged_ids(log)
    stored = server_ids(live, host)
    assert len(stored) == len(set(stored)), "a sample is stored twice"
    assert sorted(stored) == sorted(set(taken)) and len(taken) == len(set(taken))
    text = log.read_text()
    assert "backend unavailable" in text and "duplicates" in text   # the outage and the resend both happened


def test_spool_bound_during_an_outage(live, tmp_path):
    host = unique_host()
    log = tmp_path / "bound.log"
    args = ["--interval", "1", "--hostname", host, "--max-spool", "3"]
    sensor = SensorProcess(live["env"], log, args)
    try:
        wait_for(lambda: len(server_ids(live, host)) >= 1, what="first sample")
        live["stop_backend"]()
        before = len(logged_ids(log))
        # 7 samples while the backend is down: at most max-spool + 1 = 4 of them survive (a sample taken while a
        # send is on the wire never drops a sample of that send, which the server may store), so >= 3 are dropped
        wait_for(lambda: len(logged_ids(log)) >= before + 7, what="outage samples")
        live["start_backend"]()
        wait_for(lambda: logged_ids(log)[-1] in server_ids(live, host), timeout=45, what="drain")
        assert sensor.kill(signal.SIGTERM) == 0
    finally:
        if sensor.proc.poll() is None:
            sensor.kill(signal.SIGKILL)
    taken = logged_ids(log)
    backend = live["backend"]
    r = httpx.get(f"{backend.url}/api/monitoring/hosts/{host}/metrics",
                  params={"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"},
                  headers={"Authorization": f"Bearer {live['org'].keys['admin']}"}, timeout=10)
    samples = r.json()
    stored = [s["sample_id"] for s in samples]
    with_spool = set(stored)
    from techcare.monitoring.spool import Spool

    with Spool(Path(live["env"]["TECHCARE_HOME"]) / "sensor-spool.sqlite3", max_samples=3) as spool:
        leftover = spool.pending()
    with_spool |= {s["sample_id"] for s in leftover}
    dropped = sum(s.get("dropped_samples") or 0 for s in samples) + sum(s["dropped_samples"] for s in leftover)
    assert dropped >= 3                                           # the bound was hit and reported
    assert len(with_spool) + dropped == len(set(taken))           # every sample is either delivered or counted
    assert len(stored) == len(set(stored))
