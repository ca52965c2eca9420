"""Maintenance schedules on the sensor host (docs/remote-jobs.md §5 Host): every refusal reason in the documented
order, one run per occurrence however often the host checks in, daylight-saving days and time zones as the host
sees them, catch-up against missed windows, tampering with the stored envelope, revisions, and the read-only
``drivers`` job kind. A simulated Windows PC answers the repairs; an in-process recorder stands for the backend's
sensor routes; the clock is injected (the real backend is used in test_schedules_e2e.py)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta

import pytest

from techcare.backend_client import BackendUnavailable
from techcare.config import get_settings, reset_settings
from techcare.monitoring.executor import SCHEDULE_REASONS, Executor, Refusal, occurrence_run_id
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import SigningKey, TrustStore

from remote_job_payloads import WINDOWS, payload
from schedule_payloads import HOST, LOW_RISK, delivered, schedule, utc, variant, z


class Backend:
    """The backend's sensor routes as the executor sees them: occurrence and job reports, the fetch answer."""

    def __init__(self) -> None:
        self.occurrence_reports: list[tuple[str, str, dict]] = []
        self.job_reports: list[tuple[str, dict]] = []
        self.answer: dict = {"jobs": [], "cancelled": [], "occurrences": []}
        self.fetches = 0
        self.down = False
        self.uploads: list[dict] = []

    def report_occurrence(self, schedule_id, occurrence, *, host, **body):
        if self.down:
            raise BackendUnavailable("backend down")
        assert host == HOST
        self.occurrence_reports.append((schedule_id, occurrence, copy.deepcopy(body)))
        return {"status": body["status"]}

    def report_job(self, job_id, *, host, **body):
        self.job_reports.append((job_id, copy.deepcopy(body)))
        return {"cancel": False}

    def fetch_jobs(self, host, *, wait=0):
        self.fetches += 1
        return copy.deepcopy(self.answer)

    def post_json(self, path, body, **kwargs):  # changelog uploads
        assert path == "/api/changelogs"
        self.uploads.append(body)
        return {"created": len(body["entries"]), "duplicates": 0}

    def final(self, schedule_id: str, occurrence: str) -> list[dict]:
        return [b for s, o, b in self.occurrence_reports if (s, o) == (schedule_id, occurrence)
                and b["status"] != "running"]


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()


@pytest.fixture
def key(monkeypatch, licensed) -> SigningKey:
    monkeypatch.setenv("REMOTE_JOBS", "on")
    monkeypatch.setenv("TECHCARE_LANG", "en")
    reset_settings()
    licensed("pro_business")
    signer = SigningKey.generate()
    TrustStore(get_settings().techcare_home).add(signer.public_key, name="Anna")
    return signer


@pytest.fixture
def pc(tmp_path) -> SimulatedPC:
    return SimulatedPC.from_snapshot(WINDOWS, state_file=tmp_path / "pc.json")


@pytest.fixture
def backend() -> Backend:
    return Backend()


@pytest.fixture
def clock() -> Clock:
    return Clock(utc(2026, 12, 13, 1, 30))  # Sunday 13 December 2026, 02:30 in Berlin


def host(pc, backend, clock, zone="Europe/Berlin", **kwargs) -> Executor:
    return Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST, clock=clock, timezone=zone,
                    **kwargs)


@pytest.fixture
def executor(key, pc, backend, clock) -> Executor:
    return host(pc, backend, clock)


def restarts(pc: SimulatedPC) -> int:
    return sum(1 for c in pc.commands if "Restart-Service" in c[-1] and "Spooler" in c[-1])


# ---- running an occurrence -----------------------------------------------------------------------------------

def test_an_occurrence_in_its_window_runs_the_platform_variant_and_reports_ran(executor, key, pc, backend):
    p = schedule()
    outcome = executor.process_occurrence(delivered(key, p, "2026-12-13T02:00"))
    assert outcome.status == "succeeded", outcome.message
    assert restarts(pc) == 1
    reports = [b for s, o, b in backend.occurrence_reports]
    assert [b["status"] for b in reports] == ["running", "running", "running", "ran"]
    final = backend.final(p["schedule_id"], "2026-12-13T02:00")[0]
    assert [(s["number"], s["action"], s["status"]) for s in final["steps"]] == [
        (1, "win.restart_service", "finished"), (2, "win.restart_service", "finished")]
    assert pc.services["audiosrv"] == "RUNNING"
    assert all(s["session"] for s in final["steps"])  # the backend links each step's changelog
    uploaded = {u["session"]: u for u in backend.uploads}
    assert set(uploaded) == {s["session"] for s in final["steps"]}
    assert all((u["schedule_id"], u["occurrence"]) == (p["schedule_id"], "2026-12-13T02:00") and "job_id" not in u
               for u in uploaded.values())
    accepted = executor.log.accepted(occurrence_run_id(p["schedule_id"], "2026-12-13T02:00"))
    assert accepted["revision"] == 1 and accepted["timezone"] == "Europe/Berlin"
    assert accepted["planned_utc"] == "2026-12-13T01:00:00Z"
    assert backend.job_reports == []  # nothing went to the job routes


def test_the_run_log_is_written_before_anything_runs(executor, key, pc):
    p = schedule()
    seen = []
    original = pc._answer

    def answer(argv):
        if not seen:
            seen.append([json.loads(line)["event"] for line in executor.log.path.read_text().splitlines()])
        return original(argv)

    pc._answer = answer
    executor.process_occurrence(delivered(key, p, "2026-12-13T02:00"))
    assert seen == [["accepted"]]


def test_one_run_per_occurrence_however_often_the_host_checks_in(executor, key, pc, backend, clock):
    p = schedule()
    item = delivered(key, p, "2026-12-13T02:00")
    backend.answer["occurrences"] = [item]  # a backend that hands it out again and again
    outcomes = []
    for minute in range(0, 120, 10):  # a check-in every ten minutes inside the window
        clock.set(utc(2026, 12, 13, 1, 0) + timedelta(minutes=minute))
        outcomes += executor.poll()
    assert [o.status for o in outcomes] == ["succeeded"] + ["refused"] * 11
    assert {o.reason for o in outcomes[1:]} == {"replayed"}
    assert restarts(pc) == 1
    # a restarted sensor reads the same run log
    clock.set(utc(2026, 12, 13, 2, 30))
    assert host(pc, backend, clock).process_occurrence(item).reason == "replayed"
    assert restarts(pc) == 1


def test_replayed_reports_skipped_with_the_reason(executor, key, backend):
    p = schedule()
    item = delivered(key, p, "2026-12-13T02:00")
    executor.process_occurrence(item)
    executor.process_occurrence(item)
    final = backend.final(p["schedule_id"], "2026-12-13T02:00")
    assert [(b["status"], b.get("reason")) for b in final] == [("ran", None), ("skipped", "replayed")]


def test_each_occurrence_runs_once_and_the_next_one_runs_again(executor, key, pc, clock):
    p = schedule()
    assert executor.process_occurrence(delivered(key, p, "2026-12-13T02:00")).status == "succeeded"
    clock.set(utc(2026, 12, 20, 1, 5))
    assert executor.process_occurrence(delivered(key, p, "2026-12-20T02:00")).status == "succeeded"
    assert restarts(pc) == 2


# ---- refusals ------------------------------------------------------------------------------------------------

def test_remote_jobs_off_verifies_and_runs_nothing(key, pc, backend, clock, monkeypatch):
    monkeypatch.setenv("REMOTE_JOBS", "off")
    reset_settings()
    p = schedule()
    outcome = host(pc, backend, clock).process_occurrence(delivered(key, p, "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "disabled")
    assert pc.commands == []
    assert backend.final(p["schedule_id"], "2026-12-13T02:00")[0] == {
        "status": "skipped", "reason": "disabled", "message": outcome.message, "steps": []}


@pytest.mark.parametrize(("mutate", "why"), [
    (lambda item: item["envelope"].pop("signature"), "not a signed envelope"),
    (lambda item: item["envelope"]["payload"].pop("rrule"), "rrule is missing"),
    (lambda item: item["envelope"]["payload"].update(kind="repair"), "kind must be 'schedule'"),
    (lambda item: item["envelope"]["payload"].update(rrule="FREQ=HOURLY"), "FREQ=HOURLY is not allowed"),
    (lambda item: item["envelope"]["payload"].update(rrule="FREQ=DAILY;BYSECOND=1"), "allowed: FREQ, INTERVAL"),
    (lambda item: item["envelope"]["payload"].update(dtstart="2026-12-06T02:00:00Z"), "dtstart"),
    (lambda item: item["envelope"]["payload"].update(window_minutes=3), "window_minutes must be 5 to 1440"),
    (lambda item: item["envelope"]["payload"].update(valid_until="2028-12-01T00:00:00Z"), "at most 400 days"),
    (lambda item: item["envelope"]["payload"].update(variants={"amiga": {}}), "one variant per platform"),
    (lambda item: item["envelope"]["payload"].update(allow_reboot="yes"), "allow_reboot has the wrong type"),
    (lambda item: item.update(schedule_id="f" * 32), "delivered as"),
    (lambda item: item.update(occurrence="2026-12-13 02:00"), "delivered without a valid"),
    (lambda item: item.update(occurrence="2026-13-45T99:99"), "delivered without a valid"),
])
def test_malformed_schedules_are_refused_before_the_signature_check(executor, key, pc, mutate, why):
    item = delivered(key, schedule(), "2026-12-13T02:00")
    mutate(item)
    with pytest.raises(Refusal) as info:
        executor.verify_occurrence(item)
    assert info.value.reason == "malformed" and why in info.value.message
    outcome = executor.process_occurrence(item)
    assert (outcome.status, outcome.reason) == ("refused", "malformed")
    assert pc.commands == []


def test_an_unpinned_signer_is_refused(executor, pc):
    stranger = SigningKey.generate()
    outcome = executor.process_occurrence(delivered(stranger, schedule(), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "unknown_signer")
    assert stranger.key_id in outcome.message and pc.commands == []


@pytest.mark.parametrize("tamper", [
    lambda p: p.update(rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=0"),                  # when: every day instead
    lambda p: p.update(dtstart="2026-12-01T02:00:00"),
    lambda p: p.update(window_minutes=1440),                                     # a longer window
    lambda p: p.update(catch_up=True),
    lambda p: p.update(hosts=[HOST, "kasse-01"]),                                # where
    lambda p: p["variants"]["windows"]["steps"][0]["params"].update(name="WinDefend"),  # what
    lambda p: p["variants"].update(windows=variant([{"action": "win.reset_winsock"}])),
    lambda p: p.update(allow_high_risk=True),
    lambda p: p.update(allow_reboot=True),
    lambda p: p.update(valid_until="2027-12-01T00:00:00Z"),
    lambda p: p.update(revision=99),
])
def test_schedule_tampering_in_the_database_breaks_the_signature(executor, key, pc, backend, tamper):
    p = schedule()
    item = copy.deepcopy(delivered(key, p, "2026-12-13T02:00"))
    tamper(item["envelope"]["payload"])  # what the backend keeps as text, changed in its database
    outcome = executor.process_occurrence(item)
    assert (outcome.status, outcome.reason) == ("refused", "bad_signature")
    assert pc.commands == [] and backend.final(p["schedule_id"], "2026-12-13T02:00")[0]["reason"] == "bad_signature"
    # an unverified envelope neither raises the revision seen here nor blocks the genuine occurrence
    assert executor.log.highest_revision(p["schedule_id"]) == 0
    assert executor.process_occurrence(delivered(key, p, "2026-12-13T02:00")).status == "succeeded"


def test_another_host_is_refused(executor, key):
    outcome = executor.process_occurrence(delivered(key, schedule(hosts=["kasse-01"]), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "wrong_host")
    assert "kasse-01" in outcome.message


def test_no_variant_for_this_platform_is_refused(executor, key):
    p = schedule(variants={"linux": variant([{"action": "linux.flush_dns"}], platform="linux")})
    outcome = executor.process_occurrence(delivered(key, p, "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "platform")
    assert "windows" in outcome.message and "linux" in outcome.message


@pytest.mark.parametrize(("now", "ok"), [
    (utc(2026, 11, 30, 23, 54), False),  # before valid_from (more than five minutes)
    (utc(2027, 11, 30, 0, 0, 1), False),  # after valid_until
    (utc(2026, 12, 13, 1, 30), True),
])
def test_outside_the_validity_is_not_valid(executor, key, clock, now, ok):
    p = schedule(rrule="FREQ=DAILY;BYHOUR=0;BYMINUTE=55", dtstart="2026-12-01T00:55:00", window_minutes=1200)
    clock.set(now)
    key_of_day = (now - timedelta(hours=1) if now.hour else now).strftime("%Y-%m-%d") + "T00:55"
    outcome = executor.process_occurrence(delivered(key, p, key_of_day))
    assert (outcome.reason == "not_valid") is not ok, outcome.message


def test_a_lower_revision_than_seen_is_refused(executor, key, clock):
    p2 = schedule(revision=2)
    assert executor.process_occurrence(delivered(key, p2, "2026-12-13T02:00")).status == "succeeded"
    clock.set(utc(2026, 12, 20, 1, 5))
    p1 = dict(p2, revision=1, variants={"windows": variant(LOW_RISK[1:])})
    outcome = executor.process_occurrence(delivered(key, p1, "2026-12-20T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "revision")
    assert "revision 2" in outcome.message
    assert executor.process_occurrence(delivered(key, dict(p2), "2026-12-20T02:00")).status == "succeeded"
    clock.set(utc(2026, 12, 27, 1, 5))
    p3 = dict(p2, revision=3)
    assert executor.process_occurrence(delivered(key, p3, "2026-12-27T02:00")).status == "succeeded"
    assert executor.log.highest_revision(p2["schedule_id"]) == 3


@pytest.mark.parametrize("occurrence", ["2026-12-13T02:01", "2026-12-14T02:00", "2026-11-29T02:00"])
def test_a_local_start_the_rule_does_not_produce_is_not_an_occurrence(executor, key, clock, occurrence):
    outcome = executor.process_occurrence(delivered(key, schedule(), occurrence))
    assert (outcome.status, outcome.reason) == ("refused", "not_an_occurrence")
    assert "Europe/Berlin" in outcome.message


@pytest.mark.parametrize(("now", "reason"), [
    (utc(2026, 12, 13, 0, 50), "outside_window"),  # ten minutes before the start (more than the clock skew)
    (utc(2026, 12, 13, 3, 0, 1), "outside_window"),  # the window (02:00-04:00 local) is over, no catch-up
    (utc(2026, 12, 13, 1, 0), None),
    (utc(2026, 12, 13, 3, 0), None),  # the window's end is inside it
])
def test_only_inside_the_window(executor, key, clock, now, reason):
    clock.set(now)
    outcome = executor.process_occurrence(delivered(key, schedule(), "2026-12-13T02:00"))
    assert outcome.reason == reason, outcome.message
    if reason:
        assert "04:00" in outcome.message


def test_an_occurrence_delivered_a_little_early_waits_for_its_start(key, pc, backend, clock):
    waited = []

    def wait(seconds):
        waited.append(seconds)
        clock.now += seconds
        return False

    clock.set(utc(2026, 12, 13, 0, 58))  # the backend's clock is two minutes ahead
    executor = host(pc, backend, clock, wait=wait)
    assert executor.process_occurrence(delivered(key, schedule(), "2026-12-13T02:00")).status == "succeeded"
    assert waited == [120.0]


def test_a_sensor_stopping_while_it_waits_runs_nothing(key, pc, backend, clock):
    clock.set(utc(2026, 12, 13, 0, 58))
    executor = host(pc, backend, clock, wait=lambda seconds: True)
    outcome = executor.process_occurrence(delivered(key, schedule(), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "outside_window") and pc.commands == []


def test_high_risk_steps_run_only_when_the_schedule_allows_them(executor, key, clock, pc):
    risky = variant([{"action": "win.install_updates"}])  # a restore point is put first
    outcome = executor.process_occurrence(delivered(key, schedule(variants={"windows": risky}), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "needs_confirmation")
    assert "allow_high_risk" in outcome.message and pc.commands == []
    p = schedule(variants={"windows": risky}, allow_high_risk=True)
    outcome = executor.process_occurrence(delivered(key, p, "2026-12-13T02:00"))
    assert outcome.status == "succeeded", outcome.message
    assert [s["action"] for s in outcome.steps] == ["win.create_restore_point", "win.install_updates"]
    assert pc.state["windows_updates"] == 0 and pc.state["reboot_pending"] is True  # updates never restart


def test_steps_that_need_a_restart_run_only_with_allow_reboot(executor, key, pc):
    chkdsk = variant([{"action": "win.schedule_chkdsk", "params": {"drive": "C:"}}])
    outcome = executor.process_occurrence(delivered(key, schedule(variants={"windows": chkdsk}), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "needs_reboot")
    assert "win.schedule_chkdsk" in outcome.message and "allow_reboot" in outcome.message
    assert pc.commands == []
    p = schedule(variants={"windows": chkdsk}, allow_reboot=True)
    outcome = executor.process_occurrence(delivered(key, p, "2026-12-13T02:00"))
    assert outcome.status == "succeeded", outcome.message
    assert pc.state["dirty_volumes"] == ["C:"]


def test_a_host_zone_this_machine_does_not_know_refuses_instead_of_failing(key, pc, backend, clock):
    outcome = host(pc, backend, clock, zone="Mars/Olympus_Mons").process_occurrence(
        delivered(key, schedule(), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "not_an_occurrence") and "Mars" in outcome.message


def test_plan_mismatch(executor, key):
    bad = dict(variant(), plan_fingerprint="0123456789ab")
    outcome = executor.process_occurrence(delivered(key, schedule(variants={"windows": bad}), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "plan_mismatch")


def test_reasons_are_checked_in_the_documented_order(executor, key, clock):
    # another host, outside the window and not an occurrence at once: wrong_host decides
    clock.set(utc(2026, 12, 14, 12, 0))
    assert executor.process_occurrence(delivered(key, schedule(hosts=["kasse-01"]), "2026-12-14T02:00")).reason \
        == "wrong_host"
    assert executor.process_occurrence(delivered(key, schedule(), "2026-12-14T02:00")).reason == "not_an_occurrence"
    assert list(SCHEDULE_REASONS) == ["disabled", "malformed", "unknown_signer", "bad_signature", "wrong_host",
                                      "platform", "not_valid", "revision", "not_an_occurrence", "outside_window",
                                      "replayed", "plugin_missing", "plugin_mismatch", "plan_mismatch",
                                      "needs_confirmation", "needs_reboot"]


def test_refusals_are_in_german_too(key, pc, backend, clock, monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "de")
    reset_settings()
    clock.set(utc(2026, 12, 13, 5, 0))
    outcome = host(pc, backend, clock).process_occurrence(delivered(key, schedule(), "2026-12-13T02:00"))
    assert outcome.reason == "outside_window" and "darf nur von" in outcome.message


# ---- daylight saving and time zones as the host sees them ---------------------------------------------------

def test_spring_forward_a_start_in_the_gap_runs_an_hour_later_on_the_wall_clock(key, pc, backend, clock):
    p = schedule(rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30", dtstart="2027-03-20T02:30:00", window_minutes=30)
    executor = host(pc, backend, clock)
    clock.set(utc(2027, 3, 28, 0, 45))  # 01:45 CET: the day's 02:30 has not come yet
    assert executor.process_occurrence(delivered(key, p, "2027-03-28T02:30")).reason == "outside_window"
    clock.set(utc(2027, 3, 28, 1, 35))  # 03:35 CEST: 02:30 does not exist, it runs at 03:30 CEST
    assert executor.process_occurrence(delivered(key, p, "2027-03-28T02:30")).status == "succeeded"


def test_fall_back_the_repeated_hour_runs_once(key, pc, backend, clock):
    p = schedule(rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30", dtstart="2026-10-20T02:30:00", window_minutes=30,
                 valid_from="2026-10-01T00:00:00Z", valid_until="2027-09-01T00:00:00Z")
    executor = host(pc, backend, clock)
    clock.set(utc(2026, 10, 25, 0, 40))  # 02:40 CEST, the first 02:30
    assert executor.process_occurrence(delivered(key, p, "2026-10-25T02:30")).status == "succeeded"
    clock.set(utc(2026, 10, 25, 0, 50))  # still inside the window: a second delivery is a replay
    assert executor.process_occurrence(delivered(key, p, "2026-10-25T02:30")).reason == "replayed"
    clock.set(utc(2026, 10, 25, 1, 40))  # 02:40 CET, the repeated hour: no second occurrence, its window is over
    other = dict(p, schedule_id="b" * 32)  # (a schedule that never ran here, so the run log does not decide)
    assert executor.process_occurrence(delivered(key, other, "2026-10-25T02:30")).reason == "outside_window"
    clock.set(utc(2026, 10, 26, 1, 40))  # the next day's 02:30 is CET
    assert executor.process_occurrence(delivered(key, p, "2026-10-26T02:30")).status == "succeeded"
    assert restarts(pc) == 2


@pytest.mark.parametrize(("zone", "inside", "outside"), [
    ("Europe/Berlin", utc(2026, 12, 13, 1, 0), utc(2026, 12, 13, 7, 0)),
    ("America/New_York", utc(2026, 12, 13, 7, 0), utc(2026, 12, 13, 1, 0)),
    ("Asia/Kolkata", utc(2026, 12, 12, 20, 30), utc(2026, 12, 13, 1, 0)),
    ("UTC", utc(2026, 12, 13, 2, 0), utc(2026, 12, 13, 7, 0)),
])
def test_the_same_schedule_runs_at_two_o_clock_in_each_hosts_zone(key, pc, backend, clock, zone, inside, outside):
    p = schedule()
    executor = host(pc, backend, clock, zone=zone)
    clock.set(outside)
    assert executor.process_occurrence(delivered(key, p, "2026-12-13T02:00")).reason == "outside_window"
    clock.set(inside)
    assert executor.process_occurrence(delivered(key, p, "2026-12-13T02:00")).status == "succeeded"


# ---- a window missed by an offline host ---------------------------------------------------------------------

def test_missed_window_without_catch_up_is_skipped(executor, key, clock, pc):
    clock.set(utc(2026, 12, 13, 9, 0))  # the host was off from 01:00 to 10:00 local
    outcome = executor.process_occurrence(delivered(key, schedule(), "2026-12-13T02:00"))
    assert (outcome.status, outcome.reason) == ("refused", "outside_window") and pc.commands == []


def test_missed_window_with_catch_up_runs_once_until_the_next_occurrence(executor, key, clock, pc, backend):
    p = schedule(catch_up=True)
    clock.set(utc(2026, 12, 15, 9, 0))  # Tuesday: the host was off over the weekend
    assert executor.process_occurrence(delivered(key, p, "2026-12-13T02:00")).status == "succeeded"
    assert executor.process_occurrence(delivered(key, p, "2026-12-13T02:00")).reason == "replayed"
    clock.set(utc(2026, 12, 20, 1, 0, 1))  # the next occurrence has started: an older one is not caught up
    outcome = executor.process_occurrence(delivered(key, p, "2026-12-13T02:00"))
    assert outcome.reason in ("replayed", "outside_window")
    other = schedule(catch_up=True)
    outcome = executor.process_occurrence(delivered(key, other, "2026-12-13T02:00"))
    assert outcome.reason == "outside_window" and "caught up until the next occurrence" in outcome.message
    assert executor.process_occurrence(delivered(key, other, "2026-12-20T02:00")).status == "succeeded"
    assert restarts(pc) == 2


# ---- reports the backend could not take, and a killed sensor -----------------------------------------------

def test_a_result_the_backend_could_not_take_is_sent_at_the_next_poll(executor, key, backend):
    p = schedule()
    backend.down = True
    assert executor.process_occurrence(delivered(key, p, "2026-12-13T02:00")).status == "succeeded"
    assert backend.occurrence_reports == []
    backend.down = False
    executor.poll()
    assert [b["status"] for b in backend.final(p["schedule_id"], "2026-12-13T02:00")] == ["ran"]


def test_an_occurrence_cut_short_by_a_killed_sensor_is_reported_failed_interrupted(executor, key, backend, pc,
                                                                                    clock):
    p = schedule()
    run_id = occurrence_run_id(p["schedule_id"], "2026-12-13T02:00")
    executor.log.append("accepted", run_id, kind="schedule", schedule_id=p["schedule_id"],
                        occurrence="2026-12-13T02:00", revision=1, plan_fingerprint=variant()["plan_fingerprint"])
    fresh = host(pc, backend, clock)
    outcomes = fresh.recover()
    assert [(o.status, o.schedule_id) for o in outcomes] == [("interrupted", p["schedule_id"])]
    final = backend.final(p["schedule_id"], "2026-12-13T02:00")
    assert [(b["status"], b["reason"]) for b in final] == [("failed", "interrupted")]
    assert fresh.process_occurrence(delivered(key, p, "2026-12-13T02:00")).reason == "replayed"


# ---- the read-only drivers job ------------------------------------------------------------------------------

def test_drivers_job_returns_the_driver_inventory(key, pc, backend):
    executor = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)
    p = payload("drivers")
    outcome = executor.process({"job_id": p["job_id"], "envelope": key.sign(p)})
    assert outcome.status == "succeeded", outcome.message
    final = [b for j, b in backend.job_reports if j == p["job_id"] and b["status"] != "running"]
    data = final[0]["diagnosis"]
    assert data["platform"] == "windows" and data["drivers"]
    assert {"device", "status", "installed_version"} <= set(data["drivers"][0])
    assert "drivers" in outcome.message
    assert all(not c[0].lower().startswith(("net.exe", "sc.exe", "dism.exe")) for c in pc.commands)


def test_drivers_job_needs_no_platform_and_runs_once(key, pc, backend):
    executor = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)
    p = payload("drivers", platform=None)
    job = {"job_id": p["job_id"], "envelope": key.sign(p)}
    assert executor.process(job).status == "succeeded"
    assert executor.process(job).reason == "replayed"


def test_schedule_run_ids_never_look_like_job_ids():
    assert occurrence_run_id("a" * 32, "2026-12-13T02:00") == f"occ:{'a' * 32}:2026-12-13T02:00"
    assert z(utc(2026, 12, 13, 1)) == "2026-12-13T01:00:00Z"
