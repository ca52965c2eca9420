import os
import stat

import pytest

from techcare.auth import AuthError, SessionLock, ask_password, hash_password, set_password, verify_password
from techcare.config import load_settings
from techcare.errors import ConfigError
from techcare.setup_wizard import run_setup
from techcare.uninstall import planned_paths, uninstall


def feeder(*answers):
    items = list(answers)

    def ask(prompt):
        if not items:
            raise EOFError
        return items.pop(0)

    return ask


def test_password_hash_roundtrip():
    h = hash_password("richtig-geheim")
    assert h.startswith("$2") and verify_password("richtig-geheim", h) and not verify_password("falsch", h)
    assert not verify_password("x", "not a hash")


def test_three_wrong_passwords_raise():
    h = hash_password("richtig-geheim")
    said = []
    with pytest.raises(AuthError, match="3"):
        ask_password(h, feeder("a", "b", "c", "richtig-geheim"), say=said.append)
    assert len(said) == 2
    ask_password(h, feeder("a", "richtig-geheim"), say=said.append)  # second try works


def test_session_lock_with_injected_clock():
    now = [0.0]
    lock = SessionLock(hash_password("richtig-geheim"), 60, clock=lambda: now[0])
    lock.check(feeder())  # not locked: no prompt needed
    now[0] = 61
    assert lock.locked
    with pytest.raises(AuthError):
        lock.check(None)
    lock.check(feeder("richtig-geheim"), say=lambda s: None)
    assert not lock.locked
    assert not SessionLock(None, 1, clock=lambda: 1e9).locked  # no password: never locks


def test_set_password_refuses_mismatch_and_short(tmp_path):
    env = tmp_path / ".env"
    with pytest.raises(AuthError, match="zu kurz"):
        set_password(feeder("kurz", "kurz"), env_file=env)
    with pytest.raises(AuthError, match="nicht überein"):
        set_password(feeder("langes-passwort", "anderes-passwort"), env_file=env)
    assert not env.exists()
    set_password(feeder("langes-passwort", "langes-passwort"), env_file=env)
    assert verify_password("langes-passwort", load_settings(env).technician_password_hash)
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o600


def test_wizard_interactive_reasks_bad_values(tmp_path):
    env = tmp_path / ".env"
    said = []
    ask = feeder("", "Max Muster", "Muster IT", "gold", "pro", "falscher-key", "TECHCARE-PRO-ABC123",
                 "carrier-pigeon", "vpn", "not a url", "http://192.168.1.100", "Bitte immer erst Backup.")
    secrets = feeder("", "kurz", "langes-passwort", "langes-passwort")
    result = run_setup(env_file=env, ask=ask, ask_secret=secrets, say=said.append)
    s = load_settings(env)
    assert (s.technician_name, s.company, s.edition, s.license_key) == ("Max Muster", "Muster IT", "pro", "TECHCARE-PRO-ABC123")
    assert s.network_method == "vpn" and s.backend_url == "http://192.168.1.100"
    assert s.techcare_briefing == "Bitte immer erst Backup."
    assert verify_password("langes-passwort", s.technician_password_hash)
    assert stat.S_IMODE(os.stat(env).st_mode) == 0o600
    errors = [line for line in said if line.startswith("✖")]
    assert len(errors) == 6  # empty name, gold, bad key, pigeon, bad url, short password
    assert result.values["EDITION"] == "pro"
    assert "langes-passwort" not in env.read_text()


def test_wizard_non_interactive_fails_on_first_invalid(tmp_path):
    env = tmp_path / ".env"
    with pytest.raises(ConfigError) as info:
        run_setup(env_file=env, interactive=False, answers={"name": "A", "edition": "pro", "license_key": "nope"})
    assert info.value.key == "LICENSE_KEY" and not env.exists()
    with pytest.raises(ConfigError, match="https"):
        run_setup(env_file=env, interactive=False,
                  answers={"name": "A", "network_method": "cloudflare", "backend_url": "http://x.example"})
    run_setup(env_file=env, interactive=False, say=lambda s: None,
              answers={"name": "A", "edition": "enterprise", "license_key": "TECHCARE-ENTERPRISE-ZZ99",
                       "backend_url": "https://tc.example.com", "learning_db_url": "postgresql+psycopg://u@db/x",
                       "password": "langes-passwort"})
    s = load_settings(env)
    assert s.edition == "enterprise" and s.learning_db_url == "postgresql+psycopg://u@db/x"
    assert verify_password("langes-passwort", s.technician_password_hash)


def test_uninstall_removes_exactly_the_listed_paths(techcare_env, tmp_path):
    from techcare.config import get_settings

    s = get_settings()
    s.ensure_dirs()
    (s.changelogs_dir / "x.jsonl").write_text("{}")
    keep = tmp_path / "keep.txt"
    keep.write_text("customer file")
    paths = planned_paths()
    assert set(paths) == {(tmp_path / "test.env").absolute(), s.data_dir.absolute(), s.techcare_home.absolute()}
    assert uninstall(ask=feeder("n"), say=lambda s: None) == []
    assert all(p.exists() for p in paths)
    said = []
    deleted = uninstall(yes=True, say=said.append)
    assert deleted == paths and not any(p.exists() for p in paths)
    assert keep.exists() and "pip uninstall techcare" in said[-1]
