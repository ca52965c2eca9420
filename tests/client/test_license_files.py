"""License and usage files against damage to the real files (issue 22, items 10-11): damaged pins trust nobody
and are never re-pinned on their own; the clock's high-water mark and the Community quota survive a cut or
deleted file (a second copy), damage is damage (a clear message, a safe default), and a file that became a
directory or binary is said as such — never a traceback, never "no license cached yet"."""

from __future__ import annotations

import json

import pytest

from techcare import features, license
from techcare.errors import LicenseError

from .fakes import DAY, Clock, FakeLicenseServer
from .test_license import manager


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


def cut(path, keep: int = 7) -> None:
    path.write_bytes(path.read_bytes()[:keep])


# ---- 10: damaged pins mean no trust --------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["cut", "garbage", "deleted", "directory"])
def test_damaged_pins_never_trust_the_next_server_on_first_use(server, clock, tmp_path, damage):
    m = manager(server, clock, tmp_path)
    assert m.check().code == "VALID"
    if damage == "cut":
        cut(m.keys_path, 30)
    elif damage == "garbage":
        m.keys_path.write_bytes(b"\x00\xff" * 40)
    elif damage == "deleted":
        m.keys_path.unlink()
    else:
        m.keys_path.unlink()
        m.keys_path.mkdir()
    other = FakeLicenseServer(clock, edition="enterprise", entitlements=["unlimited_repairs", "shared_learning_db"])
    intruder = manager(other, clock, tmp_path)                   # a second server answers now, its own keys
    status = intruder.check()
    assert status.code == "LEASE_INVALID" and not status.ok and status.edition != "enterprise"
    assert "--repin" in status.message and "public_keys.json" in status.message
    if damage != "directory":
        assert not m.keys_path.exists() or m.keys_path.read_bytes() != json.dumps(
            {"keys": [other.jwk]}).encode()                      # nothing re-pinned on its own
        assert other.jwk["x"] not in (m.keys_path.read_text(errors="replace") if m.keys_path.exists() else "")
    # the way back is deliberate: --repin (here: against the original server)
    if damage == "directory":
        m.keys_path.rmdir()
    assert license.main(["--repin"], settings=m.settings, client=m.client, clock=clock, home=m.home,
                        fingerprint=m.fingerprint) == 0
    assert m.check().code == "VALID" and server.jwk["x"] in m.keys_path.read_text()


# ---- 11: the high-water mark survives a damaged or deleted state.json ------------------------------------------

def offline_ahead_then_back(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    assert m.check().code == "VALID"
    server.mode = "down"
    clock.advance(4 * DAY)
    assert m.check().code == "OFFLINE_GRACE"                    # the mark is now 4 days after the lease
    clock.advance(-2 * DAY)                                      # the clock turned back 2 days
    return m


@pytest.mark.parametrize("damage", ["deleted", "cut", "directory", "binary"])
def test_a_damaged_or_deleted_state_json_keeps_the_high_water_mark(server, clock, tmp_path, damage):
    m = offline_ahead_then_back(server, clock, tmp_path)
    assert m.check().code == "CLOCK_TAMPERED"
    if damage == "deleted":
        m.state_path.unlink()
    elif damage == "cut":
        cut(m.state_path)
    elif damage == "directory":
        m.state_path.unlink()
        m.state_path.mkdir()
    else:
        m.state_path.write_bytes(bytes(range(256)))
    status = m.check()
    assert status.code == "CLOCK_TAMPERED"                       # the copy keeps the mark: no fresh start
    server.mode = "ok"
    clock.advance(2 * DAY)
    assert m.check().code == "VALID"                             # online: both copies written again (where they can)


def test_every_copy_damaged_refuses_offline_until_one_online_check(server, clock, tmp_path):
    m = offline_ahead_then_back(server, clock, tmp_path)
    for path in m.state_paths:
        cut(path)
    status = m.check()
    assert status.code == "STATE_DAMAGED" and not status.ok
    assert "state.json" in status.message and "online" in status.message
    server.mode = "ok"
    assert m.check().code == "VALID"
    server.mode = "down"
    assert m.check().code == "OFFLINE_GRACE"


def test_every_copy_deleted_falls_back_to_the_signed_iat(server, clock, tmp_path):
    m = offline_ahead_then_back(server, clock, tmp_path)
    for path in m.state_paths:
        path.unlink()
    assert m.check().code == "OFFLINE_GRACE"                     # the documented floor: the lease's signed iat
    clock.advance(-3 * DAY)
    assert m.check().code == "CLOCK_TAMPERED"


# ---- 11: lease.jwt that is binary or a directory ---------------------------------------------------------------

def test_a_binary_or_directory_lease_is_said_not_taken_for_no_lease(server, clock, tmp_path):
    m = manager(server, clock, tmp_path)
    assert m.check().code == "VALID"
    server.mode = "down"
    m.lease_path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    status = m.check()
    assert status.code == "LEASE_INVALID" and "lease.jwt" in status.detail and "keine Textdatei" in status.detail
    assert "noch keine Lizenz" not in status.message
    m.lease_path.unlink()
    m.lease_path.mkdir()
    status = m.check()
    assert status.code == "LEASE_INVALID" and "lease.jwt" in status.detail
    server.mode = "ok"
    status = m.check()                                           # online it holds, and says it cannot be cached
    assert status.code == "VALID" and any("lease.jwt" in w for w in status.warnings)


# ---- 11: the Community quota survives a cut usage.json --------------------------------------------------------

def test_a_cut_usage_json_does_not_reset_the_community_quota(techcare_env):
    features.record_repairs(7)
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 7
    main, copy = features._usage_files()
    cut(main)
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 7   # the copy keeps the count
    main.unlink()
    main.mkdir()                                                 # a directory where the file was: no traceback
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 7
    features.record_repairs(1)                                   # the copy takes it; the directory is said
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 8
    cut(copy)                                                    # nothing readable left: damage, not a new month
    assert features.repairs_remaining() == 0
    with pytest.raises(LicenseError) as refused:
        features.require_repairs(1)
    assert "beschädigt" in str(refused.value) and "kein Neuanfang" in str(refused.value)


# ---- tester's finding 10: garbage (not only a cut) in usage.json or state.json resets nothing ---------------------

@pytest.mark.parametrize("garbage", [bytes(range(256)) * 2, b'{"repairs": "none"}', b'{"repairs": {"2026-01": 1}}',
                                     b"[1, 2, 3]", b"\xef\xbb\xbf{}"])
def test_garbage_in_usage_json_keeps_the_community_quota(techcare_env, garbage):
    features.record_repairs(9)
    main, _copy = features._usage_files()
    main.write_bytes(garbage)
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 9
    features.record_repairs(1)                                   # the count goes on from the copy
    assert features.repairs_remaining() == features.COMMUNITY_MONTHLY_REPAIRS - 10


@pytest.mark.parametrize("garbage", [b"\x00\xff" * 300, b'{"high_water": 0}', b'{"data": {}, "sum": "0"}'])
def test_garbage_in_state_json_keeps_the_high_water_mark(server, clock, tmp_path, garbage):
    m = offline_ahead_then_back(server, clock, tmp_path)
    assert m.check().code == "CLOCK_TAMPERED"
    m.state_path.write_bytes(garbage)
    assert m.check().code == "CLOCK_TAMPERED"                    # the copy keeps the mark


def test_counting_steps_that_ran_never_fails_when_both_usage_files_are_directories(techcare_env, caplog):
    import logging

    main, copy = features._usage_files()
    for path in (main, copy):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir()
    with caplog.at_level(logging.WARNING, logger="techcare"):
        features.record_repairs(3)                               # the steps ran: said, never a traceback
    assert caplog.text.count("Reparaturzähler nicht gespeichert") == 2
    assert "usage.json" in caplog.text and "usage-copy.json" in caplog.text
    with pytest.raises(LicenseError) as refused:                 # and the next run is refused, not a fresh month
        features.require_repairs(1)
    assert "beschädigt" in str(refused.value)
