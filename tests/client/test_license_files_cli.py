"""The tester's findings 3 and 4 through the real CLI (subprocesses) against a live local backend: license files
that became directories, and random bytes over the pinned keys. Never a traceback; the file is named; damaged
pins are never re-pinned on their own."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .test_live_license import backend, org  # noqa: F401  (module fixtures: the live backend and its org)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def cli(home, org, backend, *args, timeout=120):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TECHCARE_", "LICENSE_", "BACKEND_"))}
    env.update(TECHCARE_HOME=str(home), LICENSE_KEY=org.license_key, BACKEND_URL=backend.url,
               EDITION="pro_business", TECHCARE_LANG="de", TECHCARE_ENV_FILE=str(home.parent / "none.env"))
    return subprocess.run([sys.executable, "-m", "techcare", *args], env=env, cwd=home.parent,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", ["lease.jwt", "public_keys.json"])
def test_a_license_file_that_is_a_directory_is_named_not_a_traceback(backend, org, tmp_path, name):  # noqa: F811
    home = tmp_path / "home"
    (home / "license" / name).mkdir(parents=True)
    result = cli(home, org, backend, "license")
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "IsADirectoryError" not in out
    assert name in out
    if name == "public_keys.json":   # damaged pins trust nobody: refused, and the deliberate way back is named
        assert result.returncode != 0 and "kein angehefteter Schlüssel gilt" in out and "--repin" in out
        assert "kein Netzwerkproblem" in out and "Prüfe BACKEND_URL" not in out   # not the network check list
    else:                            # valid online, but it cannot be cached: said
        assert result.returncode == 0 and "ohne Netz gilt sie nicht" in out
    sensor = cli(home, org, backend, "sensor", "--once")
    assert "Traceback" not in sensor.stdout + sensor.stderr
    doctor = cli(home, org, backend, "doctor")
    line = next(x for x in doctor.stdout.splitlines() if "Lizenz:" in x)
    print(doctor.stdout)
    assert "Traceback" not in doctor.stdout + doctor.stderr and "Errno" not in line


def test_random_bytes_over_the_pins_are_refused_online_and_not_re_pinned(backend, org, tmp_path):  # noqa: F811
    home = tmp_path / "home"
    first = cli(home, org, backend, "license")
    assert first.returncode == 0, first.stdout + first.stderr
    keys = home / "license" / "public_keys.json"
    garbage = os.urandom(200)
    keys.write_bytes(garbage)
    result = cli(home, org, backend, "license")
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in out
    assert "public_keys.json" in out and "--repin" in out and "kein Netzwerkproblem" in out
    assert keys.read_bytes() == garbage                         # nothing re-pinned on its own
