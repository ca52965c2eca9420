"""Maintenance schedules end to end (docs/remote-jobs.md §5) against a real backend — on PostgreSQL + Redis and on
the embedded default — with the sensor host in process: the simulated Windows PC of the replayed snapshot (its
zone recorded as Europe/Berlin), its samples (zone and tags), the backend's due check and hand-out, the host's own
verification with an injected clock, and the reports the technician then lists.

The backend runs on the real clock, so each schedule is made due *now*: a daily occurrence a few minutes ago in
Berlin. Missed windows need a schedule older than the window; the test moves ``created_at`` back in the database,
as if the technician had signed it last week."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from techcare.backend_client import BackendClient
from techcare.config import get_settings, reset_settings
from techcare.monitoring.sensor import Sensor
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import SigningKey, TrustStore
from techcare.system.runner import Entry

from remote_job_payloads import WINDOWS
from schedule_payloads import HOST, schedule, z

pytestmark = [pytest.mark.slow]

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module", params=["postgres", "embedded"])
def backend(request):
    from techcare_backend.testing import start_backend

    if request.param == "postgres":
        from service_helpers import require_service

        require_service("Redis", "127.0.0.1", 6379)
        live = start_backend(request.getfixturevalue("postgres_url"), "redis://127.0.0.1:6379/0",
                             redis_prefix=f"techcare-test-{uuid.uuid4().hex[:10]}:",
                             rate_limit_ip_per_minute=100_000, rate_limit_key_per_minute=100_000)
    else:
        live = start_backend(rate_limit_ip_per_minute=100_000, rate_limit_key_per_minute=100_000)
    yield live
    live.stop()


class Clock:
    """The host's clock: the real time plus an offset a test may set."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Site:
    """One organisation: the technician's client and signing key, and the sensor host WS-EMPFANG-01."""

    def __init__(self, backend, monkeypatch) -> None:
        from techcare_backend.testing import seed

        self.backend = backend
        self.org = seed(backend, edition="pro_business")
        monkeypatch.setenv("REMOTE_JOBS", "on")
        monkeypatch.setenv("TECHCARE_LANG", "en")
        monkeypatch.setenv("SENSOR_TAGS", "kunde:baeckerei-mueller,rolle:empfang")
        reset_settings()
        self.key = SigningKey.generate()
        TrustStore(get_settings().techcare_home).add(self.key.public_key, name="Anna")
        self.technician = BackendClient(backend.url, self.org.keys["technician"], retries=0)
        self.pc = SimulatedPC.from_snapshot(WINDOWS)
        runner = self.pc.runner()
        runner.add(Entry("fact", "timezone", "Europe/Berlin"))  # the zone this PC's snapshot recorded
        self.clock = Clock()
        self.sensor = Sensor(settings=get_settings(), runner=runner, persist=False, cache_ttl={},
                             client=BackendClient(backend.url, self.org.keys["sensor"], retries=0))
        self.sensor.executor().clock = self.clock  # the host decides on its own clock
        assert self.sensor.take() is not None
        assert self.sensor.flush().error is None  # the host is known, with its zone and tags

    def due_now(self, minutes_ago: int = 10, **over) -> tuple[dict, str]:
        """A daily schedule whose occurrence started ``minutes_ago`` minutes ago in Berlin."""
        start = (datetime.now(BERLIN) - timedelta(minutes=minutes_ago)).replace(second=0, microsecond=0)
        now = datetime.now(UTC)
        fields = {"rrule": f"FREQ=DAILY;BYHOUR={start.hour};BYMINUTE={start.minute}",
                  "dtstart": (start - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:00"), "window_minutes": 60,
                  "valid_from": z(now - timedelta(days=7)), "valid_until": z(now + timedelta(days=30)),
                  "issued_at": z(now - timedelta(minutes=1))}
        fields.update(over)
        return schedule(**fields), start.strftime("%Y-%m-%dT%H:%M")

    def sign(self, p: dict) -> dict:
        return self.technician.post_json("/api/schedules", {"envelope": self.key.sign(p)})

    def occurrence(self, schedule_id: str, key: str) -> dict:
        listed = self.technician.get_json(f"/api/schedules/{schedule_id}/occurrences", params={"host": HOST})
        return next(o for o in listed["occurrences"] if o["occurrence"] == key)

    def execute(self, sql: str, **params) -> None:
        import sqlalchemy

        engine = sqlalchemy.create_engine(self.backend.settings.sqlalchemy_url)
        try:
            with engine.begin() as conn:
                conn.execute(sqlalchemy.text(sql), params)
        finally:
            engine.dispose()

    def restarts(self) -> int:
        return sum(1 for c in self.pc.commands if "Restart-Service" in c[-1] and "Spooler" in c[-1])


@pytest.fixture
def site(backend, monkeypatch) -> Site:
    return Site(backend, monkeypatch)


def test_the_sample_told_the_backend_the_hosts_zone_and_tags(site):
    p, key = site.due_now()
    created = site.sign(p)
    nxt = next(n for n in created["next"] if n["host"] == HOST)
    assert nxt["timezone"] == "Europe/Berlin" and nxt["timezone_known"] is True
    tags = {t["tag"]: t["hosts"] for t in site.technician.get_json("/api/tags")}
    assert tags["kunde:baeckerei-mueller"] == [HOST] and tags["rolle:empfang"] == [HOST]


def test_an_occurrence_is_handed_out_once_runs_once_and_is_reported(site):
    p, key = site.due_now()
    site.sign(p)
    assert site.occurrence(p["schedule_id"], key)["status"] == "pending"
    for _ in range(5):  # the sensor checks in again and again inside the window
        assert site.sensor.run_jobs(wait=0)
    assert site.restarts() == 1
    row = site.occurrence(p["schedule_id"], key)
    assert row["status"] == "ran", row
    assert [(s["number"], s["action"], s["status"]) for s in row["steps"]] == [
        (1, "win.restart_service", "finished"), (2, "win.restart_service", "finished")]
    assert row["timezone"] == "Europe/Berlin"
    assert datetime.fromisoformat(row["planned_utc"]).astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M") == key
    assert len(row["changelog"]) == 2  # a link per step's changelog session, uploaded by the sensor
    for link in row["changelog"]:
        entries = site.technician.get_json(link)
        assert entries and {e["event"] for e in entries} >= {"finished"}
    # the same envelope once more (as a backend replaying it would): refused on the host
    again = site.sensor.executor().process_occurrence(
        {"schedule_id": p["schedule_id"], "occurrence": key, "envelope": site.key.sign(p)})
    assert again.reason == "replayed" and site.restarts() == 1
    assert site.occurrence(p["schedule_id"], key)["status"] == "ran"  # final: the late skip is not taken


@pytest.mark.parametrize(("column_change", "what"), [
    ('"window_minutes":60', '"window_minutes":1440'),
    ('"Spooler"', '"WinDefend"'),
    ('"allow_high_risk":false', '"allow_high_risk":true'),
    (f'"hosts":["{HOST}"]', f'"hosts":["{HOST}","kasse-01"]'),
])
def test_schedule_tampering_in_the_database_is_refused_by_the_sensor(site, column_change, what):
    p, key = site.due_now()
    site.sign(p)
    site.execute("UPDATE schedules SET envelope = replace(envelope, :old, :new) WHERE id = :id",
                 old=column_change, new=what, id=p["schedule_id"])
    assert site.sensor.run_jobs(wait=0)
    assert site.restarts() == 0
    row = site.occurrence(p["schedule_id"], key)
    assert (row["status"], row["reason"]) == ("skipped", "bad_signature"), row


def test_the_host_decides_on_its_own_clock(site):
    p, key = site.due_now()
    site.sign(p)
    site.clock.offset = 3 * 3600  # the host's clock says the window ended two hours ago
    assert site.sensor.run_jobs(wait=0)
    row = site.occurrence(p["schedule_id"], key)
    assert (row["status"], row["reason"]) == ("skipped", "outside_window") and site.restarts() == 0


def _signed_last_week(site, p: dict) -> None:
    site.sign(p)
    site.execute("UPDATE schedules SET created_at = :at WHERE id = :id", at=datetime.now(UTC) - timedelta(days=7),
                 id=p["schedule_id"])


def test_a_window_missed_by_an_offline_host_is_recorded_missed(site):
    p, key = site.due_now(minutes_ago=150, window_minutes=60)  # the window ended 90 minutes ago
    _signed_last_week(site, p)
    assert site.sensor.run_jobs(wait=0)  # the host is back
    row = site.occurrence(p["schedule_id"], key)
    assert (row["status"], row["reason"]) == ("missed", "not_fetched"), row
    assert site.restarts() == 0


def test_a_window_missed_with_catch_up_runs_once_at_the_next_check_in(site):
    p, key = site.due_now(minutes_ago=150, window_minutes=60, catch_up=True)
    _signed_last_week(site, p)
    assert site.sensor.run_jobs(wait=0)
    assert site.sensor.run_jobs(wait=0)
    row = site.occurrence(p["schedule_id"], key)
    assert row["status"] == "ran", row
    assert site.restarts() == 1


def test_a_sensor_uploads_changelogs_only_of_occurrences_handed_out_in_its_organisation(site):
    from techcare.backend_client import BackendHTTPError

    sensor = BackendClient(site.backend.url, site.org.keys["sensor"], retries=0)
    body = {"session": "20261213T010000Z-0123456789ab-abcd",
            "entries": [{"event": "finished", "ts": "2026-12-13T01:00:05+00:00"}]}
    with pytest.raises(BackendHTTPError) as err:
        sensor.post_json("/api/changelogs", body)  # neither a job nor an occurrence
    assert err.value.status_code == 403
    with pytest.raises(BackendHTTPError) as err:
        sensor.post_json("/api/changelogs", {**body, "schedule_id": uuid.uuid4().hex, "occurrence": "2026-12-13T02:00"})
    assert err.value.status_code == 404 and "2026-12-13T02:00" in err.value.message


def test_the_sensor_process_runs_a_due_occurrence_as_the_replayed_pc(backend, tmp_path):
    """``python -m techcare.monitoring.sensor --once --snapshot`` as the replayed Windows PC: its snapshot recorded
    no zone, so it reports UTC and the schedule runs in UTC; a second check-in runs nothing more."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from techcare_backend.testing import seed

    org = seed(backend, edition="pro_business")
    home = tmp_path / "sensor-home"
    env_file = tmp_path / "sensor.env"
    env_file.write_text("")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TECHCARE_", "BACKEND_", "LICENSE_", "REMOTE_JOBS", "EDITION", "SENSOR_TAGS"))}
    env.update({"TECHCARE_ENV_FILE": str(env_file), "TECHCARE_HOME": str(home),
                "TECHCARE_DATA_DIR": str(tmp_path / "sensor-data"), "TECHCARE_LANG": "en", "BACKEND_URL": backend.url,
                "NETWORK_METHOD": "vpn", "EDITION": "pro_business", "LICENSE_KEY": org.license_key,
                "TECHCARE_API_KEY": org.keys["sensor"], "REMOTE_JOBS": "on", "SENSOR_TAGS": "standort:filiale-2"})
    log = tmp_path / "sensor.log"

    def sensor(*args: str) -> int:
        with log.open("ab") as err:
            return subprocess.run([sys.executable, "-m", "techcare.monitoring.sensor", *args], env=env, stderr=err,
                                  stdout=subprocess.DEVNULL, timeout=120, cwd=Path(__file__).parent).returncode

    key = SigningKey.generate()
    technician = BackendClient(backend.url, org.keys["technician"], retries=0)
    assert sensor("trust", "add", key.public_key, "--name", "Anna") == 0
    assert sensor("--once", "--snapshot", str(WINDOWS)) == 0, log.read_text()  # the host becomes known
    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    now = datetime.now(UTC)
    p = schedule(rrule=f"FREQ=DAILY;BYHOUR={start.hour};BYMINUTE={start.minute}",
                 dtstart=(start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:00"), window_minutes=30,
                 valid_from=z(now - timedelta(days=2)), valid_until=z(now + timedelta(days=10)),
                 tag="standort:filiale-2", issued_at=z(now))
    created = technician.post_json("/api/schedules", {"envelope": key.sign(p)})
    assert next(n for n in created["next"] if n["host"] == HOST)["timezone"] == "UTC"
    assert sensor("--once", "--snapshot", str(WINDOWS)) == 0, log.read_text()
    assert sensor("--once", "--snapshot", str(WINDOWS)) == 0, log.read_text()
    occurrence = start.strftime("%Y-%m-%dT%H:%M")
    listed = technician.get_json(f"/api/schedules/{p['schedule_id']}/occurrences", params={"host": HOST})
    row = next(o for o in listed["occurrences"] if o["occurrence"] == occurrence)
    assert row["status"] == "ran", (row, log.read_text())
    state = json.loads((home / "simulated-pc.json").read_text())
    assert state["services"]["audiosrv"] == "RUNNING"  # the replayed PC's stopped audio service was restarted
    runs = [json.loads(line) for line in (home / "remote_jobs.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "accepted" and r.get("occurrence") == occurrence for r in runs) == 1
