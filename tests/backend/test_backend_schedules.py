"""Maintenance schedules in the backend (docs/remote-jobs.md §5): store -> due at the host's check-in in its own
zone -> handed out once -> report -> listing and report data; daylight-saving days, time zones, missed windows
with and without catch-up, many check-ins, two instances, pause/resume, organisations and the edition gate. On
PostgreSQL + Redis and on the embedded default.

Tests that need a chosen "now" call the backend's due index and crud functions with it (the same code the
sensor route runs); the rest go through HTTP with the real clock.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from service_helpers import FAST, REDIS_URL, drop_redis_prefix, require_redis
from sqlalchemy import select

from techcare.signing import SigningKey, verify_envelope

KEY = SigningKey.generate()
VARIANT = {"steps": [{"number": 1, "action": "win.clear_temp", "params": {"older_than_days": 7}}],
           "approval": "GO REPAIR: 1", "approved_steps": [1], "plan_fingerprint": "0123456789ab"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def payload(hosts: list[str], *, now: datetime | None = None, **changes: Any) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    body: dict[str, Any] = {
        "v": 1, "kind": "schedule", "schedule_id": uuid.uuid4().hex, "revision": 1,
        "name": "Wochenwartung Bäckerei Müller", "tag": "kunde:baeckerei-mueller", "hosts": hosts,
        "variants": {"windows": VARIANT, "linux": {**VARIANT, "steps": [
            {"number": 1, "action": "linux.clear_temp", "params": {}}]}},
        "rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", "dtstart": "2026-10-04T02:30:00", "window_minutes": 60,
        "catch_up": False, "allow_high_risk": False, "allow_reboot": False,
        "valid_from": iso(now - timedelta(days=1)), "valid_until": iso(now + timedelta(days=390)),
        "issued_at": iso(now), "signer": "Anna Technikerin"}
    body.update(changes)
    return body


def envelope(hosts: list[str], **kwargs: Any) -> dict[str, Any]:
    return KEY.sign(payload(hosts, **kwargs))


def due_now(zone: str, minutes_ago: int = 10, **changes: Any) -> dict[str, Any]:
    """Payload fields of a daily schedule whose occurrence in ``zone`` started ``minutes_ago`` minutes ago."""
    local = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(ZoneInfo(zone))
    return {"rrule": "FREQ=DAILY", "dtstart": local.strftime("%Y-%m-%dT%H:%M:00"), "window_minutes": 120,
            **changes}


def occurrence_now(zone: str, minutes_ago: int = 10) -> str:
    local = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%dT%H:%M")


def add_host(client, org, host: str, zone: str | None = None, os_name: str = "windows", **extra: Any) -> None:
    sample = {"sample_id": uuid.uuid4().hex, "timestamp": iso(datetime.now(UTC)), "hostname": host, "os": os_name,
              "cpu_percent": 5.0, "ram_percent": 30.0, **extra}
    if zone is not None:
        sample["timezone"] = zone
    resp = client.post("/api/monitoring/metrics", json=sample, headers=org.headers("sensor"))
    assert resp.status_code == 201, resp.text


@pytest.fixture
def org(client, make_org):
    """A Pro Business organisation with a host in Berlin and one that has not reported its zone."""
    seeded = make_org("pro_business")
    add_host(client, seeded, "kasse-01", "Europe/Berlin")
    add_host(client, seeded, "buero-pc")
    return seeded


def create(client, org, env: dict[str, Any], role: str = "technician") -> Any:
    return client.post("/api/schedules", json={"envelope": env}, headers=org.headers(role))


def fetch(client, org, host: str) -> dict[str, Any]:
    resp = client.get("/api/sensor/jobs", params={"host": host}, headers=org.headers("sensor"))
    assert resp.status_code == 200, resp.text
    return resp.json()


def report(client, org, schedule_id: str, occurrence: str, **body: Any) -> Any:
    return client.post(f"/api/sensor/schedules/{schedule_id}/occurrences/{occurrence}/report", json=body,
                       headers=org.headers("sensor"))


def listing(client, org, schedule_id: str, **params: Any) -> list[dict[str, Any]]:
    resp = client.get(f"/api/schedules/{schedule_id}/occurrences", params=params, headers=org.headers("technician"))
    assert resp.status_code == 200, resp.text
    return resp.json()["occurrences"]


# ---- with a chosen "now": the due index and crud functions the sensor route runs ------------------------------
class Clock:
    """The backend's schedule code at chosen moments, on the app's database."""

    def __init__(self, app: Any, org: Any) -> None:
        from techcare_backend.crud_schedules import DueIndex

        self.ctx, self.org, self.index = app.state.ctx, org, DueIndex()

    def store(self, env: dict[str, Any], now: datetime) -> str:
        from techcare_backend import crud_schedules

        with self.ctx.sessionmaker() as session:
            _, _, parsed = crud_schedules.create_schedule(session, organisation_id=self.org.organisation_id,
                                                          envelope=env, created_by="test", actor="test", now=now)
            session.commit()
        self.index.invalidate(self.org.organisation_id)
        return parsed.schedule_id

    def due(self, host: str, now: datetime) -> list[str]:
        """The occurrences handed to ``host`` at a check-in at ``now``."""
        return [occ for _, occ, _ in self.index.due(self.ctx.sessionmaker, self.org.organisation_id, host, now)]

    def rows(self, schedule_id: str, host: str) -> dict[str, tuple[str, str | None]]:
        from techcare_backend.models import ScheduleOccurrence

        with self.ctx.sessionmaker() as session:
            return {r.occurrence: (r.status, r.reason) for r in session.scalars(select(ScheduleOccurrence).where(
                ScheduleOccurrence.schedule_id == schedule_id, ScheduleOccurrence.hostname == host))}

    def listing(self, schedule_id: str, now: datetime, since: datetime, until: datetime) -> list[dict[str, Any]]:
        from techcare_backend import crud_schedules

        with self.ctx.sessionmaker() as session:
            schedule = crud_schedules.get_schedule(session, organisation_id=self.org.organisation_id,
                                                   schedule_id=schedule_id)
            items = crud_schedules.list_occurrences(session, schedule, now=now, since=since, until=until)
            session.commit()
        return items


def test_store_fetch_once_report_and_list(client, org) -> None:
    env = envelope(["kasse-01", "buero-pc"], **due_now("Europe/Berlin"))
    schedule_id = env["payload"]["schedule_id"]
    resp = create(client, org, env)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "active" and body["revision"] == 1 and body["platforms"] == ["linux", "windows"]
    assert body["hosts"] == ["buero-pc", "kasse-01"] and body["signer"] == "Anna Technikerin"
    assert body["created_by"] == f"Technician {org.organisation}" and body["key_id"] == KEY.key_id
    nxt = {n["host"]: n for n in body["next"]}
    assert nxt["kasse-01"]["timezone"] == "Europe/Berlin" and nxt["kasse-01"]["timezone_known"] is True
    assert nxt["buero-pc"]["timezone"] == "UTC" and nxt["buero-pc"]["timezone_known"] is False

    got = fetch(client, org, "kasse-01")
    occurrence = occurrence_now("Europe/Berlin")
    assert got["jobs"] == [] and [(o["schedule_id"], o["occurrence"]) for o in got["occurrences"]] == [
        (schedule_id, occurrence)]
    signed = verify_envelope(got["occurrences"][0]["envelope"], {KEY.key_id: KEY.public_raw})
    assert signed["schedule_id"] == schedule_id  # served exactly as signed
    assert fetch(client, org, "kasse-01")["occurrences"] == []  # handed out once

    steps = [{"number": 1, "action": "win.clear_temp", "status": "finished", "session": "20261206-0230-kasse"}]
    assert report(client, org, schedule_id, occurrence, host="kasse-01", status="running").json() == {
        "status": "running"}
    resp = report(client, org, schedule_id, occurrence, host="kasse-01", status="ran", steps=steps)
    assert resp.status_code == 200 and resp.json() == {"status": "ran"}
    resp = report(client, org, schedule_id, occurrence, host="kasse-01", status="failed")
    assert resp.status_code == 409 and resp.json()["code"] == "OCCURRENCE_FINAL"
    resp = report(client, org, schedule_id, "2020-01-05T02:30", host="kasse-01", status="ran")
    assert resp.status_code == 404 and resp.json()["code"] == "NOT_FOUND"

    items = {(o["host"], o["occurrence"]): o for o in listing(client, org, schedule_id, host="kasse-01")}
    done = items[("kasse-01", occurrence)]
    assert done["status"] == "ran" and done["steps"] == steps and done["timezone"] == "Europe/Berlin"
    assert done["changelog"] == ["/api/changelogs/20261206-0230-kasse"] and done["finished_at"]
    assert done["planned_local"].startswith(occurrence)
    ahead = [o for o in items.values() if o["status"] == "pending"]
    assert ahead and all(o["planned_utc"] > done["planned_utc"] for o in ahead)
    assert client.get(f"/api/schedules/{schedule_id}", headers=org.headers("admin")).json()["counts"] == {"ran": 1}


def test_berlin_spring_forward_and_fall_back(app, org) -> None:
    """RFC 5545 on daylight-saving days: 02:30 on 2027-03-28 does not exist in Berlin and runs at 03:30 CEST
    (01:30 UTC); 02:30 on 2026-10-25 happens twice and runs at the first (CEST, 00:30 UTC), once."""
    clock = Clock(app, org)
    created = utc(2026, 10, 1)
    sid = clock.store(envelope(["kasse-01"], now=created, valid_from=iso(created), dtstart="2026-10-18T02:30:00",
                               valid_until=iso(utc(2027, 11, 1))), created)
    # fall-back: the first 02:30 (CEST) is the occurrence; the repeated one (CET, 01:30 UTC) is not a second one
    assert clock.due("kasse-01", utc(2026, 10, 25, 0, 29)) == []
    assert clock.due("kasse-01", utc(2026, 10, 25, 0, 31)) == ["2026-10-25T02:30"]
    assert clock.due("kasse-01", utc(2026, 10, 25, 1, 31)) == []
    # the week before was not fetched: recorded as missed, never silently skipped
    assert clock.rows(sid, "kasse-01") == {"2026-10-18T02:30": ("missed", "not_fetched"),
                                            "2026-10-25T02:30": ("delivered", None)}
    # spring-forward: 02:30 CET does not exist; the occurrence starts at 03:30 CEST = 01:30 UTC
    assert clock.due("kasse-01", utc(2027, 3, 28, 1, 29)) == []
    assert clock.due("kasse-01", utc(2027, 3, 28, 1, 31)) == ["2027-03-28T02:30"]
    assert clock.due("kasse-01", utc(2027, 3, 28, 2, 5)) == []
    items = {o["occurrence"]: o for o in clock.listing(sid, utc(2027, 3, 28, 2, 5), utc(2027, 3, 20),
                                                        utc(2027, 4, 5))}
    assert items["2027-03-28T02:30"]["planned_utc"] == utc(2027, 3, 28, 1, 30)
    assert items["2027-03-28T02:30"]["planned_local"].isoformat() == "2027-03-28T03:30:00+02:00"
    assert items["2027-03-21T02:30"]["planned_utc"] == utc(2027, 3, 21, 1, 30)  # CET the week before
    assert items["2027-04-04T02:30"]["planned_utc"] == utc(2027, 4, 4, 0, 30)  # CEST the week after
    assert items["2027-04-04T02:30"]["status"] == "pending"


def test_same_schedule_runs_in_each_hosts_own_zone(app, client, org) -> None:
    add_host(client, org, "filiale-ny", "America/New_York")
    clock = Clock(app, org)
    created = utc(2026, 11, 30)
    clock.store(envelope(["kasse-01", "filiale-ny"], now=created, valid_from=iso(created),
                         rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=30", dtstart="2026-12-06T02:30:00"), created)
    # Sunday 02:30 local: 01:30 UTC in Berlin (CET), 07:30 UTC in New York (EST)
    assert clock.due("kasse-01", utc(2026, 12, 6, 1, 35)) == ["2026-12-06T02:30"]
    assert clock.due("filiale-ny", utc(2026, 12, 6, 1, 35)) == []
    assert clock.due("filiale-ny", utc(2026, 12, 6, 7, 29)) == []
    assert clock.due("filiale-ny", utc(2026, 12, 6, 7, 31)) == ["2026-12-06T02:30"]
    assert clock.due("kasse-01", utc(2026, 12, 6, 7, 31)) == []


def test_missed_window_of_an_offline_host_is_recorded(app, org) -> None:
    clock = Clock(app, org)
    created = utc(2026, 11, 30)
    sid = clock.store(envelope(["kasse-01", "buero-pc"], now=created, valid_from=iso(created),
                               dtstart="2026-12-06T02:30:00"), created)
    # kasse-01 was off on Sunday night and checks in on Monday morning: nothing runs, the window is missed
    assert clock.due("kasse-01", utc(2026, 12, 7, 8, 0)) == []
    assert clock.rows(sid, "kasse-01") == {"2026-12-06T02:30": ("missed", "not_fetched")}
    assert clock.due("kasse-01", utc(2026, 12, 7, 8, 5)) == []
    # buero-pc never checks in: the listing records its missed window too (UTC: no zone reported)
    items = clock.listing(sid, utc(2026, 12, 7, 9, 0), utc(2026, 12, 1), utc(2026, 12, 14))
    by_host = {(o["host"], o["occurrence"]): o for o in items}
    assert by_host[("buero-pc", "2026-12-06T02:30")]["status"] == "missed"
    assert by_host[("buero-pc", "2026-12-06T02:30")]["timezone_known"] is False
    assert by_host[("buero-pc", "2026-12-13T02:30")]["status"] == "pending"


def test_catch_up_runs_once_at_the_next_check_in_until_the_next_occurrence(app, org) -> None:
    clock = Clock(app, org)
    created = utc(2026, 11, 30)
    sid = clock.store(envelope(["kasse-01"], now=created, valid_from=iso(created), dtstart="2026-12-06T02:30:00",
                               catch_up=True), created)
    # off for two Sundays: the newest occurrence is caught up at the next check-in, the older one is missed
    assert clock.due("kasse-01", utc(2026, 12, 15, 8, 0)) == ["2026-12-13T02:30"]
    assert clock.due("kasse-01", utc(2026, 12, 15, 8, 1)) == []
    assert clock.rows(sid, "kasse-01") == {"2026-12-06T02:30": ("missed", "not_fetched"),
                                            "2026-12-13T02:30": ("delivered", None)}
    # handed out but never reported by the time the next occurrence starts: missed (no_report)
    assert clock.due("kasse-01", utc(2026, 12, 20, 1, 31)) == ["2026-12-20T02:30"]
    assert clock.rows(sid, "kasse-01")["2026-12-13T02:30"] == ("missed", "no_report")


def test_delivered_without_report_becomes_missed_and_a_late_report_replaces_it(app, client, org) -> None:
    clock = Clock(app, org)
    created = utc(2026, 11, 30)
    sid = clock.store(envelope(["kasse-01"], now=created, valid_from=iso(created), dtstart="2026-12-06T02:30:00"),
                      created)
    assert clock.due("kasse-01", utc(2026, 12, 6, 1, 40)) == ["2026-12-06T02:30"]
    clock.listing(sid, utc(2026, 12, 6, 3, 0), utc(2026, 12, 1), utc(2026, 12, 10))
    assert clock.rows(sid, "kasse-01") == {"2026-12-06T02:30": ("missed", "no_report")}
    resp = report(client, org, sid, "2026-12-06T02:30", host="kasse-01", status="ran")  # sent from its spool later
    assert resp.status_code == 200 and clock.rows(sid, "kasse-01") == {"2026-12-06T02:30": ("ran", None)}


def test_occurrences_that_fell_into_a_pause_are_skipped_not_missed(app, org) -> None:
    from techcare_backend import crud_schedules

    clock = Clock(app, org)
    created = utc(2026, 11, 30)
    sid = clock.store(envelope(["kasse-01"], now=created, valid_from=iso(created), dtstart="2026-12-06T02:30:00"),
                      created)
    assert clock.due("kasse-01", utc(2026, 12, 6, 1, 40)) == ["2026-12-06T02:30"]

    def change(action: str, now: datetime) -> None:
        with clock.ctx.sessionmaker() as session:
            crud_schedules.set_state(session, organisation_id=org.organisation_id, schedule_id=sid, action=action,
                                     actor="test", by="Anna", now=now)
            session.commit()
        clock.index.invalidate(org.organisation_id)

    change("pause", utc(2026, 12, 8))
    assert clock.due("kasse-01", utc(2026, 12, 13, 1, 40)) == []  # paused: nothing handed out
    change("resume", utc(2026, 12, 20, 1, 40))  # inside the window of 2026-12-20: that one still runs
    assert clock.rows(sid, "kasse-01") == {"2026-12-06T02:30": ("delivered", None),
                                            "2026-12-13T02:30": ("skipped", "paused")}
    assert clock.due("kasse-01", utc(2026, 12, 20, 1, 45)) == ["2026-12-20T02:30"]
    items = {o["occurrence"]: (o["status"], o["reason"]) for o in clock.listing(
        sid, utc(2026, 12, 20, 1, 50), utc(2026, 12, 1), utc(2026, 12, 28))}
    assert items == {"2026-12-06T02:30": ("missed", "no_report"), "2026-12-13T02:30": ("skipped", "paused"),
                     "2026-12-20T02:30": ("delivered", None), "2026-12-27T02:30": ("pending", None)}


def test_many_check_ins_inside_the_window_hand_it_out_once(client, org) -> None:
    env = envelope(["kasse-01"], **due_now("Europe/Berlin"))
    assert create(client, org, env).status_code == 201
    got = [fetch(client, org, "kasse-01")["occurrences"] for _ in range(20)]
    results: list[list[Any]] = []
    threads = [threading.Thread(target=lambda: results.append(fetch(client, org, "kasse-01")["occurrences"]))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(len(g) for g in got + results) == 1 and len(got[0]) == 1


def test_pause_and_resume(client, org, app) -> None:
    env = envelope(["kasse-01", "buero-pc"], **due_now("Europe/Berlin"))
    schedule_id = env["payload"]["schedule_id"]
    assert create(client, org, env).status_code == 201
    resp = client.post(f"/api/schedules/{schedule_id}/pause", headers=org.headers("technician"))
    assert resp.status_code == 200 and resp.json()["status"] == "paused" and resp.json()["next"] == []
    assert resp.json()["paused_by"] == f"Technician {org.organisation}"
    assert client.post(f"/api/schedules/{schedule_id}/pause", headers=org.headers("technician")).json()["code"] \
        == "SCHEDULE_STATE"
    assert fetch(client, org, "kasse-01")["occurrences"] == []
    assert all(o["status"] == "pending" for o in listing(client, org, schedule_id))  # nothing missed while paused
    resp = client.post(f"/api/schedules/{schedule_id}/resume", headers=org.headers("technician"))
    assert resp.status_code == 200 and resp.json()["status"] == "active"
    assert [o["occurrence"] for o in fetch(client, org, "kasse-01")["occurrences"]] == [
        occurrence_now("Europe/Berlin")]
    resp = client.delete(f"/api/schedules/{schedule_id}", headers=org.headers("technician"))
    assert resp.status_code == 200 and resp.json()["status"] == "deleted"
    assert fetch(client, org, "buero-pc")["occurrences"] == []
    assert client.get(f"/api/schedules/{schedule_id}", headers=org.headers("technician")).status_code == 404
    assert schedule_id not in [s["schedule_id"] for s in client.get(
        "/api/schedules", headers=org.headers("technician")).json()["schedules"]]
    with app.state.ctx.sessionmaker() as session:
        from techcare_backend.models import AuditLog

        actions = [a.action for a in session.scalars(select(AuditLog).where(
            AuditLog.organisation_id == org.organisation_id, AuditLog.target_id == schedule_id)
            .order_by(AuditLog.id))]
    assert actions == ["schedule.create", "schedule.pause", "schedule.resume", "schedule.delete"]


def test_revisions(client, org) -> None:
    first = payload(["kasse-01"], **due_now("Europe/Berlin", minutes_ago=300))
    assert create(client, org, KEY.sign(first)).status_code == 201
    assert fetch(client, org, "kasse-01")["occurrences"] == []  # its window is over
    resp = create(client, org, KEY.sign(first))
    assert resp.status_code == 409 and resp.json()["code"] == "SCHEDULE_REVISION"
    second = {**first, "revision": 2, **due_now("Europe/Berlin")}
    resp = create(client, org, KEY.sign(second))
    assert resp.status_code == 201 and resp.json()["revision"] == 2
    got = fetch(client, org, "kasse-01")["occurrences"]  # the new revision is served at once
    assert len(got) == 1 and got[0]["envelope"]["payload"]["revision"] == 2
    resp = create(client, org, KEY.sign({**first, "revision": 1}))
    assert resp.status_code == 409 and "2" in resp.json()["detail"]


@pytest.mark.parametrize("change, needle", [
    ({"rrule": "FREQ=HOURLY"}, "FREQ=HOURLY"),
    ({"rrule": "FREQ=WEEKLY;BYSECOND=5"}, "BYSECOND"),
    ({"rrule": "BYDAY=SU;FREQ=WEEKLY"}, "starting with FREQ"),
    ({"window_minutes": 2}, "window_minutes"),
    ({"dtstart": "2026-12-06T02:30:15"}, "dtstart"),
    ({"dtstart": "2026-12-06T02:30:00Z"}, "dtstart"),
    ({"kind": "repair"}, "schedule"),
    ({"variants": {}}, "variants"),
    ({"variants": {"windows": {**VARIANT, "approval": ""}}}, "approval"),
    ({"variants": {"amiga": VARIANT}}, "variants"),
    ({"tag": "Kunde Müller"}, "tag"),
    ({"hosts": []}, "hosts"),
    ({"catch_up": "yes"}, "catch_up"),
    ({"valid_from": "1999-12-31T00:00:00Z"}, "2000-2999"),
    ({"extra": 1}, "unknown fields ['extra']"),
    ({"signer": "Anna\u202eTechnikerin"}, "U+202E"),  # shown in every list: no right-to-left override
    ({"name": "Wartung\u200b"}, "U+200B"),
])
def test_malformed_schedules_are_422_naming_the_problem(client, org, change, needle) -> None:
    resp = client.post("/api/schedules", json={"envelope": KEY.sign({**payload(["kasse-01"]), **change})},
                       headers={**org.headers("technician"), "Accept-Language": "en"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["code"] == "INVALID_SCHEDULE" and needle in resp.json()["detail"]


@pytest.mark.parametrize("change, code, needle", [
    ({"rrule": "FREQ=WEEKLY;BYDAY=SU;BYDAY=MO"}, "SCHEDULE_RECURRENCE", "each once"),
    ({"rrule": "FREQ=DAILY;BYHOUR=2,3", "window_minutes": 120}, "SCHEDULE_RECURRENCE", "window"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=XX"}, "SCHEDULE_RECURRENCE", "not a valid RRULE"),
    ({"dtstart": "2026-02-30T02:00:00"}, "SCHEDULE_RECURRENCE", "dtstart"),
    ({"valid_until": "2027-02-30T00:00:00Z"}, "SCHEDULE_VALIDITY", "not a valid date"),
    ({"valid_until": "2029-01-01T00:00:00Z"}, "SCHEDULE_VALIDITY", "400 days"),
    ({"valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-02-01T00:00:00Z"}, "SCHEDULE_VALIDITY",
     "in the past"),
    ({"valid_until": "2020-01-01T00:00:00Z"}, "SCHEDULE_VALIDITY", "after payload.valid_from"),
    ({"rrule": "FREQ=WEEKLY;COUNT=1", "dtstart": "2026-01-04T02:30:00"}, "SCHEDULE_VALIDITY", "no occurrence"),
])
def test_a_timing_that_cannot_work_is_409(client, org, change, code, needle) -> None:
    """The payload has the declared shape (schema violations are 422) but its recurrence or validity cannot work."""
    resp = client.post("/api/schedules", json={"envelope": KEY.sign({**payload(["kasse-01"]), **change})},
                       headers={**org.headers("technician"), "Accept-Language": "en"})
    assert resp.status_code == 409, resp.text
    assert resp.json()["code"] == code and needle in resp.json()["detail"], resp.text


def test_errors_are_german_by_default_and_unknown_hosts_named(client, org) -> None:
    resp = create(client, org, envelope(["kasse-01"], rrule="FREQ=SECONDLY"))
    assert resp.status_code == 422 and "erwartet eine RRULE" in resp.json()["detail"]
    resp = create(client, org, envelope(["kasse-01", "nie-gesehen"]))
    assert resp.status_code == 404 and resp.json()["code"] == "UNKNOWN_HOSTS"
    assert "nie-gesehen" in resp.json()["detail"]
    # who and what before the content: unknown hosts are named even when the content is wrong too
    resp = create(client, org, envelope(["nie-gesehen"], rrule="FREQ=SECONDLY"))
    assert resp.status_code == 404 and resp.json()["code"] == "UNKNOWN_HOSTS"


def test_organisations_are_isolated(client, org, make_org) -> None:
    other = make_org("pro_business")
    add_host(client, other, "kasse-01", "Europe/Berlin")  # the same host name in another organisation
    env = envelope(["kasse-01"], **due_now("Europe/Berlin"))
    schedule_id = env["payload"]["schedule_id"]
    assert create(client, org, env).status_code == 201
    assert client.get(f"/api/schedules/{schedule_id}", headers=other.headers("technician")).status_code == 404
    assert client.post(f"/api/schedules/{schedule_id}/pause", headers=other.headers("admin")).status_code == 404
    assert client.get(f"/api/schedules/{schedule_id}/occurrences",
                      headers=other.headers("technician")).status_code == 404
    assert client.get("/api/schedules", headers=other.headers("technician")).json() == {"schedules": []}
    assert fetch(client, other, "kasse-01")["occurrences"] == []  # the other organisation's host gets nothing
    resp = create(client, other, env)  # the same signed schedule sent by another organisation
    assert resp.status_code == 409 and resp.json()["code"] == "SCHEDULE_EXISTS"
    occurrence = occurrence_now("Europe/Berlin")
    assert len(fetch(client, org, "kasse-01")["occurrences"]) == 1
    assert report(client, other, schedule_id, occurrence, host="kasse-01", status="ran").status_code == 404


def test_roles_and_edition_gate(client, org, make_org) -> None:
    env = envelope(["kasse-01"])
    resp = create(client, org, env, role="sensor")
    assert resp.status_code == 403 and resp.json()["code"] == "FORBIDDEN"
    assert create(client, org, env, role="admin").status_code == 201
    resp = client.post(f"/api/sensor/schedules/{env['payload']['schedule_id']}/occurrences/2026-12-06T02:30/report",
                       json={"host": "kasse-01", "status": "ran"}, headers=org.headers("technician"))
    assert resp.status_code == 403
    pro = make_org("pro")
    for resp in (create(client, pro, envelope(["kasse-01"])),
                 client.get("/api/schedules", headers=pro.headers("technician")),
                 client.get("/api/reports/maintenance", headers=pro.headers("technician"))):
        assert resp.status_code == 403 and resp.json()["code"] == "ENTITLEMENTS_MISSING", resp.text
        assert "Pro Business" in resp.json()["detail"]


def test_maintenance_report_data(app, client, org) -> None:
    add_host(client, org, "server-01", "Europe/Berlin", os_name="linux",
             disks=[{"mount": "/", "total": 100, "used": 98, "free": 2, "percent": 98.0}],
             pending_updates={"count": 4, "security": 1})
    tagged = {"hosts": ["kasse-01", "server-01"]}
    assert client.post("/api/tags/kunde:baeckerei-mueller/hosts", json=tagged,
                       headers=org.headers("technician")).status_code == 200
    env = envelope(["kasse-01", "server-01"], **due_now("Europe/Berlin"))
    schedule_id = env["payload"]["schedule_id"]
    assert create(client, org, env).status_code == 201
    occurrence = occurrence_now("Europe/Berlin")
    assert len(fetch(client, org, "kasse-01")["occurrences"]) == 1
    steps = [{"number": 1, "action": "win.clear_temp", "status": "finished"}]
    assert report(client, org, schedule_id, occurrence, host="kasse-01", status="ran", steps=steps).status_code \
        == 200
    month = datetime.now(UTC).strftime("%Y-%m")
    resp = client.get("/api/reports/maintenance", params={"tag": "kunde:baeckerei-mueller", "month": month},
                      headers={**org.headers("technician"), "Accept-Language": "en"})
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["v"] == 1 and data["month"] == month and data["tag"] == "kunde:baeckerei-mueller"
    assert data["organisation"] == org.organisation
    assert [h["host"] for h in data["hosts"]] == ["kasse-01", "server-01"]  # buero-pc carries no such tag
    assert [s["schedule_id"] for s in data["schedules"]] == [schedule_id]
    hosts = {h["host"]: h for h in data["hosts"]}
    ran = [o for o in hosts["kasse-01"]["occurrences"] if o["occurrence"] == occurrence]
    assert ran[0]["status"] == "ran" and ran[0]["steps"] == steps and ran[0]["schedule"] == env["payload"]["name"]
    assert hosts["kasse-01"]["counts"]["ran"] == 1 and hosts["kasse-01"]["tags"] == ["kunde:baeckerei-mueller"]
    checks = {f["check"]: f for f in hosts["server-01"]["findings"]}
    assert checks["disk_critical"]["severity"] == "critical" and "98" in checks["disk_critical"]["summary"]
    assert "4 pending updates" in checks["pending_updates"]["summary"]
    assert data["totals"]["hosts"] == 2 and data["totals"]["ran"] == 1
    resp = client.get("/api/reports/maintenance", params={"month": "2026-13"}, headers=org.headers("technician"))
    assert resp.status_code == 422


# ---- two backend instances on one PostgreSQL ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_settings(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from techcare_backend.core.db import migrate
    from techcare_backend.testing import make_settings

    require_redis()
    prefix = f"techcare-test-schedules-{uuid.uuid4().hex[:10]}:"
    settings = make_settings(postgres_url, REDIS_URL, data_dir=tmp_path_factory.mktemp("schedules"),
                             redis_prefix=prefix, **FAST)
    migrate(settings.sqlalchemy_url)
    yield settings
    drop_redis_prefix(prefix)


def test_two_instances_hand_an_occurrence_out_once_and_honour_a_pause(pg_settings) -> None:
    from fastapi.testclient import TestClient
    from techcare_backend.main import create_app
    from techcare_backend.testing import seed

    with TestClient(create_app(pg_settings)) as a, TestClient(create_app(pg_settings)) as b:
        org = seed(a, edition="pro_business", admin_token=pg_settings.admin_token)
        for host in ("kasse-01", "buero-pc"):
            add_host(a, org, host, "Europe/Berlin")
        env = envelope(["kasse-01", "buero-pc"], **due_now("Europe/Berlin"))
        assert create(b, org, env).status_code == 201
        for round_ in range(3):
            got: list[list[Any]] = []
            threads = [threading.Thread(target=lambda c=c: got.append(fetch(c, org, "kasse-01")["occurrences"]))
                       for c in (a, b, a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert sum(len(g) for g in got) == (1 if round_ == 0 else 0)
        # paused through B: A, whose index may still hold the schedule, hands nothing out (the claim re-checks)
        assert b.post(f"/api/schedules/{env['payload']['schedule_id']}/pause",
                      headers=org.headers("technician")).status_code == 200
        assert fetch(a, org, "buero-pc")["occurrences"] == []
        assert fetch(b, org, "buero-pc")["occurrences"] == []
        assert b.post(f"/api/schedules/{env['payload']['schedule_id']}/resume",
                      headers=org.headers("technician")).status_code == 200
        got = [fetch(c, org, "buero-pc")["occurrences"] for c in (a, b, a)]
        assert sum(len(g) for g in got) == 1
