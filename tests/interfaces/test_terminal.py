"""The `techcare` command driven for real in a pseudo-terminal (pexpect): wizard on first start, password with
three tries, the IPython shell, the plain REPL and the session timeout re-lock."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

from techcare.auth import hash_password

TECHCARE = str(Path(sys.executable).parent / "techcare")


def spawn(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> pexpect.spawn:
    env = {**os.environ, "TECHCARE_HOME": str(tmp_path / "home"), "TECHCARE_DATA_DIR": str(tmp_path / "data"),
           "TECHCARE_ENV_FILE": str(tmp_path / "tc.env"), "TERM": "dumb", "TECHCARE_LANG": "de",
           "PYTHONWARNINGS": "ignore", **(env_extra or {})}
    return pexpect.spawn(TECHCARE, list(args), env=env, encoding="utf-8", timeout=60, cwd=str(tmp_path),
                         dimensions=(40, 200))


@pytest.fixture
def tc_env(tmp_path):
    (tmp_path / "tc.env").unlink(missing_ok=True)  # the autouse fixture creates an empty one
    return tmp_path


def write_env(path: Path, **values: str) -> None:
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))


def test_first_start_runs_the_wizard_then_opens_the_shell(tc_env):
    child = spawn(tc_env)
    child.expect("Ihr Name")
    child.sendline("Erika Technik")
    child.expect("Firma")
    child.sendline("Muster IT")
    child.expect("Edition")
    child.sendline("")               # default community
    child.expect("API-Key")
    child.sendline("")
    child.expect("Netzwerkverbindung")
    child.sendline("vpn")
    child.expect("Backend-URL")
    child.sendline("")
    child.expect("Passwort")
    child.sendline("")
    child.expect("Briefing")
    child.sendline("")
    child.expect("Gespeichert")
    child.expect(r"In \[1\]: ")
    child.sendline("tc")
    child.expect("TechCare-Sitzung: dieser PC")  # German run: the session says so in German
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    env_text = (tc_env / "tc.env").read_text()
    assert "TECHNICIAN_NAME='Erika Technik'" in env_text or "TECHNICIAN_NAME=Erika Technik" in env_text
    assert oct((tc_env / "tc.env").stat().st_mode & 0o777) == "0o600"


def test_wrong_password_three_times_exits_non_zero(tc_env):
    write_env(tc_env / "tc.env", TECHNICIAN_NAME="E", TECHNICIAN_PASSWORD_HASH=hash_password("richtig-geheim"))
    child = spawn(tc_env)
    for _ in range(3):
        child.expect("Techniker-Passwort: ")
        child.sendline("falsch")
    child.expect("3 Fehlversuche")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0
    assert "falsch" not in child.before  # prompts never echo


def test_right_password_opens_the_plain_repl(tc_env):
    write_env(tc_env / "tc.env", TECHNICIAN_NAME="E", TECHNICIAN_PASSWORD_HASH=hash_password("richtig-geheim"))
    child = spawn(tc_env, "--plain")
    child.expect("Techniker-Passwort: ")
    child.sendline("richtig-geheim")
    child.expect("techcare> ")
    child.sendline("hilfe")
    child.expect("GO REPAIR")
    child.expect("techcare> ")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_session_timeout_relocks_the_repl(tc_env):
    write_env(tc_env / "tc.env", TECHNICIAN_NAME="E", TECHNICIAN_PASSWORD_HASH=hash_password("richtig-geheim"),
              SESSION_TIMEOUT="1")
    child = spawn(tc_env, "--plain")
    child.expect("Techniker-Passwort: ")
    child.sendline("richtig-geheim")
    child.expect("techcare> ")
    import time

    time.sleep(1.5)
    child.sendline("hilfe")
    child.expect("Sitzung abgelaufen")
    child.expect("Techniker-Passwort: ")
    child.sendline("richtig-geheim")
    child.expect("GO REPAIR")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_session_timeout_relocks_the_ipython_shell(tc_env):
    write_env(tc_env / "tc.env", TECHNICIAN_NAME="E", TECHNICIAN_PASSWORD_HASH=hash_password("richtig-geheim"),
              SESSION_TIMEOUT="1")
    child = spawn(tc_env)
    child.expect("Techniker-Passwort: ")
    child.sendline("richtig-geheim")
    child.expect(r"In \[1\]: ")
    import time

    time.sleep(1.5)
    child.sendline("1+1")
    child.expect("Sitzung abgelaufen")
    for _ in range(3):
        child.expect("Techniker-Passwort: ")
        child.sendline("falsch")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_no_tty_without_config_asks_for_non_interactive_setup(tc_env):
    import subprocess

    env = {**os.environ, "TECHCARE_HOME": str(tc_env / "home"), "TECHCARE_DATA_DIR": str(tc_env / "data"),
           "TECHCARE_ENV_FILE": str(tc_env / "tc.env")}
    proc = subprocess.run([TECHCARE, "--plain"], input="", capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 2 and "--non-interactive" in proc.stderr and "Traceback" not in proc.stderr


def test_chat_in_the_terminal_shell_shows_the_answer_and_the_plan(tc_env):
    write_env(tc_env / "tc.env", TECHNICIAN_NAME="E")
    child = spawn(tc_env)
    child.expect(r"In \[1\]: ")
    child.sendline("%techcare Windows Update funktioniert nicht")
    child.expect(r"In \[2\]: ")
    shown = child.before
    assert "IPython.core.display" not in shown and "<Reply" not in shown
    assert "GO REPAIR" in shown  # the plan with its approval hint is on screen before anything can be approved
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_snapshot_shell_names_the_replayed_pc_and_diagnose_shows_the_findings(tc_env):
    write_env(tc_env / "tc.env", TECHNICIAN_NAME="E")
    snapshot = Path(__file__).parents[1] / "system" / "fixtures" / "snapshots" / "linux-debian-problems.json"
    child = spawn(tc_env, "--snapshot", str(snapshot))
    child.expect(r"In \[1\]: ")
    assert "Rechner: werkstatt-pc-07 · Debian GNU/Linux 12" in child.before  # the replayed PC, not this machine
    child.sendline("%diagnose")
    child.expect(r"In \[2\]: ")
    shown = child.before
    assert "<Diagnose" not in shown and "Firewall (ufw) ist aus." in shown and "kritisch" in shown
    child.sendline("%sensor")
    child.expect(r"In \[3\]: ")
    assert "nicht gesendet" in child.before and "{'" not in child.before
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_without_a_terminal_only_techcare_password_opens_a_protected_shell(tc_env):
    import subprocess

    write_env(tc_env / "tc.env", TECHNICIAN_NAME="E", TECHNICIAN_PASSWORD_HASH=hash_password("richtig-geheim"))
    env = {**os.environ, "TECHCARE_HOME": str(tc_env / "home"), "TECHCARE_DATA_DIR": str(tc_env / "data"),
           "TECHCARE_ENV_FILE": str(tc_env / "tc.env"), "TECHCARE_LANG": "en", "PYTHONWARNINGS": "ignore"}
    env.pop("TECHCARE_PASSWORD", None)
    refused = subprocess.run([TECHCARE, "--plain"], input="richtig-geheim\nexit\n", capture_output=True, text=True,
                             env=env, timeout=60)
    assert refused.returncode != 0 and "TECHCARE_PASSWORD" in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr and "TechCare chat" not in refused.stdout
    wrong = subprocess.run([TECHCARE, "--plain"], input="exit\n", capture_output=True, text=True,
                           env={**env, "TECHCARE_PASSWORD": "falsch-geraten"}, timeout=60)
    assert wrong.returncode != 0 and "TechCare chat" not in wrong.stdout and "Traceback" not in wrong.stderr
    opened = subprocess.run([TECHCARE, "--plain"], input="exit\n", capture_output=True, text=True,
                            env={**env, "TECHCARE_PASSWORD": "richtig-geheim"}, timeout=60)
    assert opened.returncode == 0 and "TechCare chat" in opened.stdout, opened.stderr
