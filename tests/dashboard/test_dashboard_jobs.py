"""The dashboard's remote jobs: the Jobs page, a job's page (per-host status, steps, diagnosis, who approved, its
changelogs, the cancel button with the session's CSRF token) and the job history on the host page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from dashboard_helpers import Fleet

from techcare.signing import SigningKey

KEY = SigningKey.generate()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def send_job(fleet: Fleet, hosts: list[str], *, kind: str = "repair", signer: str = "Anna Technikerin") -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "v": 1, "job_id": uuid.uuid4().hex, "kind": kind, "hosts": hosts,
        "platform": "windows" if kind == "repair" else None,
        "steps": [{"number": 1, "action": "win.flush_dns", "params": {}},
                  {"number": 2, "action": "win.clear_temp", "params": {"older_than_days": 7}}] if kind == "repair" else [],
        "approval": "GO REPAIR: 1,2" if kind == "repair" else "", "approved_steps": [1, 2] if kind == "repair" else [],
        "plan_fingerprint": "0123456789ab" if kind == "repair" else "", "confirm_high_risk": False, "rollback_of": None,
        "not_before": _iso(now - timedelta(minutes=1)), "expires": _iso(now + timedelta(hours=4)),
        "issued_at": _iso(now), "signer": signer}
    resp = httpx.post(fleet.url + "/api/jobs", json={"envelope": KEY.sign(payload)},
                      headers=fleet.a.headers("technician"))
    assert resp.status_code == 201, resp.text
    return payload["job_id"]


def sensor_fetch(fleet: Fleet, host: str) -> dict[str, Any]:
    return httpx.get(fleet.url + "/api/sensor/jobs", params={"host": host},
                     headers=fleet.a.headers("sensor")).json()


def sensor_report(fleet: Fleet, job_id: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{fleet.url}/api/sensor/jobs/{job_id}/report", json=body, headers=fleet.a.headers("sensor"))


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_jobs_page_lists_status_per_host_and_who_approved(fleet: Fleet, client_for) -> None:
    job_id = send_job(fleet, ["alpha-pc-05", "alpha-pc-06"])
    sensor_fetch(fleet, "alpha-pc-05")
    sensor_report(fleet, job_id, host="alpha-pc-05", status="running", steps=[])
    client = client_for(fleet.a.keys["technician"])
    page = client.get("/dashboard/jobs?lang=de")
    assert page.status_code == 200
    row = re.search(rf'<tr data-job="{job_id}">(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert "alpha-pc-05" in row and 'data-status="running"' in row and "läuft" in row
    assert "alpha-pc-06" in row and 'data-status="queued"' in row and "wartet" in row
    assert "Anna Technikerin" in row and "GO REPAIR: 1,2" in row and "win.flush_dns" in row
    assert 'href="/dashboard/jobs"' in page.text and "Fernaufträge" in page.text  # in the navigation
    english = client.get("/dashboard/jobs?lang=en")
    assert "Remote jobs" in english.text and "Approved by" in english.text
    filtered = client.get("/dashboard/jobs", params={"host": "alpha-pc-06", "status": "running"})
    assert job_id not in filtered.text and 'id="empty"' in filtered.text


def test_job_page_shows_steps_results_diagnosis_and_changelogs(fleet: Fleet, client_for) -> None:
    job_id = send_job(fleet, ["alpha-pc-07"])
    sensor_fetch(fleet, "alpha-pc-07")
    steps = [{"number": 1, "action": "win.flush_dns", "status": "finished", "detail": "DNS cache flushed"},
             {"number": 2, "action": "win.clear_temp", "status": "failed", "detail": "access denied",
              "undo": "undone"}]
    assert sensor_report(fleet, job_id, host="alpha-pc-07", status="failed", reason="step_failed",
                         message="Step 2 failed: access denied", steps=steps).status_code == 200
    session = "20261202T080000Z-abcdef12-3c3c"
    resp = httpx.post(fleet.url + "/api/changelogs", headers=fleet.a.headers("sensor"), json={
        "session": session, "job_id": job_id,
        "entries": [{"ts": "2026-12-02T08:00:00Z", "event": "run", "session": session, "host": "alpha-pc-07"}]})
    assert resp.status_code == 200, resp.text
    diagnose_id = send_job(fleet, ["alpha-pc-08"], kind="diagnose")
    sensor_fetch(fleet, "alpha-pc-08")
    diagnosis = {"host": "alpha-pc-08", "os": "windows", "findings": [
        {"check": "disk_space", "severity": "critical", "summary": "C: ist zu 98 % voll", "summary_de": "C: ist zu 98 % voll",
         "summary_en": "C: is 98 % full"},
        {"check": "firewall", "severity": "ok", "summary": "Firewall an"}]}
    sensor_report(fleet, diagnose_id, host="alpha-pc-08", status="succeeded", diagnosis=diagnosis)

    client = client_for(fleet.a.keys["admin"])
    page = client.get(f"/dashboard/jobs/{job_id}?lang=en")
    assert page.status_code == 200
    assert "GO REPAIR: 1,2" in page.text and "Anna Technikerin" in page.text and KEY.key_id in page.text
    target = re.search(r'<tr data-host="alpha-pc-07">(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert 'data-status="failed"' in target and "step_failed" in target and "access denied" in target
    assert "DNS cache flushed" in target and "undo: undone" in target
    assert f'href="/dashboard/changelogs/{session}"' in page.text
    assert 'id="cancel-job"' not in page.text  # nothing left to cancel
    diag = client.get(f"/dashboard/jobs/{diagnose_id}?lang=en")
    assert "C: is 98 % full" in diag.text and "Firewall an" not in diag.text and "2 checks" in diag.text
    german = client.get(f"/dashboard/jobs/{diagnose_id}?lang=de")
    assert "C: ist zu 98 % voll" in german.text and "Diagnose" in german.text


def test_cancel_button_needs_the_session_token(fleet: Fleet, client_for) -> None:
    job_id = send_job(fleet, ["alpha-pc-09", "alpha-pc-10"])
    sensor_fetch(fleet, "alpha-pc-09")
    sensor_report(fleet, job_id, host="alpha-pc-09", status="running", steps=[])
    client = client_for(fleet.a.keys["technician"])
    page = client.get(f"/dashboard/jobs/{job_id}")
    assert 'id="cancel-job"' in page.text
    origin = {"Origin": fleet.url}
    refused = client.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf": "forged"}, headers=origin)
    assert refused.status_code == 403
    cross = client.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf": csrf_of(page)},
                        headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    anonymous = httpx.post(f"{fleet.url}/dashboard/jobs/{job_id}/cancel", data={"csrf": csrf_of(page)})
    assert anonymous.status_code == 303 and "/dashboard/login" in anonymous.headers["location"]
    job = httpx.get(f"{fleet.url}/api/jobs/{job_id}", headers=fleet.a.headers("admin")).json()
    assert job["status"] == "running" and not any(t["cancel_requested"] for t in job["targets"])

    done = client.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf": csrf_of(page)}, headers=origin)
    assert done.status_code == 303 and done.headers["location"] == f"/dashboard/jobs/{job_id}?msg=cancelled"
    job = httpx.get(f"{fleet.url}/api/jobs/{job_id}", headers=fleet.a.headers("admin")).json()
    targets = {t["host"]: t for t in job["targets"]}
    assert targets["alpha-pc-10"]["status"] == "cancelled"
    assert targets["alpha-pc-09"]["status"] == "running" and targets["alpha-pc-09"]["cancel_requested"]
    assert sensor_fetch(fleet, "alpha-pc-09")["cancelled"] == [job_id]
    after = client.get(done.headers["location"] + "&lang=en")
    assert "Cancel requested" in after.text and 'data-status="cancelling"' in after.text
    assert 'id="cancel-job"' not in after.text
    audit = httpx.get(f"{fleet.url}/api/audit", headers=fleet.a.headers("admin")).json()
    cancels = [a for a in audit if a["action"] == "job.cancel" and a["target_id"] == job_id]
    assert cancels and cancels[0]["actor"].startswith("dashboard:key:")


def test_cancel_one_host_from_its_row(fleet: Fleet, client_for) -> None:
    job_id = send_job(fleet, ["alpha-pc-11", "alpha-pc-12"])
    client = client_for(fleet.a.keys["technician"])
    page = client.get(f"/dashboard/jobs/{job_id}")
    resp = client.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf": csrf_of(page), "host": "alpha-pc-12"},
                       headers={"Origin": fleet.url})
    assert resp.status_code == 303
    job = httpx.get(f"{fleet.url}/api/jobs/{job_id}", headers=fleet.a.headers("admin")).json()
    assert {t["host"]: t["status"] for t in job["targets"]} == {"alpha-pc-11": "queued", "alpha-pc-12": "cancelled"}
    again = client.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf": csrf_of(page), "host": "alpha-pc-12"},
                        headers={"Origin": fleet.url})
    assert again.headers["location"].endswith("msg=final")
    assert "Nothing to cancel" in client.get(again.headers["location"] + "&lang=en").text
    missing = client.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf": csrf_of(page), "host": "ghost"},
                          headers={"Origin": fleet.url})
    assert missing.status_code == 404


def test_host_page_shows_its_job_history(fleet: Fleet, client_for) -> None:
    first = send_job(fleet, ["alpha-pc-13"], kind="diagnose")
    second = send_job(fleet, ["alpha-pc-13", "alpha-pc-14"])
    sensor_fetch(fleet, "alpha-pc-13")
    sensor_report(fleet, first, host="alpha-pc-13", status="refused", reason="unknown_signer",
                  message="key not pinned")
    client = client_for(fleet.a.keys["technician"])
    page = client.get("/dashboard/hosts/alpha-pc-13?lang=en")
    block = re.search(r'<section class="card" id="host-jobs">(.*?)</section>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert block.index(second) < block.index(first)  # newest first
    assert "unknown_signer" in block and 'data-status="refused"' in block and 'data-status="delivered"' in block
    empty = client.get("/dashboard/hosts/alpha-pc-20?lang=de")
    assert "Noch keine Fernaufträge für diesen Rechner." in empty.text


def test_other_organisations_see_nothing(fleet: Fleet, client_for) -> None:
    job_id = send_job(fleet, ["alpha-pc-15"], signer="Geheim <b>Alpha</b>")
    other = client_for(fleet.b.keys["admin"])
    assert job_id not in other.get("/dashboard/jobs").text
    missing = other.get(f"/dashboard/jobs/{job_id}")
    assert missing.status_code == 404 and "Geheim" not in missing.text
    page = other.get("/dashboard/jobs")
    resp = other.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf": csrf_of(page)},
                      headers={"Origin": fleet.url})
    assert resp.status_code == 404
    job = httpx.get(f"{fleet.url}/api/jobs/{job_id}", headers=fleet.a.headers("admin")).json()
    assert job["status"] == "queued"
    own = client_for(fleet.a.keys["admin"]).get(f"/dashboard/jobs/{job_id}")
    assert "Geheim &lt;b&gt;Alpha&lt;/b&gt;" in own.text  # escaped
    assert client_for(None).get("/dashboard/jobs").status_code == 303  # to the login


def test_large_job_row_is_summarised(fleet: Fleet, client_for) -> None:
    job_id = send_job(fleet, [f"alpha-pc-{i:02d}" for i in range(16, 26) if i < 25] + ["alpha-pc-00"])
    sensor_fetch(fleet, "alpha-pc-16")
    page = client_for(fleet.a.keys["technician"]).get("/dashboard/jobs?lang=de")
    row = re.search(rf'<tr data-job="{job_id}">(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert row.count('class="target"') == 8 and "und 2 weitere" in row
    assert "abgeholt 1" in row and "wartet 9" in row
    assert re.search(r'<option value="queued"\s*>wartet</option>', page.text)  # filter labels translated too


def test_drivers_job_page_lists_the_updates(fleet: Fleet, client_for) -> None:
    job_id = send_job(fleet, ["alpha-pc-21"], kind="drivers")
    sensor_fetch(fleet, "alpha-pc-21")
    sensor_report(fleet, job_id, host="alpha-pc-21", status="succeeded", diagnosis={
        "platform": "windows", "stats": {"installed": 42},
        "updates": [{"device": "Realtek Audio", "installed_version": "6.0.1", "latest_version": "6.0.9",
                     "importance": "OPTIONAL", "source": "vendor"},
                    {"device": "Intel Wi-Fi 6 AX201", "installed_version": "22.10.0.7", "latest_version": "23.40.0.4",
                     "importance": "CRITICAL", "source": "windows_update"}]})
    page = client_for(fleet.a.keys["technician"]).get(f"/dashboard/jobs/{job_id}?lang=de")
    target = re.search(r'<tr data-host="alpha-pc-21">(.*?)</tr>', page.text, re.S).group(1)  # type: ignore[union-attr]
    assert "Treiber" in page.text and "42 Treiber" in target
    assert target.index("Intel Wi-Fi 6 AX201: 22.10.0.7 → 23.40.0.4") < target.index("Realtek Audio")  # critical first


def test_jobs_page_says_which_edition_sends_jobs(fleet: Fleet, client_for) -> None:
    from techcare_backend.testing import seed

    assert 'id="edition-note"' not in client_for(fleet.a.keys["technician"]).get("/dashboard/jobs").text
    small = seed(fleet.backend, edition="pro")
    page = client_for(small.keys["technician"]).get("/dashboard/jobs?lang=en")
    assert page.status_code == 200 and "need a Pro Business license" in page.text
