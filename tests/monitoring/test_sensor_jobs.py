"""The sensor as executor of signed remote jobs against a live backend on PostgreSQL + Redis, as real processes:
``python -m techcare.monitoring.sensor --once --snapshot`` acting as the replayed Windows PC (repairs answered by
the simulated PC), the long-running sensor picking a job up within seconds (long-poll), REMOTE_JOBS=off running
nothing, refusals reported, and a sensor killed with SIGKILL in the middle of a step that reports the job as
interrupted at its next start and undoes the step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from service_helpers import wait_until

from techcare.backend_client import BackendClient
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import SigningKey

from remote_job_payloads import HOST, WINDOWS, payload, repair_payload

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def backend(postgres_url):
    from service_helpers import require_service

    require_service("Redis", "127.0.0.1", 6379)
    from techcare_backend.testing import seed, start_backend

    live = start_backend(postgres_url, "redis://127.0.0.1:6379/0",
                         redis_prefix=f"techcare-test-{uuid.uuid4().hex[:10]}:",
                         rate_limit_ip_per_minute=100_000, rate_limit_key_per_minute=100_000)
    live.org = seed(live, edition="pro_business")
    yield live
    live.stop()


class Host:
    """One sensor host (its own TECHCARE_HOME) replaying the Windows snapshot, and the technician's side."""

    def __init__(self, backend, tmp_path: Path, *, remote_jobs: str = "on", org=None) -> None:
        self.backend = backend
        org = org or backend.org
        self.home = tmp_path / "sensor-home"
        env_file = tmp_path / "sensor.env"
        env_file.write_text("")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TECHCARE_", "BACKEND_", "LICENSE_", "REMOTE_JOBS", "EDITION"))}
        self.env.update({"TECHCARE_ENV_FILE": str(env_file), "TECHCARE_HOME": str(self.home),
                         "TECHCARE_DATA_DIR": str(tmp_path / "sensor-data"), "TECHCARE_LANG": "en",
                         "BACKEND_URL": backend.url, "NETWORK_METHOD": "vpn", "EDITION": "pro_business",
                         "LICENSE_KEY": org.license_key, "TECHCARE_API_KEY": org.keys["sensor"],
                         "REMOTE_JOBS": remote_jobs, "PYTHONUNBUFFERED": "1"})
        self.log = tmp_path / "sensor.log"
        self.key = SigningKey.generate()
        self.technician = BackendClient(backend.url, org.keys["technician"], retries=0)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        with self.log.open("ab") as log:
            return subprocess.run([sys.executable, *args], env=self.env, stdout=subprocess.PIPE, stderr=log,
                                  timeout=timeout, text=True, cwd=HERE)

    def once(self) -> subprocess.CompletedProcess:
        return self.run("-m", "techcare.monitoring.sensor", "--once", "--snapshot", str(WINDOWS))

    def trust(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("-m", "techcare.monitoring.sensor", "trust", *args)

    def queue(self, p: dict, key: SigningKey | None = None) -> str:
        self.technician.create_job((key or self.key).sign(p))
        return p["job_id"]

    def target(self, job_id: str) -> dict:
        job = self.technician.get_job(job_id)
        return next(t for t in job["targets"] if t["host"] == HOST)

    def pc_state(self) -> dict:
        return json.loads((self.home / "simulated-pc.json").read_text())

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def host(backend, tmp_path):
    h = Host(backend, tmp_path)
    assert h.trust("add", h.key.public_key, "--name", "Anna").returncode == 0
    first = h.once()  # the first sample makes the host known to the backend (jobs name known hosts only)
    assert first.returncode == 0, h.log_text()
    return h


def fresh_pc() -> SimulatedPC:
    return SimulatedPC.from_snapshot(WINDOWS)


def test_trust_cli_pins_lists_and_removes_keys(backend, tmp_path):
    h = Host(backend, tmp_path)
    other = SigningKey.generate()
    assert h.trust("add", h.key.public_key, "--name", "Anna").returncode == 0
    assert h.trust("add", other.public_key).returncode == 0
    listed = h.trust("list").stdout
    assert h.key.key_id in listed and "Anna" in listed and other.key_id in listed
    assert h.trust("remove", other.key_id).returncode == 0
    assert other.key_id not in h.trust("list").stdout
    bad = h.trust("add", "not-a-key")
    assert bad.returncode == 2 and "Not a valid Ed25519 public key" in h.log_text()


def test_repair_then_rollback_on_the_replayed_pc(host):
    job_id = host.queue(repair_payload(fresh_pc(), "GO REPAIR: 1-4"))
    assert host.once().returncode == 0, host.log_text()
    target = host.target(job_id)
    assert target["status"] == "succeeded", target
    assert [(s["number"], s["status"]) for s in target["steps"]] == [(1, "finished"), (2, "finished"),
                                                                    (3, "finished"), (4, "finished")]
    state = host.pc_state()
    assert state["start_types"]["wuauserv"] == "demand" and state["firewall"]["public"] is True
    # the changelog reached the backend, linked to the job
    sessions = [json.loads(line)["session"] for line in (host.home / "remote_jobs.jsonl").read_text().splitlines()
                if json.loads(line)["event"] == "step"]
    stored = {s["session"] for s in host.technician.get_json("/api/changelogs", params={"limit": 500})}
    assert set(sessions) <= stored
    # the technician undoes it with a signed rollback job
    rollback = host.queue(payload("rollback", platform="windows", rollback_of=job_id))
    assert host.once().returncode == 0, host.log_text()
    target = host.target(rollback)
    assert target["status"] == "rolled_back", target
    state = host.pc_state()
    assert state["start_types"]["wuauserv"] == "disabled" and state["firewall"]["public"] is False


def test_refusals_are_reported_and_nothing_runs(host):
    stranger = SigningKey.generate()
    unpinned = host.queue(payload(), key=stranger)
    risky = host.queue(repair_payload(fresh_pc(), "GO REPAIR: 1,5"))  # high risk without the confirmation
    assert host.once().returncode == 0, host.log_text()
    assert (host.target(unpinned)["status"], host.target(unpinned)["reason"]) == ("refused", "unknown_signer")
    assert (host.target(risky)["status"], host.target(risky)["reason"]) == ("refused", "needs_confirmation")
    assert not (host.home / "simulated-pc.json").exists() or host.pc_state()["restore_points"] == 3


def test_remote_jobs_off_runs_nothing(backend, tmp_path):
    from techcare_backend.testing import seed

    h = Host(backend, tmp_path, remote_jobs="off", org=seed(backend, edition="pro_business"))
    assert h.trust("add", h.key.public_key).returncode == 0
    assert h.once().returncode == 0, h.log_text()
    job_id = h.queue(repair_payload(fresh_pc(), "GO REPAIR: 1-4"))
    assert h.once().returncode == 0, h.log_text()
    assert h.target(job_id)["status"] == "queued"  # never even fetched
    assert not (h.home / "remote_jobs.jsonl").exists()
    assert not (h.home / "simulated-pc.json").exists()


def test_a_running_sensor_picks_a_job_up_within_seconds(backend, tmp_path):
    from techcare_backend.testing import seed

    # an organisation of its own: the long-poll this sensor leaves behind when it stops must not meet the
    # jobs of the other tests (same host name)
    host = Host(backend, tmp_path, org=seed(backend, edition="pro_business"))
    assert host.trust("add", host.key.public_key).returncode == 0
    assert host.once().returncode == 0, host.log_text()
    with host.log.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "techcare.monitoring.sensor", "--snapshot", str(WINDOWS),
                                 "--interval", "3600"], env=host.env, stdout=subprocess.DEVNULL, stderr=log, cwd=HERE)
    try:
        wait_until(lambda: "remote jobs on" in host.log_text(), timeout=60, what="sensor started")
        time.sleep(1.0)  # the job thread is in its long-poll now
        queued = time.monotonic()
        job_id = host.queue(payload())
        wait_until(lambda: host.target(job_id)["status"] == "succeeded", timeout=30, what="diagnose job done",
                   interval=0.2)
        assert time.monotonic() - queued < 15
        assert host.technician.get_job(job_id)["targets"][0]["diagnosis"]["os"] == "windows"
    finally:
        proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        try:
            assert proc.wait(timeout=40) == 0
            assert time.monotonic() - stopping < 10  # an idle long-poll does not hold the service stop up
        finally:
            if proc.poll() is None:
                proc.kill()


def test_sensor_killed_mid_step_reports_interrupted_and_undoes_the_step(host, tmp_path):
    job_id = host.queue(repair_payload(fresh_pc(), "GO REPAIR: 3"))  # wuauserv start type: disabled -> manual
    marker = tmp_path / "in-step"
    with host.log.open("ab") as log:
        proc = subprocess.Popen([sys.executable, str(HERE / "hang_in_step.py"), str(WINDOWS), str(marker)],
                                env=host.env, stdout=subprocess.DEVNULL, stderr=log, cwd=HERE)
    try:
        wait_until(marker.exists, timeout=60, what="the step to start applying")
        assert host.pc_state()["start_types"]["wuauserv"] == "demand"  # the half-done change
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert host.target(job_id)["status"] == "running"
    # the sensor starts again: it finds the job in its run log, undoes the interrupted step, reports it
    assert host.once().returncode == 0, host.log_text()
    target = host.target(job_id)
    assert (target["status"], target["reason"]) == ("failed", "interrupted"), target
    assert "win.set_service_start_type: undone" in target["message"]
    assert host.pc_state()["start_types"]["wuauserv"] == "disabled"
    # and the job never runs again
    records = [json.loads(line) for line in (host.home / "remote_jobs.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r["job_id"] == job_id] == ["accepted", "finished"]


def _tamper(postgres_url: str, job_id: str, change) -> None:
    """Rewrite a stored job's envelope directly in the backend's database (what a compromised backend could do)."""
    import psycopg

    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        (text,) = conn.execute("SELECT envelope FROM jobs WHERE id = %s", (job_id,)).fetchone()
        envelope = json.loads(text)
        change(envelope["payload"])
        conn.execute("UPDATE jobs SET envelope = %s WHERE id = %s", (json.dumps(envelope), job_id))


def _requeue(postgres_url: str, job_id: str) -> None:
    import psycopg

    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE job_targets SET status = 'queued' WHERE job_id = %s", (job_id,))


def test_jobs_altered_in_the_database_or_replayed_are_refused(host, postgres_url):
    action = host.queue(repair_payload(fresh_pc(), "GO REPAIR: 1,3"))
    _tamper(postgres_url, action, lambda p: p["steps"][2].update(action="win.reset_winsock"))
    params = host.queue(repair_payload(fresh_pc(), "GO REPAIR: 1,3"))
    _tamper(postgres_url, params, lambda p: p["steps"][2]["params"].update(name="cryptsvc", start_type="disabled"))
    extended = host.queue(payload())
    _tamper(postgres_url, extended, lambda p: p.update(expires="2027-01-01T00:00:00Z"))
    assert host.once().returncode == 0, host.log_text()
    for job_id in (action, params, extended):
        assert (host.target(job_id)["status"], host.target(job_id)["reason"]) == ("refused", "bad_signature")
    state = host.pc_state() if (host.home / "simulated-pc.json").exists() else {"start_types": {}}
    assert state["start_types"].get("cryptsvc", "auto") == "auto"
    # a finished job served again (the database sets it back to queued) never runs twice
    done = host.queue(repair_payload(fresh_pc(), "GO REPAIR: 3"))
    assert host.once().returncode == 0 and host.target(done)["status"] == "succeeded"
    _requeue(postgres_url, done)
    assert host.once().returncode == 0, host.log_text()
    assert "refused (replayed)" in host.log_text()
    assert (host.target(done)["status"], host.target(done)["reason"]) == ("refused", "replayed")
    records = [json.loads(line) for line in (host.home / "remote_jobs.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r["job_id"] == done] == ["accepted", "step", "finished", "refused"]
