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


def _case(symptom: str, case_id: str | None = None, outcome: str = "success") -> dict:
    body = {"symptom": symptom, "language": "de", "os": "windows", "findings": [], "actions": ["win.flush_dns"],
            "outcome": outcome}
    if case_id is not None:
        body["case_id"] = case_id
    return body


def test_client_case_id_is_idempotent_and_returned_in_search(client, make_org) -> None:
    org = make_org("enterprise")
    h = org.headers("technician")
    cid = "5b0c8f7e-2d3a-4c1b-9e8f-0a1b2c3d4e5f"
    first = client.post("/api/cases", headers=h, json=_case("Namensauflösung im WLAN gestört", cid))
    assert first.status_code == 201, first.text
    assert first.json()["case_id"] == cid
    again = client.post("/api/cases", headers=h, json=_case("Namensauflösung im WLAN gestört", cid, "failure"))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["outcome"] == "success"
    hits = search(client, org, "Namensauflösung WLAN")
    assert [x["case_id"] for x in hits] == [cid]
    # the re-send counted nothing: one success, no failure
    assert hits[0]["times_tried"] == 1 and hits[0]["success_rate"] == 1.0
    assert client.get(f"/api/cases/{first.json()['id']}", headers=h).json()["case_id"] == cid
    # without a case_id every post is a new case (and case_id null in results)
    for _ in range(2):
        assert client.post("/api/cases", headers=h, json=_case("Bildschirm flackert ständig")).status_code == 201
    hits = search(client, org, "Bildschirm flackert")
    assert len(hits) == 2 and all(x["case_id"] is None for x in hits)


def test_case_id_is_unique_per_organisation_only(client, make_org) -> None:
    a, b = make_org("enterprise"), make_org("enterprise")
    cid = "shared-client-id-1"
    ra = client.post("/api/cases", headers=a.headers("technician"), json=_case("Drucker offline A", cid))
    rb = client.post("/api/cases", headers=b.headers("technician"), json=_case("Drucker offline B", cid))
    assert ra.status_code == rb.status_code == 201
    assert ra.json()["id"] != rb.json()["id"]
    # B's re-send returns B's case, never A's
    again = client.post("/api/cases", headers=b.headers("technician"), json=_case("anything else", cid))
    assert again.status_code == 200 and again.json()["symptom"] == "Drucker offline B"
    assert [x["symptom"] for x in search(client, a, "Drucker offline")] == ["Drucker offline A"]


def test_concurrent_resends_of_one_case_id_store_one_case(client, make_org) -> None:
    from concurrent.futures import ThreadPoolExecutor

    org = make_org("enterprise")
    h = org.headers("technician")
    body = _case("Soundkarte stumm nach Treiberupdate", "concurrent-case-7")
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: client.post("/api/cases", headers=h, json=body), range(12)))
    assert sorted(r.status_code for r in responses) == [200] * 11 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    hits = search(client, org, "Soundkarte stumm")
    assert len(hits) == 1 and hits[0]["times_tried"] == 1


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "-leading-dash", "ümlaut"])
def test_bad_case_ids_are_refused_with_422(client, make_org, bad) -> None:
    org = make_org("enterprise")
    r = client.post("/api/cases", headers=org.headers("technician"), json=_case("Lüfter laut", bad))
    assert r.status_code == 422 and "case_id" in r.text
