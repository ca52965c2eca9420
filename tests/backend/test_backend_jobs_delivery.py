"""Remote jobs reach their host even when a delivery goes wrong (docs/remote-jobs.md §3, issue 13), on PostgreSQL +
Redis and on the embedded SQLite default:

* a long-poll whose sensor went away (restart, cut connection) claims nothing when it is woken: the job stays
  queued and the sensor's next fetch gets it;
* a delivered job the host never reported on is handed out again after ``crud_jobs.REDELIVER_AFTER`` (the answer
  may have been lost), never one the host reported on or a technician cancelled; a host that took the job already
  sends its recorded result again instead of refusing it as ``replayed``;
* a rollback job whose hosts report ``rolled_back`` is ``done``; for other kinds ``rolled_back`` is a failure;
* ``techcare-backend serve`` answers held long-polls at once when it stops and exits within seconds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from service_helpers import FAST, REDIS_URL, drop_redis_prefix, require_redis, wait_until
from test_backend_jobs import KEY, create, envelope, fetch, report
from techcare.errors import BackendError

EMPTY = {"jobs": [], "cancelled": [], "occurrences": []}


@pytest.fixture
def org(client, make_org):
    from techcare_backend.testing import add_hosts

    seeded = make_org("pro_business")
    add_hosts(client, seeded, ["kasse-01", "buero-pc"])
    return seeded


def delivered_ago(app: Any, job_id: str, seconds: float) -> None:
    """As if the job had been handed to its hosts ``seconds`` ago."""
    from sqlalchemy import update
    from techcare_backend.models import JobTarget

    with app.state.ctx.sessionmaker() as session:
        session.execute(update(JobTarget).where(JobTarget.job_id == job_id)
                        .values(delivered_at=datetime.now(UTC) - timedelta(seconds=seconds)))
        session.commit()


# ---- a lost answer is handed out again --------------------------------------------------------------------------
def test_a_delivered_job_without_report_is_handed_out_again_after_the_grace(client, org, app) -> None:
    from techcare_backend.crud_jobs import REDELIVER_AFTER

    env = envelope(["kasse-01"])
    job_id = env["payload"]["job_id"]
    assert create(client, org, env).status_code == 201
    first = fetch(client, org, "kasse-01")
    assert [j["job_id"] for j in first["jobs"]] == [job_id]
    assert fetch(client, org, "kasse-01")["jobs"] == []  # within the grace: the host may be starting it
    grace = REDELIVER_AFTER.total_seconds()
    delivered_ago(app, job_id, grace - 5)
    assert fetch(client, org, "kasse-01")["jobs"] == []
    delivered_ago(app, job_id, grace + 1)
    again = fetch(client, org, "kasse-01", wait=5)  # due again: answered at once, not held
    assert again["jobs"] == first["jobs"]  # the same envelope, byte for byte
    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
    target = job["targets"][0]
    assert target["status"] == "delivered" and job["status"] == "queued"
    assert datetime.fromisoformat(target["delivered_at"]) > datetime.now(UTC) - timedelta(seconds=30)
    assert fetch(client, org, "kasse-01")["jobs"] == []  # a new grace from the new delivery
    # other hosts' fetches never get it
    assert fetch(client, org, "buero-pc")["jobs"] == []


def test_a_job_the_host_reported_on_or_that_was_cancelled_is_not_handed_out_again(client, org, app) -> None:
    running, finished, cancelled = (envelope(["kasse-01"]) for _ in range(3))
    for env in (running, finished, cancelled):
        assert create(client, org, env).status_code == 201
    assert len(fetch(client, org, "kasse-01")["jobs"]) == 3
    assert report(client, org, running["payload"]["job_id"], host="kasse-01", status="running").status_code == 200
    assert report(client, org, finished["payload"]["job_id"], host="kasse-01", status="succeeded").status_code == 200
    cancel_id = cancelled["payload"]["job_id"]
    assert client.post(f"/api/jobs/{cancel_id}/cancel", json={},
                       headers=org.headers("technician")).status_code == 200
    for env in (running, finished, cancelled):
        delivered_ago(app, env["payload"]["job_id"], 3600)
    got = fetch(client, org, "kasse-01")
    assert got["jobs"] == [] and got["cancelled"] == [cancel_id]  # the cancel notice, not the job


def test_a_redelivery_is_claimed_once_by_parallel_fetches(client, org, app) -> None:
    import threading

    env = envelope(["kasse-01"])
    assert create(client, org, env).status_code == 201
    fetch(client, org, "kasse-01")
    delivered_ago(app, env["payload"]["job_id"], 3600)
    got: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: got.append(fetch(client, org, "kasse-01"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(len(g["jobs"]) for g in got) == [0, 0, 0, 1]


class FlakyReports:
    """The host's backend client on the test app: fetches work; reports fail (BackendError, as when the backend
    cannot be reached) while ``down`` is set. ``up_after_fetch``: reports work again after the next fetch."""

    def __init__(self, client: Any, org: Any) -> None:
        self.client, self.org = client, org
        self.down = False
        self.up_after_fetch = False

    def fetch_jobs(self, host: str, *, wait: int = 0) -> Any:
        answer = fetch(self.client, self.org, host, wait=wait)
        if self.up_after_fetch:
            self.down = self.up_after_fetch = False
        return answer

    def report_job(self, job_id: str, *, host: str, **body: Any) -> Any:
        if self.down:
            raise BackendError("backend not reachable (test)")
        resp = report(self.client, self.org, job_id, host=host, **{k: v for k, v in body.items() if v is not None})
        assert resp.status_code == 200, resp.text
        return resp.json()


def test_the_host_sends_its_recorded_result_for_a_job_handed_out_again(client, org, app, monkeypatch) -> None:
    """The host took the job, but neither ``running`` nor the result reached the backend; the job is handed out
    again. The host must not run it again, nor refuse it as ``replayed`` (which would end the target as
    ``refused`` and turn the real result into a 409): it sends the result it recorded."""
    from techcare.config import get_settings, reset_settings
    from techcare.monitoring.executor import Executor
    from techcare.signing import TrustStore

    monkeypatch.setenv("REMOTE_JOBS", "on")
    reset_settings()
    settings = get_settings()
    TrustStore(settings.techcare_home).add(KEY.public_key, name="Anna Technikerin")

    class Runner:  # a rollback of a job that never ran here fails at once, without a command
        platform = "windows"

    backend = FlakyReports(client, org)
    executor = Executor(settings, runner=Runner(), client=backend, hostname="kasse-01")
    undone = envelope(["buero-pc"])
    assert create(client, org, undone).status_code == 201
    env = envelope(["kasse-01"], kind="rollback", rollback_of=undone["payload"]["job_id"])
    job_id = env["payload"]["job_id"]
    assert create(client, org, env).status_code == 201

    backend.down = True
    outcomes = executor.poll()
    assert [(o.job_id, o.status, o.reason, o.reported) for o in outcomes] == [
        (job_id, "failed", "not_run_here", False)]
    assert client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()["status"] == "queued"
    delivered_ago(app, job_id, 3600)
    backend.up_after_fetch = True  # the result is not taken before the fetch; the fetch hands the job out again
    outcomes = executor.poll()
    assert [(o.job_id, o.status, o.reason) for o in outcomes] == [(job_id, "failed", "not_run_here")]
    target = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()["targets"][0]
    assert (target["status"], target["reason"]) == ("failed", "not_run_here")
    events = [r["event"] for r in executor.log.records() if r["job_id"] == job_id]
    assert events.count("accepted") == 1 and "refused" not in events
    assert executor.log.pending_reports() == []
    assert executor.poll() == []  # nothing left to send or to run
    assert [r["event"] for r in executor.log.records() if r["job_id"] == job_id] == events


# ---- what "rolled_back" means -------------------------------------------------------------------------------------
def test_a_rollback_job_whose_hosts_rolled_back_is_done(client, org) -> None:
    repair = envelope(["kasse-01", "buero-pc"])
    repair_id = repair["payload"]["job_id"]
    assert create(client, org, repair).status_code == 201
    rollback = envelope(["kasse-01", "buero-pc"], kind="rollback", rollback_of=repair_id)
    rollback_id = rollback["payload"]["job_id"]
    assert create(client, org, rollback).status_code == 201
    for host in ("kasse-01", "buero-pc"):
        fetch(client, org, host)
        assert report(client, org, repair_id, host=host, status="succeeded").status_code == 200
        assert report(client, org, rollback_id, host=host, status="rolled_back",
                      message="1 step(s) undone.").status_code == 200
    job = client.get(f"/api/jobs/{rollback_id}", headers=org.headers("technician")).json()
    assert job["status"] == "done" and job["counts"] == {"rolled_back": 2}
    listed = client.get("/api/jobs", params={"host": "kasse-01"}, headers=org.headers("technician")).json()["jobs"]
    assert {j["job_id"]: j["status"] for j in listed}[rollback_id] == "done"


def test_rolled_back_is_a_failure_for_other_kinds_and_mixed_rollbacks_are_partly_failed() -> None:
    from techcare_backend.crud_jobs import summary_status

    assert summary_status(["rolled_back", "rolled_back"], "rollback") == "done"
    assert summary_status(["rolled_back", "failed"], "rollback") == "partly_failed"
    assert summary_status(["rolled_back", "expired"], "rollback") == "partly_failed"
    assert summary_status(["failed"], "rollback") == "failed"
    assert summary_status(["rolled_back"], "repair") == "failed"
    assert summary_status(["succeeded", "rolled_back"], "repair") == "partly_failed"
    assert summary_status(["rolled_back", "running"], "rollback") == "running"


# ---- a poll whose client has gone -------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def live(request: pytest.FixtureRequest) -> Any:
    """A served backend (uvicorn on a socket: clients can really go away), on PostgreSQL + Redis and SQLite."""
    from techcare_backend.testing import start_backend

    prefix = None
    if request.param == "postgres":
        require_redis()
        prefix = f"techcare-test-delivery-{uuid.uuid4().hex[:10]}:"
        backend = start_backend(request.getfixturevalue("postgres_url"), REDIS_URL, redis_prefix=prefix, **FAST)
    else:
        backend = start_backend(**FAST)
    try:
        yield backend
    finally:
        backend.stop()
        if prefix:
            drop_redis_prefix(prefix)


def hold_poll(url: str, key: str, host: str, wait: int = 30) -> socket.socket:
    """A sensor's long-poll on a raw connection (closing it is the sensor going away)."""
    address, port = url.rsplit("//", 1)[1].split(":")
    sock = socket.create_connection((address, int(port)))
    sock.sendall(f"GET /api/sensor/jobs?host={host}&wait={wait} HTTP/1.1\r\nHost: t\r\n"
                 f"Authorization: Bearer {key}\r\n\r\n".encode())
    return sock


def held(backend: Any) -> int:
    waiters = getattr(backend.app.state, "job_waiters", None)  # white box: the route's waiter registry
    return waiters.waiting() if waiters is not None else 0


def test_a_poll_whose_sensor_went_away_leaves_the_job_for_the_next_fetch(live) -> None:
    from techcare_backend.testing import add_hosts, seed

    org = seed(live, edition="pro_business")
    host = f"kasse-{uuid.uuid4().hex[:6]}"
    add_hosts(live, org, [host])
    with httpx.Client(base_url=live.url, timeout=30) as http:
        sock = hold_poll(live.url, org.keys["sensor"], host)
        try:
            wait_until(lambda: held(live) == 1, what="the poll is held")
        finally:
            sock.close()  # the sensor restarts
        wait_until(lambda: not live._server.server_state.connections, what="the server saw the connection close")
        env = envelope([host])
        job_id = env["payload"]["job_id"]
        resp = http.post("/api/jobs", json={"envelope": env}, headers=org.headers("technician"))
        assert resp.status_code == 201, resp.text
        wait_until(lambda: held(live) == 0, what="the gone poll was woken and ended")
        job = http.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
        assert job["targets"][0]["status"] == "queued"  # not delivered to nobody
        got = http.get("/api/sensor/jobs", params={"host": host, "wait": 0}, headers=org.headers("sensor")).json()
        assert [j["job_id"] for j in got["jobs"]] == [job_id]


def test_a_poll_still_connected_gets_the_job_it_was_woken_for(live) -> None:
    from techcare_backend.testing import add_hosts, seed

    org = seed(live, edition="pro_business")
    host = f"kasse-{uuid.uuid4().hex[:6]}"
    add_hosts(live, org, [host])
    sock = hold_poll(live.url, org.keys["sensor"], host)
    try:
        wait_until(lambda: held(live) == 1, what="the poll is held")
        env = envelope([host])
        with httpx.Client(base_url=live.url, timeout=30) as http:
            assert http.post("/api/jobs", json={"envelope": env},
                             headers=org.headers("technician")).status_code == 201
        sock.settimeout(10)
        answer = b""
        while env["payload"]["job_id"].encode() not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        sock.close()


# ---- techcare-backend serve stops promptly --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVE_MODES = ["sqlite", "postgres-2-workers"]


@pytest.mark.parametrize("mode", SERVE_MODES)
def test_serve_answers_held_polls_and_stops_within_seconds(mode, tmp_path, request) -> None:
    from techcare_backend.cli import GRACEFUL_SHUTDOWN
    from techcare_backend.core.config import generate_secrets
    from techcare_backend.testing import add_hosts, seed

    secrets = generate_secrets()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "TECHCARE_ENV_FILE")}
    env.update(secrets, TECHCARE_ENV="production", TECHCARE_DATA_DIR=str(tmp_path / "data"),
               TECHCARE_ENV_FILE=str(tmp_path / "absent.env"), RATE_LIMIT_IP_PER_MINUTE="1000000",
               RATE_LIMIT_KEY_PER_MINUTE="1000000", AUTO_MIGRATE="true")
    argv = ["serve", "--port", str(port), "--log-level", "warning"]
    prefix = None
    if mode.startswith("postgres"):
        require_redis()
        prefix = f"techcare-test-serve-{uuid.uuid4().hex[:10]}:"
        env.update(DATABASE_URL=request.getfixturevalue("postgres_url"), REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
        argv += ["--workers", "2"]
    code = "import sys; from techcare_backend.cli import main; sys.exit(main(sys.argv[1:]))"
    server = subprocess.Popen([sys.executable, "-c", code, *argv], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    socks: list[socket.socket] = []
    try:
        def up() -> bool:
            try:
                return httpx.get(url + "/api/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                assert server.poll() is None, server.communicate()[1][-3000:]
                return False

        wait_until(up, timeout=60, interval=0.2, what="the backend serves")
        with httpx.Client(base_url=url, timeout=30) as http:
            org = seed(http, edition="pro_business", admin_token=secrets["ADMIN_TOKEN"])
            add_hosts(http, org, ["kasse-01"])
            socks = [hold_poll(url, org.keys["sensor"], "kasse-01") for _ in range(4)]
            # held: a job-free fetch of another connection is answered while those four wait
            assert http.get("/api/sensor/jobs", params={"host": "kasse-01"},
                            headers=org.headers("sensor")).json() == EMPTY
        time.sleep(1.0)
        for sock in socks:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)  # nothing answered yet
            sock.setblocking(True)
            sock.settimeout(10)
        stopped_at = time.monotonic()
        server.send_signal(signal.SIGTERM)
        answers = []
        for sock in socks:
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            answers.append(data)
        answered = time.monotonic() - stopped_at
        server.wait(timeout=20)
        took = time.monotonic() - stopped_at
        # the held polls were answered at once, not cancelled after the graceful-shutdown time (nor after 30 s)
        assert answered < GRACEFUL_SHUTDOWN - 1, f"held polls answered {answered:.1f} s after the stop"
        assert took < GRACEFUL_SHUTDOWN + 3, f"serve took {took:.1f} s to stop"
        for data in answers:
            assert data.startswith(b"HTTP/1.1 200"), data[:200]
            assert json.loads(data.split(b"\r\n\r\n", 1)[1]) == EMPTY
        # uvicorn ends by re-raising the signal it handled (its default handler then ends the process)
        assert server.returncode in (0, -signal.SIGTERM), server.communicate()[1][-3000:]
    finally:
        for sock in socks:
            sock.close()
        if server.poll() is None:
            server.kill()
        server.communicate()
        if prefix:
            drop_redis_prefix(prefix)
