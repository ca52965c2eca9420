"""Metrics ingestion: idempotency (also under concurrent re-sends), batch partial failures, fleet, history,
alerts, the sensor_mode entitlement."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from backend_helpers import sample
from sqlalchemy import func, select
from techcare_backend import crud
from techcare_backend.dashboard import alerts as alert_rules
from techcare_backend.models import MetricSample


def count_samples(app, org_id: str) -> int:
    with app.state.ctx.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(MetricSample)
                              .where(MetricSample.organisation_id == org_id))


def test_single_sample_is_idempotent(client, make_org, app) -> None:
    org = make_org("pro_business")
    body = sample()
    first = client.post("/api/monitoring/metrics", json=body, headers=org.headers("sensor"))
    again = client.post("/api/monitoring/metrics", json=body, headers=org.headers("sensor"))
    assert first.status_code == 201 and first.json() == {"sample_id": body["sample_id"], "status": "created"}
    assert again.status_code == 201 and again.json()["status"] == "duplicate"
    assert count_samples(app, org.organisation_id) == 1


def test_sensor_mode_needs_the_entitlement(client, make_org) -> None:
    for edition in ("community", "pro"):
        org = make_org(edition)
        r = client.post("/api/monitoring/metrics", json=sample(), headers=org.headers("sensor"))
        assert r.status_code == 403 and r.json()["code"] == "ENTITLEMENTS_MISSING"
        assert "Pro Business" in r.json()["detail"]
        r = client.post("/api/monitoring/metrics/batch", json={"samples": [sample()]}, headers=org.headers("sensor"))
        assert r.status_code == 403


def test_suspending_the_license_stops_ingestion(client, make_org, admin_headers) -> None:
    org = make_org("pro_business")
    assert client.post("/api/monitoring/metrics", json=sample(), headers=org.headers("sensor")).status_code == 201
    client.post(f"/api/admin/licenses/{org.license_id}/suspend", headers=admin_headers)
    assert client.post("/api/monitoring/metrics", json=sample(), headers=org.headers("sensor")).status_code == 403


def test_batch_reports_partial_failures_per_sample(client, make_org, app) -> None:
    org = make_org("enterprise")
    existing = sample()
    client.post("/api/monitoring/metrics", json=existing, headers=org.headers("sensor"))
    good, twin = sample(), sample()
    twin["sample_id"] = good["sample_id"]  # the same sample twice in one batch
    bad_percent = sample(cpu_percent=140)
    bad_os = sample(os="beos")
    no_id = {k: v for k, v in sample().items() if k != "sample_id"}
    batch = [good, existing, bad_percent, twin, bad_os, no_id, "not an object"]
    r = client.post("/api/monitoring/metrics/batch", json={"samples": batch}, headers=org.headers("sensor"))
    assert r.status_code == 200
    out = r.json()
    statuses = [(x["sample_id"], x["status"]) for x in out["results"]]
    assert statuses == [(good["sample_id"], "created"), (existing["sample_id"], "duplicate"),
                        (bad_percent["sample_id"], "error"), (good["sample_id"], "duplicate"),
                        (bad_os["sample_id"], "error"), (None, "error"), (None, "error")]
    assert "cpu_percent" in out["results"][2]["error"] and "os" in out["results"][4]["error"]
    assert (out["created"], out["duplicates"], out["errors"]) == (1, 2, 4)
    assert count_samples(app, org.organisation_id) == 2


def test_batch_limit_is_1000(client, make_org) -> None:
    org = make_org("enterprise")
    r = client.post("/api/monitoring/metrics/batch", json={"samples": [sample() for _ in range(1001)]},
                    headers=org.headers("sensor"))
    assert r.status_code == 422
    r = client.post("/api/monitoring/metrics/batch", json={"samples": [sample() for _ in range(1000)]},
                    headers=org.headers("sensor"))
    assert r.status_code == 200 and r.json()["created"] == 1000


def test_concurrent_resends_store_each_sample_once(backend_settings) -> None:
    """Eight senders post the same batch (and singles) at the same time through a live server."""
    from techcare_backend.testing import start_backend

    with start_backend(backend_settings.database_url, backend_settings.redis_url,
                       redis_prefix=backend_settings.redis_prefix + "conc:",
                       **({} if backend_settings.database_url else {"data_dir": backend_settings.techcare_data_dir}),
                       rate_limit_ip_per_minute=1_000_000) as live:
        # Same database: use the license secret of the live server to seed there.
        from techcare_backend.testing import seed

        org = seed(live, edition="enterprise")
        batch = [sample(hostname=f"PC-{i % 5}") for i in range(60)]
        headers = org.headers("sensor")

        def send(i: int) -> list[str]:
            with httpx.Client(base_url=live.url, timeout=60) as http:
                if i % 2:
                    r = http.post("/api/monitoring/metrics/batch", json={"samples": batch}, headers=headers)
                    assert r.status_code == 200, r.text
                    return [x["status"] for x in r.json()["results"]]
                out = []
                for s in batch[:20]:
                    r = http.post("/api/monitoring/metrics", json=s, headers=headers)
                    assert r.status_code == 201, r.text
                    out.append(r.json()["status"])
                return out

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(send, range(8)))
        created = sum(r.count("created") for r in results)
        assert created == 60
        assert count_samples(live.app, org.organisation_id) == 60
        hosts = httpx.get(live.url + "/api/monitoring/hosts", headers=org.headers("technician")).json()
        assert sorted(h["hostname"] for h in hosts) == [f"PC-{i}" for i in range(5)]


def test_fleet_history_and_naive_utc(client, make_org) -> None:
    org = make_org("pro_business")
    t0 = datetime(2026, 2, 17, 10, 0, 0)
    for i in range(5):
        s = sample(hostname="DESKTOP-123", timestamp=(t0 + timedelta(minutes=5 * i)).isoformat(),
                   cpu_percent=10.0 + i)
        assert client.post("/api/monitoring/metrics", json=s, headers=org.headers("sensor")).status_code == 201
    # An older sample arriving late does not overwrite the newest values.
    late = sample(hostname="DESKTOP-123", timestamp=(t0 - timedelta(hours=1)).isoformat(), cpu_percent=99.0)
    client.post("/api/monitoring/metrics", json=late, headers=org.headers("sensor"))
    hosts = client.get("/api/monitoring/hosts", headers=org.headers("technician")).json()
    assert len(hosts) == 1
    host = hosts[0]
    assert host["cpu_percent"] == 14.0 and host["status"] == "online"
    assert host["last_sample_at"] == "2026-02-17T10:20:00Z"
    assert host["disk_max_percent"] == 50.0 and host["pending_updates"] == 2 and host["firewall"] == "on"
    history = client.get("/api/monitoring/hosts/DESKTOP-123/metrics", headers=org.headers("technician"),
                         params={"since": "2026-02-17T10:05:00", "until": "2026-02-17T11:15:00+01:00"}).json()
    assert [h["cpu_percent"] for h in history] == [11.0, 12.0, 13.0]
    assert client.get("/api/monitoring/hosts/NOPE/metrics", headers=org.headers("technician")).status_code == 404
    # Sensor keys only send.
    assert client.get("/api/monitoring/hosts", headers=org.headers("sensor")).status_code == 403


def test_alert_rules(client, make_org, app, backend_settings) -> None:
    org = make_org("enterprise")
    headers = org.headers("sensor")
    disks = lambda p: [{"mount": "/", "total": 100, "used": p, "free": 100 - p, "percent": p}]  # noqa: E731
    client.post("/api/monitoring/metrics", headers=headers, json=sample(hostname="OK-PC"))
    client.post("/api/monitoring/metrics", headers=headers, json=sample(hostname="FULL-PC", disks=disks(98)))
    client.post("/api/monitoring/metrics", headers=headers, json=sample(hostname="WARN-PC", disks=disks(92)))
    client.post("/api/monitoring/metrics", headers=headers, json=sample(
        hostname="SICK-PC", smart=[{"device": "/dev/sda", "health": "failing", "model": "X", "temperature_c": 50}],
        services={"firewall": "off", "antivirus": "off", "update_service": "ok", "failed": []}))
    alerts = client.get("/api/monitoring/alerts", headers=org.headers("technician")).json()
    got = {(a["hostname"], a["rule"], a["severity"]) for a in alerts}
    assert got == {("FULL-PC", "disk_critical", "critical"), ("WARN-PC", "disk_warning", "warning"),
                   ("SICK-PC", "smart_failing", "critical"), ("SICK-PC", "firewall_off", "critical"),
                   ("SICK-PC", "antivirus_off", "critical")}
    assert alerts[0]["severity"] == "critical"
    # Overdue: the same hosts seen from 20 minutes in the future.
    with app.state.ctx.sessionmaker() as session:
        later = datetime.now(timezone.utc) + timedelta(seconds=backend_settings.host_overdue_seconds + 60)
        hosts = crud.list_hosts(session, organisation_id=org.organisation_id,
                                overdue_after=backend_settings.host_overdue_seconds, now=later)
    assert {h.status for h in hosts} == {"overdue"}
    overdue = alert_rules.alerts(hosts, disk_warning=90, disk_critical=97)
    assert {a.hostname for a in overdue if a.rule == "host_overdue"} == {"OK-PC", "FULL-PC", "WARN-PC", "SICK-PC"}


@pytest.mark.parametrize("change", [
    {"cpu_percent": -1}, {"ram_percent": "lots"}, {"timestamp": "yesterday"}, {"os": "Windows 11"},
    {"services": {"firewall": "maybe"}}, {"events": [{"message": "x"}] * 6}, {"sample_id": "a b c d e f g h"},
    {"smart": [{"device": "/dev/sda", "health": "dying"}]}, {"hostname": ""},
])
def test_bad_samples_are_422_with_a_reason(client, make_org, change) -> None:
    org = make_org("pro_business")
    r = client.post("/api/monitoring/metrics", json=sample(**change), headers=org.headers("sensor"))
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR"
    assert next(iter(change)) in r.json()["message"]


def test_uuid_sample_ids_from_clients(client, make_org) -> None:
    org = make_org("pro_business")
    sid = str(uuid.uuid4())
    r = client.post("/api/monitoring/metrics", json=sample(sample_id=sid), headers=org.headers("sensor"))
    assert r.json()["sample_id"] == sid


def test_nul_characters_are_refused_per_sample_and_in_urls(client, make_org) -> None:
    """PostgreSQL cannot store NUL: it is a clear 422 (or a per-sample error), never a 500."""
    org = make_org("enterprise")
    headers = org.headers("sensor")
    r = client.post("/api/monitoring/metrics", json=sample(hostname="PC\x00X"), headers=headers)
    assert r.status_code == 422 and "NUL" in r.json()["message"]
    good, bad = sample(), sample(services={"firewall": "on", "antivirus": "on", "failed": ["spool\x00er"]})
    out = client.post("/api/monitoring/metrics/batch", json={"samples": [good, bad]}, headers=headers).json()
    assert [x["status"] for x in out["results"]] == ["created", "error"] and "NUL" in out["results"][1]["error"]
    literal = sample(hostname="PC-\\u0000-literal")  # the six characters, not a NUL: accepted
    assert client.post("/api/monitoring/metrics", json=literal, headers=headers).status_code == 201
    r = client.get("/api/monitoring/hosts/PC%00X/metrics", headers=org.headers("technician"))
    assert r.status_code == 422 and r.json()["code"] == "VALIDATION_ERROR"


def test_batch_newest_sample_per_host_wins_and_repeats_are_duplicates(client, make_org, app) -> None:
    """The batch path (COPY on PostgreSQL): shuffled timestamps of 3 hosts, repeated sample_ids inside the batch and
    across batches; the host rows carry the newest sample's values, the stored payloads are the validated samples."""
    import random

    org = make_org("pro_business")
    t0 = datetime(2026, 3, 1, 8, 0, 0, tzinfo=timezone.utc)
    samples = [sample(hostname=f"HOST-{i % 3}", timestamp=(t0 + timedelta(minutes=i)).isoformat(),
                      cpu_percent=float(i)) for i in range(60)]
    shuffled = samples[:]
    random.Random(7).shuffle(shuffled)
    body = shuffled + shuffled[:5]  # 5 repeats inside the batch
    r = client.post("/api/monitoring/metrics/batch", json={"samples": body}, headers=org.headers("sensor"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["created"], out["duplicates"], out["errors"]) == (60, 5, 0)
    assert [x["status"] for x in out["results"]] == ["created"] * 60 + ["duplicate"] * 5
    assert [x["sample_id"] for x in out["results"]] == [s["sample_id"] for s in body]
    hosts = {h["hostname"]: h for h in client.get("/api/monitoring/hosts", headers=org.headers("technician")).json()}
    assert {h: v["cpu_percent"] for h, v in hosts.items()} == {"HOST-0": 57.0, "HOST-1": 58.0, "HOST-2": 59.0}
    # an older batch arriving later changes no host values; re-sent samples are duplicates
    old = [sample(hostname="HOST-0", timestamp=(t0 - timedelta(days=1)).isoformat(), cpu_percent=1.0)]
    r = client.post("/api/monitoring/metrics/batch", json={"samples": old + samples[:3]}, headers=org.headers("sensor"))
    assert [x["status"] for x in r.json()["results"]] == ["created", "duplicate", "duplicate", "duplicate"]
    hosts = {h["hostname"]: h for h in client.get("/api/monitoring/hosts", headers=org.headers("technician")).json()}
    assert hosts["HOST-0"]["cpu_percent"] == 57.0 and hosts["HOST-0"]["last_sample_at"] == "2026-03-01T08:57:00Z"
    history = client.get("/api/monitoring/hosts/HOST-1/metrics", headers=org.headers("technician")).json()
    assert [h["cpu_percent"] for h in history] == [float(i) for i in range(1, 60, 3)]
    assert history[0]["disks"] == samples[1]["disks"] and history[0]["timestamp"] == "2026-03-01T08:01:00Z"
    assert count_samples(app, org.organisation_id) == 61


def test_crud_ingest_in_a_session_matches_the_routes(app, make_org, client) -> None:
    """``crud.ingest_samples`` (a session's transaction: scripts, imports) stores like the routes and is rolled
    back with its session."""
    from techcare_backend.schemas import MetricSampleCreate

    org = make_org("pro_business")
    t0 = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)
    samples = [MetricSampleCreate.model_validate(sample(hostname="CRUD-HOST", cpu_percent=float(i),
                                                        timestamp=(t0 + timedelta(minutes=i)).isoformat()))
               for i in (0, 2, 1)]
    with app.state.ctx.sessionmaker() as session:
        assert crud.ingest_samples(session, organisation_id=org.organisation_id, samples=samples[:1]) == ["created"]
        session.rollback()
    assert count_samples(app, org.organisation_id) == 0
    with app.state.ctx.sessionmaker() as session:
        assert crud.ingest_samples(session, organisation_id=org.organisation_id,
                                   samples=samples + samples[:1]) == ["created"] * 3 + ["duplicate"]
        session.commit()
    assert count_samples(app, org.organisation_id) == 3
    r = client.post("/api/monitoring/metrics", json=samples[0].model_dump(mode="json"), headers=org.headers("sensor"))
    assert r.json()["status"] == "duplicate"
    hosts = client.get("/api/monitoring/hosts", headers=org.headers("technician")).json()
    assert [(h["hostname"], h["cpu_percent"]) for h in hosts] == [("CRUD-HOST", 2.0)]  # the newest, not the last


def test_batch_payloads_round_trip_special_characters(client, make_org) -> None:
    """Backslashes, tabs, newlines, quotes and non-ASCII text survive the batch path (COPY text format)."""
    org = make_org("pro_business")
    tricky = 'C:\\Windows\\Temp\t"quoted"\nline 2\r\nÄrger ✓ \\N \\.'
    t0 = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    batch = []
    for i in range(3):
        s = sample(hostname="ESC-HOST", timestamp=(t0 + timedelta(minutes=i)).isoformat())
        s["events"][0]["message"] = tricky
        s["disks"][0]["mount"] = "D:\\" if i else "\\\\server\\share"
        batch.append(s)
    r = client.post("/api/monitoring/metrics/batch", json={"samples": batch}, headers=org.headers("sensor"))
    assert r.status_code == 200 and r.json()["created"] == 3, r.text
    history = client.get("/api/monitoring/hosts/ESC-HOST/metrics", headers=org.headers("technician")).json()
    assert [h["events"][0]["message"] for h in history] == [tricky] * 3
    assert [h["disks"][0]["mount"] for h in history] == ["\\\\server\\share", "D:\\", "D:\\"]
