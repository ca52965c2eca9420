"""License leases against a fake signing backend: time is an injected clock, never sleep."""

from __future__ import annotations

import json

import httpx
import jwt
import pytest

from techcare import features, license
from techcare.backend_client import BackendClient
from techcare.config import load_settings
from techcare.errors import LicenseError
from techcare.license import LicenseManager, machine_fingerprint, machine_id
from techcare.system.runner import ReplayRunner, entry_from_dict

from .fakes import DAY, Clock, FakeLicenseServer, new_key

FP = machine_fingerprint(raw_id="0123456789abcdef0123456789abcdef")
GRANTING = {"VALID", "OFFLINE_GRACE"}


def code_of(status: license.LicenseStatus) -> str:
    """The status's code, once ``ok`` agrees with it: only a valid or offline-grace lease lets features run."""
    assert status.ok is (status.code in GRANTING), (status.code, status.ok)
    return status.code


@pytest.fixture(autouse=True)
def _forget_license():
    license.set_current(None)
    yield
    license.set_current(None)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(clock: Clock) -> FakeLicenseServer:
    return FakeLicenseServer(clock)


def manager(server: FakeLicenseServer, clock: Clock, tmp_path, **kw) -> LicenseManager:
    settings = load_settings(backend_url="http://license.test", license_key="TECHCARE-PB-TEST", edition="pro_business")
    client = BackendClient(client=server.client(), retries=1, sleep=lambda s: None)
    return LicenseManager(settings, client=client, clock=clock, home=tmp_path / "home", fingerprint=FP, **kw)


def test_valid_online_caches_lease_and_sets_edition(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    status = license.check_license(m)
    assert status.code == "VALID" and status.ok and status.online
    assert status.edition == "pro_business"
    assert m.lease_path.exists() and m.keys_path.exists()
    assert features.current_edition() == "pro_business" and features.allowed("sensor_mode")
    assert not features.allowed("shared_learning_db")
    # each start sends a fresh nonce and the fingerprint, never the raw machine id
    m.check()
    assert server.calls[0]["nonce"] != server.calls[1]["nonce"]
    assert server.calls[0]["fingerprint"] == FP and "0123456789abcdef" not in json.dumps(server.calls)


def test_offline_within_seven_days_uses_cached_lease(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    assert code_of(m.check()) == "VALID"
    server.mode = "down"
    clock.advance(6 * DAY + 23 * 3600)
    license.set_current(None)
    status = license.check_license(m)
    assert status.code == "OFFLINE_GRACE" and status.ok
    assert 0 < status.days_left < 0.05
    assert features.allowed("sensor_mode")
    assert "Tage" in status.message or "days" in status.message


def test_offline_past_seven_days_is_refused_with_troubleshooting(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "down"
    clock.advance(7 * DAY + 60)
    status = m.check()
    assert status.code == "OFFLINE_GRACE_EXCEEDED" and not status.ok
    assert "BACKEND_URL" in status.message and "LICENSE_KEY" in status.message
    assert not features.allowed("sensor_mode")
    with pytest.raises(LicenseError) as info:
        m.ensure()
    assert info.value.exit_code != 0


def test_clock_turned_back_is_clock_tampered(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "down"
    clock.advance(5 * DAY)
    assert code_of(m.check()) == "OFFLINE_GRACE"          # high-water mark is now T0 + 5 d
    clock.advance(-3 * DAY)                           # user turns the clock back to gain days
    status = m.check()
    assert status.code == "CLOCK_TAMPERED" and not status.ok
    # within the 10-minute tolerance it still works
    clock.advance(3 * DAY - 9 * 60)
    assert code_of(m.check()) == "OFFLINE_GRACE"
    # going back online clears it
    server.mode = "ok"
    clock.advance(-3 * DAY)
    server.server_time_offset = 3 * DAY
    assert code_of(m.check()) == "VALID"


def test_high_water_mark_counts_even_when_clock_stays_behind(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "down"
    clock.advance(6 * DAY)
    assert m.check().ok
    clock.advance(-(5 * 60))                          # small step back within tolerance
    status = m.check()
    assert status.ok and status.days_left == pytest.approx(1.0, abs=1e-3)  # measured from the high-water mark


def test_state_file_deleted_falls_back_to_lease_iat(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "down"
    clock.advance(5 * DAY)
    m.check()
    m.state_path.unlink()
    clock.advance(-5 * DAY - 3600)                    # back before the lease was issued
    assert code_of(m.check()) == "CLOCK_TAMPERED"
    m.state_path.unlink(missing_ok=True)
    clock.now = server.clock() + 0                    # keep the same fake time
    clock.advance(8 * DAY)
    assert code_of(m.check()) == "OFFLINE_GRACE_EXCEEDED"


def test_edited_state_file_cannot_extend_the_grace(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "down"
    clock.advance(8 * DAY)
    m.state_path.write_text(json.dumps({"high_water": 0, "last_online": clock.now}))
    assert code_of(m.check()) == "OFFLINE_GRACE_EXCEEDED"   # iat is signed; last_online in the file is not trusted


def test_edited_lease_is_invalid_and_deleted(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    token = m.lease_path.read_text().strip()
    header, payload, sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["edition"] = "enterprise"
    import base64
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    m.lease_path.write_text(f"{header}.{forged_payload}.{sig}")
    server.mode = "down"
    status = m.check()
    assert status.code == "LEASE_INVALID" and not status.ok
    assert not m.lease_path.exists()
    assert features.current_edition() == "community"


def test_lease_signed_by_another_key_is_rejected(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    server.mode = "forged"
    status = m.check()
    assert code_of(status) == "LEASE_INVALID" and "Signatur" in status.detail
    assert not m.lease_path.exists()
    # a cached lease signed by an attacker key with an unknown kid is refused offline too
    other, _ = new_key("evil")
    claims = {"iss": "techcare-backend", "sub": "x", "edition": "enterprise", "entitlements": ["sensor_mode"],
              "fingerprint": FP, "nonce": "n", "code": "VALID", "valid": True, "iat": int(clock()),
              "nbf": int(clock()), "exp": int(clock() + DAY)}
    m.lease_path.write_text(jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": "evil"}))
    server.mode = "down"
    assert code_of(m.check()) == "LEASE_INVALID"


def test_replayed_answer_nonce_mismatch(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    assert code_of(m.check()) == "VALID"
    server.mode = "replay"
    status = m.check()
    assert code_of(status) == "LEASE_INVALID" and "Nonce" in status.detail


def test_lease_for_another_machine_is_invalid(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    other = LicenseManager(m.settings, client=m.client, clock=clock, home=m.home, fingerprint="f" * 64)
    server.mode = "down"
    status = other.check()
    assert code_of(status) == "LEASE_INVALID" and "Fingerabdruck" in status.detail


def test_revoked_while_offline_then_back_online(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "down"
    server.status = "REVOKED"
    clock.advance(2 * DAY)
    assert code_of(m.check()) == "OFFLINE_GRACE"          # cannot know yet
    server.mode = "ok"
    status = m.check()
    assert status.code == "REVOKED" and not status.ok and status.online
    assert not m.lease_path.exists()                  # fails closed: the cache is gone
    server.mode = "down"
    assert code_of(m.check()) == "LEASE_INVALID"          # and stays refused offline


@pytest.mark.parametrize("mode", ["429", "503"])
def test_rate_limit_and_server_errors_count_as_offline(server, clock, tmp_path, mode):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = mode
    clock.advance(DAY)
    status = m.check()
    assert status.code == "OFFLINE_GRACE" and status.ok
    assert len(server.calls) == 1 + 2                 # one retry happened


def test_signed_403_denial_fails_closed(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "403"
    status = m.check()
    assert status.code == "SUSPENDED" and not status.ok
    assert not m.lease_path.exists()


def test_unsigned_403_fails_closed_but_cannot_delete(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.mode = "403_unsigned"
    status = m.check()
    assert not status.ok and status.code == "LEASE_INVALID"
    assert not features.allowed("sensor_mode")


@pytest.mark.parametrize("status", [200, 403, 404])
def test_played_back_denial_cannot_delete_the_lease(server, clock, tmp_path, status):
    """Anyone who knows the fingerprint can get a signed denial for it (a bogus key is NOT_FOUND); played back
    to the machine, with any HTTP status, it is not an answer to this request and the lease stays."""
    m = manager(server, clock, tmp_path)
    assert code_of(m.check()) == "VALID"
    lease = m.lease_path.read_text()
    server.status = "NOT_FOUND"
    stolen = server.answer({"fingerprint": FP, "nonce": "the-attackers-own-request"})
    server.status = "VALID"
    played = httpx.MockTransport(lambda request: httpx.Response(status, json=stolen)
                                 if request.url.path == "/api/licenses/validate" else server.handler(request))
    m._client = BackendClient(client=httpx.Client(base_url="http://license.test", transport=played), retries=1,
                              sleep=lambda s: None)
    status_now = m.check()
    assert status_now.code == "LEASE_INVALID" and "Nonce" in status_now.detail and not status_now.ok
    assert m.lease_path.read_text() == lease
    m._client = BackendClient(client=server.client(), retries=1, sleep=lambda s: None)
    server.mode = "down"
    assert code_of(m.check()) == "OFFLINE_GRACE"          # the cached lease still carries the machine offline


def test_signed_denial_of_this_request_with_an_http_error_deletes_the_lease(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()
    server.status = "REVOKED"
    answered = httpx.MockTransport(lambda request: httpx.Response(404, json=server.answer(json.loads(
        request.content))) if request.url.path == "/api/licenses/validate" else server.handler(request))
    m._client = BackendClient(client=httpx.Client(base_url="http://license.test", transport=answered), retries=1,
                              sleep=lambda s: None)
    status = m.check()
    assert status.code == "REVOKED" and not status.ok and not m.lease_path.exists()


def test_garbage_answer_is_invalid(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    server.mode = "garbage"
    assert code_of(m.check()) == "LEASE_INVALID"


def test_license_expiry_before_seven_days(clock, tmp_path):
    server = FakeLicenseServer(clock, expires_at=clock() + 2 * DAY)
    m = manager(server, clock, tmp_path)
    assert m.check().ok
    server.mode = "down"
    clock.advance(DAY)
    assert m.check().ok
    clock.advance(DAY + 60)
    assert code_of(m.check()) == "EXPIRED"


def test_first_start_offline_has_no_lease(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    server.mode = "down"
    status = m.check()
    assert status.code == "LEASE_INVALID" and not status.ok


def test_community_needs_no_license(tmp_path, clock):
    m = LicenseManager(load_settings(), clock=clock, home=tmp_path, fingerprint=FP)
    status = m.check()
    assert status.code == "NO_LICENSE" and status.ok
    pro = LicenseManager(load_settings(edition="pro"), clock=clock, home=tmp_path, fingerprint=FP)
    status = pro.check()
    assert status.code == "NO_LICENSE" and not status.ok and "LICENSE_KEY" in status.message


def test_shipped_keys_allow_rotation(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    m.check()                                         # pins k1
    new_private, new_jwk = new_key("k2")
    server.key, server.jwk = new_private, new_jwk     # server rotates to k2
    original_sign = server.sign
    server.sign = lambda claims, key=None, kid="k1": original_sign(claims, key=key, kid="k2")
    assert code_of(m.check()) == "LEASE_INVALID"          # k2 is not pinned: never trusted just because served
    rotated = manager(server, clock, tmp_path, shipped_keys=[new_jwk])
    assert code_of(rotated.check()) == "VALID"


def test_messages_in_english(server, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    m = manager(server, clock, tmp_path)
    server.mode = "down"
    msg = m.check().message
    assert "License check failed" in msg and "Check BACKEND_URL" in msg


def test_machine_id_sources():
    linux = ReplayRunner(platform="linux")
    linux.add(entry_from_dict({"kind": "file", "path": "/etc/machine-id", "content": "abc123\n", "error": None}))
    assert machine_id(linux) == "abc123"
    win = ReplayRunner(platform="windows")
    win.add_command(["reg", "query", r"HKLM\SOFTWARE\Microsoft\Cryptography", "/v", "MachineGuid"], 0,
                    "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n"
                    "    MachineGuid    REG_SZ    6f3b8c2e-1a2b-4c3d-9e8f-0a1b2c3d4e5f\r\n\r\n")
    assert machine_id(win) == "6f3b8c2e-1a2b-4c3d-9e8f-0a1b2c3d4e5f"
    mac = ReplayRunner(platform="darwin")
    mac.add_command(["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"], 0,
                    '+-o MacBookPro18,3  <class IOPlatformExpertDevice>\n    {\n'
                    '      "IOPlatformSerialNumber" = "C02XYZ"\n'
                    '      "IOPlatformUUID" = "A1B2C3D4-E5F6-7890-ABCD-EF1234567890"\n    }\n')
    assert machine_id(mac) == "A1B2C3D4-E5F6-7890-ABCD-EF1234567890"
    assert machine_fingerprint(raw_id="A") == machine_fingerprint(raw_id="a")
    assert len(machine_fingerprint(raw_id="x")) == 64


def test_machine_id_fallback_is_stable(tmp_path):
    runner = ReplayRunner(platform="linux")
    first = machine_id(runner, home=tmp_path)
    assert machine_id(runner, home=tmp_path) == first


def test_license_command_exit_status(server, clock, tmp_path, capsys):
    from techcare.license import main as license_main

    m = manager(server, clock, tmp_path)
    kw = {"client": m.client, "clock": clock, "home": m.home, "fingerprint": FP, "settings": m.settings}
    assert license_main(["--json"], **kw) == 0
    assert json.loads(capsys.readouterr().out)["code"] == "VALID"
    server.mode = "down"
    clock.advance(8 * DAY)
    assert license_main([], **kw) == 3
    assert "Lizenz-Check fehlgeschlagen" in capsys.readouterr().err
    assert license_main(["--bogus"], **kw) == 2


def test_start_and_setup_hooks(server, clock, tmp_path):
    from techcare.license import ensure_license, validate_for_setup

    m = manager(server, clock, tmp_path)
    kw = {"client": m.client, "clock": clock, "home": m.home, "fingerprint": FP}
    status = ensure_license(settings=m.settings, **kw)
    assert code_of(status) == "VALID" and "Pro Business" in status.summary
    line = validate_for_setup("TECHCARE-PB-TEST", {"BACKEND_URL": "http://license.test", "EDITION": "pro_business"}, **kw)
    assert line.startswith("✔")
    assert "BACKEND_URL" in validate_for_setup("TECHCARE-X", {"EDITION": "pro"})
    server.status = "REVOKED"
    assert validate_for_setup("TECHCARE-PB-TEST", {"BACKEND_URL": "http://license.test"}, **kw).startswith("✖")
    with pytest.raises(LicenseError, match="widerrufen"):
        ensure_license(settings=m.settings, **kw)


def test_check_changes_nothing_in_force_and_check_license_makes_it_current(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    decided = m.check()
    assert decided.code == "VALID" and decided.ok
    assert license.current().code == "NO_LICENSE" and not features.allowed("sensor_mode")  # nothing configured here
    checked = license.check_license(m)
    assert license.current() is checked and features.current_edition() == "pro_business"
    server.status = "REVOKED"
    assert code_of(m.check()) == "REVOKED" and features.allowed("sensor_mode")    # decided, not yet in force
    assert code_of(license.check_license(m)) == "REVOKED" and not features.allowed("sensor_mode")


def test_current_verifies_the_cached_lease_offline_once(monkeypatch, tmp_path):
    """Without a check in this process, the gates still honour a lease cached by an earlier one, offline."""
    import time

    from techcare import config

    from .fakes import Clock

    now = Clock(time.time())
    online = FakeLicenseServer(now)
    monkeypatch.setenv("LICENSE_KEY", "TECHCARE-PB-TEST")
    monkeypatch.setenv("EDITION", "pro_business")
    config.reset_settings()
    home = config.get_settings().techcare_home
    settings = load_settings(backend_url="http://license.test")
    client = BackendClient(client=online.client(), retries=1, sleep=lambda s: None)
    assert code_of(LicenseManager(settings, client=client, clock=now, home=home).check()) == "VALID"
    license.set_current(None)                         # a new process: nothing in force yet, no backend configured
    assert features.current_edition() == "pro_business" and code_of(license.current()) == "OFFLINE_GRACE"
    assert len(online.calls) == 1                     # never the network
    (home / "license" / "lease.jwt").unlink()         # later changes on disk do not flip the gates mid-process
    assert features.allowed("sensor_mode")
    license.set_current(None)
    assert code_of(license.current()) == "LEASE_INVALID" and features.current_edition() == "community"


def test_editions_is_a_leaf_the_backend_shares():
    import ast
    from pathlib import Path

    import techcare.editions

    tree = ast.parse(Path(techcare.editions.__file__).read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + [
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("techcare") or m.startswith(".")]
    assert all(not n.level for n in ast.walk(tree) if isinstance(n, ast.ImportFrom))
    from techcare_backend.core import licensing

    assert licensing.ENTITLEMENTS is techcare.editions.ENTITLEMENTS
