"""Tenant isolation: a key of organisation A never reads or writes B's data, on every endpoint; every endpoint
except health, validate and public-keys needs a key; API keys are hashed, revocable and audited."""

from __future__ import annotations

import json

import pytest
from backend_helpers import new_fingerprint, sample
from sqlalchemy import text

PUBLIC = {("GET", "/api/health"), ("POST", "/api/licenses/validate"), ("GET", "/api/licenses/public-keys"),
          ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}


def test_every_other_endpoint_requires_a_key(client, app) -> None:
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        concrete = path.replace("{license_id}", "x").replace("{org_id}", "x").replace("{key_id}", "x") \
            .replace("{hostname}", "x").replace("{case_id}", "1")
        for method in operations:
            if (method.upper(), path) in PUBLIC:
                continue
            for headers in ({}, {"Authorization": "Bearer tck_not-a-real-key"}, {"Authorization": "Basic abc"}):
                r = client.request(method.upper(), concrete, headers=headers, json={})
                assert r.status_code == 401, (method, path, headers, r.status_code)
                assert r.json()["code"] == "UNAUTHORIZED"
            checked += 1
    assert checked >= 20


def test_public_endpoints_need_no_key(client) -> None:
    assert client.get("/api/health").status_code == 200
    assert client.get("/api/licenses/public-keys").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


@pytest.fixture
def two_orgs(client, make_org):
    a, b = make_org("enterprise"), make_org("enterprise")
    for org, host in ((a, "A-PC"), (b, "B-PC")):
        assert client.post("/api/monitoring/metrics", json=sample(hostname=host, disks=[
            {"mount": "/", "total": 10, "used": 10, "free": 0, "percent": 99}]), headers=org.headers("sensor")) \
            .status_code == 201
        assert client.post("/api/cases", headers=org.headers("technician"), json={
            "symptom": f"Drucker druckt nicht bei {host}", "language": "de", "os": "windows",
            "actions": ["win.restart_service"], "outcome": "success"}).status_code == 201
    return a, b


def test_reads_are_scoped_to_the_callers_organisation(client, two_orgs) -> None:
    a, b = two_orgs
    for org, own, other in ((a, "A-PC", "B-PC"), (b, "B-PC", "A-PC")):
        h = org.headers("admin")
        assert [x["hostname"] for x in client.get("/api/monitoring/hosts", headers=h).json()] == [own]
        assert {x["hostname"] for x in client.get("/api/monitoring/alerts", headers=h).json()} == {own}
        assert client.get(f"/api/monitoring/hosts/{own}/metrics", headers=h).status_code == 200
        assert client.get(f"/api/monitoring/hosts/{other}/metrics", headers=h).status_code == 404
        hits = client.get("/api/cases/search", params={"q": "Drucker"}, headers=h).json()
        assert [x["symptom"] for x in hits] == [f"Drucker druckt nicht bei {own}"]
        me = client.get("/api/me", headers=h).json()
        assert me["organisation"]["id"] == org.organisation_id and me["edition"] == "enterprise"
        key_orgs = {k["id"] for k in client.get("/api/keys", headers=h).json()}
        assert key_orgs == set(org.key_ids.values())
        audit = client.get("/api/audit", headers=h).json()
        assert audit and all(x["organisation_id"] == org.organisation_id for x in audit)
        techs = {t["name"] for t in client.get("/api/technicians", headers=h).json()}
        assert techs == {f"Admin {org.organisation}", f"Technician {org.organisation}"}
    # Case ids of the other organisation look like missing ones.
    b_case = client.get("/api/cases/search", params={"q": "Drucker"}, headers=b.headers()).json()[0]["id"]
    assert client.get(f"/api/cases/{b_case}", headers=a.headers()).status_code == 404
    assert client.get(f"/api/cases/{b_case}", headers=b.headers()).status_code == 200


def test_writes_cannot_touch_another_organisation(client, two_orgs, app) -> None:
    a, b = two_orgs
    # Revoking B's key with A's admin key: 404, and B's key keeps working.
    r = client.delete(f"/api/keys/{b.key_ids['technician']}", headers=a.headers())
    assert r.status_code == 404
    assert client.get("/api/me", headers=b.headers("technician")).status_code == 200
    # Managing B's license seats with A's key: 404, nothing activated.
    for action in ("activate", "deactivate"):
        r = client.post(f"/api/licenses/{action}", headers=a.headers(),
                        json={"key": b.license_key, "fingerprint": new_fingerprint()})
        assert r.status_code == 404
    with app.state.ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM machines WHERE license_id = :id"),
                            {"id": b.license_id}).scalar() == 0
    # The same sample id in two organisations are two samples (no cross-tenant dedup or overwrite).
    s = sample(hostname="SHARED-ID")
    assert client.post("/api/monitoring/metrics", json=s, headers=a.headers("sensor")).json()["status"] == "created"
    assert client.post("/api/monitoring/metrics", json=s, headers=b.headers("sensor")).json()["status"] == "created"
    # A's cases never change B's success statistics.
    for _ in range(3):
        client.post("/api/cases", headers=a.headers("technician"), json={
            "symptom": "Drucker druckt nicht", "language": "de", "os": "windows",
            "actions": ["win.restart_service"], "outcome": "failure"})
    hit = client.get("/api/cases/search", params={"q": "Drucker"}, headers=b.headers()).json()[0]
    assert hit["success_rate"] == 1.0 and hit["times_tried"] == 1


def test_api_keys_shown_once_hashed_revocable_and_audited(client, make_org, app) -> None:
    org = make_org("enterprise")
    r = client.post("/api/keys", headers=org.headers("admin"), json={"name": "Sensor Lager", "role": "sensor"})
    assert r.status_code == 201 and r.json()["key"].startswith("tck_")
    new_key, new_id = r.json()["key"], r.json()["id"]
    listed = client.get("/api/keys", headers=org.headers("admin")).json()
    assert all("key" not in k for k in listed) and new_key[:8] in {k["prefix"] for k in listed}
    with app.state.ctx.engine.connect() as conn:
        dump = json.dumps([dict(r) for r in conn.execute(text("SELECT * FROM api_keys")).mappings()], default=str)
    assert new_key not in dump
    sensor_headers = {"Authorization": f"Bearer {new_key}"}
    assert client.post("/api/monitoring/metrics", json=sample(), headers=sensor_headers).status_code == 201
    assert client.delete(f"/api/keys/{new_id}", headers=org.headers("admin")).status_code == 204
    assert client.post("/api/monitoring/metrics", json=sample(), headers=sensor_headers).status_code == 401
    audit = client.get("/api/audit", headers=org.headers("admin")).json()
    revoke = next(x for x in audit if x["action"] == "api_key.revoke")
    assert revoke["target_id"] == new_id and revoke["before"] == {"revoked_at": None}
    assert revoke["actor"].startswith(f"key:{org.key_ids['admin']}")


def test_roles(client, make_org) -> None:
    org = make_org("enterprise")
    tech = org.headers("technician")
    # Technicians cannot create keys or read the audit log; they may revoke their own key only.
    assert client.post("/api/keys", headers=tech, json={"name": "x", "role": "sensor"}).status_code == 403
    assert client.get("/api/audit", headers=tech).status_code == 403
    assert client.delete(f"/api/keys/{org.key_ids['sensor']}", headers=tech).status_code == 403
    # More technicians need team features (Enterprise); Pro Business admins may still add sensors.
    pb = make_org("pro_business")
    r = client.post("/api/keys", headers=pb.headers("admin"), json={"name": "Anna", "role": "technician",
                                                                     "technician_name": "Anna"})
    assert r.status_code == 403 and r.json()["code"] == "ENTITLEMENTS_MISSING"
    assert client.post("/api/keys", headers=pb.headers("admin"), json={"name": "s", "role": "sensor"}) \
        .status_code == 201
    r = client.post("/api/keys", headers=org.headers("admin"), json={"name": "Anna", "role": "technician",
                                                                      "technician_name": "Anna"})
    assert r.status_code == 201
    assert client.delete(f"/api/keys/{org.key_ids['technician']}", headers=tech).status_code == 204


def test_admin_key_creation_for_unknown_org_and_bad_role(client, admin_headers) -> None:
    r = client.post("/api/admin/organisations/nope/api-keys", headers=admin_headers,
                    json={"name": "x", "role": "admin"})
    assert r.status_code == 404
    orgs = client.get("/api/admin/organisations", headers=admin_headers).json()
    r = client.post(f"/api/admin/organisations/{orgs[0]['id']}/api-keys", headers=admin_headers,
                    json={"name": "x", "role": "root"})
    assert r.status_code == 422
