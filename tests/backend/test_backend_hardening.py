"""Issue 15: what an outside tester found as a new user and as an attacker, each fixed at its shared mechanism.

1 role table for every route; 2 durable logouts; 3 date-times out of range; 4 lone surrogates; 5 body limits;
6 Accept-Language in the error handlers; 7 licenses issued expired; 8 host names with ``/``; 9 the OpenAPI
documents every answer (schemathesis: test_backend_schemathesis.py); 10 antivirus alerts agree with the diagnosis.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from backend_helpers import sample
from service_helpers import FAST, REDIS_URL, drop_redis_prefix, require_redis

BAD_TIME = "0001-01-01T00:00:00+05:00"  # 31 December of year 0 in UTC: out of range once converted
JSON = {"Content-Type": "application/json"}


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def api_routes(app: Any) -> list[tuple[str, str]]:
    from fastapi.routing import iter_route_contexts

    return sorted((method, route.path_format) for route in iter_route_contexts(app.routes)
                  if route.path_format.startswith("/api/") for method in route.methods or ())


# ---- 1: a role table checked for every route ----------------------------------------------------------------
def test_every_api_route_has_an_entry_in_the_role_table(app) -> None:
    from techcare_backend.api.deps import roles_for

    routes = api_routes(app)
    assert len(routes) >= 30
    assert [f"{m} {p}" for m, p in routes if roles_for(m, p) is None] == []


def test_sensor_keys_may_send_metrics_and_nothing_else(client, make_org, app) -> None:
    from techcare_backend.api.deps import PUBLIC, SERVER_ADMIN, roles_for

    org = make_org("enterprise")
    sensor = org.headers("sensor")
    case = client.post("/api/cases", headers=org.headers("technician"), json={
        "symptom": "Drucker druckt nicht", "language": "de", "os": "windows", "outcome": "success"}).json()
    # the tester's finding: the shared learning database was readable with a sensor key
    r = client.get("/api/cases/search", params={"q": "Drucker"}, headers=sensor)
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"
    assert client.get(f"/api/cases/{case['id']}", headers=sensor).status_code == 403
    refused = 0
    for method, path in api_routes(app):
        roles = roles_for(method, path)
        if roles in (PUBLIC, SERVER_ADMIN) or "sensor" in roles:
            continue
        r = client.request(method, re.sub(r"\{[^}]+\}", "1", path), headers=sensor, json={})
        assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN", (method, path, r.text)
        refused += 1
    assert refused >= 15
    r = client.post("/api/monitoring/metrics", json=sample(), headers=sensor)
    assert r.status_code == 201
    me = client.get("/api/me", headers=sensor)  # `techcare doctor` on a monitored host checks its key
    assert me.status_code == 200 and me.json()["role"] == "sensor"


def test_keys_of_people_keep_their_routes(client, make_org) -> None:
    org = make_org("enterprise")
    assert client.get("/api/cases/search", params={"q": "x"}, headers=org.headers("technician")).status_code == 200
    assert client.get("/api/keys", headers=org.headers("technician")).status_code == 403  # admins only
    assert client.get("/api/keys", headers=org.headers("admin")).status_code == 200


# ---- 2: a logout holds on every instance, with or without Redis -----------------------------------------------
@pytest.fixture
def instances(postgres_url: str, tmp_path) -> Any:
    """Two app instances on one PostgreSQL: ``up`` with Redis, ``down`` with a Redis that cannot be reached."""
    from fastapi.testclient import TestClient
    from techcare_backend.core.db import migrate
    from techcare_backend.main import create_app
    from techcare_backend.testing import make_settings

    require_redis()
    prefix = f"techcare-test-logout-{uuid.uuid4().hex[:10]}:"
    up = make_settings(postgres_url, REDIS_URL, data_dir=tmp_path / "up", redis_prefix=prefix, **FAST)
    migrate(up.sqlalchemy_url)
    secrets = {k: getattr(up, k) for k in ("admin_token", "jwt_signing_key", "license_key_secret")}
    down = make_settings(postgres_url, "redis://127.0.0.1:9/0", data_dir=tmp_path / "down", redis_prefix=prefix,
                         **FAST, **secrets)
    with TestClient(create_app(up)) as a, TestClient(create_app(down)) as b:
        yield a, b, up
    drop_redis_prefix(prefix)


def _login(settings: Any, org: Any) -> tuple[str, str]:
    from techcare_backend.dashboard import session as sessions

    key = sessions.signing_key(settings)
    cookie, sess = sessions.issue(key, key_id=org.key_ids["admin"], organisation_id=org.organisation_id,
                                  organisation=org.organisation, role="admin", name="Admin")
    return cookie, sessions.csrf_token(key, sess)


def _page(client: Any, cookie: str) -> int:
    client.cookies.clear()
    client.cookies.set("tc_dash", cookie)
    return client.get("/dashboard/fleet", follow_redirects=False).status_code


def _logout(client: Any, cookie: str, token: str) -> int:
    client.cookies.clear()
    client.cookies.set("tc_dash", cookie)
    return client.post("/dashboard/logout", data={"csrf": token}, follow_redirects=False).status_code


def test_a_logout_without_redis_holds_on_every_instance(instances) -> None:
    from techcare_backend.testing import seed

    a, b, settings = instances
    org = seed(a, edition="enterprise", admin_token=settings.admin_token)
    cookie, token = _login(settings, org)
    assert _page(a, cookie) == 200 and _page(b, cookie) == 200
    assert b.get("/api/health").json()["cache"] == "degraded"  # b really has no Redis
    assert _logout(b, cookie, token) == 303  # logged out where Redis is down ...
    assert _page(b, cookie) == 303 and _page(a, cookie) == 303  # ... and the copied cookie is dead everywhere
    cookie, token = _login(settings, org)
    assert _logout(a, cookie, token) == 303  # logged out with Redis: seen by the instance without it
    assert _page(b, cookie) == 303 and _page(a, cookie) == 303
    assert _logout(a, cookie, token) in (303, 200)  # twice is fine


# ---- 3: date-times out of range, numbers as date-times ---------------------------------------------------------
def test_out_of_range_date_times_are_a_422_naming_the_field(client, make_org, admin_headers) -> None:
    org = make_org("enterprise")
    sensor, tech = org.headers("sensor"), org.headers("technician")
    r = client.post("/api/monitoring/metrics", json=sample(timestamp=BAD_TIME), headers=sensor)
    assert r.status_code == 422 and "timestamp" in r.json()["detail"] and "9999-12-31" in r.json()["detail"]
    host = f"PC-{uuid.uuid4().hex[:8]}"
    good = sample(hostname=host, timestamp=iso(datetime.now(timezone.utc)))
    late = sample(hostname=host, timestamp="9999-12-31T23:00:00-05:00")
    event = sample(hostname=host, events=[{"time": BAD_TIME, "message": "x"}])
    out = client.post("/api/monitoring/metrics/batch", json={"samples": [late, good, event]}, headers=sensor)
    assert out.status_code == 200, out.text
    assert [x["status"] for x in out.json()["results"]] == ["error", "created", "error"]
    assert "timestamp" in out.json()["results"][0]["error"] and "events" in out.json()["results"][2]["error"]
    history = client.get(f"/api/monitoring/hosts/{host}/metrics", headers=tech)
    assert [s["sample_id"] for s in history.json()] == [good["sample_id"]]  # the good one is stored
    for params, name in (({"since": BAD_TIME}, "since"), ({"until": "9999-12-31T23:59:59-01:00"}, "until"),
                         ({"until": "0.5"}, "until"), ({"since": "1700000000"}, "since")):
        r = client.get(f"/api/monitoring/hosts/{host}/metrics", params=params, headers=tech)
        assert r.status_code == 422 and name in r.json()["detail"], (params, r.text)
    r = client.post("/api/admin/licenses", headers=admin_headers, json={
        "edition": "pro", "organisation": f"Org {uuid.uuid4().hex[:6]}", "expires_at": "9999-12-31T23:59:59-05:00"})
    assert r.status_code == 422 and "expires_at" in r.json()["detail"]
    r = client.post(f"/api/admin/licenses/{org.license_id}/extend", headers=admin_headers,
                    json={"expires_at": BAD_TIME})
    assert r.status_code == 422 and "expires_at" in r.json()["detail"]
    entry = {"event": "step.applied", "ts": BAD_TIME}
    r = client.post("/api/changelogs", headers=tech, json={"session": "20260101T120000Z-1a2b3c4d-9f8e",
                                                            "entries": [entry]})
    assert r.status_code == 422 and "out of range" in r.json()["detail"]


def test_a_sample_the_server_refuses_does_not_block_the_sensors_spool(client, make_org, tmp_path) -> None:
    from techcare.backend_client import BackendClient
    from techcare.config import load_settings
    from techcare.monitoring.sensor import Sensor
    from techcare.monitoring.spool import Spool
    from techcare.system.runner import ReplayRunner

    org = make_org("enterprise")
    host = f"PC-{uuid.uuid4().hex[:8]}"
    now = iso(datetime.now(timezone.utc))
    spool = Spool(tmp_path / "spool.db")
    for payload in (sample(hostname=host, timestamp=BAD_TIME), *(sample(hostname=host, timestamp=now)
                                                                 for _ in range(3))):
        spool.add(payload)
    backend = BackendClient(client=client, api_key=org.keys["sensor"], retries=0)
    sensor = Sensor(settings=load_settings(techcare_home=str(tmp_path / "home")), runner=ReplayRunner(platform="linux"),
                    client=backend, spool=spool, hostname=host)
    result = sensor.flush()
    assert (result.created, result.rejected, result.error, len(spool)) == (3, 1, None, 0)
    spool.add(sample(hostname=host, timestamp=BAD_TIME))  # alone: the single-sample route
    spool.add(sample(hostname=host, timestamp=now))
    result = sensor.flush()
    assert (result.created, result.rejected, len(spool)) == (1, 1, 0)
    assert [r["error"] for r in spool.rejected()][0]


# ---- 4: lone UTF-16 surrogates ----------------------------------------------------------------------------------
def test_lone_surrogates_are_a_422_that_echoes_them_escaped(client, make_org) -> None:
    org = make_org("enterprise")
    tech, sensor = {**org.headers("technician"), **JSON}, {**org.headers("sensor"), **JSON}
    case = '{"symptom": "Drucker \\ud800 druckt nicht", "language": "de", "os": "windows", "outcome": "success"}'
    r = client.post("/api/cases", content=case, headers=tech)
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR", r.text
    assert "Drucker \\ud800 druckt nicht" in json.dumps(r.json()["errors"], ensure_ascii=False).replace("\\\\", "\\")
    findings = '{"symptom": "Drucker", "language": "de", "os": "windows", "outcome": "success", "findings": ["\\udc00"]}'
    r = client.post("/api/cases", content=findings, headers=tech)
    assert r.status_code == 422 and "surrogate" in r.json()["detail"]
    changelog = ('{"session": "20260101T120000Z-1a2b3c4d-9f8e", "entries": [{"event": "x", '
                 '"ts": "2026-01-01T12:00:00Z", "note": "\\ud83d"}]}')  # the hash of the entry used to fail
    r = client.post("/api/changelogs", content=changelog, headers=tech)
    assert r.status_code == 422 and "surrogate" in r.json()["detail"]
    r = client.post("/api/keys", content='{"name": "\\ud800", "role": "sensor"}', headers={**org.headers("admin"),
                                                                                            **JSON})
    assert r.status_code == 422
    single = json.dumps(sample(hostname="PC-\ud800", timestamp=iso(datetime.now(timezone.utc))))
    r = client.post("/api/monitoring/metrics", content=single, headers=sensor)
    assert r.status_code == 422 and "hostname" in r.json()["detail"]
    good = sample(hostname=f"PC-{uuid.uuid4().hex[:8]}")
    batch = json.dumps({"samples": [good, sample(hostname="PC-\udfff")]})
    r = client.post("/api/monitoring/metrics/batch", content=batch, headers=sensor)
    assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == ["created", "error"]
    r = client.post("/api/licenses/validate", content='{"key": "\\ud800", "fingerprint": "abcdefgh", '
                                                      '"nonce": "nnnnnnnnnnnn"}', headers=JSON)
    assert r.status_code == 422


def test_after_a_refused_request_the_connection_stays_open(tmp_path) -> None:
    from techcare_backend.testing import seed, start_backend

    with start_backend(None, None, data_dir=tmp_path) as live:
        org = seed(live, edition="enterprise")
        host, port = live.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            body = '{"symptom": "x\\ud800yz", "language": "de", "os": "windows", "outcome": "success"}'
            conn.request("POST", "/api/cases", body=body, headers={**org.headers("technician"), **JSON})
            first = conn.getresponse()
            assert first.status == 422 and first.getheader("connection", "").lower() != "close"
            first.read()
            sock = conn.sock
            conn.request("GET", "/api/health")
            second = conn.getresponse()
            assert second.status == 200 and conn.sock is sock  # the same keep-alive connection
            second.read()
        finally:
            conn.close()


# ---- 5: request body limits ------------------------------------------------------------------------------------
def test_bodies_over_the_routes_limit_are_a_413_naming_it(client, make_org) -> None:
    from techcare_backend.api import rawbody

    org = make_org("enterprise")
    tech = org.headers("technician")
    big = {"symptom": "Drucker druckt nicht", "language": "de", "os": "windows", "outcome": "success",
           "findings": ["x" * 100_000] * 3}
    r = client.post("/api/cases", json=big, headers=tech)
    assert r.status_code == 413 and r.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert str(rawbody.CASE_BODY_LIMIT) in r.json()["detail"] and "Anfrage zu groß" in r.json()["detail"]

    def chunks():  # no Content-Length: counted while it streams
        yield b'{"symptom": "Drucker", "language": "de", "os": "windows", "outcome": "success", "findings": ["'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'"]}'

    r = client.post("/api/cases", content=chunks(), headers={**tech, **JSON, "Accept-Language": "en"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    r = client.post("/api/cases", json={**big, "findings": ["x" * 70_000]}, headers=tech)  # under 256 kB: 422
    assert r.status_code == 422 and "64000" in r.json()["detail"]
    r = client.post("/api/monitoring/metrics", content=b"[" + b" " * (rawbody.SAMPLE_BODY_LIMIT + 1) + b"]",
                    headers={**org.headers("sensor"), **JSON})
    assert r.status_code == 413
    r = client.post("/api/licenses/validate", content=b" " * (rawbody.VALIDATE_BODY_LIMIT + 1), headers=JSON)
    assert r.status_code == 413


# ---- 6: the error handlers speak the caller's language ---------------------------------------------------------
def test_error_handlers_answer_in_german_or_english(client, make_org) -> None:
    org = make_org("enterprise")
    bad = sample(cpu_percent=101)
    de = client.post("/api/monitoring/metrics", json=bad, headers=org.headers("sensor")).json()
    en = client.post("/api/monitoring/metrics", json=bad, headers={**org.headers("sensor"),
                                                                   "Accept-Language": "en-GB"}).json()
    assert de["detail"].startswith("Ungültige Anfrage: ") and en["detail"].startswith("Invalid request: ")
    assert "cpu_percent" in de["detail"] and "cpu_percent" in en["detail"]
    assert client.get("/api/nothing-here").json()["detail"] == "Nicht gefunden."
    assert client.get("/api/nothing-here", headers={"Accept-Language": "en"}).json()["detail"] == "Not found."
    assert client.get("/api/monitoring/hosts?x=%00").json()["detail"].startswith("Ungültige Anfrage")


# ---- 7: no license issued already expired ----------------------------------------------------------------------
def test_a_license_cannot_be_issued_already_expired(client, admin_headers) -> None:
    body = {"edition": "pro", "organisation": f"Org {uuid.uuid4().hex[:8]}"}
    past = iso(datetime.now(timezone.utc) - timedelta(minutes=1))
    r = client.post("/api/admin/licenses", headers=admin_headers, json={**body, "expires_at": past})
    assert r.status_code == 409 and r.json()["code"] == "EXPIRES_IN_PAST"  # a valid date, but already past
    assert "expires_at" in r.json()["detail"] and "Vergangenheit" in r.json()["detail"]
    future = iso(datetime.now(timezone.utc) + timedelta(days=30))
    assert client.post("/api/admin/licenses", headers=admin_headers,
                       json={**body, "expires_at": future}).status_code == 201
    assert client.post("/api/admin/licenses", headers=admin_headers, json={**body, "expires_at": None}).status_code == 201


# ---- 8: host names with a slash --------------------------------------------------------------------------------
def test_host_names_with_a_slash_are_refused_and_old_ones_stay_readable(client, make_org, app) -> None:
    from sqlalchemy import text

    org = make_org("enterprise")
    r = client.post("/api/monitoring/metrics", json=sample(hostname="rack/pc-1"), headers=org.headers("sensor"))
    assert r.status_code == 422 and "hostname" in r.json()["detail"] and "'/'" in r.json()["detail"]
    marker = uuid.uuid4().hex[:8]
    stored = sample(hostname=f"old-{marker}")
    assert client.post("/api/monitoring/metrics", json=stored, headers=org.headers("sensor")).status_code == 201
    with app.state.ctx.sessionmaker() as db:  # as stored before names were checked
        for table in ("hosts", "metric_samples"):
            db.execute(text(f"UPDATE {table} SET hostname = :new WHERE organisation_id = :org AND hostname = :old"),
                       {"new": f"old/{marker}", "org": org.organisation_id, "old": f"old-{marker}"})
        db.commit()
    r = client.get(f"/api/monitoring/hosts/old/{marker}/metrics", headers=org.headers("technician"))
    assert r.status_code == 200 and [s["sample_id"] for s in r.json()] == [stored["sample_id"]]
    cookie, _ = _login(app.state.ctx.settings, org)  # and its dashboard page
    page = client.get(f"/dashboard/hosts/old/{marker}", headers={"Cookie": f"tc_dash={cookie}"},
                      follow_redirects=False)
    assert page.status_code == 200 and f"old/{marker}" in page.text


# ---- 9: the OpenAPI documents every answer ---------------------------------------------------------------------
def test_openapi_documents_the_errors_each_operation_can_answer(client, make_org) -> None:
    from techcare_backend.schemas import ValidationErrorPublic

    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            where = f"{method.upper()} {path}"
            assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ValidationErrorPublic"}, where
            if "requestBody" in operation:
                assert "413" in codes, where
            if path not in ("/api/health", "/api/licenses/validate", "/api/licenses/public-keys"):
                assert {"401", "403"} <= codes, where
            if "{" in path:
                assert "404" in codes, where
    sensor = make_org("enterprise").headers("sensor")
    r = client.post("/api/monitoring/metrics", json=sample(cpu_percent=-1), headers=sensor)
    ValidationErrorPublic.model_validate(r.json())  # the body has the documented shape


# ---- 10: antivirus alerts agree with the diagnosis -------------------------------------------------------------
def test_antivirus_alerts_agree_with_the_diagnosis(client, make_org, app) -> None:
    from techcare.diagnosis import findings_from_results
    from techcare.monitoring.sensor import build_payload
    from techcare.system.records import AntivirusProduct, AntivirusStatus, ProbeResult
    from techcare_backend.dashboard import alerts as alert_rules
    from techcare_backend.dashboard import queries

    org = make_org("enterprise")
    states = {"none": [], "off": [AntivirusProduct("ClamAV", enabled=False)],
              "on": [AntivirusProduct("ClamAV", enabled=True)], "unknown": [AntivirusProduct("ClamAV")]}
    expected = {}
    for os_name in ("linux", "windows", "darwin"):
        for state, products in states.items():
            results = {"antivirus": ProbeResult("antivirus", data=AntivirusStatus(list(products)))}
            [finding] = [f for f in findings_from_results(results, os_name) if f.check == "antivirus"]
            hostname = f"av-{os_name}-{state}-{uuid.uuid4().hex[:6]}"
            payload = build_payload(results, hostname=hostname, os_name=os_name, now=time.time())
            payload.update(cpu_percent=5.0, ram_percent=5.0)
            r = client.post("/api/monitoring/metrics", json=payload, headers=org.headers("sensor"))
            assert r.status_code == 201, r.text
            expected[hostname] = finding.severity if finding.severity in ("warning", "critical") else None
    assert expected[next(h for h in expected if h.startswith("av-linux-none"))] is None  # the tester's case
    alerts = client.get("/api/monitoring/alerts", headers=org.headers("technician")).json()
    got = {a["hostname"]: a["severity"] for a in alerts if a["rule"].startswith("antivirus")}
    assert {h: got.get(h) for h in expected} == expected
    settings = app.state.ctx.settings
    with app.state.ctx.sessionmaker() as db:  # the dashboard's SQL filter picks the same hosts
        hosts = queries.alert_hosts(db, organisation_id=org.organisation_id,
                                    overdue_after=settings.host_overdue_seconds,
                                    disk_warning=settings.disk_warning_percent)
    dashboard = alert_rules.alerts(hosts, disk_warning=settings.disk_warning_percent,
                                   disk_critical=settings.disk_critical_percent)
    assert {a.hostname: a.severity for a in dashboard if a.rule.startswith("antivirus")} == {
        h: s for h, s in expected.items() if s}
