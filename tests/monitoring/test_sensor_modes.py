"""The sensor's remote-job modes in process: the REMOTE_JOBS setting, sampling on schedule while a job runs,
``--snapshot`` acting as the replayed PC, and ``trust add`` from a PEM file."""

from __future__ import annotations

import json
import threading
import time

import pytest

from techcare.config import load_settings, reset_settings
from techcare.errors import ConfigError
from techcare.monitoring import sensor as sensor_mod
from techcare.monitoring.sensor import Sensor
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import SigningKey, TrustStore

from remote_job_payloads import HOST, WINDOWS, repair_payload


def test_remote_jobs_setting_names_key_value_and_what_is_allowed(monkeypatch):
    monkeypatch.setenv("REMOTE_JOBS", "maybe")
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.key == "REMOTE_JOBS" and "'maybe'" in str(info.value) and "on | off" in str(info.value)
    monkeypatch.setenv("REMOTE_JOBS", " On ")
    assert load_settings().remote_jobs == "on"


class SlowJobBackend:
    """Metrics are stored; one repair job is handed out; the job's reports are kept."""

    def __init__(self, job: dict) -> None:
        self.job = job
        self.samples: list[str] = []
        self.reports: list[dict] = []

    def post_metrics(self, sample, **kwargs):
        self.samples.append(sample["sample_id"])
        return {"sample_id": sample["sample_id"], "status": "created"}

    def post_metrics_batch(self, samples, **kwargs):
        return {"results": [self.post_metrics(s) for s in samples]}

    def fetch_jobs(self, host, *, wait=0):
        job, self.job = self.job, None
        if job is None:
            time.sleep(min(wait, 0.2))
        return {"jobs": [job] if job else [], "cancelled": []}

    def report_job(self, job_id, *, host, **body):
        self.reports.append(body)
        return {"cancel": False}

    def post_json(self, path, body, **kwargs):
        return {"created": len(body["entries"]), "duplicates": 0}


def test_sampling_keeps_its_schedule_while_a_job_runs(tmp_path, monkeypatch, licensed):
    licensed("pro_business")
    settings = load_settings(techcare_home=str(tmp_path / "home"), remote_jobs="on")
    key = SigningKey.generate()
    TrustStore(settings.techcare_home).add(key.public_key)
    pc = SimulatedPC.from_snapshot(WINDOWS)
    p = repair_payload(pc, "GO REPAIR: 1-4")
    real = pc._answer

    def slow(argv):  # every repair command takes a while: the job runs for several seconds
        if argv[0] in ("sc.exe", "net.exe") or "NetFirewallProfile" in argv[-1]:
            time.sleep(0.25)
        return real(argv)

    pc._answer = slow
    backend = SlowJobBackend({"job_id": p["job_id"], "envelope": key.sign(p)})
    s = Sensor(settings=settings, runner=pc.runner(), client=backend, hostname=HOST, interval=0.2, cache_ttl={})
    taken: list[float] = []
    take = s.take

    def timed_take():
        taken.append(time.monotonic())
        return take()

    s.take = timed_take
    thread = threading.Thread(target=s.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not any(r["status"] == "succeeded" for r in backend.reports) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        s.stop()
        thread.join(30)
    s.close()
    running = [r for r in backend.reports if r["status"] == "running"]
    assert any(r["status"] == "succeeded" for r in backend.reports), backend.reports
    assert len(running) == 5 and taken
    gaps = [b - a for a, b in zip(taken, taken[1:], strict=False)]
    assert len(taken) >= 5 and max(gaps) < 1.0, gaps   # the job took seconds; sampling never waited for it


def test_snapshot_dry_run_is_the_replayed_pc(capsys, monkeypatch):
    reset_settings()
    assert sensor_mod.main(["--dry-run", "--snapshot", str(WINDOWS)]) == 0
    sample = json.loads(capsys.readouterr().out)
    assert sample["hostname"] == HOST and sample["os"] == "windows"


def test_trust_add_reads_a_pem_file(tmp_path, capsys, monkeypatch):
    from cryptography.hazmat.primitives import serialization

    monkeypatch.setenv("TECHCARE_LANG", "en")
    key = SigningKey.generate()
    pem = key._private.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "anna.pub.pem"
    path.write_bytes(pem)
    home = tmp_path / "sensor-home"
    assert sensor_mod.main(["trust", "--home", str(home), "add", str(path), "--name", "Anna"]) == 0
    assert f"Key {key.key_id} (Anna) pinned" in capsys.readouterr().out
    assert [s.key_id for s in TrustStore(home).signers()] == [key.key_id]
    assert sensor_mod.main(["trust", "--home", str(home), "remove", "0000000000000000"]) == 1
    assert "is not pinned" in capsys.readouterr().err


class RefusingBackend(SlowJobBackend):
    """Reached, but it refuses this host's job fetches (another sensor key serves the host: HOST_BOUND)."""

    def fetch_jobs(self, host, *, wait=0):
        import httpx

        from techcare.backend_client import BackendHTTPError

        response = httpx.Response(403, json={"code": "HOST_BOUND", "detail": "served by another key"})
        raise BackendHTTPError("HOST_BOUND: served by another key", status_code=403, response=response)


def test_a_refused_job_fetch_is_logged_as_refused_not_as_unreachable(tmp_path, caplog, licensed, monkeypatch):
    licensed("pro_business")
    monkeypatch.setenv("TECHCARE_LANG", "en")
    settings = load_settings(techcare_home=str(tmp_path / "home"), remote_jobs="on")
    pc = SimulatedPC.from_snapshot(WINDOWS)
    s = Sensor(settings=settings, runner=pc.runner(), client=RefusingBackend({}), hostname=HOST, interval=0.2,
               cache_ttl={})
    thread = threading.Thread(target=s._job_loop, daemon=True)
    with caplog.at_level("WARNING"):
        thread.start()
        deadline = time.monotonic() + 10
        while "refuses this host" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        s.stop()
        thread.join(timeout=10)
    assert "the backend refuses this host (HTTP 403)" in caplog.text and "HOST_BOUND" in caplog.text
    assert "not reachable" not in caplog.text
