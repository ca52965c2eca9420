import os
import stat
import subprocess
import sys

import pytest

from techcare.config import load_settings, write_env_file
from techcare.errors import ConfigError


def test_defaults(techcare_env):
    s = load_settings()
    assert s.session_timeout == 3600
    assert s.sensor_interval == 300
    assert s.techcare_lang == "de"
    assert s.edition == "community"
    assert s.sessions_dir.name == "sessions" and s.changelogs_dir.name == "changelogs" and s.cases_dir.name == "cases"


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("SENSOR_INTERVAL", "abc", "10 und 86400"),
    ("NETWORK_METHOD", "carrier-pigeon", "cloudflare | tailscale | vpn | direct"),
    ("BACKEND_URL", "htp//nope", "http(s)-URL"),
    ("EDITION", "gold", "community | pro | pro_business | enterprise"),
    ("TECHCARE_LANG", "fr", "de | en"),
    ("SESSION_TIMEOUT", "-5", "1 und 86400"),
    ("LEARNING_DB_URL", "oracle://x", "postgresql+psycopg"),
])
def test_bad_values_name_key_value_and_allowed(monkeypatch, key, value, allowed):
    monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert key in text and value in text and allowed in text
    assert info.value.key == key


def test_env_file_is_read_and_environment_wins(techcare_env, monkeypatch):
    env = techcare_env / "test.env"
    env.write_text("SENSOR_INTERVAL=60\nCOMPANY=Müller IT\nEDITION=pro-business\n", encoding="utf-8")
    assert load_settings().sensor_interval == 60
    assert load_settings().company == "Müller IT"
    assert load_settings().edition == "pro_business"
    monkeypatch.setenv("SENSOR_INTERVAL", "120")
    assert load_settings().sensor_interval == 120


def test_write_env_file_is_0600_atomic_and_keeps_other_keys(tmp_path):
    target = tmp_path / ".env"
    target.write_text("CUSTOM=keep me\n")
    write_env_file(target, {"TECHNICIAN_PASSWORD_HASH": "$2b$12$abc/def", "COMPANY": "A & B GmbH"})
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    text = target.read_text()
    assert "CUSTOM=keep me" in text
    s = load_settings(target)
    assert s.technician_password_hash == "$2b$12$abc/def"
    assert s.company == "A & B GmbH"


def test_cli_bad_config_exits_2_without_traceback(techcare_env):
    env = {**os.environ, "SENSOR_INTERVAL": "abc"}
    proc = subprocess.run([sys.executable, "-m", "techcare", "diagnose", "--json"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "SENSOR_INTERVAL" in proc.stderr and "abc" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "techcare", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("techcare ")
    out = subprocess.run([sys.executable, "-m", "techcare", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "diagnose" in out.stdout


def test_errors_and_repr_never_show_secrets(monkeypatch):
    monkeypatch.setenv("LEARNING_DB_URL", "postgres://admin:S3cretPW@db.example.com/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "S3cretPW" not in str(info.value) and "admin:***@db.example.com" in str(info.value)
    monkeypatch.delenv("LEARNING_DB_URL")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret-key")
    monkeypatch.setenv("TECHCARE_API_KEY", "tck_secret_value")
    text = repr(load_settings())
    assert "very-secret" not in text and "tck_secret_value" not in text


# ---- the .env file itself (issue 22, item 12) ------------------------------------------------------------

def test_a_setting_twice_with_different_values_is_refused_naming_both_lines(techcare_env):
    env = techcare_env / "test.env"
    env.write_text("EDITION=pro\nCOMPANY=A\n# comment\nedition=community\nLICENSE_KEY=TC-AAAA-BBBB-CCCC\n"
                   "LICENSE_KEY=TC-DDDD-EEEE-FFFF\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert str(env) in text and "EDITION in Zeile 1 ('pro') und Zeile 4 ('community')" in text
    assert "LICENSE_KEY in Zeile 5" in text and "Zeile 6" in text
    assert "BBBB" not in text and "EEEE" not in text            # secrets stay masked
    assert info.value.key == "EDITION" and "löschen" in info.value.hint


def test_the_same_value_twice_is_harmless_and_setup_writes_each_key_once(techcare_env):
    env = techcare_env / "test.env"
    env.write_text("SENSOR_INTERVAL=60\nSENSOR_INTERVAL=60\n", encoding="utf-8")
    assert load_settings().sensor_interval == 60
    write_env_file(env, {"COMPANY": "X"})
    assert env.read_text().count("SENSOR_INTERVAL") == 1 and load_settings().company == "X"


def test_env_file_that_is_a_directory_is_an_error_not_ignored(techcare_env, monkeypatch):
    folder = techcare_env / "conf.d"
    folder.mkdir()
    monkeypatch.setenv("TECHCARE_ENV_FILE", str(folder))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(folder) in str(info.value) and "Ordner" in str(info.value) and "TECHCARE_ENV_FILE" in str(info.value)
    proc = subprocess.run([sys.executable, "-m", "techcare", "diagnose", "--json"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TECHCARE_LANG": "en"})
    assert proc.returncode == 2 and "is not a file but a directory" in proc.stderr and "Traceback" not in proc.stderr
    env = techcare_env / "dup.env"
    env.write_text("SENSOR_INTERVAL=60\nSENSOR_INTERVAL=90\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "techcare", "diagnose", "--json"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "TECHCARE_LANG": "en", "TECHCARE_ENV_FILE": str(env)})
    assert proc.returncode == 2 and "SENSOR_INTERVAL on line 1 ('60') and line 2 ('90')" in proc.stderr
    assert "Traceback" not in proc.stderr
