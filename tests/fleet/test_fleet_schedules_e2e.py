"""Tags, a maintenance schedule and the monthly report end to end, on PostgreSQL + Redis: the technician's
``techcare.fleet`` tags three replayed PCs as one customer and signs a schedule for the tag, the real backend
(``techcare_backend.testing.start_backend``) hands the occurrence out in each host's zone, two sensor hosts
(``Executor`` on the simulated Windows PC, own TECHCARE_HOME, pinned key, Europe/Berlin) run it, the third is
off and its occurrence becomes ``missed``; the report says so in words. Real clock: the occurrence started four
minutes ago with a five-minute window, so the test waits for the window's end (under 80 s)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from service_helpers import FAST, drop_redis_prefix, require_redis

import techcare
from techcare import fleet
from techcare.backend_client import BackendClient
from techcare.config import load_settings, reset_settings
from techcare.i18n import set_language
from techcare.monitoring.executor import Executor
from techcare.monitoring.sensor import Sensor
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import TrustStore

WINDOWS = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "windows11-problems.json"
REDIS_URL = "redis://127.0.0.1:6379/0"
ZONE = "Europe/Berlin"
TAG = "kunde:baeckerei-mueller"
NAMES = ("KASSE-01", "KASSE-02", "BUERO-PC")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(postgres_url: str) -> Iterator[Any]:
    from techcare_backend.testing import start_backend

    require_redis()
    prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
    backend = start_backend(postgres_url, REDIS_URL, redis_prefix=prefix, **FAST)
    yield backend
    backend.stop()
    drop_redis_prefix(prefix)


class Host:
    """A replayed customer PC with its sensor: reports samples (with its zone) and runs what it is handed."""

    def __init__(self, live: Any, sensor_key: str, root: Path, name: str) -> None:
        self.name = name
        self.pc = SimulatedPC.from_snapshot(WINDOWS, state_file=root / f"{name}-pc.json")
        self.home = root / f"{name}-home"
        settings = load_settings(techcare_home=self.home, remote_jobs="on", backend_url=live.url,
                                 techcare_api_key=sensor_key)
        self.client = BackendClient(live.url, sensor_key, retries=0)
        self.executor = Executor(settings, runner=self.pc.runner(), client=self.client, hostname=name,
                                 timezone=ZONE)
        sensor = Sensor(runner=self.pc.runner(), persist=False)
        self.sample = sensor.sample()
        sensor.close()
        self.report_sample()

    def report_sample(self) -> None:
        self.client.post_metrics({**self.sample, "hostname": self.name, "timezone": ZONE,
                                  "sample_id": uuid.uuid4().hex, "timestamp": datetime.now(UTC).isoformat()})

    def check_in(self) -> list[Any]:
        return self.executor.poll(wait=0)

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def org(live: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from techcare_backend.testing import seed

    organisation = seed(live, edition="pro_business")
    monkeypatch.setenv("BACKEND_URL", live.url)
    monkeypatch.setenv("TECHCARE_API_KEY", organisation.keys["technician"])
    monkeypatch.setenv("TECHNICIAN_NAME", "Anna Technikerin")
    reset_settings()
    set_language("en")
    return organisation


@pytest.fixture
def pcs(live: Any, org: Any, tmp_path: Path) -> Iterator[dict[str, Host]]:
    machines = {name: Host(live, org.keys["sensor"], tmp_path, name) for name in NAMES}
    for machine in machines.values():
        TrustStore(machine.home).add(fleet.signing_key().public_key, name="Anna Technikerin")
    yield machines
    for machine in machines.values():
        machine.close()


def test_tagged_customer_weekly_maintenance_with_one_pc_off_and_the_report(org: Any, pcs: dict[str, Host]) -> None:
    done = fleet.tag(list(NAMES), TAG)
    assert sorted(done["hosts"]) == sorted(NAMES)
    assert sorted(fleet.hosts(tag=TAG)["hostname"]) == sorted(NAMES) and fleet.hosts(tag="kunde:andere").empty
    assert fleet.tags().values.tolist() == [[TAG, 3, ", ".join(sorted(NAMES))]]

    # an occurrence that started four minutes ago in Berlin, window five minutes: due now, over within 80 s
    now = datetime.now(UTC)
    local = (now + timedelta(seconds=15)).astimezone(ZoneInfo(ZONE)).replace(second=0, microsecond=0)
    start = local - timedelta(minutes=4)
    weekday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[start.weekday()]
    plan = techcare.plan(techcare.diagnose(snapshot=WINDOWS))
    schedule = fleet.schedule(plan, "GO REPAIR: 2,3", tag=TAG, window="5min", name="Wochenwartung",
                              rrule=f"FREQ=WEEKLY;BYDAY={weekday};BYHOUR={start.hour};BYMINUTE={start.minute}",
                              valid_from=now - timedelta(minutes=30))
    key = start.strftime("%Y-%m-%dT%H:%M")
    assert schedule.status == "active" and sorted(schedule.hosts) == sorted(NAMES)
    assert set(schedule.next()["occurrence"]) == {key} and set(schedule.next()["timezone"]) == {ZONE}
    assert fleet.schedules(TAG)["schedule_id"].tolist() == [schedule.id]

    ran = {name: pcs[name].check_in() for name in ("KASSE-01", "KASSE-02")}  # BUERO-PC is off
    for name, outcomes in ran.items():
        assert [(o.schedule_id, o.occurrence, o.status) for o in outcomes] == [(schedule.id, key, "succeeded")]
        assert pcs[name].pc.state["firewall"]["public"] is True
    assert pcs["BUERO-PC"].pc.state["firewall"]["public"] is False

    end = start.astimezone(UTC) + timedelta(minutes=5)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 1.0)
    assert pcs["BUERO-PC"].check_in() == []  # back on after the window: nothing runs late without catch-up
    occ = fleet.occurrences(schedule.id)
    mine = occ[occ.occurrence == key].set_index("host")
    assert mine.loc["KASSE-01", "status"] == "ran" and mine.loc["KASSE-02", "status"] == "ran"
    assert mine.loc["KASSE-01", "steps"] == 2 and mine.loc["KASSE-01", "changelog"].startswith("/api/changelogs/")
    assert (mine.loc["BUERO-PC", "status"], mine.loc["BUERO-PC", "reason"]) == ("missed", "not_fetched")

    report = fleet.report(TAG, start.strftime("%Y-%m"), "de")
    markdown = report.markdown
    assert markdown.startswith("# Wartungsbericht ") and report.totals.get("ran") == 2
    assert report.totals.get("missed") == 1
    kasse = markdown[markdown.index("## KASSE-01 (Windows)"):markdown.index("## KASSE-02")]
    assert "✓ Durchgeführt" in kasse and "Windows-Firewall einschalten: erledigt" in kasse
    buero = markdown[markdown.index("## BUERO-PC (Windows)"):]
    assert "⚠ Verpasst" in buero and "nicht erreichbar (ausgeschaltet oder ohne Internetverbindung)" in buero
    assert "not_fetched" not in markdown and "win.enable_firewall" not in markdown
    assert start.strftime("%d.%m.%Y %H:%M") in kasse  # the planned local (Berlin) time
    assert "Wochenwartung: wöchentlich" in markdown
    english = fleet.report(TAG, start.strftime("%Y-%m"), "en").markdown
    assert "✓ Done" in english and "⚠ Missed" in english and "Enable Windows Firewall: done" in english

    assert schedule.pause().status == "paused" and schedule.resume().status == "active"
    changed = fleet.schedule(plan, "GO REPAIR: 2", tag=TAG, window="2h", replaces=schedule,
                             rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0")
    assert (changed.id, changed.revision, changed.name) == (schedule.id, 2, "Wochenwartung")
    assert set(changed.next()["occurrence"]) != {key} and changed.window_minutes == 120
    assert schedule.delete().status == "deleted"
    assert fleet.untag("BUERO-PC", TAG)["changed"] == ["BUERO-PC"]


def test_fleet_wide_diagnosis_lists_the_pc_that_is_off(org: Any, pcs: dict[str, Host], capsys: Any) -> None:
    fleet.tag(list(NAMES), TAG)
    stop = threading.Event()

    def online() -> None:  # two PCs check in while the technician waits; BUERO-PC stays off
        while not stop.is_set():
            for name in ("KASSE-01", "KASSE-02"):
                pcs[name].check_in()
            stop.wait(0.3)

    worker = threading.Thread(target=online, daemon=True)
    worker.start()
    try:
        frame = fleet.diagnose(tag=TAG, timeout=6)
    finally:
        stop.set()
        worker.join(10)
    local = techcare.diagnose(snapshot=WINDOWS)
    for name in ("KASSE-01", "KASSE-02"):
        rows = frame[frame.host == name]
        assert set(rows["answer"]) == {"ok"} and sorted(rows["check"]) == sorted(f.check for f in local)
    [off] = frame[frame.host == "BUERO-PC"].to_dict("records")
    assert off["answer"].startswith("no answer after 6 s")
    assert list(frame.attrs["missing"]) == ["BUERO-PC"] and "BUERO-PC" in capsys.readouterr().out
