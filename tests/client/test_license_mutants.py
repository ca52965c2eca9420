"""What the licence check promises, one behaviour per test (survivors of `scripts/mutation license`): the machine
fingerprint is a pinned HMAC of the OS machine id and differs between machines; every outcome states both its
code and whether the licensed features may run (``ok``); a clock a few minutes behind the server is tolerated
explicitly (PyJWT's own nbf/iat checks would refuse such a lease); grace, tamper and expiry limits are exact."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from techcare import license
from techcare.backend_client import BackendClient
from techcare.config import load_settings
from techcare.license import (
    CLOCK_TOLERANCE,
    OFFLINE_GRACE_SECONDS,
    LicenseManager,
    LicenseStatus,
    machine_fingerprint,
    status_message,
)
from techcare.system.runner import ReplayRunner, entry_from_dict

from .fakes import DAY, Clock, FakeLicenseServer

RAW = "0123456789abcdef0123456789abcdef"
FP = machine_fingerprint(raw_id=RAW)


@pytest.fixture(autouse=True)
def _forget_license():
    license.set_current(None)
    yield
    license.set_current(None)


def linux_with_id(machine_id: str) -> ReplayRunner:
    runner = ReplayRunner(platform="linux")
    runner.add(entry_from_dict({"kind": "file", "path": "/etc/machine-id", "content": machine_id + "\n",
                                "error": None}))
    return runner


def manager(server: FakeLicenseServer, clock, tmp_path, *, edition: str = "pro_business", **kw) -> LicenseManager:
    settings = load_settings(backend_url="http://license.test", license_key="TECHCARE-PB-TEST", edition=edition)
    client = BackendClient(client=server.client(), retries=1, sleep=lambda s: None)
    kw.setdefault("fingerprint", FP)
    return LicenseManager(settings, client=client, clock=clock, home=tmp_path / "home", **kw)


# ---- the machine fingerprint ------------------------------------------------------------------------------------

def test_the_fingerprint_is_a_pinned_hmac_of_the_machine_id():
    expected = hmac.new(b"techcare/machine-fingerprint/v1", RAW.encode(), hashlib.sha256).hexdigest()
    assert FP == expected == "f72d3e7e324fc237b5316c55de5768da42bf86aad2639194af42d0db91cd65bf"
    assert machine_fingerprint(raw_id="6f3b8c2e-1a2b-4c3d-9e8f-0a1b2c3d4e5f") == \
        "3717893a0a0c8d2ff155bdf1a78a68bcc06790ce24f454232aa32d3f259d87aa"
    assert FP == machine_fingerprint(raw_id="  " + RAW.upper() + "\n")     # case and surrounding space ignored
    assert RAW not in FP and len(FP) == 64


def test_fingerprints_of_different_machines_differ():
    ids = [RAW, "fedcba9876543210fedcba9876543210", "6f3b8c2e-1a2b-4c3d-9e8f-0a1b2c3d4e5f", "a", ""]
    prints = {machine_fingerprint(raw_id=i) for i in ids}
    assert len(prints) == len(ids)
    assert machine_fingerprint(raw_id="") == hmac.new(b"techcare/machine-fingerprint/v1", b"",
                                                      hashlib.sha256).hexdigest()


def test_the_manager_fingerprints_the_machine_its_runner_talks_to(tmp_path):
    pc_a = LicenseManager(load_settings(), home=tmp_path / "a", runner=linux_with_id(RAW))
    pc_b = LicenseManager(load_settings(), home=tmp_path / "b", runner=linux_with_id("fedcba9876543210"))
    assert pc_a.fingerprint == FP
    assert pc_b.fingerprint == machine_fingerprint(raw_id="fedcba9876543210") != FP
    assert machine_fingerprint(linux_with_id(RAW)) == FP


def test_a_machine_without_an_os_id_gets_one_stable_random_id_of_its_own(tmp_path):
    first = machine_fingerprint(ReplayRunner(platform="linux"), home=tmp_path / "a")
    again = machine_fingerprint(ReplayRunner(platform="linux"), home=tmp_path / "a")
    other = machine_fingerprint(ReplayRunner(platform="linux"), home=tmp_path / "b")
    stored = (tmp_path / "a" / "machine-id").read_text("ascii").strip()
    assert first == again == machine_fingerprint(raw_id=stored) and first != other
    assert len(stored) == 32 and int(stored, 16) >= 0


def test_the_server_is_sent_the_fingerprint_of_this_machine(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = manager(server, clock, tmp_path, fingerprint=None, runner=linux_with_id(RAW))
    status = m.check()
    assert status.code == "VALID" and status.ok
    assert [c["fingerprint"] for c in server.calls] == [FP]


# ---- every outcome: code and ok ---------------------------------------------------------------------------------

def test_online_outcomes_state_code_and_ok(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = manager(server, clock, tmp_path)
    valid = m.check()
    assert (valid.code, valid.ok, valid.online, valid.edition) == ("VALID", True, True, "pro_business")
    assert valid.expires_at == clock() + 7 * DAY and valid.last_online == clock()
    assert valid.entitlements == ["unlimited_repairs", "unlimited_systems", "sensor_mode"]
    assert valid.limits == {"max_machines": 3} and valid.license_id == server.license_id
    for code in ("REVOKED", "SUSPENDED", "NOT_FOUND", "TOO_MANY_MACHINES", "EXPIRED"):
        server.status = code
        refused = m.check()
        assert (refused.code, refused.ok, refused.online) == (code, False, True)
        assert refused.edition == "community" and refused.entitlements == []
        assert not m.lease_path.exists()
    for mode in ("garbage", "forged", "403_unsigned"):
        server.status, server.mode = "VALID", mode
        bad = m.check()
        assert (bad.code, bad.ok) == ("LEASE_INVALID", False)


def test_offline_outcomes_state_code_and_ok(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = manager(server, clock, tmp_path)
    assert m.check().ok
    server.mode = "down"
    clock.advance(2 * DAY)
    grace = m.check()
    assert (grace.code, grace.ok, grace.online) == ("OFFLINE_GRACE", True, False)
    assert grace.days_left == pytest.approx(5.0) and grace.edition == "pro_business"
    clock.advance(-CLOCK_TOLERANCE - 60)
    tampered = m.check()
    assert (tampered.code, tampered.ok) == ("CLOCK_TAMPERED", False)
    assert tampered.detail == "clock 11 minutes behind the latest time seen"
    clock.advance(CLOCK_TOLERANCE + 60 + 5 * DAY + 1)
    exceeded = m.check()
    assert (exceeded.code, exceeded.ok) == ("OFFLINE_GRACE_EXCEEDED", False)
    assert exceeded.edition == "pro_business" and exceeded.last_online == clock() - 7 * DAY - 1


def test_without_a_key_only_community_is_ok(tmp_path):
    clock = Clock()
    community = LicenseManager(load_settings(), clock=clock, home=tmp_path, fingerprint=FP).check()
    assert (community.code, community.ok, community.edition) == ("NO_LICENSE", True, "community")
    pro = LicenseManager(load_settings(edition="pro"), clock=clock, home=tmp_path, fingerprint=FP).check()
    assert (pro.code, pro.ok, pro.edition) == ("NO_LICENSE", False, "community")


def test_a_lease_for_an_unknown_edition_grants_nothing(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock, edition="platinum")
    status = manager(server, clock, tmp_path).check()
    assert (status.code, status.ok) == ("LEASE_INVALID", False) and "platinum" in status.detail


# ---- clock skew --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ahead", [5, 120, CLOCK_TOLERANCE - 30])
def test_a_pc_clock_minutes_behind_the_server_is_tolerated_online_and_offline(tmp_path, ahead):
    """The lease's iat and nbf are the server's time; on a PC whose clock is behind they lie in its future. PyJWT
    would refuse such a token (ImmatureSignatureError) if its own time checks ran: they are off on purpose and
    TechCare judges time itself, with a 10-minute tolerance."""
    clock = Clock(time.time())
    server = FakeLicenseServer(clock)
    server.server_time_offset = ahead
    m = manager(server, clock, tmp_path)
    online = m.check()
    assert (online.code, online.ok, online.warnings) == ("VALID", True, [])
    server.mode = "down"
    offline = m.check()
    assert (offline.code, offline.ok) == ("OFFLINE_GRACE", True)
    claims = json.loads(json.dumps(offline.claims))
    assert claims["iat"] > clock() and claims["nbf"] > clock()


def test_a_pc_clock_far_behind_the_server_is_warned_online_and_refused_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    clock = Clock(time.time())
    server = FakeLicenseServer(clock)
    server.server_time_offset = 30 * 60
    m = manager(server, clock, tmp_path)
    online = m.check()
    assert (online.code, online.ok) == ("VALID", True)
    assert online.warnings == ["The system clock is 30 minutes off the server time."]
    server.mode = "down"
    offline = m.check()
    assert (offline.code, offline.ok) == ("CLOCK_TAMPERED", False)
    assert offline.detail == "clock 30 minutes behind the latest time seen"


def test_clock_tolerance_and_grace_are_ten_minutes_and_seven_days():
    assert CLOCK_TOLERANCE == 600 and OFFLINE_GRACE_SECONDS == 7 * 86400


def test_the_grace_ends_exactly_seven_days_after_the_last_online_check(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = manager(server, clock, tmp_path)
    assert m.check().ok
    server.mode = "down"
    clock.advance(7 * DAY)
    last = m.check()
    assert (last.code, last.ok) == ("OFFLINE_GRACE", True) and last.days_left == 0
    clock.advance(1)
    assert (m.check().code, m.check().ok) == ("OFFLINE_GRACE_EXCEEDED", False)


def test_a_clock_within_the_tolerance_behind_the_high_water_mark_is_no_tampering(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = manager(server, clock, tmp_path)
    assert m.check().ok
    server.mode = "down"
    clock.advance(DAY)
    assert m.check().ok and m.high_water() == clock()
    clock.advance(-CLOCK_TOLERANCE)
    within = m.check()
    assert (within.code, within.ok) == ("OFFLINE_GRACE", True)
    assert within.days_left == pytest.approx(6.0)          # counted from the high-water mark, not the clock
    clock.advance(-1)
    assert m.check().code == "CLOCK_TAMPERED"


# ---- the status object and its texts ---------------------------------------------------------------------------

def test_status_to_dict_carries_everything_a_caller_needs(tmp_path):
    clock = Clock()
    server = FakeLicenseServer(clock)
    status = manager(server, clock, tmp_path).check()
    data = status.to_dict()
    assert data == {"code": "VALID", "ok": True, "edition": "pro_business",
                    "entitlements": ["unlimited_repairs", "unlimited_systems", "sensor_mode"], "online": True,
                    "detail": "", "days_left": None, "expires_at": clock() + 7 * DAY, "last_online": clock(),
                    "license_id": server.license_id, "warnings": [], "message": status.message}
    assert str(status) == status.message and status.summary == status.message.splitlines()[0]


@pytest.mark.parametrize(("code", "ok", "en"), [
    ("VALID", True, "License valid (Pro Business), checked online."),
    ("OFFLINE_GRACE", True, "Offline: cached license (Pro Business) is valid for 2.5 more days – please go online soon."),
    ("NO_LICENSE", True, "Community edition: no license needed."),
    ("NO_LICENSE", False, "No license key set (LICENSE_KEY) – this edition needs one."),
    ("OFFLINE_GRACE_EXCEEDED", False, "The license could not be checked online for more than 7 days (offline grace "
                                      "exceeded). (why)"),
    ("CLOCK_TAMPERED", False, "The system clock is behind the latest time seen – the license must be checked online."
                              " (why)"),
    ("LEASE_INVALID", False, "The license lease is invalid (signature, machine or answer does not match). (why)"),
    ("REVOKED", False, "The license has been revoked. (why)"),
    ("WHATEVER", False, "License refused: WHATEVER. (why)"),
])
def test_each_status_says_what_it_means(code, ok, en, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    edition = "community" if code == "NO_LICENSE" else "pro_business"
    status = LicenseStatus(code, ok=ok, edition=edition, days_left=2.5, detail="" if ok or code == "NO_LICENSE"
                           else "why")
    text = status_message(status)
    assert text.splitlines()[0] == en
    assert ("License check failed – what to do:" in text) == (not ok)


# ---- the command and the setup step -------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "texts"), [
    ("de", ["Aufruf: techcare license", "Lizenz prüfen (online, sonst zwischengespeichert für höchstens 7 Tage).",
            "nur die zwischengespeicherte Lizenz prüfen",
            "die öffentlichen Schlüssel des Servers neu holen und anheften (nach einem angekündigten Schlüsselwechsel)"]),
    ("en", ["usage: techcare license", "Check the license (online, else cached for at most 7 days).",
            "check the cached lease only",
            "fetch and pin the server's public keys again (after an announced key rotation)"]),
])
def test_the_license_command_explains_itself_in_both_languages(lang, texts, monkeypatch, capsys):
    monkeypatch.setenv("TECHCARE_LANG", lang)
    monkeypatch.setenv("COLUMNS", "400")
    assert license.main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for text in texts:
        assert text in out


def test_the_license_command_offline_repin_and_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = manager(server, clock, tmp_path)
    kw = {"client": m.client, "clock": clock, "home": m.home, "fingerprint": FP, "settings": m.settings}
    assert license.main(["--offline"], **kw) == 3 and server.calls == []          # offline: nothing asked
    assert "one online check is needed" in capsys.readouterr().err
    assert license.main([], **kw) == 0
    out = capsys.readouterr()
    assert out.out.startswith("License valid (Pro Business), checked online.") and out.err == ""
    assert license.main(["--offline", "--json"], **kw) == 0 and len(server.calls) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["code"], data["ok"], data["online"]) == ("OFFLINE_GRACE", True, False)
    assert license.main(["--repin"], **kw) == 0
    assert capsys.readouterr().out.startswith("1 keys pinned: k1")
    server.mode = "down"
    assert license.main(["--repin"], **kw) == 1
    assert capsys.readouterr().err.strip()


def test_setup_reports_each_outcome_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    clock = Clock()
    server = FakeLicenseServer(clock)
    m = manager(server, clock, tmp_path)
    kw = {"client": m.client, "clock": clock, "home": m.home, "fingerprint": FP}
    answers = {"BACKEND_URL": "http://license.test", "EDITION": "pro_business"}
    assert license.validate_for_setup("TECHCARE-PB-TEST", answers, **kw) == \
        "✔ License valid (Pro Business), checked online."
    assert license.validate_for_setup("K", {"EDITION": "pro"}) == \
        "License key saved; it is checked at the first start (BACKEND_URL is not set yet)."
    server.status = "REVOKED"
    refused = license.validate_for_setup("TECHCARE-PB-TEST", answers, **kw)
    assert refused.startswith("✖ The license has been revoked.") and "License check failed" in refused
    broken = license.validate_for_setup("TECHCARE-PB-TEST", answers, **{**kw, "clock": None})
    assert broken.startswith("The license could not be checked: TypeError")
    assert "EDITION" in license.validate_for_setup("K", {"EDITION": "platinum", "BACKEND_URL": "http://x.test"})
