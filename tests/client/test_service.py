"""Service files: systemd unit (systemd-analyze verify), launchd plist (plistlib), Windows sc.exe argv."""

from __future__ import annotations

import io
import plistlib
import shutil
import subprocess
import sys

import pytest

from techcare.monitoring import service
from techcare.system.runner import ReplayRunner


def unit_text(**kw) -> str:
    return service.systemd_unit(python=sys.executable, env_file="/etc/techcare/sensor.env", **kw)


def test_systemd_unit_has_restart_and_hardening():
    text = unit_text()
    for line in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                 "StateDirectory=techcare-sensor", "WantedBy=multi-user.target",
                 f"ExecStart={sys.executable} -m techcare.monitoring.sensor",
                 "Environment=TECHCARE_ENV_FILE=/etc/techcare/sensor.env",
                 "Environment=TECHCARE_HOME=/var/lib/techcare-sensor", "RestartPreventExitStatus=2 3"):
        assert line in text.splitlines(), line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path):
    path = tmp_path / service.SYSTEMD_UNIT
    path.write_text(unit_text(interval=60, home="/opt/tc home"))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    problems = [line for line in proc.stderr.splitlines() if service.SYSTEMD_UNIT in line]
    assert proc.returncode == 0 and problems == [], proc.stderr
    # the check itself is able to fail: a broken unit is reported
    path.write_text(unit_text().replace("Restart=on-failure", "Restart=sometimes"))
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert any(service.SYSTEMD_UNIT in line for line in proc.stderr.splitlines()), proc.stderr


def test_launchd_plist_parses():
    data = plistlib.loads(service.launchd_plist(python="/usr/local/bin/python3", env_file="/etc/techcare.env"))
    assert data["Label"] == "com.techcare.sensor"
    assert data["ProgramArguments"] == ["/usr/local/bin/python3", "-m", "techcare.monitoring.sensor"]
    assert data["StandardErrorPath"] == data["StandardOutPath"] == "/var/log/techcare-sensor.log"
    assert data["RunAtLoad"] is True and data["KeepAlive"] == {"SuccessfulExit": False}
    assert data["EnvironmentVariables"]["TECHCARE_ENV_FILE"] == "/etc/techcare.env"


def test_windows_sc_argv():
    python = r"C:\Program Files\Python311\python.exe"
    cmds = service.windows_commands(python=python, env_file=r"C:\TechCare\.env")
    create = cmds[0]
    assert create[:3] == ["sc.exe", "create", "TechCareSensor"]
    # sc.exe wants "key=" and the value as separate arguments
    assert create[3] == "binPath=" and create[5] == "start=" and create[6] == "auto"
    assert create[4] == r'"C:\Program Files\Python311\python.exe" -m techcare.monitoring.service run-windows-service'
    assert ["sc.exe", "failure", "TechCareSensor"] == cmds[2][:3] and "restart/60000" in cmds[2][-1]
    env = cmds[3]
    assert env[0] == "reg.exe" and env[env.index("/d") + 1] == (
        r"TECHCARE_ENV_FILE=C:\TechCare\.env\0TECHCARE_HOME=C:\ProgramData\TechCare\sensor\0PYTHONUNBUFFERED=1")
    p = service.plan("install", platform="windows", python=python)
    assert p.commands[-1] == ["sc.exe", "start", "TechCareSensor"]
    assert service.plan("stop", platform="windows").commands == [["sc.exe", "stop", "TechCareSensor"]]


def test_dry_run_prints_files_and_commands(capsys):
    out = io.StringIO()
    assert service.main(["install", "--dry-run", "--platform", "linux", "--env-file", "/x/.env"], out=out) == 0
    text = out.getvalue()
    assert "/etc/systemd/system/techcare-sensor.service" in text and "ProtectSystem=strict" in text
    assert "$ systemctl enable --now techcare-sensor.service" in text
    out = io.StringIO()
    assert service.main(["install", "--dry-run", "--platform", "darwin"], out=out) == 0
    assert "<string>com.techcare.sensor</string>" in out.getvalue() and "launchctl bootstrap system" in out.getvalue()
    out = io.StringIO()
    assert service.main(["uninstall", "--dry-run", "--platform", "windows"], out=out) == 0
    assert "$ sc.exe delete TechCareSensor" in out.getvalue()


def test_actions_run_through_the_runner(tmp_path):
    runner = ReplayRunner(platform="linux")
    runner.add_command(["systemctl", "status", "--no-pager", "techcare-sensor.service"], 3, "inactive (dead)")
    p = service.plan("status", platform="linux")
    assert service.execute(p, runner, out=io.StringIO()) == 3
    assert runner.commands_run == [("systemctl", "status", "--no-pager", "techcare-sensor.service")]


def test_bad_action_is_a_usage_error(capsys):
    assert service.main(["reinstall"]) == 2
    assert "ungültige Auswahl: 'reinstall'" in capsys.readouterr().err   # German: the default language
    with pytest.raises(ValueError, match="allowed"):
        service.plan("install", platform="beos")
