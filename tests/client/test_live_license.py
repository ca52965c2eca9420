"""License leases against a live local backend on the real PostgreSQL + Redis. The client's clock is injected
(starting at the real time, since the server signs with the real time); nothing sleeps."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import jwt
import pytest

from techcare import features, license
from techcare.backend_client import BackendClient
from techcare.config import load_settings
from techcare.license import LicenseManager

from .fakes import DAY, Clock, new_key
from .live import REDIS_HOST, REDIS_PORT, ToggleTransport, need_backend, need_redis

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def backend(postgres_url):
    need_backend()
    need_redis()
    from techcare_backend.testing import start_backend

    prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
    live = start_backend(postgres_url, f"redis://{REDIS_HOST}:{REDIS_PORT}/0", redis_prefix=prefix,
                         rate_limit_ip_per_minute=100_000, rate_limit_key_per_minute=100_000)
    yield live
    live.stop()
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def org(backend):
    from techcare_backend.testing import seed

    return seed(backend, edition="pro_business")


@pytest.fixture(autouse=True)
def _forget():
    license.set_current(None)
    yield
    license.set_current(None)


class Setup:
    def __init__(self, backend, org, tmp_path):
        self.backend, self.org = backend, org
        self.transport = ToggleTransport()
        self.clock = Clock(time.time())
        settings = load_settings(backend_url=backend.url, license_key=org.license_key, edition="pro_business")
        self.client = BackendClient(backend.url, None, client=httpx.Client(transport=self.transport, timeout=10),
                                    retries=1, sleep=lambda s: None)
        self.manager = LicenseManager(settings, client=self.client, clock=self.clock, home=tmp_path / "home",
                                      fingerprint=uuid.uuid4().hex * 2)

    def admin(self, action: str) -> None:
        r = httpx.post(f"{self.backend.url}/api/admin/licenses/{self.org.license_id}/{action}",
                       headers=self.backend.headers(), timeout=10)
        assert r.status_code == 200, r.text


@pytest.fixture
def s(backend, org, tmp_path):
    setup = Setup(backend, org, tmp_path)
    yield setup
    setup.client.close()


def test_valid_lease_verified_with_the_backend_keys(s):
    status = license.check_license(s.manager)  # the one place that puts a checked license in force (issue 21)
    assert status.code == "VALID" and status.ok and status.edition == "pro_business"
    assert "sensor_mode" in status.entitlements and features.allowed("sensor_mode")
    pinned = json.loads(s.manager.keys_path.read_text())["keys"]
    served = httpx.get(s.backend.url + "/api/licenses/public-keys").json()["keys"]
    assert [k["x"] for k in pinned] == [k["x"] for k in served]
    claims = jwt.decode(s.manager.lease_path.read_text().strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == pytest.approx(7 * DAY, abs=5)


def test_offline_within_and_past_seven_days(s):
    assert s.manager.check().code == "VALID"
    s.transport.mode = "down"
    s.clock.advance(6 * DAY)
    status = s.manager.check()
    assert status.code == "OFFLINE_GRACE" and status.days_left == pytest.approx(1.0, abs=0.01)
    s.clock.advance(DAY + 120)
    status = s.manager.check()
    assert status.code == "OFFLINE_GRACE_EXCEEDED" and not status.ok and not features.allowed("sensor_mode")
    s.transport.mode = "ok"
    s.clock.now = time.time()                      # back online with a correct clock: valid again
    assert s.manager.check().code == "VALID"


def test_clock_turned_back_and_state_file_deleted(s):
    s.manager.check()
    s.transport.mode = "down"
    s.clock.advance(4 * DAY)
    assert s.manager.check().ok
    s.clock.advance(-2 * DAY)
    assert s.manager.check().code == "CLOCK_TAMPERED"
    s.manager.state_path.unlink()                  # deleting the state file: its second copy keeps the mark
    assert s.manager.check().code == "CLOCK_TAMPERED"
    for path in s.manager.state_paths:             # every copy deleted: the lease's signed iat is the floor
        path.unlink(missing_ok=True)
    assert s.manager.check().code == "OFFLINE_GRACE"
    s.clock.advance(-3 * DAY)                      # before iat
    assert s.manager.check().code == "CLOCK_TAMPERED"


def test_edited_lease_and_lease_signed_by_another_key(s):
    s.manager.check()
    token = s.manager.lease_path.read_text().strip()
    head, body, sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["edition"] = "enterprise"
    import base64

    s.manager.lease_path.write_text(".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode())
                                              .rstrip(b"=").decode(), sig]))
    s.transport.mode = "down"
    assert s.manager.check().code == "LEASE_INVALID" and features.current_edition() == "community"

    # an impostor answers in place of the server with a lease signed by its own key (same kid)
    other, _ = new_key()
    kid = jwt.get_unverified_header(token)["kid"]

    def resign(request, response):
        if request.url.path.endswith("/validate"):
            data = response.json()
            c = jwt.decode(data["lease"], options={"verify_signature": False})
            c["edition"] = "enterprise"
            data["lease"] = jwt.encode(c, other, algorithm="EdDSA", headers={"kid": kid})
            return httpx.Response(200, json=data)
        return response

    s.transport.mode, s.transport.rewrite = "ok", resign
    status = s.manager.check()
    assert status.code == "LEASE_INVALID" and "Signatur" in status.detail


def test_replayed_answer_is_rejected(s):
    recorded = []

    def record(request, response):
        if request.url.path.endswith("/validate"):
            recorded.append(response.json())
        return response

    s.transport.rewrite = record
    assert s.manager.check().code == "VALID"
    s.transport.rewrite = lambda request, response: httpx.Response(200, json=recorded[0]) \
        if request.url.path.endswith("/validate") else response
    status = s.manager.check()
    assert status.code == "LEASE_INVALID" and "Nonce" in status.detail


def test_revoked_while_offline_then_back_online(s):
    assert s.manager.check().code == "VALID"
    s.transport.mode = "down"
    s.admin("revoke")
    s.clock.advance(DAY)
    assert s.manager.check().code == "OFFLINE_GRACE"
    s.transport.mode = "ok"
    s.clock.now = time.time()
    status = s.manager.check()
    assert status.code == "REVOKED" and not status.ok and status.online
    assert not s.manager.lease_path.exists()
    s.transport.mode = "down"
    assert not s.manager.check().ok               # the cache is gone: fails closed offline too


@pytest.mark.parametrize("mode", ["429", "503"])
def test_rate_limit_and_server_error_count_as_offline(s, mode):
    s.manager.check()
    s.transport.mode = mode
    s.clock.advance(2 * DAY)
    status = s.manager.check()
    assert status.code == "OFFLINE_GRACE" and status.ok


def test_suspension_is_a_signed_denial_that_fails_closed(s):
    s.manager.check()
    s.admin("suspend")
    status = s.manager.check()
    assert status.code == "SUSPENDED" and not status.ok and not s.manager.lease_path.exists()
    assert "gesperrt" in status.message and "BACKEND_URL" in status.message
    s.admin("reinstate")
    assert s.manager.check().code == "VALID"


def test_real_rate_limit_from_the_server_is_offline(tmp_path):
    """A second backend with a tiny per-key limit: its genuine 429 + Retry-After is treated as offline."""
    need_backend()
    from techcare_backend.testing import seed, start_backend

    with start_backend(rate_limit_key_per_minute=2, rate_limit_ip_per_minute=1000) as live:
        o = seed(live, edition="pro_business")
        settings = load_settings(backend_url=live.url, license_key=o.license_key, edition="pro_business")
        clock = Clock(time.time())
        client = BackendClient(live.url, None, retries=0, sleep=lambda s: None)
        manager = LicenseManager(settings, client=client, clock=clock, home=tmp_path / "h", fingerprint="a" * 64)
        codes = [manager.check().code for _ in range(4)]
        client.close()
    assert codes[0] == "VALID" and codes[-1] == "OFFLINE_GRACE", codes


def test_doctor_against_the_live_backend(backend, org, tmp_path):
    from techcare.doctor import Doctor
    from techcare.system.runner import ReplayRunner

    settings = load_settings(backend_url=backend.url, network_method="vpn", license_key=org.license_key,
                             edition="pro_business", techcare_home=str(tmp_path / "doc"),
                             techcare_api_key=org.keys["sensor"])
    checks = {c.name: c for c in Doctor(settings, runner=ReplayRunner(platform="linux"), timeout=5).run()}
    assert checks["DNS"].status == checks["TCP"].status == "ok"
    assert checks["Backend-Health"].status == "ok" and "database=ok" in checks["Backend-Health"].detail
    assert checks["Uhrzeit"].status == "ok"
    assert checks["API-Schlüssel"].status == "ok" and checks["API-Schlüssel"].detail.startswith("sensor")
    assert checks["Lizenz"].status == "ok" and "Pro Business" in checks["Lizenz"].detail
    # a wrong key is reported with the product's troubleshooting steps
    bad = load_settings(backend_url=backend.url, network_method="vpn", license_key="TECHCARE-PRO-BUSINESS-NOPE-NOPE",
                        edition="pro_business", techcare_home=str(tmp_path / "doc2"), techcare_api_key="tck_wrong")
    bad_checks = {c.name: c for c in Doctor(bad, runner=ReplayRunner(platform="linux")).run()}
    lic = bad_checks["Lizenz"]
    assert lic.status == "fail" and "NOT_FOUND" in lic.detail and "Lizenzschlüssel" in lic.fix
    assert bad_checks["API-Schlüssel"].status == "fail" and "401" in bad_checks["API-Schlüssel"].detail


def test_history_frame_from_the_live_backend(backend, org, tmp_path, monkeypatch):
    from techcare.monitoring import history
    from techcare.monitoring.sensor import Sensor
    from techcare.system.runner import ReplayRunner, entry_from_dict

    host = f"hist-{uuid.uuid4().hex[:6]}"
    settings = load_settings(techcare_home=str(tmp_path / "h"))
    with BackendClient(backend.url, org.keys["sensor"]) as sensor_client:
        runner = ReplayRunner(platform="windows")
        runner.add(entry_from_dict({"kind": "fact", "name": "metrics", "value": {
            "cpu_percent": 12.0, "ram_percent": 40.0, "disks": [{"mount": "C:\\", "total": 100, "used": 50,
                                                                  "free": 50, "percent": 50.0}]}}))
        sensor = Sensor(settings=settings, runner=runner, client=sensor_client, hostname=host)
        for _ in range(3):
            sensor.take()
        assert sensor.flush().created == 3
        sensor.close()
    with BackendClient(backend.url, org.keys["technician"]) as client:
        frame = history(host, client=client, since="2000-01-01T00:00:00Z", until="2100-01-01T00:00:00Z")
    assert len(frame) == 3 and frame.index.is_monotonic_increasing
    assert set(frame["firewall"]) == {"unknown"}          # a replay without recorded probes is never "healthy"
    assert list(frame["disk_max_percent"]) == [50.0] * 3 and list(frame["cpu_percent"]) == [12.0] * 3
