"""``POST /api/changelogs``: idempotent per session + entry, scoped to the organisation, clear refusals."""

from __future__ import annotations

import httpx
import pytest
from dashboard_helpers import Fleet, changelog_entries

SESSION = "20261127T120000Z-cccc3333-0c0c"


def _post(fleet: Fleet, key: str, body: dict) -> httpx.Response:
    return httpx.post(fleet.url + "/api/changelogs", json=body, headers={"Authorization": f"Bearer {key}"})


def test_upload_is_idempotent_and_appends_only_new_entries(fleet: Fleet) -> None:
    session = SESSION.replace("0c0c", "1c1c")
    entries = changelog_entries(session, host="alpha-pc-05", technician="Anna Alpha")
    key = fleet.a.keys["technician"]
    first = _post(fleet, key, {"session": session, "entries": entries[:2]})
    assert first.status_code == 200 and first.json() == {"session": session, "created": 2, "duplicates": 0}
    again = _post(fleet, key, {"session": session, "entries": entries})  # the whole file, later
    assert again.json() == {"session": session, "created": 1, "duplicates": 2}
    assert _post(fleet, key, {"session": session, "entries": entries}).json()["created"] == 0
    stored = httpx.get(f"{fleet.url}/api/changelogs/{session}", headers=fleet.a.headers("admin")).json()
    assert [e["event"] for e in stored] == ["run", "started", "finished"]
    listed = {s["session"]: s for s in httpx.get(fleet.url + "/api/changelogs",
                                                  headers=fleet.a.headers("admin")).json()}
    assert listed[session]["status"] == "completed" and listed[session]["actions"] == ["win.flush_dns"]
    assert listed[session]["host"] == "alpha-pc-05" and listed[session]["entries"] == 3


def test_same_session_id_in_two_organisations_stays_apart(fleet: Fleet) -> None:
    session = SESSION.replace("0c0c", "2c2c")
    entries = changelog_entries(session, host="h", technician="t")
    assert _post(fleet, fleet.a.keys["admin"], {"session": session, "entries": entries}).json()["created"] == 3
    assert _post(fleet, fleet.b.keys["admin"], {"session": session, "entries": entries[:1]}).json()["created"] == 1
    got_b = httpx.get(f"{fleet.url}/api/changelogs/{session}", headers=fleet.b.headers("technician")).json()
    assert len(got_b) == 1
    assert httpx.get(f"{fleet.url}/api/changelogs/{fleet.session_a}",
                     headers=fleet.b.headers("admin")).status_code == 404
    assert fleet.session_a not in {s["session"] for s in httpx.get(
        fleet.url + "/api/changelogs", headers=fleet.b.headers("admin")).json()}


@pytest.mark.parametrize("body,needle", [
    ({"session": "../../etc/passwd", "entries": [{"ts": "2026-01-01T00:00:00Z", "event": "run"}]}, "session"),
    ({"session": SESSION, "entries": []}, "entries"),
    ({"session": SESSION, "entries": [{"ts": "gestern", "event": "run"}]}, "ts"),
    ({"session": SESSION, "entries": [{"ts": "2026-01-01T00:00:00Z"}]}, "event"),
    ({"session": SESSION, "entries": [{"ts": "2026-01-01T00:00:00Z", "event": "run", "x": "a\x00b"}]}, "NUL"),
    ({"session": SESSION, "entries": [{"ts": "2026-01-01T00:00:00Z", "event": "run"}], "extra": 1}, "extra"),
])
def test_malformed_uploads_are_422_naming_the_problem(fleet: Fleet, body: dict, needle: str) -> None:
    resp = _post(fleet, fleet.a.keys["technician"], body)
    assert resp.status_code == 422
    assert needle.lower() in resp.text.lower()


def test_entry_of_another_session_is_refused(fleet: Fleet) -> None:
    entries = changelog_entries(SESSION, host="h", technician="t")
    entries[1]["session"] = "20261127T120000Z-dddd4444-0d0d"
    resp = _post(fleet, fleet.a.keys["technician"], {"session": SESSION, "entries": entries})
    assert resp.status_code == 422 and "20261127T120000Z-dddd4444-0d0d" in resp.json()["detail"]


def test_needs_a_technician_or_admin_key(fleet: Fleet) -> None:
    body = {"session": SESSION, "entries": changelog_entries(SESSION, host="h", technician="t")}
    assert httpx.post(fleet.url + "/api/changelogs", json=body).status_code == 401
    assert _post(fleet, "tck_" + "x" * 40, body).status_code == 401
    assert _post(fleet, fleet.a.keys["sensor"], body).status_code == 403


def test_a_failed_run_shows_as_failed(fleet: Fleet, client_for) -> None:
    session = SESSION.replace("0c0c", "3c3c")
    entries = changelog_entries(session, host="alpha-pc-07", technician="Anna Alpha")
    entries[2]["event"] = "failed"
    entries[2]["detail"] = "Zugriff verweigert"
    _post(fleet, fleet.a.keys["technician"], {"session": session, "entries": entries})
    page = client_for(fleet.a.keys["technician"]).get("/dashboard/changelogs").text
    row = page.split(session)[1].split("</tr>")[0]
    assert "fehlgeschlagen" in row and "alpha-pc-07" in row
    detail = client_for(fleet.a.keys["technician"]).get(f"/dashboard/changelogs/{session}").text
    assert "Zugriff verweigert" in detail and "GO REPAIR: 1" in detail


def test_a_failed_run_rolled_back_afterwards_shows_as_rolled_back(fleet: Fleet, client_for) -> None:
    session = SESSION.replace("0c0c", "4c4c")
    entries = changelog_entries(session, host="alpha-pc-08", technician="Anna Alpha")
    common = {k: entries[1][k] for k in ("session", "plan_id", "technician", "host")}
    entries += [{**common, "ts": "2026-11-27T10:00:05Z", "event": "started", "step": 2, "action": "win.flush_dns"},
                {**common, "ts": "2026-11-27T10:00:06Z", "event": "failed", "step": 2, "action": "win.flush_dns",
                 "undo_status": "undone"},
                {**common, "ts": "2026-11-27T10:01:00Z", "event": "undo_started", "step": 1, "action": "win.flush_dns"},
                {**common, "ts": "2026-11-27T10:01:01Z", "event": "undone", "step": 1, "action": "win.flush_dns"}]
    assert _post(fleet, fleet.a.keys["technician"], {"session": session, "entries": entries}).status_code == 200
    listed = {s["session"]: s for s in httpx.get(fleet.url + "/api/changelogs",
                                                  headers=fleet.a.headers("admin")).json()}
    assert listed[session]["status"] == "rolled_back"
    row = client_for(fleet.a.keys["technician"]).get("/dashboard/changelogs").text.split(session)[1].split("</tr>")[0]
    assert "zurückgerollt" in row
