"""A sensor key acts only for the host it serves (docs/remote-jobs.md §3, "Sensor keys and hosts"): the first job
fetch, report or job-linked changelog upload for a host binds it to the calling key; another key of the same
organisation is refused (403 HOST_BOUND, audited) at fetch, report and changelog upload; a key created for a host
serves only it; revoking the bound key frees the host; two instances agree. PostgreSQL + Redis and SQLite."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from backend_helpers import sample
from service_helpers import FAST, REDIS_URL, drop_redis_prefix, require_redis

from techcare.signing import SigningKey

KEY = SigningKey.generate()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def diagnose_envelope(hosts: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return KEY.sign({
        "v": 1, "job_id": uuid.uuid4().hex, "kind": "diagnose", "hosts": hosts, "platform": None, "steps": [],
        "approval": "", "approved_steps": [], "plan_fingerprint": "", "confirm_high_risk": False, "rollback_of": None,
        "not_before": iso(now - timedelta(minutes=1)), "expires": iso(now + timedelta(days=1)), "issued_at": iso(now),
        "signer": "Anna Technikerin"})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Accept-Language": "en"}


def new_sensor_key(client: Any, org: Any, name: str, hostname: str | None = None) -> tuple[str, str]:
    """A sensor key made by the organisation's admin (``POST /api/keys``): (id, key)."""
    body: dict[str, Any] = {"name": name, "role": "sensor"}
    if hostname is not None:
        body["hostname"] = hostname
    resp = client.post("/api/keys", json=body, headers=org.headers("admin"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["hostname"] == hostname
    return resp.json()["id"], resp.json()["key"]


def fetch(client: Any, key: str, host: str) -> Any:
    return client.get("/api/sensor/jobs", params={"host": host}, headers=bearer(key))


def report(client: Any, key: str, job_id: str, host: str, **body: Any) -> Any:
    return client.post(f"/api/sensor/jobs/{job_id}/report", json={"host": host, **body}, headers=bearer(key))


def changelog(client: Any, key: str, job_id: str) -> Any:
    session = f"20261202T080000Z-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:4]}"
    return client.post("/api/changelogs", headers=bearer(key), json={
        "session": session, "job_id": job_id,
        "entries": [{"event": "diagnose.done", "ts": "2026-12-02T08:00:01Z"}]})


def queue(client: Any, org: Any, hosts: list[str]) -> str:
    env = diagnose_envelope(hosts)
    resp = client.post("/api/jobs", json={"envelope": env}, headers=org.headers("technician"))
    assert resp.status_code == 201, resp.text
    return env["payload"]["job_id"]


def target(client: Any, org: Any, job_id: str, host: str) -> dict[str, Any]:
    resp = client.get(f"/api/jobs/{job_id}", headers=org.headers("technician"))
    assert resp.status_code == 200, resp.text
    return next(t for t in resp.json()["targets"] if t["host"] == host)


@pytest.fixture
def shop(client, make_org):
    """A Pro Business organisation with two PCs, each with its own (unpinned) sensor key, both sending samples."""
    org = make_org("pro_business")
    keys = {host: new_sensor_key(client, org, f"sensor {host}") for host in ("KASSE-01", "KASSE-02")}
    for host, (_id, key) in keys.items():
        assert client.post("/api/monitoring/metrics", json=sample(host), headers=bearer(key)).status_code == 201
    return org, keys


def test_h1_another_pcs_key_is_refused_at_fetch_report_and_changelog(client, shop) -> None:
    org, keys = shop
    (rightful_id, rightful), (_attacker_id, attacker) = keys["KASSE-02"], keys["KASSE-01"]
    assert fetch(client, rightful, "KASSE-02").status_code == 200  # the host's own sensor asks first: bound
    # the attack: a sample under the other PC's name is accepted (metrics are not bound) ...
    assert client.post("/api/monitoring/metrics", json=sample("KASSE-02"), headers=bearer(attacker)).status_code == 201
    job_id = queue(client, org, ["KASSE-02"])
    # ... but its jobs are not handed out, reported or logged with the wrong key
    resp = fetch(client, attacker, "KASSE-02")
    assert resp.status_code == 403 and resp.json()["code"] == "HOST_BOUND", resp.text
    assert "KASSE-02" in resp.json()["detail"] and "another sensor key" in resp.json()["detail"]
    assert target(client, org, job_id, "KASSE-02")["status"] == "queued"  # nothing was delivered
    resp = report(client, attacker, job_id, "KASSE-02", status="succeeded", diagnosis={"fake": True})
    assert resp.status_code == 403 and resp.json()["code"] == "HOST_BOUND", resp.text
    resp = changelog(client, attacker, job_id)
    assert resp.status_code == 403 and resp.json()["code"] == "HOST_BOUND", resp.text
    german = client.get("/api/sensor/jobs", params={"host": "KASSE-02"},
                        headers={"Authorization": f"Bearer {attacker}"})
    assert german.status_code == 403 and "KASSE-02" in german.json()["detail"] and "Rechner" in german.json()["detail"]
    t = target(client, org, job_id, "KASSE-02")
    assert t["status"] == "queued" and t["diagnosis"] is None
    assert t["sensor_key"]["id"] == rightful_id and t["sensor_key"]["pinned"] is False
    # the rightful key works
    body = fetch(client, rightful, "KASSE-02").json()
    assert [j["job_id"] for j in body["jobs"]] == [job_id]
    resp = report(client, rightful, job_id, "KASSE-02", status="succeeded", diagnosis={"ok": True})
    assert resp.status_code == 200, resp.text
    assert changelog(client, rightful, job_id).status_code == 200
    assert target(client, org, job_id, "KASSE-02")["diagnosis"] == {"ok": True}
    audit = client.get("/api/audit", headers=org.headers("admin")).json()
    refused = [a for a in audit if a["action"] == "host.bound_refused"]
    assert sorted(a["after"]["what"] for a in refused) == ["changelog", "fetch", "report"]  # German one: not again
    assert all(a["target_id"] == "KASSE-02" for a in refused)
    assert any(a["action"] == "host.bind_sensor_key" and a["after"]["key_id"] == rightful_id for a in audit)


def test_occurrence_reports_are_bound_too(client, shop) -> None:
    _org, keys = shop
    assert fetch(client, keys["KASSE-02"][1], "KASSE-02").status_code == 200
    path = f"/api/sensor/schedules/{uuid.uuid4().hex}/occurrences/2026-12-02T08:00/report"
    resp = client.post(path, json={"host": "KASSE-02", "status": "ran"}, headers=bearer(keys["KASSE-01"][1]))
    assert resp.status_code == 403 and resp.json()["code"] == "HOST_BOUND", resp.text
    resp = client.post(path, json={"host": "KASSE-02", "status": "ran"}, headers=bearer(keys["KASSE-02"][1]))
    assert resp.status_code == 404, resp.text  # the rightful key gets as far as the lookup (never handed out)


def test_first_report_or_changelog_binds_too(client, shop) -> None:
    org, keys = shop
    job_id = queue(client, org, ["KASSE-01"])
    assert report(client, keys["KASSE-01"][1], job_id, "KASSE-01", status="running", steps=[]).status_code == 200
    assert fetch(client, keys["KASSE-02"][1], "KASSE-01").status_code == 403
    job_id = queue(client, org, ["KASSE-02"])
    assert changelog(client, keys["KASSE-02"][1], job_id).status_code == 200
    assert report(client, keys["KASSE-01"][1], job_id, "KASSE-02", status="running", steps=[]).status_code == 403
    assert target(client, org, job_id, "KASSE-02")["sensor_key"]["id"] == keys["KASSE-02"][0]


def test_revoking_the_bound_key_frees_the_host(client, shop) -> None:
    org, keys = shop
    old_id, old = keys["KASSE-02"]
    assert fetch(client, old, "KASSE-02").status_code == 200
    new_id, new = new_sensor_key(client, org, "KASSE-02 reinstalled")
    assert fetch(client, new, "KASSE-02").status_code == 403  # the old key still counts
    assert client.delete(f"/api/keys/{old_id}", headers=org.headers("admin")).status_code == 204
    job_id = queue(client, org, ["KASSE-02"])
    body = fetch(client, new, "KASSE-02")
    assert body.status_code == 200 and [j["job_id"] for j in body.json()["jobs"]] == [job_id]
    assert fetch(client, old, "KASSE-02").status_code == 401  # revoked: not a key any more
    assert target(client, org, job_id, "KASSE-02")["sensor_key"]["id"] == new_id
    assert fetch(client, keys["KASSE-01"][1], "KASSE-02").status_code == 403  # and the new binding holds


def test_a_key_created_for_a_host_serves_only_it(client, make_org, admin_headers) -> None:
    org = make_org("pro_business")
    key_id, key = new_sensor_key(client, org, "sensor KASSE-03", hostname="KASSE-03")
    assert client.post("/api/monitoring/metrics", json=sample("KASSE-03"), headers=bearer(key)).status_code == 201
    job_id = queue(client, org, ["KASSE-03"])
    bound = target(client, org, job_id, "KASSE-03")["sensor_key"]  # bound before its first fetch
    assert bound["id"] == key_id and bound["pinned"] is True and bound["name"] == "sensor KASSE-03"
    resp = fetch(client, org.keys["sensor"], "KASSE-03")  # the organisation's shared key cannot take it
    assert resp.status_code == 403 and resp.json()["code"] == "HOST_BOUND"
    resp = fetch(client, key, "KASSE-04")  # and the pinned key serves no other host
    assert resp.status_code == 403 and "KASSE-03" in resp.json()["detail"], resp.text
    assert fetch(client, key, "KASSE-03").json()["jobs"][0]["job_id"] == job_id
    # the server admin's key route takes hostname too; only for sensor keys
    resp = client.post(f"/api/admin/organisations/{org.organisation_id}/api-keys", headers=admin_headers,
                       json={"name": "sensor KASSE-05", "role": "sensor", "hostname": "KASSE-05"})
    assert resp.status_code == 201 and resp.json()["hostname"] == "KASSE-05"
    assert fetch(client, resp.json()["key"], "KASSE-05").status_code == 200
    assert fetch(client, org.keys["sensor"], "KASSE-05").status_code == 403
    for bad in ({"name": "x", "role": "technician", "hostname": "KASSE-06"},
                {"name": "x", "role": "sensor", "hostname": "KASSE/06"}):
        resp = client.post("/api/keys", json=bad, headers=org.headers("admin"))
        assert resp.status_code == 422 and "hostname" in resp.text, resp.text


def test_technician_keys_are_not_bound(client, shop) -> None:
    org, keys = shop
    assert fetch(client, keys["KASSE-02"][1], "KASSE-02").status_code == 200
    job_id = queue(client, org, ["KASSE-02"])
    assert changelog(client, org.keys["technician"], job_id).status_code == 200


@pytest.fixture(scope="module")
def pg_settings(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from techcare_backend.core.db import migrate
    from techcare_backend.testing import make_settings

    require_redis()
    prefix = f"techcare-test-binding-{uuid.uuid4().hex[:10]}:"
    settings = make_settings(postgres_url, REDIS_URL, data_dir=tmp_path_factory.mktemp("binding"),
                             redis_prefix=prefix, **FAST)
    migrate(settings.sqlalchemy_url)
    yield settings
    drop_redis_prefix(prefix)


def test_two_instances_agree(pg_settings) -> None:
    """Bound on instance A, refused on instance B; revoked on B, taken over on A (whose cache still held the old
    key: a revoked key no longer authenticates, so its cached binding cannot be used)."""
    from fastapi.testclient import TestClient
    from techcare_backend.main import create_app
    from techcare_backend.testing import seed

    with TestClient(create_app(pg_settings)) as a, TestClient(create_app(pg_settings)) as b:
        org = seed(a, edition="pro_business", admin_token=pg_settings.admin_token, roles=("admin", "technician"))
        (id1, key1), (_id2, key2) = new_sensor_key(a, org, "one"), new_sensor_key(a, org, "two")
        assert a.post("/api/monitoring/metrics", json=sample("PC-1"), headers=bearer(key1)).status_code == 201
        assert fetch(a, key1, "PC-1").status_code == 200
        assert fetch(b, key2, "PC-1").status_code == 403
        assert fetch(a, key2, "PC-1").status_code == 403
        assert fetch(b, key1, "PC-1").status_code == 200
        assert b.delete(f"/api/keys/{id1}", headers=org.headers("admin")).status_code == 204
        assert fetch(a, key1, "PC-1").status_code == 401
        assert fetch(a, key2, "PC-1").status_code == 200
        assert fetch(b, key1, "PC-1").status_code == 401 and fetch(b, key2, "PC-1").status_code == 200


# ---- L5: control and format characters in the signer and in host names ---------------------------------------
@pytest.mark.parametrize("signer", ["Anna\u202eTechnikerin", "Anna\u200bT", "Anna\x85T", "\ufeffAnna", "Anna\x07"])
def test_signer_with_control_or_format_characters_is_refused(client, shop, signer) -> None:
    org, _keys = shop
    env = diagnose_envelope(["KASSE-01"])
    env["payload"]["signer"] = signer
    env = KEY.sign(env["payload"])
    resp = client.post("/api/jobs", json={"envelope": env}, headers={**org.headers("technician"),
                                                                     "Accept-Language": "en"})
    assert resp.status_code == 422, resp.text
    assert "payload.signer" in resp.text and f"U+{ord(next(c for c in signer if not c.isalpha())):04X}" in resp.text
    assert client.get("/api/jobs", headers=org.headers("technician")).json()["jobs"] == []


def test_signer_with_ordinary_characters_is_kept(client, shop) -> None:
    org, _keys = shop
    env = diagnose_envelope(["KASSE-01"])
    env["payload"]["signer"] = "Ünal Şahin-Müller (Büro)"
    env = KEY.sign(env["payload"])
    resp = client.post("/api/jobs", json={"envelope": env}, headers=org.headers("technician"))
    assert resp.status_code == 201 and resp.json()["signer"] == "Ünal Şahin-Müller (Büro)"


def test_host_names_with_control_or_format_characters_are_refused_per_sample(client, shop) -> None:
    org, keys = shop
    key = keys["KASSE-01"][1]
    bad = ["KASSE\u202e10", "KASSE\u200b11", "KASSE\x8512", "\u2066KASSE-13"]
    batch = [sample(name) for name in bad] + [sample("KASSE-14")]
    resp = client.post("/api/monitoring/metrics/batch", json={"samples": batch}, headers=bearer(key))
    assert resp.status_code == 200, resp.text
    results = resp.json()["results"]
    assert [r["status"] for r in results] == ["error"] * 4 + ["created"], results
    assert all("hostname" in json.dumps(r) for r in results[:4])
    resp = client.post("/api/monitoring/metrics", json=sample("KASSE\u202e15"), headers=bearer(key))
    assert resp.status_code == 422 and "hostname" in resp.text and "U+202E" in resp.text, resp.text
    hosts = {h["hostname"] for h in client.get("/api/monitoring/hosts", headers=org.headers("technician")).json()}
    assert "KASSE-14" in hosts and not any(name in hosts for name in bad)


# ---- L1: a sensor key from the command line ------------------------------------------------------------------
def test_cli_keys_create_makes_a_sensor_key_for_one_host(tmp_path, monkeypatch, capsys) -> None:
    from fastapi.testclient import TestClient
    from techcare_backend.cli import main
    from techcare_backend.core.config import load_backend_settings
    from techcare_backend.main import create_app

    monkeypatch.setenv("TECHCARE_ENV", "development")
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path / "backend-data"))
    assert main(["org", "create", "Bäckerei Müller", "--edition", "pro_business"]) == 0
    capsys.readouterr()
    out = tmp_path / "sensor.env"
    assert main(["keys", "create", "--org", "Bäckerei Müller", "--role", "sensor", "--hostname", "KASSE-01",
                 "--env-file", str(out)]) == 0
    captured = capsys.readouterr()
    assert "tck_" not in captured.out and "KASSE-01" in captured.out
    assert "LICENSE_KEY" in captured.err and "REMOTE_JOBS=on" in captured.err
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    key = dict(line.split("=", 1) for line in out.read_text().splitlines())["TECHCARE_API_KEY"]
    assert main(["keys", "create", "--org", "Bäckerei Müller", "--role", "technician", "--hostname", "X"]) == 2
    assert "hostname" in capsys.readouterr().err
    assert main(["keys", "create", "--org", "nope", "--role", "sensor"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["keys", "create", "--org", "Bäckerei Müller", "--role", "sensor", "--hostname", "A\u202eB"]) == 2
    assert "U+202E" in capsys.readouterr().err
    with TestClient(create_app(load_backend_settings())) as client:
        me = client.get("/api/me", headers=bearer(key)).json()
        assert me["role"] == "sensor" and me["organisation"]["name"] == "Bäckerei Müller"
        assert fetch(client, key, "KASSE-01").status_code == 200
        resp = fetch(client, key, "KASSE-02")
        assert resp.status_code == 403 and resp.json()["code"] == "HOST_BOUND"
