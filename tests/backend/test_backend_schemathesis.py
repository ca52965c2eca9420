"""Schemathesis against the backend: no 5xx on both backends (in process), and the full run an outside tester does.

``test_no_server_errors`` drives every operation in process with Hypothesis (both backends, few examples, no 5xx).
``test_schemathesis_all_checks`` runs the schemathesis CLI against a live backend in production mode on
PostgreSQL + Redis: ``--checks all`` (status codes, response schemas, positive and negative data, Allow headers,
authentication, ...), with the coverage, fuzzing and stateful phases, once with an organisation admin key, once
with a technician key and once with the server's admin token for ``/api/admin``. Any failure fails the test with
schemathesis' report (a fixed seed: the same cases every run).
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from service_helpers import REDIS_URL, drop_redis_prefix, require_redis

MAX_EXAMPLES = 10


def test_no_server_errors(app, client, make_org, backend_settings) -> None:
    org = make_org("enterprise")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        token = backend_settings.admin_token if operation.path.startswith("/api/admin") else org.keys["admin"]

        @given(case=operation.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=[not_a_server_error])

        run()


@pytest.fixture(scope="module")
def live(postgres_url: str) -> Any:
    from techcare_backend.testing import seed, start_backend

    require_redis()
    prefix = f"techcare-test-st-{uuid.uuid4().hex[:10]}:"
    backend = start_backend(postgres_url, REDIS_URL, redis_prefix=prefix, rate_limit_ip_per_minute=10_000_000,
                            rate_limit_key_per_minute=10_000_000)
    try:
        yield backend, seed(backend, edition="enterprise")
    finally:
        backend.stop()
        drop_redis_prefix(prefix)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("who", ["admin", "technician", "server-admin"])
def test_schemathesis_all_checks(live, who: str, tmp_path: Path) -> None:
    backend, org = live
    if who == "server-admin":
        token, scope = backend.admin_token, ["--include-path-regex", "^/api/admin/"]
    else:
        token, scope = org.keys[who], ["--exclude-path-regex", "^/api/admin/"]
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [str(cli), "run", f"{backend.url}/openapi.json", "--checks", "all", "--phases", "coverage,fuzzing,stateful",
         "--header", f"Authorization: Bearer {token}", *scope, "--max-examples", "15", "--seed", "20261202",
         "--workers", "1", "--no-color", "--suppress-health-check", "all"],
        cwd=tmp_path, capture_output=True, text=True, timeout=280)  # cwd: its report and example database
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-20_000:]
    summary = [line for line in report.splitlines() if line.startswith("====")][-1]
    assert "Stateful" in report and not re.search(r"\d+ (failure|error)", summary), report[-5000:]
