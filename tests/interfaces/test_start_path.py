"""The path of a new user: scripts/start from a fresh checkout to a shell connected to the local backend.

scripts/start and scripts/setup-venv run for real in a copy of the checkout. Its .venv is a set of wrappers around
the test environment's own executables whose python refuses ``-m pip`` (and logs the attempt): nothing is ever
installed, and a test sees exactly when the scripts would have installed. The backend scripts/start launches
runs on a free port with its data in the copy and is stopped by the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from importlib import metadata
from pathlib import Path

import pexpect
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "lock-linux-py3.11.txt"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def checkout(tmp_path: Path) -> Path:
    """A copy of what scripts/start needs, with a .venv of wrappers (its python refuses to run pip)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(REPO / "scripts", repo / "scripts")
    shutil.copytree(REPO / "requirements", repo / "requirements")
    shutil.copy2(REPO / "pyproject.toml", repo / "pyproject.toml")
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    wrappers = {
        "python": f'case "$1 $2" in "-m pip") echo "$*" >> "{repo}/.venv/pip-calls"; '
                  f'echo "test venv: pip refused" >&2; exit 99;; esac\nexec "{BIN / "python"}" "$@"',
        "techcare": f'exec "{BIN / "techcare"}" "$@"',
        "techcare-backend": f'exec "{BIN / "techcare-backend"}" "$@"',
    }
    for name, body in wrappers.items():
        (venv_bin / name).write_text(f"#!/bin/sh\n{body}\n")
        (venv_bin / name).chmod(0o755)
    return repo


def script_env(repo: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TECHCARE_ENV_FILE", "TECHCARE_DATA_DIR", "TECHCARE_SETUP_DEFAULTS", "TECHCARE_ENV",
                        "BACKEND_URL", "NETWORK_METHOD", "TECHCARE_API_KEY", "LICENSE_KEY", "EDITION")}
    env.update({"TECHCARE_HOME": str(repo.parent / "home"), "TECHCARE_LANG": "de", "TERM": "dumb",
                "PYTHONWARNINGS": "ignore"})
    env.update(extra)
    return env


def stamp(repo: Path, level: str) -> None:
    value = subprocess.run(["scripts/setup-venv", "--print-stamp", *([level] if level != "client" else [])],
                           cwd=repo, capture_output=True, text=True, check=True).stdout.strip()
    assert len(value) == 64
    (repo / ".venv" / f".techcare-installed-{level}").write_text(value + "\n")


def pip_calls(repo: Path) -> list[str]:
    path = repo / ".venv" / "pip-calls"
    return path.read_text().splitlines() if path.exists() else []


# ---- scripts/setup-venv: the tested versions, and a fast second start ------------------------------------------

def test_an_unchanged_checkout_starts_without_running_pip(tmp_path):
    repo = checkout(tmp_path)
    stamp(repo, "dev")
    for args in (["server"], [], ["dev"]):           # dev covers server and the client
        started = time.monotonic()
        done = subprocess.run(["scripts/setup-venv", *args], cwd=repo, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == "", done.stderr
        assert time.monotonic() - started < 10
    assert pip_calls(repo) == []


def test_a_changed_pyproject_installs_the_locked_versions_and_says_so(tmp_path):
    repo = checkout(tmp_path)
    stamp(repo, "server")
    with (repo / "pyproject.toml").open("a") as f:
        f.write("\n# a dependency changed\n")
    done = subprocess.run(["scripts/setup-venv", "server"], cwd=repo, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "TECHCARE_LANG": "de"})
    # the (refused) install was announced as a numbered step and used the lock as constraints
    assert "[2/3] Pakete installieren: TechCare server mit den getesteten Versionen" in done.stderr
    assert "Minuten" in done.stderr
    assert pip_calls(repo) == ["-m pip install --disable-pip-version-check --progress-bar off "
                               "-c requirements/lock-linux-py3.11.txt -e .[server]"]
    assert done.returncode == 1 and "pip-install.log" in done.stderr


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_dependency_of_every_extra_within_pyproject_ranges():
    pins = _lock()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = {**default_environment(), "sys_platform": "linux", "platform_system": "Linux",
           "python_version": "3.11", "python_full_version": "3.11.7"}
    pending = [(Requirement(r), "") for r in project["dependencies"]]
    pending += [(Requirement(r), extra) for extra, reqs in project["optional-dependencies"].items() for r in reqs]
    seen: set[tuple[str, str]] = set()
    problems = []
    while pending:
        req, extra = pending.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name == "techcare":
            continue  # the project's own extras (dev = ai + notebook + server + ...) are listed above
        if name not in pins:
            problems.append(f"{req} (needed{' by extra ' + extra if extra else ''}) is not in the lock")
            continue
        if not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req}: the lock pins {pins[name]}")
        for wanted in [""] + sorted(req.extras):
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            try:
                requires = metadata.requires(req.name) or []
            except metadata.PackageNotFoundError:
                problems.append(f"{req.name} is locked but not installed in the test environment")
                continue
            for sub in requires:
                sub_req = Requirement(sub)
                if sub_req.marker is None or sub_req.marker.evaluate({**env, "extra": wanted}):
                    pending.append((Requirement(str(sub_req).split(";")[0]), wanted))
    assert not problems, "run scripts/lock in a tested .venv:\n" + "\n".join(sorted(set(problems)))


# ---- the backend command ---------------------------------------------------------------------------------

def test_serve_without_the_server_extra_names_the_extra(monkeypatch, capsys):
    from techcare_backend.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)   # as after a plain `pip install techcare`
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'techcare[server]'" in err and "uvicorn" in err and "Traceback" not in err


def test_the_readmes_document_the_server_extra():
    assert "pip install 'techcare[server]'" in (REPO / "README.md").read_text()
    assert "pip install 'techcare[server]'" in (REPO / "backend" / "README.md").read_text()


def test_org_create_issues_a_license_and_a_technician_key_that_work(tmp_path, monkeypatch, capsys):
    import json

    from techcare.backend_client import BackendClient
    from techcare.config import load_settings
    from techcare.license import LicenseManager
    from techcare_backend.cli import main
    from techcare_backend.testing import start_backend

    data = tmp_path / "backend-data"
    monkeypatch.setenv("TECHCARE_ENV", "development")
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(data))
    out = tmp_path / "local-backend.env"
    assert main(["org", "create", "Lokale Werkstatt", "--technician", "erika", "--env-file", str(out)]) == 0
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert "tck_" not in capsys.readouterr().out           # the keys went to the file, not the terminal
    values = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert values["EDITION"] == "enterprise" and values["TECHCARE_API_KEY"].startswith("tck_")
    assert values["TECHNICIAN_NAME"] == "erika"
    assert main(["org", "create", " "]) == 2 and "1 bis 200 Zeichen" in capsys.readouterr().err
    # the server that scripts/start runs on this data directory (same development secrets) accepts both keys
    secrets = json.loads((data / "backend-dev-secrets.json").read_text())
    with start_backend(data_dir=data, admin_token=secrets["ADMIN_TOKEN"], jwt_signing_key=secrets["JWT_SIGNING_KEY"],
                       license_key_secret=secrets["LICENSE_KEY_SECRET"]) as backend:
        settings = load_settings(backend_url=backend.url, techcare_api_key=values["TECHCARE_API_KEY"],
                                 edition="enterprise", license_key=values["LICENSE_KEY"])
        with BackendClient(settings=settings) as client:
            me = client.me()
            assert me["role"] == "technician" and me["technician"] == "erika"
            assert me["organisation"]["name"] == "Lokale Werkstatt"
            status = LicenseManager(settings, client=client, home=tmp_path / "home").check()
    assert status.code == "VALID" and status.edition == "enterprise"


# ---- scripts/start ---------------------------------------------------------------------------------------

def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/api/health", timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture
def started(tmp_path):
    """A checkout for scripts/start; stops the backend it launched (its own session: kill the process group)."""
    repo = checkout(tmp_path)
    stamp(repo, "server")
    port = free_port()
    yield repo, port
    pid_file = repo / "data" / "backend.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(pid, signal.SIGKILL)


def _ctrl_c_reaches_the_child() -> None:
    # a test run started in the background of a non-interactive shell (`.ci/run &`) inherits SIGINT ignored, and
    # Python keeps an ignored SIGINT: the technician's Ctrl-C, which these tests type, would then do nothing
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn_start(repo: Path, port: int, *args: str) -> pexpect.spawn:
    return pexpect.spawn(str(repo / "scripts" / "start"), list(args), cwd=str(repo), encoding="utf-8", timeout=90,
                         env=script_env(repo, TECHCARE_BACKEND_PORT=str(port)), dimensions=(40, 200),
                         preexec_fn=_ctrl_c_reaches_the_child)


@pytest.mark.slow
def test_scripts_start_from_a_fresh_checkout_to_a_shell_connected_to_the_local_backend(started):
    repo, port = started
    url = f"http://127.0.0.1:{port}"

    # first start: the steps are shown; Ctrl-C in the wizard ends TechCare but not the backend
    child = spawn_start(repo, port)
    child.expect(r"\[1/4\] Python-Umgebung")
    child.expect(rf"\[2/4\] Backend auf {url}")
    child.expect("gestartet")
    child.expect(r"\[3/4\] Lokale Organisation")
    child.expect("Enterprise-Entwicklungslizenz und Techniker-Schlüssel angelegt")
    child.expect(r"\[4/4\] TechCare starten")
    child.expect(r"1/10 Ihr Name")
    child.sendintr()
    child.expect("nichts wurde gespeichert")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0 and not (repo / ".env").exists()
    assert healthy(url), "Ctrl-C in the wizard stopped the backend"
    assert oct((repo / "data" / "local-backend.env").stat().st_mode & 0o777) == "0o600"

    # second start: the backend is reused; Enter through the whole wizard connects to it with the technician's key
    child = spawn_start(repo, port)
    child.expect("läuft bereits")
    child.expect(r"\[3/4\] Lokale Organisation")
    child.expect("vorhanden")
    child.expect(r"1/10 Ihr Name[^\r\n]*\[(.+)\]: ")           # the account's name is offered
    technician = child.match.group(1)
    child.sendline("")
    for question in ("2/10 Firma", r"3/10 Edition[^\r\n]*\[enterprise\]", r"4/10 Lizenzschlüssel[^\r\n]*\[TECHCARE-ENTERPRISE-",
                     "5/10 Anthropic", r"6/10 Netzwerkverbindung[^\r\n]*\[cloudflare\]",
                     rf"7/10 Backend-URL[^\r\n]*\[{url}\]", "8/10 Learning Database", "9/10 Techniker-Passwort",
                     "10/10 Briefing"):
        child.expect(question)
        child.sendline("")                               # Enter: the default in [brackets]
    child.expect("Techniker-API-Schlüssel für")
    child.expect("Gespeichert")
    child.expect(r"In \[1\]: ")
    banner = child.before
    assert f"{url} (ok)" in banner and "Lizenz gültig" in banner, banner
    child.sendline("from techcare.backend_client import BackendClient; me = BackendClient().me(); me['role'], me['technician']")
    child.expect(rf"\('technician', '{technician}'\)")
    child.expect(r"In \[2\]: ")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    env_text = (repo / ".env").read_text()
    assert f"BACKEND_URL={url}" in env_text and "TECHCARE_API_KEY=tck_" in env_text
    assert oct((repo / ".env").stat().st_mode & 0o777) == "0o600"

    # a later start: three steps, nothing installed; Ctrl-C at the password prompt leaves the backend running
    from techcare.auth import hash_password
    from techcare.config import write_env_file

    write_env_file(repo / ".env", {"TECHNICIAN_PASSWORD_HASH": hash_password("richtig-geheim")})
    child = spawn_start(repo, port)
    child.expect(r"\[1/3\] Python-Umgebung")
    child.expect("läuft bereits")
    child.expect(r"\[3/3\] TechCare starten")
    child.expect("Techniker-Passwort: ")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus != 0
    assert healthy(url), "Ctrl-C at the password prompt stopped the backend"
    assert pip_calls(repo) == []


def test_a_busy_port_is_named_with_the_way_out(tmp_path):
    repo = checkout(tmp_path)
    stamp(repo, "server")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(["scripts/start"], cwd=repo, capture_output=True, text=True, timeout=120,
                              env=script_env(repo, TECHCARE_BACKEND_PORT=str(port)), stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert f"Port {port} ist belegt" in done.stderr and "TECHCARE_BACKEND_PORT=" in done.stderr
    assert not (repo / ".env").exists() and pip_calls(repo) == []
