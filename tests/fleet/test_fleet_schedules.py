"""techcare.fleet groups and schedules without a backend server: the signed schedule payload, local refusals (nothing
leaves this machine), tags, frames, fleet-wide reading with hosts that do not answer, the report call, and the
%fleet / REPL words. The peer (conftest.JobsPeer, extended here by ``SchedulePeer``) speaks the HTTP contract of
docs/remote-jobs.md §5 from memory; test_fleet_schedules_e2e.py runs the flow against the real backend."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

import techcare
from techcare import fleet
from techcare.errors import ApprovalError
from techcare.i18n import set_language
from techcare.signing import SigningKey, verify_envelope

HOST = "WS-EMPFANG-01"
DATA = Path(__file__).resolve().parents[2] / "notebooks" / "data"
WINDOWS, LINUX = DATA / "windows11-problems.json", DATA / "linux-debian-problems.json"
TAG = "kunde:baeckerei-mueller"
WEEKLY = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0"
CONTRACT_KEYS = {"v", "kind", "schedule_id", "revision", "name", "tag", "hosts", "variants", "rrule", "dtstart",
                 "window_minutes", "catch_up", "allow_high_risk", "allow_reboot", "valid_from", "valid_until",
                 "issued_at", "signer"}
VARIANT_KEYS = {"steps", "approval", "approved_steps", "plan_fingerprint"}


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


class SchedulePeer:
    """Tags, schedules and the report route in memory, on top of the jobs peer (its ``override`` hook)."""

    def __init__(self, peer: Any) -> None:
        self.peer = peer
        self.tags: dict[str, set[str]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.envelopes: list[dict[str, Any]] = []
        self.headers: list[httpx.Headers] = []
        self.urls: list[httpx.URL] = []
        self.occurrences: list[dict[str, Any]] = []
        self.report: dict[str, Any] = {}
        peer.override = self.handle
        for host in peer.hosts:
            host.setdefault("tags", [])

    def host_tags(self) -> None:
        for host in self.peer.hosts:
            host["tags"] = sorted(t for t, names in self.tags.items() if host["hostname"] in names)

    def public(self, envelope: dict[str, Any]) -> dict[str, Any]:
        p = envelope["payload"]
        return {"schedule_id": p["schedule_id"], "revision": p["revision"], "name": p["name"], "tag": p["tag"],
                "hosts": p["hosts"], "platforms": sorted(p["variants"]), "rrule": p["rrule"], "dtstart": p["dtstart"],
                "window_minutes": p["window_minutes"], "catch_up": p["catch_up"],
                "allow_high_risk": p["allow_high_risk"], "allow_reboot": p["allow_reboot"],
                "valid_from": p["valid_from"], "valid_until": p["valid_until"], "signer": p["signer"],
                "key_id": envelope["key_id"], "created_at": p["issued_at"], "created_by": "Technician Org",
                "updated_at": p["issued_at"], "status": "active", "counts": {},
                "next": [{"host": h, "occurrence": "2026-12-06T02:00", "planned_local": "2026-12-06T02:00:00+01:00",
                          "planned_utc": "2026-12-06T01:00:00Z", "timezone": "Europe/Berlin",
                          "timezone_known": True} for h in p["hosts"]]}

    def handle(self, request: httpx.Request) -> httpx.Response | None:
        path, method = request.url.path, request.method
        self.headers.append(request.headers)
        self.urls.append(request.url)
        body = json.loads(request.content) if request.content else {}
        if path == "/api/tags":
            return httpx.Response(200, json=[{"tag": t, "hosts": sorted(h)} for t, h in sorted(self.tags.items())])
        if path.startswith("/api/tags/") and path.endswith("/hosts"):
            tag = path.split("/")[3]
            known = {h["hostname"] for h in self.peer.hosts}
            unknown = [h for h in body["hosts"] if h not in known]
            if unknown:
                return httpx.Response(404, json={"code": "UNKNOWN_HOSTS", "detail": ", ".join(unknown)})
            names = self.tags.setdefault(tag, set())
            changed = [h for h in body["hosts"] if (h not in names) == (method == "POST")]
            (names.update if method == "POST" else names.difference_update)(body["hosts"])
            self.host_tags()
            return httpx.Response(200, json={"tag": tag, "changed": changed, "hosts": sorted(names)})
        if path == "/api/schedules" and method == "POST":
            envelope = body["envelope"]
            self.envelopes.append(envelope)
            self.schedules[envelope["payload"]["schedule_id"]] = self.public(envelope)
            return httpx.Response(201, json=self.schedules[envelope["payload"]["schedule_id"]])
        if path == "/api/schedules":
            tag = request.url.params.get("tag")
            return httpx.Response(200, json={"schedules": [s for s in self.schedules.values()
                                                           if tag is None or s["tag"] == tag]})
        if path.startswith("/api/schedules/"):
            parts = path.split("/")
            schedule = self.schedules.get(parts[3])
            if schedule is None:
                return httpx.Response(404, json={"code": "NOT_FOUND", "detail": f"schedule {parts[3]}"})
            action = parts[4] if len(parts) > 4 else ("delete" if method == "DELETE" else "get")
            if action == "occurrences":
                return httpx.Response(200, json={"schedule_id": parts[3], "since": "x", "until": "y",
                                                 "occurrences": self.occurrences})
            target = {"pause": "paused", "resume": "active", "delete": "deleted"}.get(action)
            if target == schedule["status"]:
                return httpx.Response(409, json={"code": "SCHEDULE_STATE", "detail": f"already {target}"})
            if target:
                schedule["status"] = target
            return httpx.Response(200, json=schedule)
        if path == "/api/reports/maintenance":
            return httpx.Response(200, json={**self.report, "lang": request.headers.get("accept-language"),
                                             "tag": request.url.params.get("tag"),
                                             "month": request.url.params.get("month")})
        return None


@pytest.fixture
def sp(peer) -> SchedulePeer:
    peer.hosts.append({"hostname": "kasse-02", "os": "windows", "status": "online",
                       "last_seen": "2026-12-02T07:00:00Z"})
    peer.hosts.append({"hostname": "lager-linux", "os": "linux", "status": "online",
                       "last_seen": "2026-12-02T07:00:00Z"})
    return SchedulePeer(peer)


@pytest.fixture
def linux_plan():
    return techcare.plan(techcare.diagnose(snapshot=LINUX))


def tag_all(sp: SchedulePeer, *names: str) -> None:
    sp.tags[TAG] = set(names)
    sp.host_tags()


# ---- the signed schedule -----------------------------------------------------------------------------------------

def test_schedule_payload_is_the_contract_signed_for_the_tags_hosts_at_signing(backend, sp, windows_plan,
                                                                                techcare_env, monkeypatch):
    monkeypatch.setenv("TECHNICIAN_NAME", "Anna Technikerin")
    techcare.config.reset_settings()
    tag_all(sp, HOST, "kasse-02")
    before = datetime.now(UTC).replace(microsecond=0)
    schedule = fleet.schedule(windows_plan, "GO REPAIR: 7,8", tag=TAG, rrule=WEEKLY, window="90min",
                              name="Wochenwartung Bäckerei Müller", backend=backend)
    [envelope] = sp.envelopes
    key = SigningKey.load_or_create(techcare_env / "techcare-home")
    assert envelope["key_id"] == key.key_id
    payload = verify_envelope(envelope, {key.key_id: key.public_raw})
    assert set(payload) == CONTRACT_KEYS and payload["kind"] == "schedule" and payload["v"] == 1
    assert payload["hosts"] == [HOST, "kasse-02"] and payload["tag"] == TAG  # resolved when signed
    assert payload["name"] == "Wochenwartung Bäckerei Müller" and payload["signer"] == "Anna Technikerin"
    assert payload["rrule"] == WEEKLY and payload["window_minutes"] == 90 and payload["revision"] == 1
    assert payload["catch_up"] is False and payload["allow_high_risk"] is False and payload["allow_reboot"] is False
    assert payload["dtstart"] == f"{before - timedelta(days=1):%Y-%m-%d}T00:00:00"
    start, end = parse_utc(payload["valid_from"]), parse_utc(payload["valid_until"])
    assert before <= start <= before + timedelta(seconds=5) and end - start == timedelta(days=365)
    [(platform, variant)] = payload["variants"].items()
    assert platform == "windows" and set(variant) == VARIANT_KEYS
    assert variant["approval"] == "GO REPAIR: 7,8" and variant["approved_steps"] == [7, 8]
    assert variant["plan_fingerprint"] == windows_plan.fingerprint()
    assert [s["action"] for s in variant["steps"]] == [s.action_id for s in windows_plan.steps]
    assert isinstance(schedule, fleet.Schedule) and schedule.id == payload["schedule_id"]
    assert schedule.status == "active" and schedule.hosts == [HOST, "kasse-02"] and schedule.platforms == ["windows"]
    # tags only route: a host tagged later is not in the signed schedule
    tag_all(sp, HOST, "kasse-02", "buero-mac")
    assert verify_envelope(sp.envelopes[0], {key.key_id: key.public_raw})["hosts"] == [HOST, "kasse-02"]


def test_one_variant_per_platform_each_approval_checked_against_its_plan(backend, sp, windows_plan, linux_plan):
    set_language("en")
    tag_all(sp, HOST, "lager-linux")
    with pytest.raises(fleet.FleetError, match=r"These hosts have no variant .* \(given: windows\): lager-linux"):
        fleet.schedule(windows_plan, "GO REPAIR: 7", tag=TAG, rrule=WEEKLY, backend=backend)
    with pytest.raises(ApprovalError):
        fleet.schedule({"windows": (windows_plan, "GO REPAIR: 7"), "linux": (linux_plan, "GO REPAIR: 99")}, tag=TAG,
                       rrule=WEEKLY, backend=backend)
    with pytest.raises(fleet.FleetError, match="linux: step 1 is high-risk.*allow_high_risk=True"):
        fleet.schedule({"windows": (windows_plan, "GO REPAIR: 7"), "linux": (linux_plan, "GO REPAIR: 1")},
                       tag=TAG, rrule=WEEKLY, backend=backend)
    with pytest.raises(fleet.FleetError, match="Variant 'linux': the plan is for windows"):
        fleet.schedule({"linux": (windows_plan, "GO REPAIR: 7")}, tag=TAG, rrule=WEEKLY, backend=backend)
    with pytest.raises(fleet.FleetError, match="each plan carries its approval"):
        fleet.schedule({"windows": (windows_plan, "GO REPAIR: 7")}, "GO REPAIR: 7", tag=TAG, rrule=WEEKLY,
                       backend=backend)
    assert sp.envelopes == []
    fleet.schedule([(windows_plan, "GO REPAIR: 7"), (linux_plan, "GO REPAIR: 2-4")], tag=TAG, rrule=WEEKLY,
                   backend=backend)
    variants = sp.envelopes[0]["payload"]["variants"]
    assert sorted(variants) == ["linux", "windows"] and variants["linux"]["approved_steps"] == [2, 3, 4]
    assert variants["linux"]["plan_fingerprint"] == linux_plan.fingerprint()
    fleet.schedule({"windows": (windows_plan, "GO REPAIR: 1,5")}, hosts=[HOST], rrule=WEEKLY, allow_high_risk=True,
                   allow_reboot=True, catch_up=True, backend=backend)
    payload = sp.envelopes[1]["payload"]
    assert payload["hosts"] == [HOST] and payload["tag"] is None and payload["allow_high_risk"] is True
    assert payload["allow_reboot"] is True and payload["catch_up"] is True


def test_the_rule_is_written_one_way(backend, sp, windows_plan):
    tag_all(sp, HOST)
    fleet.schedule(windows_plan, "GO REPAIR: 7", tag=TAG, rrule="RRULE:byday=SU; byhour=2;FREQ=weekly;BYMINUTE=0",
                   backend=backend)
    assert sp.envelopes[0]["payload"]["rrule"] == WEEKLY


@pytest.mark.parametrize("window, minutes", [("2h", 120), ("90min", 90), ("1h30m", 90), ("1 h 30 min", 90),
                                             ("45m", 45), (timedelta(hours=3), 180), (30, 30), ("24h", 1440)])
def test_window_forms(window, minutes):
    assert fleet.parse_window(window) == minutes


@pytest.mark.parametrize("window, words", [
    ("2 Stunden lang", "is not a duration. Allowed: \"2h\", \"90min\""), ("3min", "5 minutes to 1440 minutes"),
    ("25h", "5 minutes to 1440 minutes"), (timedelta(seconds=90), "a timedelta of whole minutes"),
    (True, "is not a duration"), (None, "is not a duration")])
def test_bad_windows_say_what_is_allowed(window, words):
    set_language("en")
    with pytest.raises(fleet.FleetError, match=words.replace("(", r"\(")):
        fleet.parse_window(window)


@pytest.mark.parametrize("changes, words", [
    ({"rrule": "FREQ=HOURLY;BYMINUTE=0"}, "FREQ=HOURLY is not allowed"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=XX;BYHOUR=2"}, "not a valid RRULE"),
    ({"rrule": "FREQ=DAILY;BYSECOND=5;BYHOUR=1"}, "'BYSECOND=5' is not allowed"),
    ({"rrule": "FREQ=DAILY"}, "The rule names no time of day"),
    ({"rrule": "FREQ=DAILY;BYHOUR=1,2;BYMINUTE=0"}, "longer than the shortest gap"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;COUNT=1", "dtstart": "2020-01-05T02:00"}, "has no occurrence between"),
    ({"dtstart": "2026-12-06T02:00:00+01:00"}, "expected a local time without zone"),
    ({"valid_until": timedelta(days=401)}, "at most 400 days"),
    ({"valid_from": "2026-12-02T07:00:00"}, "has no time zone"),
    ({"window": "0h"}, "5 minutes to 1440 minutes"),
    ({"tag": "Kunde Müller"}, "Invalid tag 'Kunde Müller'"),
    ({"name": "x" * 201}, "name: 1 to 200 characters"),
])
def test_local_refusals_send_nothing(backend, sp, windows_plan, changes, words):
    set_language("en")
    tag_all(sp, HOST)
    args = {"tag": TAG, "rrule": WEEKLY, **changes}
    with pytest.raises(fleet.FleetError, match=words.replace("(", r"\(")):
        fleet.schedule(windows_plan, "GO REPAIR: 7", backend=backend, **args)
    assert sp.envelopes == [] and ("POST", "/api/schedules") not in sp.peer.requests


def test_a_backend_ignoring_the_tag_filter_cannot_widen_a_schedule(backend, sp, windows_plan):
    tag_all(sp, HOST)
    for host in sp.peer.hosts:  # the host list answers every host, as a backend without ?tag= would
        host["tags"] = [TAG]
    fleet.schedule(windows_plan, "GO REPAIR: 7", tag=TAG, rrule=WEEKLY, backend=backend)
    assert sp.envelopes[0]["payload"]["hosts"] == [HOST]  # the tag's members from /api/tags


def test_a_change_is_the_next_revision_of_the_same_schedule(backend, sp, windows_plan):
    tag_all(sp, HOST)
    first = fleet.schedule(windows_plan, "GO REPAIR: 7", tag=TAG, rrule=WEEKLY, name="Wochenwartung",
                           backend=backend)
    changed = fleet.schedule(windows_plan, "GO REPAIR: 7,8", tag=TAG, window="3h", replaces=first,
                             rrule="FREQ=WEEKLY;BYDAY=SA;BYHOUR=22;BYMINUTE=0", backend=backend)
    payload = sp.envelopes[-1]["payload"]
    assert changed.id == first.id and payload["schedule_id"] == first.id and payload["revision"] == 2
    assert payload["name"] == "Wochenwartung" and payload["window_minutes"] == 180
    assert changed.revision == 2 and changed.rrule.startswith("FREQ=WEEKLY;BYDAY=SA")
    set_language("en")
    with pytest.raises(fleet.FleetError, match="does not know the schedule to replace"):
        fleet.schedule(windows_plan, "GO REPAIR: 7", tag=TAG, rrule=WEEKLY, replaces="d" * 32, backend=backend)


def test_whom_and_unknown_tags(backend, sp, windows_plan):
    set_language("en")
    with pytest.raises(fleet.FleetError, match="For whom"):
        fleet.schedule(windows_plan, "GO REPAIR: 7", rrule=WEEKLY, backend=backend)
    with pytest.raises(fleet.FleetError, match="No host carries the tag kunde:niemand"):
        fleet.schedule(windows_plan, "GO REPAIR: 7", tag="kunde:niemand", rrule=WEEKLY, backend=backend)
    with pytest.raises(fleet.FleetError, match="Unknown hosts: NIEMAND"):
        fleet.schedule(windows_plan, "GO REPAIR: 7", hosts=["NIEMAND"], rrule=WEEKLY, backend=backend)
    with pytest.raises(fleet.FleetError, match="needs a repair plan"):
        fleet.schedule("GO REPAIR: 7", tag=TAG, rrule=WEEKLY, backend=backend)
    assert sp.envelopes == []


# ---- the backend's answers as objects and frames -----------------------------------------------------------------

def test_schedule_object_frames_and_state_changes(backend, sp, windows_plan):
    set_language("en")
    tag_all(sp, HOST, "kasse-02")
    schedule = fleet.schedule(windows_plan, "GO REPAIR: 7", tag=TAG, rrule=WEEKLY, backend=backend)
    nxt = schedule.next()
    assert nxt.columns.tolist() == ["host", "occurrence", "planned_local", "planned_utc", "timezone",
                                    "timezone_known"]
    assert nxt["host"].tolist() == [HOST, "kasse-02"] and set(nxt["occurrence"]) == {"2026-12-06T02:00"}
    frame = schedule.to_frame()
    assert frame[["schedule_id", "status", "host"]].values.tolist() == [[schedule.id, "active", HOST],
                                                                        [schedule.id, "active", "kasse-02"]]
    assert schedule.pause().status == "paused"
    with pytest.raises(fleet.FleetError, match="in that state already"):
        schedule.pause()
    assert schedule.resume().status == "active"
    listed = fleet.schedules(TAG, backend=backend)
    assert listed[["schedule_id", "status", "hosts", "platforms", "next"]].values.tolist() == [
        [schedule.id, "active", 2, "windows", "2026-12-06T01:00:00Z"]]
    assert fleet.schedules("kunde:andere", backend=backend).empty
    sp.occurrences = [
        {"schedule_id": schedule.id, "host": HOST, "occurrence": "2026-11-29T02:00", "timezone": "Europe/Berlin",
         "timezone_known": True, "planned_local": "2026-11-29T02:00:00+01:00", "planned_utc": "2026-11-29T01:00:00Z",
         "window_end_utc": "2026-11-29T02:30:00Z", "status": "ran", "reason": None, "message": None,
         "steps": [{"number": 7, "action": "win.clear_temp_files", "status": "finished"}],
         "changelog": ["/api/changelogs/20261129-020001-ab"]},
        {"schedule_id": schedule.id, "host": "kasse-02", "occurrence": "2026-11-29T02:00", "timezone": "UTC",
         "timezone_known": False, "planned_local": "2026-11-29T02:00:00+00:00", "planned_utc": "2026-11-29T02:00:00Z",
         "window_end_utc": "2026-11-29T03:30:00Z", "status": "missed", "reason": "not_fetched", "message": None,
         "steps": None, "changelog": []}]
    occ = fleet.occurrences(schedule.id, backend=backend)
    assert occ.columns.tolist() == ["host", "occurrence", "planned_local", "planned_utc", "timezone", "status",
                                    "reason", "message", "steps", "changelog"]
    assert occ[["host", "status", "reason", "steps", "changelog"]].values.tolist() == [
        [HOST, "ran", "", 1, "/api/changelogs/20261129-020001-ab"], ["kasse-02", "missed", "not_fetched", 0, ""]]
    assert schedule.occurrences().equals(occ)
    assert schedule.delete().status == "deleted"
    html_text = schedule._repr_html_()
    assert "Schedule &#x27;Maintenance kunde:baeckerei-mueller&#x27; · deleted" in html_text
    with pytest.raises(fleet.FleetError, match="is not a schedule id"):
        fleet.occurrences("1; DROP TABLE schedules", backend=backend)
    with pytest.raises(fleet.FleetError, match="does not know this schedule"):
        fleet.get_schedule("c" * 32, backend=backend)


def test_hostile_schedule_answers_are_refused_and_escaped(backend, sp, windows_plan):
    set_language("en")
    tag_all(sp, HOST)
    schedule = fleet.schedule(windows_plan, "GO REPAIR: 7", tag=TAG, rrule=WEEKLY, name="<script>x</script>",
                              backend=backend)
    assert "<script>" not in schedule._repr_html_() and "&lt;script&gt;" in schedule._repr_html_()
    sp.schedules[schedule.id]["status"] = "exploded"
    with pytest.raises(fleet.FleetError, match="Unexpected answer from the backend about a schedule: status"):
        schedule.refresh()


# ---- tags and fleet-wide reading ---------------------------------------------------------------------------------

def test_tag_untag_tags_and_hosts_filtered_by_the_backend(backend, sp):
    set_language("en")
    done = fleet.tag([HOST, "kasse-02"], TAG, backend=backend)
    assert done == {"tag": TAG, "changed": [HOST, "kasse-02"], "hosts": [HOST, "kasse-02"]}
    assert fleet.tag(HOST, TAG, backend=backend)["changed"] == []
    assert fleet.hosts(TAG, backend=backend)["hostname"].tolist() == [HOST, "kasse-02"]
    assert any(u.path == "/api/monitoring/hosts" and u.params.get("tag") == TAG for u in sp.urls)
    frame = fleet.tags(backend=backend)
    assert frame.values.tolist() == [[TAG, 2, f"{HOST}, kasse-02"]]
    assert fleet.untag("kasse-02", TAG, backend=backend)["hosts"] == [HOST]
    with pytest.raises(fleet.FleetError, match="Invalid tag 'Kunde:Müller'"):
        fleet.tag(HOST, "Kunde:Müller", backend=backend)
    with pytest.raises(fleet.FleetError, match="does not know every host"):
        fleet.tag("NIEMAND", TAG, backend=backend)
    with pytest.raises(fleet.FleetError, match="Invalid tag"):
        fleet.hosts("a b", backend=backend)


def answering(peer: Any, results: dict[str, Any]):
    """An override that lets the hosts in ``results`` answer every read-only job (the others stay silent)."""
    inner = peer.override

    def answer(request: httpx.Request) -> httpx.Response | None:
        for job_id, job in peer.jobs.items():
            for target in job["targets"]:
                if target["status"] == "queued" and target["host"] in results:
                    peer.set_target(job_id, target["host"], status="succeeded", diagnosis=results[target["host"]])
        return inner(request) if inner else None

    return answer


def test_fleet_diagnose_of_a_tag_lists_hosts_that_did_not_answer(backend, sp, capsys):
    set_language("en")
    tag_all(sp, HOST, "kasse-02")
    local = json.loads(techcare.diagnose(snapshot=WINDOWS).to_json())
    sp.peer.override = answering(sp.peer, {HOST: local})
    frame = fleet.diagnose(tag=TAG, timeout=0.3, backend=backend)
    [envelope] = sp.peer.envelopes
    assert envelope["payload"]["kind"] == "diagnose" and envelope["payload"]["hosts"] == [HOST, "kasse-02"]
    assert frame.columns.tolist()[:5] == ["host", "answer", "check", "area", "severity"]
    answered = frame[frame.host == HOST]
    assert set(answered["answer"]) == {"ok"} and len(answered) == len(local["findings"])
    [silent] = frame[frame.host == "kasse-02"].to_dict("records")
    assert silent["answer"].startswith("no answer after 0.3 s (queued)") and pd.isna(silent["check"])
    assert frame.attrs["missing"] == {"kasse-02": silent["answer"]} and frame.attrs["answered"] == [HOST]
    assert "1 host(s) without a result" in capsys.readouterr().out
    with pytest.raises(fleet.FleetError, match="either hosts or tag="):
        fleet.diagnose(HOST, tag=TAG, backend=backend)
    assert isinstance(fleet.diagnose(HOST, backend=backend), fleet.Job)  # one host: the job, as before


def test_fleet_drivers_of_a_tag(backend, sp, capsys):
    from techcare.tools import drivers as driver_tools

    set_language("en")
    tag_all(sp, HOST, "kasse-02")
    inventory = json.loads(json.dumps(driver_tools.report(snapshot=WINDOWS).to_dict(), default=str))
    sp.peer.override = answering(sp.peer, {HOST: inventory, "kasse-02": {"drivers": "kaputt"}})
    frame = fleet.drivers(tag=TAG, timeout=0.3, backend=backend)
    assert sp.peer.envelopes[0]["payload"]["kind"] == "drivers"
    assert sp.peer.envelopes[0]["payload"]["platform"] is None and sp.peer.envelopes[0]["payload"]["steps"] == []
    local = techcare.drivers(snapshot=WINDOWS)
    ours = frame[frame.host == HOST].drop(columns=["host", "answer"]).reset_index(drop=True)
    assert ours["device"].tolist() == local["device"].tolist() and list(ours.columns) == list(local.columns)
    [why] = frame[frame.host == "kasse-02"]["answer"].tolist()
    assert "driver inventory of kasse-02 unreadable" in why
    assert frame.attrs["stats"][HOST] == inventory["stats"]
    assert "kasse-02" in capsys.readouterr().out


def test_report_asks_in_the_chosen_language_and_checks_its_words(backend, sp):
    set_language("en")
    from test_report import report_data

    sp.report = report_data()
    report = fleet.report(TAG, "2026-11", "en", backend=backend)
    assert isinstance(report, fleet.MaintenanceReport) and report.lang == "en"
    assert report.markdown.startswith("# Maintenance report November 2026")
    assert sp.headers[-1]["accept-language"] == "en" and report.data["month"] == "2026-11"
    assert fleet.report(TAG, "2026-11", "de", backend=backend).markdown.startswith("# Wartungsbericht")
    with pytest.raises(fleet.FleetError, match="month='2026-13': expected YYYY-MM"):
        fleet.report(TAG, "2026-13", backend=backend)
    with pytest.raises(fleet.FleetError, match="lang='fr': allowed are de and en"):
        fleet.report(TAG, "2026-11", "fr", backend=backend)
    sp.report = {"kind": "something else"}
    with pytest.raises(fleet.FleetError, match="not maintenance report data"):
        fleet.report(TAG, "2026-11", backend=backend)


# ---- %fleet and the REPL -----------------------------------------------------------------------------------------

@pytest.fixture
def desk(backend):
    from techcare import fleet_magic

    desk = fleet_magic.get_desk()
    saved = desk.backend
    desk.backend = backend
    yield desk
    desk.backend, desk.plans, desk.shown, desk.diagnoses = saved, {}, {}, {}


@pytest.mark.parametrize("line, words", [
    ("tag kunde:x", "the hosts first, the tag last"), ("untag", "the following arguments are required"),
    ("schedule kunde:x FREQ=DAILY;BYHOUR=2 GO REPAIR: 1", "--from"),
    (f"schedule kunde:x FREQ=DAILY;BYHOUR=2 --from {HOST} 1,2", "The approval 'GO REPAIR: 1,2' is missing"),
    ("drivers", "give either HOST or --tag TAG"), (f"diagnose {HOST} --tag kunde:x", "give either HOST or --tag"),
    ("report", "the following arguments are required: tag"), ("report kunde:x 2026-11 --lang fr", "invalid choice"),
    ("occurrences", "required"), ("pause", "required")])
def test_magic_usage_errors(line, words):
    from techcare.fleet_magic import FleetUsageError, parse

    set_language("en")
    with pytest.raises(FleetUsageError, match=words.replace("(", r"\(")) as caught:
        parse(line)
    assert "%fleet schedule TAG RRULE --from HOST GO REPAIR: 1,2" in str(caught.value)


def test_magic_words_drive_the_api(desk, sp, windows_plan, tmp_path):
    set_language("en")
    assert "Tag kunde:x: added to" in desk.run(f"tag {HOST} kasse-02 kunde:x")
    assert desk.run("tags").values.tolist() == [["kunde:x", 2, f"{HOST}, kasse-02"]]
    line = f"schedule kunde:x FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0 --from {HOST} GO REPAIR: 7 --window 90min"
    with pytest.raises(fleet.FleetError, match=f"No plan has been shown for {HOST}"):
        desk.run(line)
    desk.plans[HOST] = windows_plan
    desk.shown[HOST] = windows_plan.id
    schedule = desk.run(line + " --catch-up --name Wochenwartung")
    payload = sp.envelopes[-1]["payload"]
    assert isinstance(schedule, fleet.Schedule) and payload["window_minutes"] == 90 and payload["catch_up"] is True
    assert payload["name"] == "Wochenwartung" and payload["hosts"] == [HOST, "kasse-02"]
    assert payload["variants"]["windows"]["approved_steps"] == [7]
    assert desk.run("schedules --tag kunde:x")["schedule_id"].tolist() == [schedule.id]
    changed = desk.run(line.replace("90min", "2h") + f" --replaces {schedule.id}")
    assert (changed.id, changed.revision, sp.envelopes[-1]["payload"]["window_minutes"]) == (schedule.id, 2, 120)
    assert desk.run(f"pause {schedule.id}").status == "paused"
    assert desk.run(f"resume {schedule.id}").status == "active"
    assert desk.run(f"occurrences {schedule.id}").empty
    assert desk.run(f"delete {schedule.id}").status == "deleted"
    assert "removed from kasse-02" in desk.run("untag kasse-02 kunde:x")
    from test_report import report_data

    sp.report = report_data()
    saved = desk.run(f"report kunde:x 2026-11 --lang en --save {tmp_path / 'r.md'}")
    assert "Maintenance report saved" in saved and (tmp_path / "r.md").read_text().startswith("# Maintenance report")
    assert isinstance(desk.run("report kunde:x"), fleet.MaintenanceReport)


def test_repl_fleet_schedule_needs_the_approval_without_a_terminal(desk, sp, windows_plan):
    from techcare.repl import Repl
    from techcare.session import Session

    set_language("en")
    tag_all(sp, HOST)
    desk.plans[HOST] = windows_plan
    desk.shown[HOST] = windows_plan.id
    said: list[Any] = []
    line = f"fleet schedule {TAG} FREQ=WEEKLY;BYDAY=SU;BYHOUR=2 --from {HOST} GO REPAIR: 7"
    Repl(Session(), say=said.append, interactive=False).handle(line)
    assert "--approve" in said[-1] and sp.envelopes == []
    Repl(Session(), say=said.append, interactive=False, approve="GO REPAIR: 7").handle(line)
    assert isinstance(said[-1], fleet.Schedule) and len(sp.envelopes) == 1
    repl = Repl(Session(), say=said.append, interactive=False)
    repl.handle("fleet tags")
    assert said[-1]["tag"].tolist() == [TAG]
    repl.handle("fleet hilfe")
    assert "fleet report TAG [YYYY-MM]" in said[-1] and "%fleet" not in said[-1]
    repl.handle("fleet diagnose --tag")
    assert said[-1].startswith("✖")


def test_new_magic_words_fail_the_cell_with_a_usage_error():
    from IPython.core.interactiveshell import InteractiveShell

    from techcare.session import reset_session

    shell = InteractiveShell.instance()
    reset_session()
    shell.run_line_magic("load_ext", "techcare")
    for cell in ("%fleet tag kunde:x", "%fleet schedule kunde:x FREQ=DAILY;BYHOUR=2 GO REPAIR: 1",
                 "%fleet report", "%fleet drivers", "%fleet occurrences"):
        result = shell.run_cell(cell)
        assert not result.success and type(result.error_in_exec).__name__ == "UsageError", cell
        assert "%fleet report TAG" in str(result.error_in_exec)
