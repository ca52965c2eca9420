"""Sensor payload, probe cache, spool bound and store-and-forward against a fake backend (in process)."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from techcare import license
from techcare.backend_client import BackendClient
from techcare.config import load_settings
from techcare.monitoring import sensor as sensor_mod
from techcare.monitoring.sensor import Sensor, build_payload, main
from techcare.monitoring.spool import Spool, default_max_samples
from techcare.system.records import (
    AntivirusProduct,
    AntivirusStatus,
    DiskHealth,
    DiskUsage,
    EventRecord,
    FirewallStatus,
    Metrics,
    PackageUpdate,
    PendingReboot,
    PendingUpdates,
    ProbeResult,
    ServiceState,
    UpdateServiceStatus,
    unknown,
)
from techcare.system.runner import ReplayRunner

CONTRACT_KEYS = {"sample_id", "timestamp", "hostname", "os", "cpu_percent", "ram_percent", "swap_percent", "disks",
                 "services", "pending_updates", "pending_reboot", "events", "smart", "dropped_samples",
                 "agent_version", "uptime_seconds"}


def results() -> dict[str, ProbeResult]:
    events = [EventRecord(f"2026-02-17T10:{m:02d}:00+00:00", "error", "disk", f"error {m}", 7) for m in range(8)]
    return {
        "metrics": ProbeResult("metrics", data=Metrics(12.5, 61.0, swap_percent=3.0, uptime_seconds=3600.7,
                                                        disks=[DiskUsage("/", 100, 91, 9, 91.0)])),
        "firewall": ProbeResult("firewall", data=FirewallStatus(False, "ufw")),
        "antivirus": ProbeResult("antivirus", data=AntivirusStatus([AntivirusProduct("Defender", enabled=True)])),
        "update_service": ProbeResult("update_service", data=UpdateServiceStatus("wuauserv", "stopped", "disabled", True)),
        "services": ProbeResult("services", data=[ServiceState("ssh", "running", "auto"),
                                                  ServiceState("cups", "failed", "auto"),
                                                  ServiceState("Spooler", "stopped", "auto"),
                                                  ServiceState("manualsvc", "stopped", "manual")]),
        "events": ProbeResult("events", data=events),
        "pending_updates": ProbeResult("pending_updates", data=PendingUpdates("apt", [
            PackageUpdate("openssl", security=True), PackageUpdate("vim")])),
        "pending_reboot": ProbeResult("pending_reboot", data=PendingReboot(True, ["/var/run/reboot-required"])),
        "smart": ProbeResult("smart", data=[DiskHealth("/dev/sda", "failing", model="WDC", temperature_c=41.0)]),
    }


def test_payload_follows_the_contract():
    payload = build_payload(results(), hostname="PC-1", os_name="linux", now=1771324200.0)
    assert set(payload) == CONTRACT_KEYS
    assert payload["timestamp"] == "2026-02-17T10:30:00Z"
    assert payload["disks"] == [{"mount": "/", "total": 100, "used": 91, "free": 9, "percent": 91.0}]
    assert payload["services"] == {"firewall": "off", "antivirus": "on", "antivirus_products": 1,
                                   "update_service": "problem", "failed": ["Spooler", "cups", "manualsvc"]}
    assert payload["pending_updates"] == {"count": 2, "security": 1}
    assert payload["pending_reboot"] is True
    assert [e["message"] for e in payload["events"]] == ["error 7", "error 6", "error 5", "error 4", "error 3"]
    assert payload["smart"] == [{"device": "/dev/sda", "health": "failing", "model": "WDC", "temperature_c": 41.0}]
    assert payload["uptime_seconds"] == 3600
    json.dumps(payload)


def test_unknown_probes_become_unknown_never_healthy():
    res = {name: unknown(name, "needs_admin", "x") for name in results()}
    payload = build_payload(res, hostname="h", os_name="windows", now=0)
    assert payload["services"] == {"firewall": "unknown", "antivirus": "unknown", "antivirus_products": None,
                                   "update_service": "unknown", "failed": []}
    assert payload["pending_updates"] is None and payload["pending_reboot"] is None
    assert payload["cpu_percent"] is None and payload["smart"] == []


class Clock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def make_sensor(tmp_path, monkeypatch, *, client=None, max_samples=None, clock=None):
    calls: list[list[str]] = []

    def fake_run_probes(names, runner, timeout):
        calls.append(list(names))
        base = results()
        return {n: base[n] for n in names}

    monkeypatch.setattr("techcare.system.run_probes", fake_run_probes)
    settings = load_settings(techcare_home=str(tmp_path / "home"), sensor_interval=60)
    s = Sensor(settings=settings, runner=ReplayRunner(platform="linux"), client=client, hostname="PC-1",
               clock=clock or Clock(), max_samples=max_samples)
    return s, calls


def test_cached_probes_are_not_rerun_every_tick(tmp_path, monkeypatch):
    clock = Clock()
    s, calls = make_sensor(tmp_path, monkeypatch, clock=clock)
    first = s.sample()
    assert set(calls[0]) == set(sensor_mod.TICK_PROBES)
    assert set(calls[1]) == {"pending_updates", "pending_reboot", "smart"}   # separate, longer budget
    assert first["pending_updates"] == {"count": 2, "security": 1}
    clock.now += 300
    second = s.sample()
    assert len(calls) == 3 and set(calls[2]) == set(sensor_mod.TICK_PROBES)
    assert second["pending_updates"] == first["pending_updates"] and second["smart"] == first["smart"]
    # the cache survives a restart of the sensor (a --once run from a timer does not re-probe either)
    s2, calls2 = make_sensor(tmp_path, monkeypatch, clock=clock)
    s2.sample()
    assert calls2 == [list(sensor_mod.TICK_PROBES)]
    clock.now += 3601                                      # pending_reboot TTL is one hour
    s2.sample()
    assert calls2[-1] == ["pending_reboot"]


# ---- spool -----------------------------------------------------------------------------------------------

def test_spool_is_durable_and_acks_by_id(tmp_path):
    path = tmp_path / "spool.sqlite3"
    with Spool(path, max_samples=10) as spool:
        for i in range(3):
            spool.add({"sample_id": f"s{i}", "n": i})
        assert spool.ack(["s0", "nope"]) == 1
    with Spool(path, max_samples=10) as spool:              # reopened: nothing lost
        assert [s["sample_id"] for s in spool.pending()] == ["s1", "s2"]
        with pytest.raises(sqlite3.IntegrityError):
            spool.add({"sample_id": "s1"})                 # never stored twice
        assert len(spool) == 2
        assert spool.stats()["acked_total"] == 1
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_spool_bound_drops_oldest_and_reports_count(tmp_path):
    with Spool(tmp_path / "s.sqlite3", max_samples=5) as spool:
        for i in range(5):
            spool.add({"sample_id": f"s{i}"})
        stored = spool.add({"sample_id": "s5"})
        assert stored["dropped_samples"] == 1
        assert [s["sample_id"] for s in spool.pending()] == ["s1", "s2", "s3", "s4", "s5"]
        for i in range(6, 12):
            spool.add({"sample_id": f"s{i}"})
        pending = spool.pending()
        assert len(pending) == 5 and pending[-1]["sample_id"] == "s11"
        # every dropped sample is accounted for in a sample still queued (drop counts carried along)
        assert sum(s["dropped_samples"] for s in pending) == 7 == spool.stats()["dropped_total"]


def test_default_bound_is_thirty_days():
    assert default_max_samples(300) == 8640 and default_max_samples(60) == 43200


# ---- forwarding -------------------------------------------------------------------------------------------

class FakeMetricsBackend:
    def __init__(self) -> None:
        self.stored: dict[str, dict] = {}
        self.mode = "ok"   # ok | down | 503 | 403 | lose_ack
        self.requests = 0
        self.reject: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.mode == "down":
            raise httpx.ConnectError("refused", request=request)
        if self.mode == "503":
            return httpx.Response(503, json={"detail": "db down"})
        if self.mode == "403":
            return httpx.Response(403, json={"detail": "sensor_mode entitlement missing"})
        assert request.headers["Authorization"] == "Bearer tck_sensor"
        body = json.loads(request.content)
        samples = body["samples"] if request.url.path.endswith("/batch") else [body]
        out = []
        for s in samples:
            if s["sample_id"] in self.reject:
                out.append({"sample_id": s["sample_id"], "status": "error", "error": "cpu_percent out of range"})
            elif s["sample_id"] in self.stored:
                out.append({"sample_id": s["sample_id"], "status": "duplicate"})
            else:
                self.stored[s["sample_id"]] = s
                out.append({"sample_id": s["sample_id"], "status": "created"})
        if self.mode == "lose_ack":
            raise httpx.ReadTimeout("ack lost", request=request)
        if request.url.path.endswith("/batch"):
            return httpx.Response(200, json={"results": out})
        if out[0]["status"] == "error":
            return httpx.Response(422, json={"detail": out[0]["error"]})
        return httpx.Response(201, json=out[0])


def backend_client(fake: FakeMetricsBackend) -> BackendClient:
    return BackendClient("http://b.test", "tck_sensor", client=httpx.Client(transport=httpx.MockTransport(fake.handler)),
                         retries=1, sleep=lambda s: None)


def test_outage_loses_nothing_and_catches_up_in_batches(tmp_path, monkeypatch):
    fake = FakeMetricsBackend()
    s, _ = make_sensor(tmp_path, monkeypatch, client=backend_client(fake))
    taken = [s.take()["sample_id"]]
    assert s.flush().created == 1
    fake.mode = "down"
    for _ in range(4):
        taken.append(s.take()["sample_id"])
        outcome = s.flush()
        assert outcome.error and outcome.remaining == len(taken) - 1
    fake.mode = "503"
    assert s.flush().remaining == 4
    fake.mode = "ok"
    before = fake.requests
    outcome = s.flush()
    assert outcome.created == 4 and outcome.remaining == 0 and fake.requests == before + 1  # one batch
    assert set(fake.stored) == set(taken)


def test_lost_acknowledgement_is_resent_and_deduplicated(tmp_path, monkeypatch):
    fake = FakeMetricsBackend()
    s, _ = make_sensor(tmp_path, monkeypatch, client=backend_client(fake))
    sid = s.take()["sample_id"]
    fake.mode = "lose_ack"
    assert s.flush().remaining == 1                        # server stored it, we never heard back
    fake.mode = "ok"
    outcome = s.flush()
    assert outcome.duplicates == 1 and outcome.remaining == 0
    assert list(fake.stored) == [sid]


def test_invalid_samples_are_set_aside_not_blocking(tmp_path, monkeypatch):
    fake = FakeMetricsBackend()
    s, _ = make_sensor(tmp_path, monkeypatch, client=backend_client(fake))
    fake.mode = "down"
    ids = [s.take()["sample_id"] for _ in range(3)]
    fake.reject = {ids[1]}
    fake.mode = "ok"
    outcome = s.flush()
    assert outcome.created == 2 and outcome.rejected == 1 and outcome.remaining == 0
    assert [r["sample_id"] for r in s.spool.rejected()] == [ids[1]]
    single = s.take()["sample_id"]
    fake.reject = {single}
    assert s.flush().rejected == 1


def test_forbidden_keeps_samples(tmp_path, monkeypatch):
    fake = FakeMetricsBackend()
    s, _ = make_sensor(tmp_path, monkeypatch, client=backend_client(fake))
    s.take()
    fake.mode = "403"
    outcome = s.flush()
    assert outcome.remaining == 1 and "sensor_mode" in outcome.error


# ---- command line -----------------------------------------------------------------------------------------

def test_dry_run_prints_payload_and_writes_nothing(capsys, techcare_env):
    assert main(["--dry-run", "--hostname", "TEST-PC"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == CONTRACT_KEYS | {"timezone", "tags"} and payload["hostname"] == "TEST-PC"
    assert 0 <= payload["ram_percent"] <= 100
    home = techcare_env / "techcare-home"
    assert not home.exists() or list(home.iterdir()) == []


def test_status_shows_the_spool(capsys, techcare_env):
    with Spool(techcare_env / "techcare-home" / "sensor-spool.sqlite3") as spool:
        spool.add({"sample_id": "s-1"})
    assert main(["--status"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["pending"] == 1 and stats["max_samples"] == 8640


def test_sensor_needs_pro_business(capsys, monkeypatch):
    license.set_current(None)
    assert main(["--once"]) == 3
    err = capsys.readouterr().err
    assert "Sensor" in err and "Pro Business" in err


def test_bad_interval_is_a_usage_error(capsys):
    assert main(["--interval", "0"]) == 2
    assert "--interval" in capsys.readouterr().err
    assert main(["--bogus"]) == 2


def test_long_running_sensor_stops_when_the_license_goes(tmp_path, monkeypatch):
    from types import SimpleNamespace

    fake = FakeMetricsBackend()
    s, _ = make_sensor(tmp_path, monkeypatch, client=backend_client(fake))
    answers = [SimpleNamespace(ok=True, code="VALID", message="ok"),
               SimpleNamespace(ok=False, code="REVOKED", message="Die Lizenz wurde widerrufen.")]
    license.set_current(license.LicenseStatus("VALID", ok=True, edition="pro_business", entitlements=["sensor_mode"]))
    s.license_check = lambda: answers.pop(0)
    s.license_interval = 0
    s.interval = 0.01
    try:
        assert s.run() == 3
    finally:
        license.set_current(None)
    assert len(fake.stored) == 2 and len(s.spool) == 0   # two ticks ran, everything taken was delivered


def test_sample_without_metrics_is_not_spooled(tmp_path, monkeypatch):
    s, _ = make_sensor(tmp_path, monkeypatch)
    monkeypatch.setattr("techcare.system.run_probes",
                        lambda names, runner, timeout: {n: unknown(n, "failed", "x") for n in names})
    assert s.take() is None and len(s.spool) == 0


def test_sensor_refuses_http_for_cloudflare(capsys, monkeypatch):
    monkeypatch.setenv("BACKEND_URL", "http://techcare.firma.de")
    monkeypatch.setenv("NETWORK_METHOD", "cloudflare")
    from techcare.config import reset_settings

    reset_settings()
    assert main(["--once"]) == 2
    assert "https" in capsys.readouterr().err


def test_payloads_validate_against_the_backend_schema():
    """The backend's own pydantic model for a sample accepts what the sensor builds (full and sparse)."""
    from .live import need_backend

    need_backend()
    from techcare_backend.schemas import MetricSampleCreate

    full = build_payload(results(), hostname="PC-1", os_name="windows", now=1771324200.0)
    MetricSampleCreate.model_validate(full)
    sparse = {name: unknown(name, "needs_admin", "x") for name in results()}
    sparse["metrics"] = results()["metrics"]
    MetricSampleCreate.model_validate(build_payload(sparse, hostname="mac", os_name="darwin", now=0))
    spooled = dict(full, dropped_samples=17)
    assert MetricSampleCreate.model_validate(spooled).dropped_samples == 17


# ---- issue 15 item 17: sampling keeps its schedule while the backend is down ------------------------------------

def _run_for(sensor, seconds: float) -> list[float]:
    """Run the sensor loop in a thread for ``seconds``; the monotonic times at which samples were taken."""
    import threading
    import time

    taken: list[float] = []
    take = sensor.take

    def timed_take():
        taken.append(time.monotonic())
        return take()

    sensor.take = timed_take
    thread = threading.Thread(target=sensor.run, daemon=True)
    thread.start()
    time.sleep(seconds)
    sensor.stop()
    thread.join(10)
    assert not thread.is_alive()
    return taken


def test_sampling_keeps_its_schedule_while_the_backend_hangs(tmp_path, monkeypatch):
    """A backend that accepts connections and never answers: every send waits for the client's read timeout and
    its retries (~3 s here). Samples must still be taken every interval, none lost."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)  # connections complete in the backlog; nobody ever answers
    try:
        client = BackendClient(f"http://127.0.0.1:{server.getsockname()[1]}", "tck_sensor", timeout=1.0,
                               connect_timeout=1.0, retries=2, backoff=0.1)
        s, _ = make_sensor(tmp_path, monkeypatch, client=client)
        s.interval = 0.2
        taken = _run_for(s, 2.0)
    finally:
        server.close()
    gaps = [b - a for a, b in zip(taken, taken[1:], strict=False)]
    assert len(taken) >= 7, taken
    assert max(gaps) < 0.6, gaps
    assert len(s.spool) == len(taken)   # all kept for later


def test_sending_backs_off_while_the_backend_is_down(tmp_path, monkeypatch):
    fake = FakeMetricsBackend()
    fake.mode = "down"
    s, _ = make_sensor(tmp_path, monkeypatch, client=backend_client(fake))
    s.interval = 0.05
    taken = _run_for(s, 1.0)
    assert len(taken) >= 12
    # the first send fails (2 attempts with retries=1), then the sender waits (backoff >= 5 s) instead of
    # hammering the backend once per sample
    assert fake.requests <= 4, fake.requests
    fake.mode = "ok"
    s.stop_event.clear()  # stopped above; flush once more by hand
    assert s.flush().remaining == 0 and len(fake.stored) == len(taken)


# ---- the spool bound while the sender thread has a batch in flight --------------------------------------------

def _tick_during_sends(fake: FakeMetricsBackend, sensor: Sensor, taken: list[str], ticks: int = 1):
    """The sampling thread takes ``ticks`` samples while the sender's request is on the wire (deterministic
    stand-in for the race between the two threads)."""
    handler = fake.handler

    def during_send(request: httpx.Request) -> httpx.Response:
        for _ in range(ticks):
            taken.append(sensor.take()["sample_id"])
        return handler(request)

    return during_send


def _accounting(fake: FakeMetricsBackend, spool: Spool) -> tuple[set[str], int]:
    leftover = spool.pending()
    delivered_or_kept = set(fake.stored) | {s["sample_id"] for s in leftover}
    reported = sum(s["dropped_samples"] for s in fake.stored.values()) + sum(s["dropped_samples"] for s in leftover)
    return delivered_or_kept, reported


def test_bound_hit_during_a_send_drops_nothing_that_is_delivered(tmp_path, monkeypatch):
    """A tick while a catch-up batch is on the wire must not drop (and report as lost) a sample of that batch:
    the server stores it. Every sample taken is delivered, kept or counted as dropped — exactly once."""
    fake = FakeMetricsBackend()
    client = BackendClient("http://b.test", "tck_sensor", retries=1, sleep=lambda s: None,
                           client=httpx.Client(transport=httpx.MockTransport(lambda r: transport(r))))
    s, _ = make_sensor(tmp_path, monkeypatch, client=client, max_samples=3)
    taken: list[str] = []
    transport = fake.handler
    fake.mode = "down"
    for _ in range(4):                       # the outage: the bound is hit once (s0 dropped, reported on s3)
        taken.append(s.take()["sample_id"])
    assert s.flush().error and len(s.spool) == 3
    fake.mode = "ok"
    transport = _tick_during_sends(fake, s, taken)
    outcome = s.flush(max_batches=1)         # batch [s1, s2, s3]; s4 is taken while it is on the wire
    assert outcome.created == 3 and [p["sample_id"] for p in s.spool.pending()] == [taken[4]]
    assert s.spool.pending()[0]["dropped_samples"] == 0     # nothing of the delivered batch counted as lost
    transport = fake.handler
    assert s.flush().remaining == 0
    kept, reported = _accounting(fake, s.spool)
    assert reported == 1 == s.spool.stats()["dropped_total"]      # the bound was hit and reported
    assert len(kept) + reported == len(set(taken)) == 5


def test_failed_send_during_the_bound_keeps_the_bound_and_counts_each_drop_once(tmp_path, monkeypatch):
    """While a batch is on the wire the spool holds at most one sample over the bound (the oldest samples not being
    sent are dropped); when the send fails the bound is restored at once (oldest first) and the drops are reported
    on a queued sample, carried counts included."""
    fake = FakeMetricsBackend()
    client = BackendClient("http://b.test", "tck_sensor", retries=1, sleep=lambda s: None,
                           client=httpx.Client(transport=httpx.MockTransport(lambda r: transport(r))))
    s, _ = make_sensor(tmp_path, monkeypatch, client=client, max_samples=3)
    taken: list[str] = []
    transport = fake.handler
    fake.mode = "down"
    for _ in range(5):                       # s0, s1 dropped; s3 carries 1, s4 carries 1
        taken.append(s.take()["sample_id"])
    ticking = _tick_during_sends(fake, s, taken, ticks=2)   # 2 attempts x 2 ticks while the backend is down
    sizes: list[int] = []

    def transport(request):
        try:
            return ticking(request)
        finally:
            sizes.append(len(s.spool))

    outcome = s.flush()
    assert outcome.error and len(s.spool) == 3 and sizes == [4, 4]
    assert [p["sample_id"] for p in s.spool.pending()] == taken[3:5] + taken[-1:]
    assert sum(p["dropped_samples"] for p in s.spool.pending()) == len(taken) - 3
    transport = fake.handler
    fake.mode = "ok"
    assert s.flush().remaining == 0
    kept, reported = _accounting(fake, s.spool)
    assert reported == len(taken) - 3 == s.spool.stats()["dropped_total"]
    assert len(kept) + reported == len(set(taken))
