"""The dashboard's maintenance schedules and tags: the Wartung/Maintenance page (schedules, each host's next
occurrence in its local time, outcomes), a schedule's page with pause/resume (CSRF, audited), tags on the host page
(add/remove with the session's CSRF token, sensor tags shown but not removable), the tag filter of the fleet,
alerts and jobs lists, the monthly report download; organisations stay apart."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from dashboard_helpers import Fleet, make_sample, post_samples

from techcare.signing import SigningKey

KEY = SigningKey.generate()
VARIANT = {"steps": [{"number": 1, "action": "win.clear_temp", "params": {"older_than_days": 7}}],
           "approval": "GO REPAIR: 1", "approved_steps": [1], "plan_fingerprint": "0123456789ab"}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(zone: str, minutes_ago: int = 10) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(ZoneInfo(zone))


def send_schedule(fleet: Fleet, hosts: list[str], *, name: str, tag: str | None = None) -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "v": 1, "kind": "schedule", "schedule_id": uuid.uuid4().hex, "revision": 1, "name": name, "tag": tag,
        "hosts": hosts, "variants": {"windows": VARIANT}, "rrule": "FREQ=DAILY",
        "dtstart": _local("Europe/Berlin").strftime("%Y-%m-%dT%H:%M:00"), "window_minutes": 120,
        "catch_up": False, "allow_high_risk": False, "allow_reboot": True,
        "valid_from": _iso(now - timedelta(days=1)), "valid_until": _iso(now + timedelta(days=90)),
        "issued_at": _iso(now), "signer": "Anna Technikerin"}
    resp = httpx.post(fleet.url + "/api/schedules", json={"envelope": KEY.sign(payload)},
                      headers=fleet.a.headers("technician"))
    assert resp.status_code == 201, resp.text
    return payload["schedule_id"]


def csrf_of(page: httpx.Response) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def origin(client: httpx.Client) -> dict[str, str]:
    return {"Origin": str(client.base_url).rstrip("/")}


@pytest.fixture(scope="module")
def berlin(fleet: Fleet) -> list[str]:
    """Two Alpha hosts that report Europe/Berlin and a customer tag (SENSOR_TAGS)."""
    now = datetime.now(UTC)
    hosts = ["alpha-pc-10", "alpha-pc-11"]
    samples = [{**make_sample(h, ts=now), "timezone": "Europe/Berlin", "tags": ["kunde:baeckerei"]} for h in hosts]
    post_samples(fleet.url, fleet.a.keys["sensor"], samples)
    return hosts


def test_maintenance_page_shows_next_occurrences_in_local_time_and_outcomes(fleet: Fleet, berlin, client_for
                                                                            ) -> None:
    schedule_id = send_schedule(fleet, [*berlin, "alpha-pc-12"], name="Wochenwartung Bäckerei",
                                tag="kunde:baeckerei")
    got = httpx.get(fleet.url + "/api/sensor/jobs", params={"host": berlin[0]},
                    headers=fleet.a.headers("sensor")).json()["occurrences"]
    occurrence = _local("Europe/Berlin").strftime("%Y-%m-%dT%H:%M")
    assert [o["occurrence"] for o in got] == [occurrence]
    resp = httpx.post(f"{fleet.url}/api/sensor/schedules/{schedule_id}/occurrences/{occurrence}/report",
                      json={"host": berlin[0], "status": "ran", "steps": [
                          {"number": 1, "action": "win.clear_temp", "status": "finished"}]},
                      headers=fleet.a.headers("sensor"))
    assert resp.status_code == 200
    client = client_for(fleet.a.keys["technician"])
    page = client.get("/dashboard/maintenance?lang=de")
    assert page.status_code == 200 and 'href="/dashboard/maintenance"' in page.text
    section = re.search(rf'<section class="card schedule" data-schedule="{schedule_id}">(.*?)</section>', page.text,
                        re.S).group(1)  # type: ignore[union-attr]
    assert "Wochenwartung Bäckerei" in section and "kunde:baeckerei" in section and "Neustart erlaubt" in section
    rows = dict(re.findall(r'<tr data-host="([^"]+)">(.*?)</tr>', section, re.S))
    assert "Europe/Berlin" in rows[berlin[1]] and "(Zone unbekannt, UTC)" in rows["alpha-pc-12"]
    assert 'data-status="ran"' in rows[berlin[0]] and occurrence in rows[berlin[0]]
    assert "noch keins" in rows[berlin[1]]
    english = client.get("/dashboard/maintenance?lang=en")
    assert "Next occurrence (host&#39;s local time)" in english.text and "(zone unknown, UTC)" in english.text
    assert "Nächster Termin" not in english.text
    other = client.get("/dashboard/maintenance", params={"tag": "standort:nirgendwo"})
    assert schedule_id not in other.text and 'id="empty"' in other.text


def test_schedule_page_pause_and_resume_with_csrf(fleet: Fleet, berlin, client_for) -> None:
    schedule_id = send_schedule(fleet, berlin, name="Nachtwartung")
    client = client_for(fleet.a.keys["technician"])
    page = client.get(f"/dashboard/maintenance/{schedule_id}?lang=en")
    assert page.status_code == 200 and 'id="occurrences"' in page.text
    occurrence = _local("Europe/Berlin").strftime("%Y-%m-%dT%H:%M")
    assert f'data-occurrence="{occurrence}"' in page.text and "Anna Technikerin" in page.text
    resp = client.post(f"/dashboard/maintenance/{schedule_id}/pause", data={"csrf": "forged"}, headers=origin(client))
    assert resp.status_code == 403
    resp = client.post(f"/dashboard/maintenance/{schedule_id}/pause", data={"csrf": csrf_of(page)},
                       headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403
    resp = client.post(f"/dashboard/maintenance/{schedule_id}/pause", data={"csrf": csrf_of(page)},
                       headers=origin(client))
    assert resp.status_code == 303 and resp.headers["location"].endswith("?msg=paused")
    api = httpx.get(f"{fleet.url}/api/schedules/{schedule_id}", headers=fleet.a.headers("technician")).json()
    assert api["status"] == "paused" and api["paused_by"]
    got = httpx.get(fleet.url + "/api/sensor/jobs", params={"host": berlin[1]},
                    headers=fleet.a.headers("sensor")).json()["occurrences"]
    assert schedule_id not in [o["schedule_id"] for o in got]
    page = client.get(resp.headers["location"] + "&lang=en")
    assert 'id="notice"' in page.text and "Resume" in page.text
    resp = client.post(f"/dashboard/maintenance/{schedule_id}/resume", data={"csrf": csrf_of(page)},
                       headers=origin(client))
    assert resp.status_code == 303
    got = httpx.get(fleet.url + "/api/sensor/jobs", params={"host": berlin[1]},
                    headers=fleet.a.headers("sensor")).json()["occurrences"]
    assert schedule_id in [o["schedule_id"] for o in got]
    audit = httpx.get(fleet.url + "/api/audit", headers=fleet.a.headers("admin")).json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    actions = [e["action"] for e in entries if e.get("target_id") == schedule_id]
    assert "schedule.pause" in actions and "schedule.resume" in actions
    beta = client_for(fleet.b.keys["technician"])
    assert beta.get(f"/dashboard/maintenance/{schedule_id}").status_code == 404
    assert schedule_id not in beta.get("/dashboard/maintenance").text
    page_b = beta.get("/dashboard/maintenance")
    resp = beta.post(f"/dashboard/maintenance/{schedule_id}/pause", data={"csrf": csrf_of(page_b)},
                     headers=origin(beta))
    assert resp.status_code == 404


def test_host_page_tags_and_tag_filters(fleet: Fleet, berlin, client_for) -> None:
    client = client_for(fleet.a.keys["technician"])
    host = "alpha-pc-03"  # its disk is 97 % full: an alert
    page = client.get(f"/dashboard/hosts/{host}?lang=en")
    assert 'id="host-tags"' in page.text and "No tags." in page.text
    resp = client.post(f"/dashboard/hosts/{host}/tags", data={"csrf": csrf_of(page), "action": "add",
                                                               "tag": "Standort:Filiale-2"}, headers=origin(client))
    assert resp.status_code == 303
    page = client.get(f"/dashboard/hosts/{host}?lang=en")
    assert 'data-tag="standort:filiale-2"' in page.text
    resp = client.post(f"/dashboard/hosts/{host}/tags", data={"csrf": "forged", "action": "add", "tag": "x"},
                       headers=origin(client))
    assert resp.status_code == 403
    resp = client.post(f"/dashboard/hosts/{host}/tags", data={"csrf": csrf_of(page), "action": "add",
                                                               "tag": "kein gültiges tag"}, headers=origin(client))
    assert resp.status_code == 422 and "kunde:baeckerei-mueller" in resp.text

    fleet_page = client.get("/dashboard/fleet", params={"tag": "standort:filiale-2"})
    assert re.findall(r'href="/dashboard/hosts/([^"]+)"', fleet_page.text) == [host]
    assert '<option value="standort:filiale-2" selected>' in fleet_page.text
    alerts = client.get("/dashboard/alerts", params={"tag": "standort:filiale-2"})
    assert set(re.findall(r'href="/dashboard/hosts/([^"]+)"', alerts.text)) == {host}
    everything = client.get("/dashboard/alerts")
    assert len(set(re.findall(r'href="/dashboard/hosts/([^"]+)"', everything.text))) > 1
    jobs = client.get("/dashboard/jobs", params={"tag": "standort:filiale-2"})
    assert 'id="empty"' in jobs.text and '<option value="standort:filiale-2" selected>' in jobs.text

    # a sensor's tag is shown as such and cannot be removed here
    page = client.get(f"/dashboard/hosts/{berlin[0]}?lang=en")
    assert 'data-tag="kunde:baeckerei"' in page.text and "(sensor)" in page.text
    resp = client.post(f"/dashboard/hosts/{berlin[0]}/tags", data={"csrf": csrf_of(page), "action": "remove",
                                                                    "tag": "kunde:baeckerei"}, headers=origin(client))
    assert resp.status_code == 303 and resp.headers["location"].endswith("?tagmsg=sensor_tag")
    assert "SENSOR_TAGS" in client.get(resp.headers["location"] + "&lang=en").text

    page = client.get(f"/dashboard/hosts/{host}")
    resp = client.post(f"/dashboard/hosts/{host}/tags", data={"csrf": csrf_of(page), "action": "remove",
                                                               "tag": "standort:filiale-2"}, headers=origin(client))
    assert resp.status_code == 303
    assert 'data-tag="standort:filiale-2"' not in client.get(f"/dashboard/hosts/{host}").text
    beta = client_for(fleet.b.keys["technician"])
    page_b = beta.get("/dashboard/fleet")
    assert "kunde:baeckerei" not in page_b.text
    resp = beta.post(f"/dashboard/hosts/{host}/tags", data={"csrf": csrf_of(page_b), "action": "add",
                                                             "tag": "geklaut"}, headers=origin(beta))
    assert resp.status_code == 404


def test_report_download(fleet: Fleet, berlin, client_for) -> None:
    pytest.importorskip("techcare.fleet.report", reason="the report rendering (techcare.fleet.report) is not there")
    send_schedule(fleet, berlin, name="Monatswartung", tag="kunde:baeckerei")
    client = client_for(fleet.a.keys["technician"])
    month = datetime.now(UTC).strftime("%Y-%m")
    for fmt, media in (("html", "text/html"), ("md", "text/markdown")):
        resp = client.get("/dashboard/maintenance/report",
                          params={"tag": "kunde:baeckerei", "month": month, "format": fmt, "lang": "de"})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith(media)
        assert f'filename="wartung-kunde-baeckerei-{month}.{fmt}"' in resp.headers["content-disposition"]
        assert berlin[0] in resp.text and "alpha-pc-03" not in resp.text  # only the tag's hosts
    assert client.get("/dashboard/maintenance/report", params={"month": "2026-13"}).status_code == 422
