import os
import stat
from pathlib import Path

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


# ---- the technician password guards the protected setup (issue 15 item 15) --------------------------------------

PASSWORD = "richtig-geheim"


@pytest.fixture
def protected(techcare_env, monkeypatch):
    """This installation's .env holds a technician password; no terminal, no TECHCARE_PASSWORD."""
    from techcare.config import get_settings, reset_settings

    env = techcare_env / "test.env"
    set_password(feeder(PASSWORD, PASSWORD), env_file=env, say=lambda s: None)
    monkeypatch.delenv("TECHCARE_PASSWORD", raising=False)
    reset_settings()
    settings = get_settings()
    settings.ensure_dirs()
    (settings.changelogs_dir / "x.jsonl").write_text("{}")
    return env


def test_set_password_asks_for_the_current_one_three_times(protected):
    from techcare.auth import configured_hash

    before = configured_hash(protected)
    said = []
    with pytest.raises(AuthError, match="3"):
        set_password(feeder("nein", "auch-nicht", "wieder-nicht", "neues-passwort", "neues-passwort"),
                     env_file=protected, say=said.append)
    assert configured_hash(protected) == before and len(said) == 2
    set_password(feeder("falsch", PASSWORD, "neues-passwort", "neues-passwort"), env_file=protected,
                 say=lambda s: None)
    assert verify_password("neues-passwort", configured_hash(protected))


def test_uninstall_yes_refuses_a_protected_setup_without_the_password(protected, monkeypatch):
    paths = planned_paths()
    with pytest.raises(AuthError, match="TECHCARE_PASSWORD"):
        uninstall(yes=True, say=lambda s: None)          # no terminal: refused, never a silent bypass
    with pytest.raises(AuthError):
        uninstall(yes=True, say=lambda s: None, interactive=True, password_prompt=feeder("a", "b", "c"))
    monkeypatch.setenv("TECHCARE_PASSWORD", "falsch-geraten")
    with pytest.raises(AuthError, match="TECHCARE_PASSWORD"):
        uninstall(yes=True, say=lambda s: None)
    assert all(p.exists() for p in paths)
    monkeypatch.setenv("TECHCARE_PASSWORD", PASSWORD)
    assert uninstall(yes=True, say=lambda s: None) == paths and not any(p.exists() for p in paths)


def test_uninstall_on_a_terminal_asks_the_password_then_confirms(protected):
    paths = planned_paths()
    deleted = uninstall(ask=feeder("j"), say=lambda s: None, interactive=True, password_prompt=feeder(PASSWORD))
    assert deleted == paths and not any(p.exists() for p in paths)


def test_protected_cli_commands_are_refused_without_the_password(protected, tmp_path, capsys, monkeypatch):
    from techcare import cli

    snap = tmp_path / "pc.json"
    for argv in (["snapshot", "save", str(snap)], ["report"], ["drivers"], ["sensor", "--status"],
                 ["license", "--repin"], ["--uninstall", "--yes"],
                 ["setup", "--non-interactive", "--name", "Xaver Unbefugt"]):
        assert cli.main(argv) == AuthError.exit_code, argv
        assert "TECHCARE_PASSWORD" in capsys.readouterr().err, argv
    assert not snap.exists() and all(p.exists() for p in planned_paths())
    assert "Xaver" not in protected.read_text()
    # open: the license state and help texts
    assert cli.main(["license", "--offline"]) == 0
    for argv in (["diagnose", "--help"], ["drivers", "--help"]):
        with pytest.raises(SystemExit) as helped:
            cli.main(argv)
        assert helped.value.code == 0 and "Aufruf:" in capsys.readouterr().out   # German: the default language
    capsys.readouterr()
    # with the password in the environment (scripts, remote-management tools) the command runs
    fixture = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots" / "linux-debian-problems.json"
    assert cli.main(["snapshot", "info", str(fixture)]) == AuthError.exit_code
    monkeypatch.setenv("TECHCARE_PASSWORD", PASSWORD)
    capsys.readouterr()
    assert cli.main(["snapshot", "info", str(fixture)]) == 0
    assert "linux" in capsys.readouterr().out


def test_every_subcommand_not_listed_open_asks_for_the_password(protected):
    """Closed by default: a subcommand added later is protected unless the table lists it open."""
    from techcare import cli

    parser = cli.build_parser()
    names = set(next(a for a in parser._actions if a.dest == "command").choices) | set(cli.PASSTHROUGH)
    assert names - cli.OPEN_COMMANDS >= {"diagnose", "snapshot", "report", "setup", "drivers", "sensor", "service"}
    for name in sorted(names - cli.OPEN_COMMANDS):
        with pytest.raises(AuthError):
            cli._require_password(name)
    for name in sorted(cli.OPEN_COMMANDS):
        cli._require_password(name)
    cli._require_password("no-such-command-yet", ["--help"])
    with pytest.raises(AuthError):
        cli._require_password("no-such-command-yet")
