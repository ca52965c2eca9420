"""Remote jobs end to end, on PostgreSQL + Redis and on the embedded default: the technician's ``techcare.fleet``
signs and queues, the real backend (``techcare_backend.testing.start_backend``) stores and routes, a sensor host
(``techcare.monitoring.executor.Executor`` on the simulated Windows PC of the runbooks, with its own
TECHCARE_HOME and pinned keys) picks the jobs up at its check-in, runs them and reports back.

The tampering tests change the stored job directly in the backend's database (SQLAlchemy on its URL), as an
attacker with database access would, and check that the host refuses with the right reason and that the backend
then shows ``refused`` with that reason — and that the PC was not changed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import FAST, drop_redis_prefix, require_redis

import techcare
from techcare import fleet
from techcare.backend_client import BackendClient
from techcare.config import load_settings, reset_settings
from techcare.i18n import set_language
from techcare.monitoring.executor import Executor
from techcare.monitoring.sensor import Sensor
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import SigningKey, TrustStore

WINDOWS = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "windows11-problems.json"
HOST = "WS-EMPFANG-01"
OTHER = "KASSE-02"
REDIS_URL = "redis://127.0.0.1:6379/0"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def live(request: pytest.FixtureRequest) -> Iterator[Any]:
    from techcare_backend.testing import start_backend

    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        require_redis()
        prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
        backend = start_backend(url, REDIS_URL, redis_prefix=prefix, **FAST)
        yield backend
        backend.stop()
        drop_redis_prefix(prefix)
    else:
        backend = start_backend(**FAST)
        yield backend
        backend.stop()


class Host:
    """A sensor host: the simulated PC, its own TECHCARE_HOME with pinned signer keys, REMOTE_JOBS=on."""

    def __init__(self, live: Any, sensor_key: str, root: Path, name: str = HOST) -> None:
        self.pc = SimulatedPC.from_snapshot(WINDOWS, state_file=root / f"{name}-pc.json")
        self.home = root / f"{name}-home"
        self.name = name
        self.settings = load_settings(techcare_home=self.home, remote_jobs="on", backend_url=live.url,
                                      techcare_api_key=sensor_key)
        self.client = BackendClient(live.url, sensor_key, retries=0)
        self.executor = Executor(self.settings, runner=self.pc.runner(), client=self.client, hostname=name)
        sensor = Sensor(runner=self.pc.runner(), persist=False)
        sample = sensor.sample()
        sensor.close()
        sample["hostname"] = name
        self.client.post_metrics(sample)  # the backend knows a host once it sent a sample

    def trust(self, key: SigningKey) -> None:
        TrustStore(self.home).add(key.public_key, name="Technikerin")

    def check_in(self) -> list[Any]:
        return self.executor.poll(wait=0)

    def run_log(self) -> list[dict[str, Any]]:
        return self.executor.log.records()

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def org(live: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from techcare_backend.testing import seed

    organisation = seed(live, edition="pro_business")
    monkeypatch.setenv("BACKEND_URL", live.url)
    monkeypatch.setenv("TECHCARE_API_KEY", organisation.keys["technician"])
    monkeypatch.setenv("TECHNICIAN_NAME", "Anna Technikerin")
    reset_settings()
    set_language("en")
    return organisation


@pytest.fixture
def host(live: Any, org: Any, tmp_path: Path) -> Iterator[Host]:
    machine = Host(live, org.keys["sensor"], tmp_path)
    machine.trust(fleet.signing_key())
    yield machine
    machine.close()


def pc_state(host: Host) -> dict[str, Any]:
    return json.loads(json.dumps({"firewall": host.pc.state["firewall"], "start_types": host.pc.start_types,
                                  "services": host.pc.services}))


def remote_plan(host: Host) -> Any:
    job = fleet.diagnose(HOST)
    host.check_in()
    return techcare.plan(job.result(timeout=10))


# ---- the whole flow --------------------------------------------------------------------------------------------

def test_diagnose_plan_repair_rollback(live: Any, org: Any, host: Host) -> None:
    assert HOST in fleet.hosts()["hostname"].tolist()
    job = fleet.diagnose(HOST)
    assert job.status == "queued" and job.signer == "Anna Technikerin" and job.key_id == fleet.signing_key().key_id
    [outcome] = host.check_in()
    assert outcome.status == "succeeded"
    diagnosis = job.result(timeout=10)
    local = techcare.diagnose(snapshot=WINDOWS)
    assert isinstance(diagnosis, techcare.Diagnosis) and diagnosis.hostname == HOST and diagnosis.os == "windows"
    assert {(f.check, f.severity) for f in diagnosis} == {(f.check, f.severity) for f in local}
    plan = techcare.plan(diagnosis)
    assert plan.fingerprint() == techcare.plan(local).fingerprint() and plan.host == HOST

    before = pc_state(host)
    repair = fleet.queue(plan, "GO REPAIR: 2,3")
    assert repair.platform == "windows" and repair.approval == "GO REPAIR: 2,3"
    host.check_in()
    repair.wait(10)
    assert repair.status == "done" and not repair.timed_out
    frame = repair.to_frame()
    assert frame[["step", "action", "step_status"]].values.tolist() == [
        [2, "win.enable_firewall", "finished"], [3, "win.set_service_start_type", "finished"]]
    after = pc_state(host)
    assert after["firewall"]["public"] is True and after["start_types"]["wuauserv"] == "demand"
    assert before["firewall"]["public"] is False and before["start_types"]["wuauserv"] == "disabled"

    # the changelog of the job reached the backend (the API lists the session; the database links it to the job)
    with httpx.Client(base_url=live.url, headers=org.headers("technician"), timeout=10) as api:
        sessions = api.get("/api/changelogs").json()
    assert {s["host"] for s in sessions} == {HOST}, sessions  # the host runs and logs step by step
    assert {a for s in sessions for a in s["actions"]} == {"win.enable_firewall", "win.set_service_start_type"}
    linked = query(live, "SELECT DISTINCT job_id, session FROM changelog_entries WHERE organisation_id = :org",
                   org=org.organisation_id)
    assert sorted(linked) == sorted((repair.id, s["session"]) for s in sessions)

    undo = fleet.rollback(repair)
    assert undo.kind == "rollback"
    host.check_in()
    undo.wait(10)
    assert undo.target(HOST)["status"] == "rolled_back", undo.targets
    assert pc_state(host) == before
    listed = fleet.jobs(host=HOST)
    assert listed["job_id"].tolist()[:3] == [undo.id, repair.id, job.id]
    assert listed["status"].tolist()[1:3] == ["done", "done"]
    assert listed["targets"].tolist()[0] == f"{HOST}: rolled_back"


def test_a_host_offline_when_queued_runs_the_job_at_its_next_check_in(org: Any, host: Host) -> None:
    job = fleet.diagnose(HOST)
    job.wait(0.5, poll=0.1)
    assert job.timed_out and job.waiting_for == [HOST] and job.status == "queued"
    assert HOST in job.timeout_note() and "next checks in" in job.timeout_note()
    with pytest.raises(fleet.FleetTimeout):
        job.wait(0.2, poll=0.1, raise_on_timeout=True)
    host.check_in()  # the host comes back
    assert job.wait(10).status == "done" and isinstance(job.result(), techcare.Diagnosis)


def test_an_expired_job_never_runs(org: Any, host: Host) -> None:
    plan = remote_plan(host)
    before = pc_state(host)
    job = fleet.queue(plan, "GO REPAIR: 2", expires=timedelta(seconds=2))
    time.sleep(2.5)
    assert host.check_in() == []
    job.refresh()
    assert job.status == "expired" and job.target(HOST)["status"] == "expired"
    assert pc_state(host) == before and not [r for r in host.run_log() if r["job_id"] == job.id]


def test_a_cancelled_job_never_runs(org: Any, host: Host) -> None:
    plan = remote_plan(host)
    before = pc_state(host)
    job = fleet.queue(plan, "GO REPAIR: 2,3")
    cancelled = fleet.cancel(job.id)
    assert cancelled.status == "cancelled" and cancelled.target(HOST)["status"] == "cancelled"
    assert host.check_in() == []
    assert pc_state(host) == before and not [r for r in host.run_log() if r["job_id"] == job.id]
    assert fleet.jobs(status="cancelled")["job_id"].tolist() == [job.id]
    with pytest.raises(fleet.FleetError, match="nothing left to cancel"):
        fleet.cancel(job)


def test_errors_from_the_real_backend(live: Any, org: Any, host: Host, monkeypatch: pytest.MonkeyPatch) -> None:
    from techcare_backend.testing import seed

    with pytest.raises(fleet.FleetError, match="Unknown hosts: NIEMAND"):
        fleet.diagnose("NIEMAND")
    with pytest.raises(fleet.FleetError, match=f"Job {'c' * 32} is unknown to the backend"):
        fleet.job("c" * 32)
    small = seed(live, edition="pro")
    monkeypatch.setenv("TECHCARE_API_KEY", small.keys["technician"])
    reset_settings()
    with pytest.raises(fleet.FleetError, match="Pro Business"):
        fleet.jobs()
    monkeypatch.setenv("TECHCARE_API_KEY", org.keys["sensor"])
    reset_settings()
    with pytest.raises(fleet.FleetError, match="role technician or admin"):
        fleet.jobs()


# ---- tampering -----------------------------------------------------------------------------------------------------

def query(live: Any, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(live.settings.sqlalchemy_url)
    try:
        with engine.connect() as db:
            return [tuple(row) for row in db.execute(text(sql), params)]
    finally:
        engine.dispose()


def edit_job(live: Any, job_id: str, *, payload: Any = None, target: dict[str, Any] | None = None) -> None:
    """Change the stored job as someone with access to the backend's database would."""
    from sqlalchemy import create_engine, text

    engine = create_engine(live.settings.sqlalchemy_url)
    try:
        with engine.begin() as db:
            if payload is not None:
                envelope = json.loads(db.execute(text("SELECT envelope FROM jobs WHERE id = :id"),
                                                 {"id": job_id}).scalar_one())
                payload(envelope["payload"])
                db.execute(text("UPDATE jobs SET envelope = :e WHERE id = :id"),
                           {"e": json.dumps(envelope), "id": job_id})
            if target is not None:
                sets = ", ".join(f"{k} = :{k}" for k in target)
                db.execute(text(f"UPDATE job_targets SET {sets} WHERE job_id = :id"), {**target, "id": job_id})
    finally:
        engine.dispose()


def later(stamp: str, **delta: Any) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) + timedelta(**delta)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def steps(p: dict[str, Any], **change: Any) -> None:
    p["steps"][1].update(change)


TAMPERING = {
    "action": (lambda p: steps(p, action="win.reset_windows_update"), "bad_signature"),
    "params": (lambda p: p["steps"][1]["params"].update(profiles=["domain", "private", "public"]), "bad_signature"),
    "approval": (lambda p: p.update(approval="GO REPAIR: 1-4", approved_steps=[1, 2, 3, 4]), "bad_signature"),
    "expiry": (lambda p: p.update(expires=later(p["expires"], days=10)), "bad_signature"),  # within the 30 days
    "targets": (lambda p: p.update(hosts=[OTHER, HOST]), "bad_signature"),
}


@pytest.mark.parametrize("what", list(TAMPERING))
def test_a_job_changed_in_the_database_is_refused_and_reported(live: Any, org: Any, host: Host, what: str) -> None:
    change, reason = TAMPERING[what]
    plan = remote_plan(host)
    before = pc_state(host)
    job = fleet.queue(plan, "GO REPAIR: 2")
    edit_job(live, job.id, payload=change)
    [outcome] = host.check_in()
    assert (outcome.status, outcome.reason) == ("refused", reason), outcome
    job.wait(5)
    target = job.target(HOST)
    assert (job.status, target["status"], target["reason"]) == ("failed", "refused", reason), job.targets
    assert pc_state(host) == before


def test_a_job_retargeted_in_the_database_to_another_host_is_refused(live: Any, org: Any, host: Host,
                                                                      tmp_path: Path) -> None:
    other = Host(live, org.keys["sensor"], tmp_path, name=OTHER)
    try:
        plan = remote_plan(host)
        before = pc_state(host)
        job = fleet.queue(plan, "GO REPAIR: 2", hosts=[OTHER])  # signed for the other PC only
        edit_job(live, job.id, target={"hostname": HOST})       # ... and handed to this one
        [outcome] = host.check_in()
        assert (outcome.status, outcome.reason) == ("refused", "wrong_host")
        target = fleet.job(job.id).target(HOST)
        assert (target["status"], target["reason"]) == ("refused", "wrong_host")
        assert pc_state(host) == before
    finally:
        other.close()


def test_a_finished_job_replayed_from_the_database_is_refused(live: Any, org: Any, host: Host) -> None:
    plan = remote_plan(host)
    job = fleet.queue(plan, "GO REPAIR: 2")
    host.check_in()
    assert job.wait(10).status == "done"
    fleet.rollback(job)
    host.check_in()  # the firewall profile is off again: a replay would have something to change
    before = pc_state(host)
    edit_job(live, job.id, target={"status": "queued", "reason": None, "finished_at": None})
    [outcome] = host.check_in()
    assert (outcome.status, outcome.reason) == ("refused", "replayed")
    target = fleet.job(job.id).target(HOST)
    assert (target["status"], target["reason"]) == ("refused", "replayed")
    assert pc_state(host) == before


def test_a_job_signed_by_an_unpinned_key_is_refused(org: Any, host: Host, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    plan = remote_plan(host)
    before = pc_state(host)
    pinned = fleet.signing_key().key_id
    monkeypatch.setenv("TECHCARE_HOME", str(tmp_path / "another-technician"))  # a key the host never pinned
    reset_settings()
    job = fleet.queue(plan, "GO REPAIR: 2")
    assert job.key_id == fleet.signing_key().key_id != pinned
    [outcome] = host.check_in()
    assert (outcome.status, outcome.reason) == ("refused", "unknown_signer")
    target = job.wait(5).target(HOST)
    assert (target["status"], target["reason"]) == ("refused", "unknown_signer")
    assert pc_state(host) == before


def test_fleet_words_against_the_real_backend(org: Any, host: Host) -> None:
    """``%fleet diagnose`` waits for the host's answer (the host long-polls meanwhile, as the sensor's job loop
    does), ``plan`` shows the plan, ``repair`` queues the approved steps, ``jobs`` lists them — the desk the REPL
    uses too."""
    import threading

    from techcare.fleet_magic import FleetDesk

    desk = FleetDesk()
    outcomes: list[Any] = []
    checked_in = threading.Thread(target=lambda: outcomes.extend(host.executor.poll(wait=20)))
    checked_in.start()
    try:
        diagnosis = desk.run(f"diagnose {HOST} --timeout 20")
    finally:
        checked_in.join()
    assert isinstance(diagnosis, techcare.Diagnosis) and diagnosis.hostname == HOST
    assert [o.status for o in outcomes] == ["succeeded"]
    with pytest.raises(fleet.FleetError, match="No plan has been shown"):
        desk.run(f"repair {HOST} GO REPAIR: 2")
    plan = desk.run(f"plan {HOST}")
    job = desk.run(f"repair {HOST} GO REPAIR: 2")
    host.check_in()
    assert job.wait(10).status == "done" and job.to_frame()["action"].tolist() == [plan.steps[1].action_id]
    assert desk.run("jobs")["job_id"].tolist()[0] == job.id
