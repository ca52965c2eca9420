"""Shared learning database: German and English full-text search with stemming, success-weighted ranking."""

from __future__ import annotations

import pytest

CASES = [
    ("Drucker-Treiber druckte nicht mehr nach dem Update", "de", "windows", ["win.restart_service"], "success"),
    ("Bluescreen beim Hochfahren, Speicherfehler", "de", "windows", ["win.sfc_scannow"], "success"),
    ("WLAN verbindet sich nicht, DNS-Auflösung schlägt fehl", "de", "windows", ["win.flush_dns"], "success"),
    ("Printer stopped printing after the Windows update", "en", "windows", ["win.restart_service"], "success"),
    ("Disk almost full, system very slow", "en", "linux", ["linux.journal_vacuum", "linux.apt_clean"], "success"),
    ("Updates fail to install with error 0x80070002", "en", "windows", ["win.reset_windows_update"], "failure"),
    ("Festplatte voll, Rechner langsam", "de", "linux", ["linux.apt_clean"], "success"),
]


@pytest.fixture
def learning_org(client, make_org):
    org = make_org("enterprise")
    for symptom, lang, os_name, actions, outcome in CASES:
        r = client.post("/api/cases", headers=org.headers("technician"), json={
            "symptom": symptom, "language": lang, "os": os_name, "findings": [{"check": "x", "summary": symptom}],
            "actions": actions, "outcome": outcome})
        assert r.status_code == 201, r.text
    return org


def search(client, org, q, **params):
    r = client.get("/api/cases/search", params={"q": q, **params}, headers=org.headers("technician"))
    assert r.status_code == 200, r.text
    return r.json()


def test_german_stemming_finds_the_printer_case(client, learning_org) -> None:
    hits = search(client, learning_org, "Drucker druckt nicht")
    assert hits and hits[0]["symptom"].startswith("Drucker-Treiber druckte nicht mehr")
    assert hits[0]["actions"] == ["win.restart_service"] and hits[0]["language"] == "de"
    assert {"score", "success_rate", "relevance", "times_tried"} <= hits[0].keys()


def test_english_stemming(client, learning_org) -> None:
    hits = search(client, learning_org, "printer not printing")
    assert hits[0]["symptom"].startswith("Printer stopped printing")
    assert search(client, learning_org, "updates failing")[0]["symptom"].startswith("Updates fail")
    assert search(client, learning_org, "slow disks")[0]["symptom"].startswith("Disk almost full")


def test_more_german_queries(client, learning_org) -> None:
    assert search(client, learning_org, "Bluescreen beim Start")[0]["symptom"].startswith("Bluescreen")
    assert search(client, learning_org, "Speicherfehler")[0]["symptom"].startswith("Bluescreen")
    assert search(client, learning_org, "WLAN verbindet nicht")[0]["symptom"].startswith("WLAN")
    assert search(client, learning_org, "Festplatten voll")[0]["symptom"].startswith("Festplatte voll")


def test_os_filter_limit_and_no_match(client, learning_org) -> None:
    hits = search(client, learning_org, "voll full", os="linux")
    assert hits and {h["os"] for h in hits} == {"linux"}
    assert len(search(client, learning_org, "voll full update drucker", limit=1)) == 1
    assert search(client, learning_org, "Kaffeemaschine") == []
    assert search(client, learning_org, "und oder") == []  # German stop words, no English case has them
    r = client.get("/api/cases/search", params={"q": "x", "limit": 500}, headers=learning_org.headers("technician"))
    assert r.status_code == 422


def test_ranking_prefers_repairs_that_worked(client, make_org) -> None:
    org = make_org("enterprise")
    post = lambda symptom, actions, outcome: client.post("/api/cases", headers=org.headers("technician"), json={  # noqa
        "symptom": symptom, "language": "de", "os": "windows", "actions": actions, "outcome": outcome})
    for _ in range(3):
        post("Outlook startet nicht", ["win.sfc_scannow"], "failure")
    for _ in range(3):
        post("Outlook startet nicht", ["win.dism_restore_health"], "success")
    hits = search(client, org, "Outlook startet nicht", limit=6)
    assert hits[0]["actions"] == ["win.dism_restore_health"]
    assert hits[0]["success_rate"] == 1.0 and hits[0]["times_tried"] == 3
    assert hits[-1]["actions"] == ["win.sfc_scannow"] and hits[-1]["success_rate"] == 0.0


def test_cases_need_the_enterprise_entitlement_and_valid_bodies(client, make_org) -> None:
    org = make_org("pro_business")
    body = {"symptom": "Drucker druckt nicht", "language": "de", "os": "windows", "actions": [], "outcome": "success"}
    r = client.post("/api/cases", json=body, headers=org.headers("technician"))
    assert r.status_code == 403 and r.json()["code"] == "ENTITLEMENTS_MISSING" and "Enterprise" in r.json()["detail"]
    assert client.get("/api/cases/search", params={"q": "x"}, headers=org.headers("technician")).status_code == 403
    ent = make_org("enterprise")
    for bad in ({**body, "language": "fr"}, {**body, "outcome": "maybe"}, {**body, "actions": ["rm -rf /"]},
                {**body, "symptom": ""}):
        r = client.post("/api/cases", json=bad, headers=ent.headers("technician"))
        assert r.status_code == 422
    assert client.post("/api/cases", json=body, headers=ent.headers("sensor")).status_code == 403
    created = client.post("/api/cases", json=body, headers=ent.headers("technician")).json()
    assert created["technician"] == f"Technician {ent.organisation}"
    got = client.get(f"/api/cases/{created['id']}", headers=ent.headers("admin"))
    assert got.status_code == 200 and got.json()["symptom"] == "Drucker druckt nicht"
