"""Remote jobs in the backend (docs/remote-jobs.md §3): queue -> pick-up -> report -> results, expiry, cancel,
roles, organisations, the edition gate and the long-poll; on PostgreSQL + Redis and on the embedded default."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from backend_helpers import sample
from service_helpers import FAST, REDIS_URL, drop_redis_prefix, require_redis, wait_until
from sqlalchemy import text

from techcare.signing import SigningKey, verify_envelope

KEY = SigningKey.generate()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(hosts: list[str], *, kind: str = "repair", not_before: datetime | None = None,
            expires: datetime | None = None, **changes: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(minutes=1)
    body: dict[str, Any] = {
        "v": 1, "job_id": uuid.uuid4().hex, "kind": kind, "hosts": hosts,
        "platform": "windows" if kind in ("repair", "rollback") else None,
        "steps": [{"number": 1, "action": "win.clear_temp", "params": {"older_than_days": 7}}] if kind == "repair"
        else [],
        "approval": "GO REPAIR: 1" if kind == "repair" else "", "approved_steps": [1] if kind == "repair" else [],
        "plan_fingerprint": "0123456789ab" if kind == "repair" else "", "confirm_high_risk": False,
        "rollback_of": None, "not_before": iso(not_before), "expires": iso(expires or not_before + timedelta(days=1)),
        "issued_at": iso(now), "signer": "Anna Technikerin"}
    body.update(changes)
    return body


def envelope(hosts: list[str], **kwargs: Any) -> dict[str, Any]:
    return KEY.sign(payload(hosts, **kwargs))


@pytest.fixture
def org(client, make_org):
    """A Pro Business organisation with two hosts that sent samples."""
    from techcare_backend.testing import add_hosts

    seeded = make_org("pro_business")
    add_hosts(client, seeded, ["kasse-01", "buero-pc"])
    return seeded


def create(client, org, env: dict[str, Any], role: str = "technician") -> Any:
    return client.post("/api/jobs", json={"envelope": env}, headers=org.headers(role))


def fetch(client, org, host: str, wait: int = 0) -> dict[str, Any]:
    resp = client.get("/api/sensor/jobs", params={"host": host, "wait": wait}, headers=org.headers("sensor"))
    assert resp.status_code == 200, resp.text
    return resp.json()


def report(client, org, job_id: str, **body: Any) -> Any:
    return client.post(f"/api/sensor/jobs/{job_id}/report", json=body, headers=org.headers("sensor"))


def test_queue_pick_up_report_results(client, org) -> None:
    env = envelope(["kasse-01", "buero-pc"])
    job_id = env["payload"]["job_id"]
    resp = create(client, org, env)
    assert resp.status_code == 201, resp.text
    job = resp.json()
    assert job["job_id"] == job_id and job["kind"] == "repair" and job["status"] == "queued"
    assert job["hosts"] == ["buero-pc", "kasse-01"] and job["approval"] == "GO REPAIR: 1"
    assert job["signer"] == "Anna Technikerin" and job["key_id"] == KEY.key_id
    assert job["created_by"] == f"Technician {org.organisation}"
    assert {t["status"] for t in job["targets"]} == {"queued"}

    got = fetch(client, org, "kasse-01")
    assert [j["job_id"] for j in got["jobs"]] == [job_id] and got["cancelled"] == []
    assert verify_envelope(got["jobs"][0]["envelope"], {KEY.key_id: KEY.public_raw})["job_id"] == job_id
    assert fetch(client, org, "kasse-01")["jobs"] == []  # delivered exactly once
    assert fetch(client, org, "never-seen-host") == {"jobs": [], "cancelled": [], "occurrences": []}

    steps = [{"number": 1, "action": "win.clear_temp", "status": "running"}]
    resp = report(client, org, job_id, host="kasse-01", status="running", steps=steps)
    assert resp.status_code == 200 and resp.json() == {"cancel": False, "status": "running"}
    done = [{"number": 1, "action": "win.clear_temp", "status": "finished", "undo": {"kind": "none"}}]
    resp = report(client, org, job_id, host="kasse-01", status="succeeded", steps=done, message="1 step done")
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    resp = report(client, org, job_id, host="kasse-01", status="failed")
    assert resp.status_code == 409 and resp.json()["code"] == "JOB_FINAL"

    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
    targets = {t["host"]: t for t in job["targets"]}
    assert targets["kasse-01"]["status"] == "succeeded" and targets["kasse-01"]["steps"] == done
    assert targets["kasse-01"]["finished_at"] and targets["kasse-01"]["message"] == "1 step done"
    assert targets["buero-pc"]["status"] == "queued" and job["status"] == "running"
    assert job["counts"] == {"succeeded": 1, "queued": 1}


def test_diagnose_result_and_refusal(client, org) -> None:
    env = envelope(["kasse-01", "buero-pc"], kind="diagnose")
    job_id = env["payload"]["job_id"]
    assert create(client, org, env).status_code == 201
    fetch(client, org, "kasse-01"), fetch(client, org, "buero-pc")
    diagnosis = {"platform": "windows", "findings": [{"check": "disk", "severity": "warning", "summary": "C: 91 %",
                                                      "evidence": {"percent": 91.5}}]}
    assert report(client, org, job_id, host="kasse-01", status="succeeded", diagnosis=diagnosis).status_code == 200
    resp = report(client, org, job_id, host="buero-pc", status="refused", reason="unknown_signer",
                  message="signed with a key that is not pinned")
    assert resp.status_code == 200
    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("admin")).json()
    targets = {t["host"]: t for t in job["targets"]}
    assert targets["kasse-01"]["diagnosis"] == diagnosis
    assert targets["buero-pc"]["reason"] == "unknown_signer" and job["status"] == "partly_failed"
    listed = client.get("/api/jobs", headers=org.headers("admin")).json()["jobs"]
    assert listed[0]["job_id"] == job_id and listed[0]["targets"][1]["diagnosis"] is None  # lists leave it out
    one = client.get(f"/api/jobs/{job_id}", params={"host": "kasse-01"}, headers=org.headers("admin")).json()
    assert [t["host"] for t in one["targets"]] == ["kasse-01"] and one["targets"][0]["diagnosis"] == diagnosis
    assert client.get(f"/api/jobs/{job_id}", params={"host": "ghost"}, headers=org.headers("admin")).status_code == 404


def test_drivers_job_returns_the_driver_report(client, org) -> None:
    env = envelope(["kasse-01"], kind="drivers")
    assert env["payload"]["steps"] == [] and env["payload"]["platform"] is None
    job_id = env["payload"]["job_id"]
    resp = create(client, org, env)
    assert resp.status_code == 201 and resp.json()["kind"] == "drivers", resp.text
    assert fetch(client, org, "kasse-01")["jobs"][0]["job_id"] == job_id
    report_body = {"platform": "windows", "stats": {"installed": 42, "critical": 1},
                   "updates": [{"device": "Intel Wi-Fi 6 AX201", "installed_version": "22.10.0.7",
                                "latest_version": "23.40.0.4", "importance": "CRITICAL", "source": "windows_update"}]}
    assert report(client, org, job_id, host="kasse-01", status="succeeded", diagnosis=report_body).status_code == 200
    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
    assert job["targets"][0]["diagnosis"] == report_body and job["status"] == "done"


def test_interrupted_is_stored_as_failed(client, org) -> None:
    env = envelope(["kasse-01"])
    create(client, org, env)
    fetch(client, org, "kasse-01")
    resp = report(client, org, env["payload"]["job_id"], host="kasse-01", status="interrupted",
                  message="sensor stopped during step 1; undone")
    assert resp.json()["status"] == "failed"
    job = client.get(f"/api/jobs/{env['payload']['job_id']}", headers=org.headers("admin")).json()
    assert job["targets"][0]["reason"] == "interrupted" and job["status"] == "failed"


def test_altered_in_the_database_is_served_as_stored(client, org, app) -> None:
    env = envelope(["kasse-01"])
    job_id = env["payload"]["job_id"]
    create(client, org, env)
    with app.state.ctx.sessionmaker() as session:
        stored = session.execute(text("SELECT envelope FROM jobs WHERE id = :id"), {"id": job_id}).scalar_one()
        altered = stored.replace('"older_than_days":7', '"older_than_days":0')
        assert altered != stored
        session.execute(text("UPDATE jobs SET envelope = :e WHERE id = :id"), {"e": altered, "id": job_id})
        session.commit()
    resp = client.get("/api/sensor/jobs", params={"host": "kasse-01"}, headers=org.headers("sensor"))
    assert altered.encode() in resp.content  # byte for byte
    served = resp.json()["jobs"][0]["envelope"]
    from techcare.signing import SignatureError

    with pytest.raises(SignatureError) as caught:
        verify_envelope(served, {KEY.key_id: KEY.public_raw})
    assert caught.value.reason == "bad_signature"


def test_expiry(client, org) -> None:
    now = datetime.now(UTC)
    env = envelope(["kasse-01"], not_before=now - timedelta(hours=1), expires=now + timedelta(seconds=2))
    job_id = env["payload"]["job_id"]
    assert create(client, org, env).status_code == 201
    time.sleep(2.2)
    assert fetch(client, org, "kasse-01")["jobs"] == []
    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
    assert job["status"] == "expired" and job["targets"][0]["status"] == "expired"
    assert report(client, org, job_id, host="kasse-01", status="running").status_code == 409


def test_not_before_holds_a_job_back_until_five_minutes_ahead(client, org) -> None:
    now = datetime.now(UTC)
    later = envelope(["kasse-01"], not_before=now + timedelta(hours=2))
    soon = envelope(["kasse-01"], not_before=now + timedelta(minutes=4))
    assert create(client, org, later).status_code == 201 and create(client, org, soon).status_code == 201
    assert [j["job_id"] for j in fetch(client, org, "kasse-01")["jobs"]] == [soon["payload"]["job_id"]]


def test_cancel(client, org) -> None:
    env = envelope(["kasse-01", "buero-pc"])
    job_id = env["payload"]["job_id"]
    create(client, org, env)
    fetch(client, org, "kasse-01")
    report(client, org, job_id, host="kasse-01", status="running", steps=[])
    resp = client.post(f"/api/jobs/{job_id}/cancel", json={}, headers=org.headers("technician"))
    assert resp.status_code == 200, resp.text
    job = resp.json()
    targets = {t["host"]: t for t in job["targets"]}
    assert targets["buero-pc"]["status"] == "cancelled"  # queued: at once
    assert targets["kasse-01"]["status"] == "running" and targets["kasse-01"]["cancel_requested"]
    assert job["cancelled_by"] == f"Technician {org.organisation}"
    assert fetch(client, org, "buero-pc")["jobs"] == []
    assert fetch(client, org, "kasse-01")["cancelled"] == [job_id]
    assert fetch(client, org, "kasse-01")["cancelled"] == []  # told once
    assert report(client, org, job_id, host="kasse-01", status="running").json()["cancel"] is True
    resp = report(client, org, job_id, host="kasse-01", status="cancelled", steps=[{"number": 1}])
    assert resp.status_code == 200
    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
    assert job["status"] == "cancelled"
    resp = client.post(f"/api/jobs/{job_id}/cancel", headers=org.headers("technician"))
    assert resp.status_code == 409 and resp.json()["code"] == "JOB_FINISHED"
    resp = client.post(f"/api/jobs/{job_id}/cancel", json={"hosts": ["nope"]}, headers=org.headers("technician"))
    assert resp.status_code == 404 and "nope" in resp.json()["detail"]


def test_cancel_some_hosts_is_audited(client, org, app) -> None:
    env = envelope(["kasse-01", "buero-pc"])
    job_id = env["payload"]["job_id"]
    create(client, org, env)
    resp = client.post(f"/api/jobs/{job_id}/cancel", json={"hosts": ["buero-pc"]}, headers=org.headers("admin"))
    targets = {t["host"]: t["status"] for t in resp.json()["targets"]}
    assert targets == {"buero-pc": "cancelled", "kasse-01": "queued"} and resp.json()["cancelled_at"] is None
    with app.state.ctx.sessionmaker() as session:
        actions = session.execute(text("SELECT action FROM audit_log WHERE target_id = :id ORDER BY id"),
                                  {"id": job_id}).scalars().all()
    assert actions == ["job.create", "job.cancel"]


def test_list_filters_and_paging(client, org) -> None:
    ids = []
    for hosts in (["kasse-01"], ["buero-pc"], ["kasse-01", "buero-pc"]):
        env = envelope(hosts)
        ids.append(env["payload"]["job_id"])
        assert create(client, org, env).status_code == 201
    headers = org.headers("technician")
    listed = client.get("/api/jobs", headers=headers).json()["jobs"]
    assert [j["job_id"] for j in listed] == ids[::-1]
    on_kasse = client.get("/api/jobs", params={"host": "kasse-01"}, headers=headers).json()["jobs"]
    assert [j["job_id"] for j in on_kasse] == [ids[2], ids[0]]
    fetch(client, org, "buero-pc")
    delivered = client.get("/api/jobs", params={"status": "delivered"}, headers=headers).json()["jobs"]
    assert {j["job_id"] for j in delivered} == {ids[1], ids[2]}
    page = client.get("/api/jobs", params={"limit": 2}, headers=headers).json()
    assert len(page["jobs"]) == 2 and page["next_before"]
    rest = client.get("/api/jobs", params={"limit": 2, "before": page["next_before"]}, headers=headers).json()
    assert [j["job_id"] for j in rest["jobs"]] == [ids[0]]
    bad = client.get("/api/jobs", params={"status": "done"}, headers=headers)
    assert bad.status_code == 422


@pytest.mark.parametrize("change, needle", [
    (lambda e: e.pop("signature"), "exactly payload, key_id and signature"),
    (lambda e: e.update(extra=1), "exactly payload, key_id and signature"),
    (lambda e: e.update(key_id="XYZ"), "key_id"),
    (lambda e: e.update(signature="short"), "signature"),
    (lambda e: e["payload"].update(v=2), "payload.v=2"),
    (lambda e: e["payload"].update(job_id="not-hex"), "payload.job_id"),
    (lambda e: e["payload"].update(kind="shell"), "allowed are diagnose, drivers, repair, rollback"),
    (lambda e: e["payload"].update(hosts=[]), "1 to 1000 host names"),
    (lambda e: e["payload"].update(hosts=["kasse-01"] * 2), "names hosts twice: kasse-01"),
    (lambda e: e["payload"].update(hosts=["x" * 256]), "1 to 255 characters"),
    (lambda e: e["payload"].update(hosts=[f"h{i}" for i in range(1001)]), "1 to 1000 host names"),
    (lambda e: e["payload"].update(not_before="2026-12-02 07:00"), "payload.not_before"),
    (lambda e: e["payload"].update(expires="2026-12-02T07:00:00+01:00"), "payload.expires"),
    (lambda e: e["payload"].update(expires=e["payload"]["not_before"]), "after payload.not_before"),
    (lambda e: e["payload"].update(expires=iso(datetime.now(UTC) + timedelta(days=40))), "at most 30 days"),
    (lambda e: e["payload"].update(not_before=iso(datetime.now(UTC) - timedelta(days=2)),
                                   expires=iso(datetime.now(UTC) - timedelta(days=1))), "in the past"),
    (lambda e: e["payload"].update(steps=[{"number": 1.5, "action": "x"}]), "floats are not allowed"),
    (lambda e: e["payload"].update(steps=[]), "A repair job needs steps"),
    (lambda e: e["payload"].pop("approval"), "payload.approval is missing"),
    (lambda e: e["payload"].update(kind="rollback"), "rollback job needs payload.rollback_of"),
    (lambda e: e["payload"].update(signer=""), "payload.signer"),
    (lambda e: e.update(payload=[1]), "payload must be a JSON object"),
])
def test_malformed_envelopes_are_422_naming_the_problem(client, org, change, needle) -> None:
    env = envelope(["kasse-01"])
    change(env)
    resp = client.post("/api/jobs", json={"envelope": env}, headers={**org.headers("technician"),
                                                                      "Accept-Language": "en"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "INVALID_JOB" and needle in resp.json()["detail"], resp.json()


def test_errors_are_german_by_default(client, org) -> None:
    env = envelope(["kasse-01"])
    env["payload"]["kind"] = "shell"
    resp = create(client, org, env)
    assert resp.status_code == 422 and "erlaubt sind" in resp.json()["detail"]


def test_duplicate_job_id_and_unknown_hosts(client, org, make_org) -> None:
    env = envelope(["kasse-01"])
    assert create(client, org, env).status_code == 201
    resp = create(client, org, env)
    assert resp.status_code == 409 and resp.json()["code"] == "JOB_EXISTS"
    other = make_org("enterprise")
    assert create(client, other, env).status_code in (404, 409)  # never stored twice
    resp = client.post("/api/jobs", json={"envelope": envelope(["kasse-01", "ghost-1", "ghost-2"])},
                       headers={**org.headers("technician"), "Accept-Language": "en"})
    assert resp.status_code == 404 and resp.json()["code"] == "UNKNOWN_HOSTS"
    assert "ghost-1, ghost-2" in resp.json()["detail"] and "kasse-01" not in resp.json()["detail"]
    late = envelope(["ghost-3"], not_before=datetime.now(UTC) - timedelta(days=3),
                    expires=datetime.now(UTC) - timedelta(days=2))
    assert create(client, org, late).json()["code"] == "UNKNOWN_HOSTS"  # who and what before when
    rollback = envelope(["kasse-01"], kind="rollback", rollback_of=uuid.uuid4().hex)
    assert create(client, org, rollback).status_code == 404
    rollback = envelope(["kasse-01"], kind="rollback", rollback_of=env["payload"]["job_id"])
    assert create(client, org, rollback).status_code == 201


def test_roles_and_organisations(client, org, make_org) -> None:
    env = envelope(["kasse-01"])
    job_id = env["payload"]["job_id"]
    resp = create(client, org, env, role="sensor")
    assert resp.status_code == 403 and resp.json()["code"] == "FORBIDDEN"
    assert client.get("/api/jobs", headers=org.headers("sensor")).status_code == 403
    assert create(client, org, env).status_code == 201
    assert client.get(f"/api/jobs/{job_id}", headers=org.headers("sensor")).status_code == 403
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=org.headers("sensor")).status_code == 403
    resp = client.get("/api/sensor/jobs", params={"host": "kasse-01"}, headers=org.headers("technician"))
    assert resp.status_code == 403
    assert client.get("/api/sensor/jobs", params={"host": "kasse-01"}).status_code == 401

    other = make_org("enterprise")
    assert client.get(f"/api/jobs/{job_id}", headers=other.headers("admin")).status_code == 404
    assert client.get("/api/jobs", headers=other.headers("admin")).json()["jobs"] == []
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=other.headers("admin")).status_code == 404
    # another organisation's sensor with the same host name gets nothing and cannot report
    assert fetch(client, other, "kasse-01")["jobs"] == []
    assert report(client, other, job_id, host="kasse-01", status="running").status_code == 404
    assert fetch(client, org, "kasse-01")["jobs"][0]["job_id"] == job_id


@pytest.mark.parametrize("edition", ["community", "pro"])
def test_edition_gate(client, make_org, edition) -> None:
    below = make_org(edition)
    resp = client.post("/api/jobs", json={"envelope": envelope(["kasse-01"])}, headers=below.headers("technician"))
    assert resp.status_code == 403 and resp.json()["code"] == "ENTITLEMENTS_MISSING"
    assert "Pro Business" in resp.json()["detail"]
    assert client.get("/api/jobs", headers=below.headers("admin")).json()["code"] == "ENTITLEMENTS_MISSING"
    resp = client.get("/api/sensor/jobs", params={"host": "x"}, headers=below.headers("sensor"))
    assert resp.status_code == 403 and resp.json()["code"] == "ENTITLEMENTS_MISSING"


def test_bad_sensor_input(client, org) -> None:
    resp = client.get("/api/sensor/jobs", params={"host": "kasse-01", "wait": 31}, headers=org.headers("sensor"))
    assert resp.status_code == 422 and "wait" in resp.text
    env = envelope(["kasse-01"])
    create(client, org, env)
    job_id = env["payload"]["job_id"]
    for body in ({"host": "kasse-01", "status": "exploded"}, {"status": "running"},
                 {"host": "kasse-01", "status": "refused", "reason": "Not A Code"},
                 {"host": "kasse-01", "status": "running", "steps": "all"}):
        assert report(client, org, job_id, **body).status_code == 422, body
    assert report(client, org, "0" * 32, host="kasse-01", status="running").status_code == 404
    assert client.post("/api/sensor/jobs/xyz/report", json={"host": "kasse-01", "status": "running"},
                       headers=org.headers("sensor")).status_code == 422


def waiting(client: Any) -> int:
    """Sensors waiting in the app behind a TestClient (white box: the route's waiter registry)."""
    waiters = getattr(client.app.state, "job_waiters", None)
    return waiters.waiting() if waiters is not None else 0


def test_long_poll_wakes_within_a_second(client, org) -> None:
    results: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        results["body"] = fetch(client, org, "buero-pc", wait=20)
        results["ended"] = time.monotonic()
        results["started"] = started

    thread = threading.Thread(target=poll)
    thread.start()
    wait_until(lambda: waiting(client) == 1, what="the poll is waiting")
    assert "body" not in results
    env = envelope(["buero-pc"])
    assert create(client, org, env).status_code == 201
    queued_at = time.monotonic()
    thread.join(timeout=10)
    assert [j["job_id"] for j in results["body"]["jobs"]] == [env["payload"]["job_id"]]
    assert results["ended"] - queued_at < 1.0


def test_long_poll_times_out_empty(client, org) -> None:
    started = time.monotonic()
    assert fetch(client, org, "kasse-01", wait=1) == {"jobs": [], "cancelled": [], "occurrences": []}
    assert 0.9 <= time.monotonic() - started < 5


def test_openapi_documents_the_routes(client) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/jobs"]["post"]
    assert {"201", "401", "403", "404", "409", "422"} <= set(post["responses"])
    assert "JobPublic" in json.dumps(post["responses"]["201"])
    assert {"get"} <= set(spec["paths"]["/api/sensor/jobs"]) and "/api/sensor/jobs/{job_id}/report" in spec["paths"]
    assert "/api/jobs/{job_id}/cancel" in spec["paths"]


def changelog(session: str, job_id: str | None = None) -> list[dict[str, Any]]:
    entries = [{"ts": "2026-12-02T07:01:00Z", "event": "run", "session": session, "host": "kasse-01"},
               {"ts": "2026-12-02T07:01:02Z", "event": "finished", "session": session, "step": 1,
                "action": "win.clear_temp", "undo": {"kind": "none"}}]
    if job_id:
        entries[0]["job_id"] = job_id
    return entries


def test_changelog_upload_carries_the_job_id(client, org, app) -> None:
    env = envelope(["kasse-01"])
    job_id = env["payload"]["job_id"]
    create(client, org, env)
    session = "20261202T070100Z-1a2b3c4d-9f8e"
    resp = client.post("/api/changelogs", json={"session": session, "entries": changelog(session), "job_id": job_id},
                       headers=org.headers("sensor"))
    assert resp.status_code == 200 and resp.json()["created"] == 2, resp.text
    from techcare_backend import crud_jobs

    with app.state.ctx.sessionmaker() as db:
        assert crud_jobs.job_changelog_sessions(db, organisation_id=org.organisation_id, job_id=job_id) == [
            {"session": session, "host": "kasse-01", "entries": 2}]
    # an entry's own job_id links it as well (technician upload without the body field)
    other = "20261202T070200Z-1a2b3c4d-aaaa"
    client.post("/api/changelogs", json={"session": other, "entries": changelog(other, job_id)},
                headers=org.headers("technician"))
    with app.state.ctx.sessionmaker() as db:
        linked = crud_jobs.job_changelog_sessions(db, organisation_id=org.organisation_id, job_id=job_id)
    assert [s["session"] for s in linked] == [session, other] and linked[1]["entries"] == 1


def test_changelog_upload_refusals(client, org, make_org) -> None:
    session = "20261202T070300Z-1a2b3c4d-bbbb"
    resp = client.post("/api/changelogs", json={"session": session, "entries": changelog(session)},
                       headers=org.headers("sensor"))
    assert resp.status_code == 403  # a sensor uploads only with a job
    unknown = uuid.uuid4().hex
    resp = client.post("/api/changelogs", json={"session": session, "entries": changelog(session), "job_id": unknown},
                       headers=org.headers("sensor"))
    assert resp.status_code == 404 and unknown in resp.json()["detail"]
    env = envelope(["kasse-01"])
    create(client, org, env)
    other = make_org("enterprise")
    resp = client.post("/api/changelogs", json={"session": session, "entries": changelog(session),
                                                "job_id": env["payload"]["job_id"]}, headers=other.headers("sensor"))
    assert resp.status_code == 404  # another organisation's job
    resp = client.post("/api/changelogs", json={"session": session, "entries": changelog(session), "job_id": "x"},
                       headers=org.headers("technician"))
    assert resp.status_code == 422


@pytest.fixture(scope="module")
def pg_settings(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """PostgreSQL + Redis settings for several app instances (the embedded default runs as one process)."""
    from techcare_backend.core.db import migrate
    from techcare_backend.testing import make_settings

    require_redis()
    prefix = f"techcare-test-jobs-{uuid.uuid4().hex[:10]}:"
    settings = make_settings(postgres_url, REDIS_URL, data_dir=tmp_path_factory.mktemp("jobs"), redis_prefix=prefix,
                             **FAST)
    migrate(settings.sqlalchemy_url)
    yield settings
    drop_redis_prefix(prefix)


def test_long_poll_wakes_across_two_instances(pg_settings) -> None:
    """A sensor held by instance A gets the job a technician queued on instance B within a second (Redis
    pub/sub); a job is delivered once even when both instances are asked at the same moment."""
    from fastapi.testclient import TestClient
    from techcare_backend.main import create_app
    from techcare_backend.testing import seed

    with TestClient(create_app(pg_settings)) as a, TestClient(create_app(pg_settings)) as b:
        org = seed(a, edition="pro_business", admin_token=pg_settings.admin_token)
        for host in ("kasse-01", "buero-pc"):
            assert a.post("/api/monitoring/metrics", json=sample(host), headers=org.headers("sensor")).status_code == 201
        results: dict[str, Any] = {}

        def poll() -> None:
            results["body"] = fetch(a, org, "kasse-01", wait=5)
            results["ended"] = time.monotonic()

        thread = threading.Thread(target=poll)
        thread.start()
        cache = a.app.state.ctx.cache  # white box: instance A subscribed to the channel (pub/sub is at-most-once)
        wait_until(lambda: cache._local_ok and waiting(a) == 1, what="A's poll subscribed")
        assert "body" not in results
        env = envelope(["kasse-01", "buero-pc"])
        assert create(b, org, env).status_code == 201
        queued_at = time.monotonic()
        thread.join(timeout=10)
        assert [j["job_id"] for j in results["body"]["jobs"]] == [env["payload"]["job_id"]]
        assert results["ended"] - queued_at < 1.0

        got: list[dict[str, Any]] = []
        threads = [threading.Thread(target=lambda c=c: got.append(fetch(c, org, "buero-pc"))) for c in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert sorted(len(g["jobs"]) for g in got) == [0, 1]


CHILD = """
import json, sys
from techcare_backend.testing import start_backend, seed
backend = start_backend(rate_limit_ip_per_minute=10**7, rate_limit_key_per_minute=10**7)
org = seed(backend, edition="pro_business")
print(json.dumps({"url": backend.url, "key": org.keys["sensor"]}), flush=True)
sys.stdin.read()
backend.stop()
"""


def test_an_idle_long_poll_costs_little_memory() -> None:
    """Goal: at most 50 KB per idle connected sensor, HTTP connection included (the server in its own process,
    its resident memory measured before and after 300 held long-polls)."""
    import socket
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sockets: list[socket.socket] = []
    try:
        info = json.loads(child.stdout.readline())
        host, port = info["url"].rsplit("//", 1)[1].split(":")

        def rss_kb() -> int:
            with open(f"/proc/{child.pid}/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

        def hold(i: int) -> socket.socket:
            sock = socket.create_connection((host, int(port)))
            sock.sendall(f"GET /api/sensor/jobs?host=h{i}&wait=30 HTTP/1.1\r\nHost: t\r\n"
                         f"Authorization: Bearer {info['key']}\r\n\r\n".encode())
            return sock

        for sock in [hold(i) for i in range(30)]:  # warm-up: thread pool, caches, first allocations
            sock.close()
        time.sleep(1.0)
        before = rss_kb()
        sockets = [hold(i) for i in range(300)]
        time.sleep(3.0)
        for sock in sockets[:5]:  # still held: nothing answered yet
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
        per_waiter = (rss_kb() - before) / len(sockets)
        assert per_waiter <= 50, f"{per_waiter:.1f} KB per idle long-poll"
    finally:
        for sock in sockets:
            sock.close()
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def test_a_delivered_job_never_reported_on_is_given_up_a_day_after_expiry(client, org, app) -> None:
    env = envelope(["kasse-01"])
    job_id = env["payload"]["job_id"]
    create(client, org, env)
    fetch(client, org, "kasse-01")
    with app.state.ctx.sessionmaker() as session:  # as if the job had expired 23 hours ago
        from techcare_backend.models import Job

        job = session.get(Job, job_id)
        job.expires = datetime.now(UTC) - timedelta(hours=23)
        session.commit()
    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
    assert job["targets"][0]["status"] == "delivered"  # the host may still report
    with app.state.ctx.sessionmaker() as session:
        session.get(Job, job_id).expires = datetime.now(UTC) - timedelta(hours=25)
        session.commit()
    job = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician")).json()
    assert job["targets"][0]["status"] == "expired" and job["targets"][0]["reason"] == "no_report"
    assert job["status"] == "expired"


def test_parallel_fetches_deliver_a_job_once(client, org) -> None:
    env = envelope(["kasse-01"])
    create(client, org, env)
    got: list[dict[str, Any]] = []
    threads = [threading.Thread(target=lambda: got.append(fetch(client, org, "kasse-01"))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(len(g["jobs"]) for g in got) == [0, 0, 0, 0, 0, 1]
