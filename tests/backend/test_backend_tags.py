"""Host tags in the backend (docs/remote-jobs.md §5 "Tags"): set by technicians and by the sensor's samples,
audited, filtering hosts, alerts, jobs and schedules, per organisation; on PostgreSQL + Redis and the embedded
default."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from techcare.signing import SigningKey

KEY = SigningKey.generate()
TAG = "kunde:baeckerei-mueller"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def send(client, org, host: str, **extra: Any) -> Any:
    sample = {"sample_id": uuid.uuid4().hex, "timestamp": iso(datetime.now(UTC)), "hostname": host,
              "os": "windows", "cpu_percent": 5.0, "ram_percent": 30.0, **extra}
    return client.post("/api/monitoring/metrics", json=sample, headers=org.headers("sensor"))


@pytest.fixture
def org(client, make_org):
    seeded = make_org("pro_business")
    for host in ("kasse-01", "buero-pc", "lager-pc"):
        assert send(client, seeded, host).status_code == 201
    return seeded


def tags(client, org) -> dict[str, list[str]]:
    resp = client.get("/api/tags", headers=org.headers("technician"))
    assert resp.status_code == 200, resp.text
    return {t["tag"]: t["hosts"] for t in resp.json()}


def tag(client, org, name: str, hosts: list[str], method: str = "POST", role: str = "technician") -> Any:
    return client.request(method, f"/api/tags/{name}/hosts", json={"hosts": hosts}, headers=org.headers(role))


def test_technicians_tag_hosts_and_it_is_audited(client, org, app) -> None:
    resp = tag(client, org, TAG, ["kasse-01", "buero-pc"])
    assert resp.status_code == 200 and resp.json() == {"tag": TAG, "changed": ["buero-pc", "kasse-01"],
                                                       "hosts": ["buero-pc", "kasse-01"]}
    assert tag(client, org, TAG, ["kasse-01"]).json()["changed"] == []  # had it already
    assert tag(client, org, "standort:filiale-2", ["kasse-01"], role="admin").status_code == 200
    assert tags(client, org) == {TAG: ["buero-pc", "kasse-01"], "standort:filiale-2": ["kasse-01"]}
    resp = tag(client, org, TAG, ["buero-pc", "lager-pc"], method="DELETE")
    assert resp.status_code == 200 and resp.json() == {"tag": TAG, "changed": ["buero-pc"], "hosts": ["kasse-01"]}
    from techcare_backend.models import AuditLog

    with app.state.ctx.sessionmaker() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.organisation_id == org.organisation_id,
                                                      AuditLog.action.like("tag.%")).order_by(AuditLog.id)).all()
    assert [(r.action, r.target_id) for r in rows] == [("tag.add", TAG), ("tag.add", TAG),
                                                       ("tag.add", "standort:filiale-2"), ("tag.remove", TAG)]
    assert rows[0].after["added"] == ["buero-pc", "kasse-01"] and rows[3].before["hosts"] == ["buero-pc"]
    assert "Technician" in rows[0].actor


def test_bad_input(client, org) -> None:
    resp = tag(client, org, "Kunde Müller", ["kasse-01"])
    assert resp.status_code == 422
    resp = tag(client, org, TAG, ["kasse-01", "nie-gesehen"])
    assert resp.status_code == 404 and resp.json()["code"] == "UNKNOWN_HOSTS" and "nie-gesehen" in resp.json()[
        "detail"]
    assert tag(client, org, TAG, []).status_code == 422
    for i in range(32):
        assert tag(client, org, f"t{i}", ["lager-pc"]).status_code == 200
    resp = tag(client, org, "one-too-many", ["lager-pc"])
    assert resp.status_code == 409 and resp.json()["code"] == "TOO_MANY_TAGS" and "32" in resp.json()["detail"]
    assert tag(client, org, "t0", ["lager-pc"]).status_code == 200  # a tag it has is no new one


def test_the_sensor_reports_its_tags_and_time_zone(client, org, app) -> None:
    from techcare_backend.models import Host

    assert tag(client, org, "wartung", ["kasse-01"]).status_code == 200  # a technician's tag
    resp = send(client, org, "kasse-01", timezone="Europe/Berlin", tags=[TAG, "Rolle:Kasse", "not valid!", "wartung"])
    assert resp.status_code == 201
    assert tags(client, org) == {TAG: ["kasse-01"], "rolle:kasse": ["kasse-01"], "wartung": ["kasse-01"]}
    resp = tag(client, org, TAG, ["kasse-01"], method="DELETE")  # set on the host: change SENSOR_TAGS there
    assert resp.status_code == 409 and resp.json()["code"] == "SENSOR_TAG" and "SENSOR_TAGS" in resp.json()["detail"]
    # the sensor's settings changed: its old tags go, the technician's stays (although the sensor dropped it too)
    assert send(client, org, "kasse-01", tags=["standort:filiale-2"]).status_code == 201
    assert tags(client, org) == {"standort:filiale-2": ["kasse-01"], "wartung": ["kasse-01"]}
    assert send(client, org, "kasse-01").status_code == 201  # an older sensor without tags changes nothing
    assert tags(client, org) == {"standort:filiale-2": ["kasse-01"], "wartung": ["kasse-01"]}
    # an unknown zone is ignored: the sample is stored, the known zone stays
    resp = send(client, org, "kasse-01", timezone="Mars/Olympus_Mons", tags=[])
    assert resp.status_code == 201 and resp.json()["status"] == "created"
    assert tags(client, org) == {"wartung": ["kasse-01"]}
    with app.state.ctx.sessionmaker() as session:
        assert session.get(Host, (org.organisation_id, "kasse-01")).timezone == "Europe/Berlin"
    batch = [{"sample_id": uuid.uuid4().hex, "timestamp": iso(datetime.now(UTC)), "hostname": "buero-pc",
              "os": "windows", "cpu_percent": 1.0, "ram_percent": 2.0, "timezone": "America/New_York",
              "tags": ["kunde:eisdiele"]}]
    resp = client.post("/api/monitoring/metrics/batch", json={"samples": batch}, headers=org.headers("sensor"))
    assert resp.status_code == 200 and resp.json()["created"] == 1
    assert tags(client, org)["kunde:eisdiele"] == ["buero-pc"]
    with app.state.ctx.sessionmaker() as session:
        assert session.get(Host, (org.organisation_id, "buero-pc")).timezone == "America/New_York"


def test_tag_filters_on_hosts_alerts_jobs_and_schedules(client, org) -> None:
    assert tag(client, org, TAG, ["kasse-01", "buero-pc"]).status_code == 200
    assert send(client, org, "lager-pc", services={"firewall": "off"}).status_code == 201
    assert send(client, org, "kasse-01", services={"firewall": "off"}).status_code == 201
    headers = org.headers("technician")
    hosts = client.get("/api/monitoring/hosts", params={"tag": TAG}, headers=headers).json()
    assert [h["hostname"] for h in hosts] == ["buero-pc", "kasse-01"]
    assert len(client.get("/api/monitoring/hosts", headers=headers).json()) == 3
    alerts = client.get("/api/monitoring/alerts", params={"tag": TAG}, headers=headers).json()
    assert {a["hostname"] for a in alerts} == {"kasse-01"}
    assert client.get("/api/monitoring/hosts", params={"tag": "BAD TAG"}, headers=headers).status_code == 422

    now = datetime.now(UTC)
    job = {"v": 1, "job_id": uuid.uuid4().hex, "kind": "diagnose", "hosts": ["lager-pc"], "platform": None,
           "steps": [], "approval": "", "approved_steps": [], "plan_fingerprint": "", "confirm_high_risk": False,
           "rollback_of": None, "not_before": iso(now), "expires": iso(now + timedelta(days=1)),
           "issued_at": iso(now), "signer": "Anna"}
    other = {**job, "job_id": uuid.uuid4().hex, "hosts": ["kasse-01", "lager-pc"]}
    for body in (job, other):
        assert client.post("/api/jobs", json={"envelope": KEY.sign(body)}, headers=headers).status_code == 201
    listed = client.get("/api/jobs", params={"tag": TAG}, headers=headers).json()["jobs"]
    assert [j["job_id"] for j in listed] == [other["job_id"]]

    schedule = {"v": 1, "kind": "schedule", "schedule_id": uuid.uuid4().hex, "revision": 1, "name": "Wartung",
                "tag": None, "hosts": ["buero-pc"], "variants": {"windows": {
                    "steps": [{"number": 1, "action": "win.clear_temp", "params": {}}], "approval": "GO REPAIR: 1",
                    "approved_steps": [1], "plan_fingerprint": "0123456789ab"}},
                "rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2", "dtstart": "2026-12-06T02:00:00", "window_minutes": 120,
                "catch_up": True, "allow_high_risk": False, "allow_reboot": False,
                "valid_from": iso(now), "valid_until": iso(now + timedelta(days=30)), "issued_at": iso(now),
                "signer": "Anna"}
    elsewhere = {**schedule, "schedule_id": uuid.uuid4().hex, "hosts": ["lager-pc"], "name": "Lager"}
    for body in (schedule, elsewhere):
        assert client.post("/api/schedules", json={"envelope": KEY.sign(body)}, headers=headers).status_code == 201
    listed = client.get("/api/schedules", params={"tag": TAG}, headers=headers).json()["schedules"]
    assert [s["schedule_id"] for s in listed] == [schedule["schedule_id"]]  # names a host carrying the tag


def test_organisations_are_isolated_and_the_edition_gate(client, org, make_org) -> None:
    other = make_org("pro_business")
    assert send(client, other, "kasse-01").status_code == 201  # the same name in another organisation
    assert tag(client, org, TAG, ["kasse-01"]).status_code == 200
    assert tags(client, other) == {}
    assert client.get("/api/monitoring/hosts", params={"tag": TAG}, headers=other.headers("admin")).json() == []
    resp = tag(client, other, TAG, ["buero-pc"])  # org's host, unknown to the other organisation
    assert resp.status_code == 404 and resp.json()["code"] == "UNKNOWN_HOSTS"
    assert tag(client, other, TAG, ["kasse-01"], method="DELETE").json()["changed"] == []
    assert tags(client, org) == {TAG: ["kasse-01"]}  # untouched by the other organisation
    resp = tag(client, org, TAG, ["kasse-01"], role="sensor")
    assert resp.status_code == 403 and resp.json()["code"] == "FORBIDDEN"
    pro = make_org("pro")
    resp = client.get("/api/tags", headers=pro.headers("technician"))
    assert resp.status_code == 403 and resp.json()["code"] == "ENTITLEMENTS_MISSING"
