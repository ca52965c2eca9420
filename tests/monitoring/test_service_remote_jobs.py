"""``service install`` for remote jobs: REMOTE_JOBS in the service's environment (asked, flag, default off), the
technicians' keys pinned in the service's home, the systemd sandbox relaxed only when repairs must run. Nothing
is installed: dry runs, and execute() on a plan without files or commands."""

from __future__ import annotations

import io
import plistlib
import shutil
import subprocess

import pytest

from techcare.monitoring import service
from techcare.signing import SigningKey, TrustStore
from techcare.system.runner import ReplayRunner


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


def dry_run(*args: str, ask=None) -> tuple[int, str]:
    out = io.StringIO()
    code = service.main(["install", "--dry-run", "--platform", "linux", "--env-file", "/etc/techcare/sensor.env",
                         *args], out=out, ask=ask)
    return code, out.getvalue()


def test_remote_jobs_on_sets_the_environment_pins_keys_and_relaxes_the_sandbox(key, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    code, text = dry_run("--remote-jobs", "on", "--trust-key", key.public_key)
    assert code == 0
    assert "Environment=REMOTE_JOBS=on" in text.splitlines()
    assert f"# pin signing key {key.key_id} in /var/lib/techcare-sensor/trusted_signers.json" in text
    for line in ("ProtectSystem=strict", "ProtectHome=read-only", "PrivateTmp=yes", "UMask=0077"):
        assert line not in text.splitlines()
    assert "NoNewPrivileges=yes" in text.splitlines()


def test_without_a_terminal_remote_jobs_are_off_and_the_sandbox_stays(capsys):
    code, text = dry_run()
    assert code == 0
    lines = text.splitlines()
    assert "Environment=REMOTE_JOBS=off" in lines and "ProtectSystem=strict" in lines and "PrivateTmp=yes" in lines


def test_install_asks_and_pins_the_keys_given(key, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    answers = iter(["y", key.public_key, ""])
    prompts = []

    def ask(prompt):
        prompts.append(prompt)
        return next(answers)

    code, text = dry_run(ask=ask)
    assert code == 0 and "Allow remote jobs" in prompts[0]
    assert "Environment=REMOTE_JOBS=on" in text and key.key_id in text
    code, text = dry_run(ask=lambda prompt: "n")
    assert "Environment=REMOTE_JOBS=off" in text and key.key_id not in text


def test_bad_keys_and_misplaced_flags_are_usage_errors(capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    code, _ = dry_run("--remote-jobs", "on", "--trust-key", "abc")
    assert code == 2 and "Not a valid Ed25519 public key" in capsys.readouterr().err
    assert service.main(["status", "--dry-run", "--platform", "linux", "--remote-jobs", "on"]) == 2
    assert "install only" in capsys.readouterr().err
    assert service.main(["install", "--dry-run", "--platform", "linux", "--remote-jobs", "maybe"]) == 2


def test_remote_jobs_on_without_keys_warns(capsys, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    assert dry_run("--remote-jobs", "on")[0] == 0
    assert "refuses every remote job until one is pinned" in capsys.readouterr().err


def test_execute_pins_the_keys_in_the_service_home(key, tmp_path):
    home = tmp_path / "sensor-home"
    p = service.ServicePlan("linux", "install", home=str(home), trust_keys=[key.public_key])
    assert service.execute(p, ReplayRunner(platform="linux"), out=io.StringIO()) == 0
    assert [s.key_id for s in TrustStore(home).signers()] == [key.key_id]


def test_launchd_and_windows_carry_remote_jobs():
    data = plistlib.loads(service.launchd_plist(python="/usr/bin/python3", env_file=None, remote_jobs="on"))
    assert data["EnvironmentVariables"]["REMOTE_JOBS"] == "on"
    reg = service.windows_commands(python="C:\\Python\\python.exe", env_file=None, remote_jobs="off")[-1]
    assert "REMOTE_JOBS=off" in reg[reg.index("/d") + 1].split("\\0")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_relaxed_unit_passes_systemd_analyze_verify(tmp_path):
    path = tmp_path / service.SYSTEMD_UNIT
    path.write_text(service.systemd_unit(python="/usr/bin/python3", env_file="/etc/techcare/sensor.env",
                                         remote_jobs="on"))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and [ln for ln in proc.stderr.splitlines() if service.SYSTEMD_UNIT in ln] == [], \
        proc.stderr
