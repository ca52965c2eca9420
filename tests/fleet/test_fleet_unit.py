"""techcare.fleet without a backend server: the signed payload, local refusals, errors, answers checked,
DataFrames and displays, and the %fleet / REPL / CLI layers. The peer (conftest.JobsPeer) speaks the HTTP
contract from memory; test_fleet_e2e.py runs the same flows against the real backend and a sensor host."""

from __future__ import annotations

import json
import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

import techcare
from techcare import fleet
from techcare.errors import ApprovalError
from techcare.i18n import set_language
from techcare.signing import SigningKey, canonical_json, verify_envelope

HOST = "WS-EMPFANG-01"
WINDOWS = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "windows11-problems.json"
CONTRACT_KEYS = {"v", "job_id", "kind", "hosts", "platform", "steps", "approval", "approved_steps", "plan_fingerprint",
                 "confirm_high_risk", "rollback_of", "not_before", "expires", "issued_at", "signer"}
UTC_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def own_key(techcare_env) -> SigningKey:
    return SigningKey.load_or_create(techcare_env / "techcare-home")


# ---- the payload ----------------------------------------------------------------------------------------------

def test_diagnose_job_payload_is_the_contract_and_signed_with_the_home_key(backend, peer, techcare_env, monkeypatch):
    monkeypatch.setenv("TECHNICIAN_NAME", "Anna Technikerin")
    techcare.config.reset_settings()
    before = datetime.now(UTC).replace(microsecond=0)
    job = fleet.diagnose(HOST, backend=backend)
    [envelope] = peer.envelopes
    payload = envelope["payload"]
    assert set(payload) == CONTRACT_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", payload["job_id"]) and job.id == payload["job_id"]
    assert payload | {"job_id": "x", "not_before": "x", "expires": "x", "issued_at": "x"} == {
        "v": 1, "job_id": "x", "kind": "diagnose", "hosts": [HOST], "platform": None, "steps": [], "approval": "",
        "approved_steps": [], "plan_fingerprint": "", "confirm_high_risk": False, "rollback_of": None,
        "not_before": "x", "expires": "x", "issued_at": "x", "signer": "Anna Technikerin"}
    for name in ("not_before", "expires", "issued_at"):
        assert UTC_SECONDS.match(payload[name]), payload[name]
    start = parse_utc(payload["not_before"])
    assert before <= start <= datetime.now(UTC) and parse_utc(payload["expires"]) - start == timedelta(hours=24)
    key = own_key(techcare_env)
    assert envelope["key_id"] == key.key_id
    assert verify_envelope(envelope, {key.key_id: key.public_raw}) == payload
    assert stat.S_IMODE(os.stat(key.path).st_mode) == 0o600
    canonical_json(payload)  # no floats or other unsignable values


def test_repair_job_carries_the_plan_the_approval_and_its_fingerprint(backend, peer, windows_plan):
    job = fleet.queue(windows_plan, "go repair 1-3", HOST, backend=backend)  # a plan made here names its target
    payload = peer.envelopes[0]["payload"]
    assert payload["kind"] == "repair" and payload["hosts"] == [HOST] and payload["platform"] == "windows"
    assert payload["steps"] == [{"number": s.number, "action": s.action_id, "params": s.params}
                                for s in windows_plan.steps]
    assert payload["approval"] == "go repair 1-3" and payload["approved_steps"] == [1, 2, 3]
    assert payload["plan_fingerprint"] == windows_plan.fingerprint() and payload["confirm_high_risk"] is False
    rebuilt = techcare.repairs.Plan.from_actions([{"action": s["action"], "params": s["params"]}
                                                  for s in payload["steps"]], platform=payload["platform"])
    assert rebuilt.fingerprint() == payload["plan_fingerprint"]  # what the host will check
    assert job.kind == "repair" and job.status == "queued" and job.pending == [HOST]


def test_time_window_choices_and_refusals(backend, peer):
    start = datetime(2031, 1, 1, 6, 0, 0, 123, tzinfo=UTC)
    fleet.diagnose(HOST, not_before=start, expires=timedelta(hours=2), backend=backend)
    payload = peer.envelopes[-1]["payload"]
    assert (payload["not_before"], payload["expires"]) == ("2031-01-01T06:00:00Z", "2031-01-01T08:00:00Z")
    fleet.diagnose(HOST, not_before="2031-01-01T07:00:00+01:00", expires="2031-01-02T06:00:00Z", backend=backend)
    assert peer.envelopes[-1]["payload"]["not_before"] == "2031-01-01T06:00:00Z"
    cases = {"expires": ("expires", datetime.now(UTC) - timedelta(minutes=1)),
             "30": ("expires", timedelta(days=31)),
             "zone": ("not_before", datetime(2031, 1, 1, 6, 0)),
             "ISO": ("not_before", "morgen früh")}
    sent = len(peer.envelopes)
    set_language("en")
    for words, (name, value) in cases.items():
        with pytest.raises(fleet.FleetError) as err:
            fleet.diagnose(HOST, backend=backend, **{name: value})
        assert words in str(err.value), (name, str(err.value))
    assert len(peer.envelopes) == sent  # nothing left this machine


def test_bad_approval_is_refused_locally_with_the_repairs_message(backend, peer, windows_plan):
    for text in ("GO REPAIR: 99", "bitte reparieren", "GO REPAIR: 5"):  # 5 alone: without its restore point
        with pytest.raises(ApprovalError) as err:
            fleet.queue(windows_plan, text, HOST, backend=backend)
        with pytest.raises(ApprovalError) as local:
            techcare.repairs.parse_approval(text, windows_plan)
        assert str(err.value) == str(local.value)
    assert peer.envelopes == [] and ("POST", "/api/jobs") not in peer.requests


def test_high_risk_steps_need_the_signed_confirmation(backend, peer, windows_plan):
    assert windows_plan.steps[4].risk == "high"
    set_language("en")
    with pytest.raises(fleet.FleetError, match="Step 5 is high-risk"):
        fleet.queue(windows_plan, "GO REPAIR: 1,5", hosts=HOST, backend=backend)
    assert peer.envelopes == []
    fleet.queue(windows_plan, "GO REPAIR: 1,5", confirm_high_risk=True, hosts=HOST, backend=backend)
    assert peer.envelopes[0]["payload"]["confirm_high_risk"] is True


def test_unknown_hosts_and_other_platforms_are_named_before_anything_is_sent(backend, peer, windows_plan):
    set_language("en")
    with pytest.raises(fleet.FleetError, match=r"Unknown hosts: kasse-99.*WS-EMPFANG-01"):
        fleet.diagnose(["kasse-99", HOST], backend=backend)
    with pytest.raises(fleet.FleetError, match=r"plan is for windows.*buero-mac \(darwin\)"):
        fleet.queue(windows_plan, "GO REPAIR: 2", hosts=[HOST, "buero-mac"], backend=backend)
    with pytest.raises(fleet.FleetError, match="at most 1000"):
        fleet.diagnose([f"pc-{i}" for i in range(1001)], backend=backend)
    assert peer.envelopes == []


def test_rollback_is_a_signed_undo_of_the_hosts_that_ran_steps(backend, peer, windows_plan):
    job = fleet.queue(windows_plan, "GO REPAIR: 2,3", hosts=HOST, backend=backend)
    set_language("en")
    with pytest.raises(fleet.FleetError, match="nothing to roll back"):
        fleet.rollback(job, backend=backend)
    peer.set_target(job.id, HOST, status="failed", steps=[{"number": 2, "action": "win.enable_firewall",
                                                          "status": "finished"}])
    undo = fleet.rollback(job.id, backend=backend)
    payload = peer.envelopes[-1]["payload"]
    assert undo.kind == "rollback" and payload["rollback_of"] == job.id and payload["hosts"] == [HOST]
    assert payload["platform"] == "windows" and payload["steps"] == [] and payload["approval"] == ""
    diag = fleet.diagnose(HOST, backend=backend)
    with pytest.raises(fleet.FleetError, match="Only repair jobs"):
        fleet.rollback(diag, backend=backend)


# ---- configuration and backend refusals -------------------------------------------------------------------------

def test_missing_backend_or_key_says_what_to_set(monkeypatch):
    for lang, words in (("de", "BACKEND_URL ist nicht gesetzt"), ("en", "BACKEND_URL is not set")):
        set_language(lang)
        with pytest.raises(fleet.FleetError, match=words):
            fleet.hosts()
    monkeypatch.setenv("BACKEND_URL", "http://127.0.0.1:9")
    techcare.config.reset_settings()
    set_language("en")
    with pytest.raises(fleet.FleetError, match="TECHCARE_API_KEY is not set.*role technician or admin"):
        fleet.jobs()
    set_language("de")
    with pytest.raises(fleet.FleetError, match="Kein Techniker-API-Schlüssel"):
        fleet.diagnose(HOST)


@pytest.mark.parametrize(("status", "body", "words"), [
    (403, {"code": "ENTITLEMENTS_MISSING", "detail": "Unlimited systems needs Pro Business (has: Pro)"},
     "need a Pro Business license.*has: Pro"),
    (403, {"code": "FORBIDDEN", "detail": "Sensor keys may only send metrics."}, "role technician or admin"),
    (401, {"code": "UNAUTHORIZED", "detail": "bad key"}, "does not accept the API key"),
    (422, {"code": "VALIDATION", "detail": "expires is in the past"}, r"HTTP 422 VALIDATION.*expires is in the past"),
])
def test_backend_refusals_become_clear_errors(backend, peer, status, body, words):
    set_language("en")
    peer.override = lambda request: httpx.Response(status, json=body) if request.url.path == "/api/jobs" else None
    with pytest.raises(fleet.FleetError, match=words):
        fleet.diagnose(HOST, backend=backend)


@pytest.mark.parametrize("answer", [
    httpx.Response(201, text="<html>proxy login</html>"),
    httpx.Response(201, json=["not", "a", "job"]),
    httpx.Response(201, json={"job_id": "../../etc", "kind": "diagnose", "status": "queued", "hosts": [HOST]}),
    httpx.Response(201, json={"job_id": "a" * 32, "kind": "diagnose", "status": "pwned", "hosts": [HOST]}),
    httpx.Response(201, json={"job_id": "a" * 32, "kind": "diagnose", "status": "queued", "hosts": HOST}),
    httpx.Response(201, json={"job_id": "a" * 32, "kind": "diagnose", "status": "queued", "hosts": [HOST],
                              "targets": [{"host": HOST, "status": "succeeded", "steps": "rm -rf /"}]}),
    httpx.Response(201, json={"job_id": "a" * 32, "kind": "diagnose", "status": "queued", "hosts": [HOST]}),
])
def test_hostile_or_malformed_answers_are_refused(backend, peer, answer):
    set_language("en")
    peer.override = lambda request: answer if request.method == "POST" else None
    with pytest.raises(fleet.FleetError, match="backend"):
        fleet.diagnose(HOST, backend=backend)


def test_hosts_answer_that_is_not_a_host_list_is_refused(backend, peer):
    peer.hosts = [{"name": "no hostname field"}]
    set_language("en")
    with pytest.raises(fleet.FleetError, match="not a list of hosts"):
        fleet.hosts(backend=backend)


def test_a_retried_create_whose_first_attempt_arrived_is_recognised(backend, peer):
    calls = []

    def lose_first_answer(request):
        if request.method == "POST" and not calls:
            calls.append(request)
            peer.override = None
            peer.handle(request)          # the backend stored it ...
            peer.requests.pop()
            return httpx.Response(503, json={"detail": "gateway timeout"})  # ... but the answer got lost
        return None

    peer.override = lose_first_answer
    job = fleet.diagnose(HOST, backend=backend)
    assert len(peer.envelopes) == 1 and job.id == peer.envelopes[0]["payload"]["job_id"]
    assert [r for r in peer.requests if r[0] == "POST"] == [("POST", "/api/jobs")] * 2  # the lost one, the 409
    assert peer.requests[-1] == ("GET", f"/api/jobs/{job.id}")


# ---- following a job ---------------------------------------------------------------------------------------------

def test_wait_returns_on_timeout_and_names_who_has_not_answered(backend, peer):
    job = fleet.diagnose([HOST, "buero-mac"], backend=backend)
    peer.set_target(job.id, "buero-mac", status="succeeded")
    same = job.wait(0.3, poll=0.05)
    assert same is job and job.timed_out and job.waiting_for == [HOST] and job.status == "running"
    set_language("en")
    assert "No answer yet after 0.3 s from: WS-EMPFANG-01 (queued)" in job._repr_html_()
    with pytest.raises(fleet.FleetTimeout) as err:
        job.wait(0.1, poll=0.05, raise_on_timeout=True)
    assert err.value.waiting_for == [HOST] and "WS-EMPFANG-01" in str(err.value)
    peer.set_target(job.id, HOST, status="refused", reason="unknown_signer", message="key not pinned")
    assert job.wait(5, poll=0.05).finished and not job.timed_out and job.waiting_for == []
    assert job.status == "partly_failed"


def test_result_of_a_diagnose_job_is_a_diagnosis_that_plans_like_a_local_one(backend, peer, windows_plan):
    local = techcare.diagnose(snapshot=WINDOWS)
    job = fleet.diagnose(HOST, backend=backend)
    peer.set_target(job.id, HOST, status="succeeded", diagnosis=json.loads(local.to_json()))
    remote = job.result(timeout=2)
    assert isinstance(remote, techcare.Diagnosis) and remote.hostname == HOST and remote.os == "windows"
    assert remote.to_dict() == local.to_dict()
    assert techcare.plan(remote).fingerprint() == windows_plan.fingerprint()


def test_result_says_why_there_is_none(backend, peer):
    job = fleet.diagnose(HOST, backend=backend)
    set_language("en")
    with pytest.raises(fleet.FleetTimeout, match="No answer yet"):
        job.result(timeout=0.1)
    peer.set_target(job.id, HOST, status="refused", reason="bad_signature", message="changed after approval")
    with pytest.raises(fleet.FleetError, match=r"returned no diagnosis: refused \(bad_signature\) – changed"):
        job.result()
    other = fleet.diagnose(HOST, backend=backend)
    peer.set_target(other.id, HOST, status="succeeded", diagnosis={"os": "windows", "findings": "nope"})
    with pytest.raises(fleet.FleetError, match="Unexpected answer from the backend.*diagnosis"):
        other.result()


def test_to_frame_has_a_row_per_host_and_step_and_html_escapes_everything(backend, peer, windows_plan):
    job = fleet.queue(windows_plan, "GO REPAIR: 2,3", hosts=HOST, backend=backend)
    peer.set_target(job.id, HOST, status="failed", message="<script>alert(1)</script>", steps=[
        {"number": 2, "action": "win.enable_firewall", "status": "finished", "detail": "ok"},
        {"number": 3, "action": "win.set_service_start_type", "status": "failed", "detail": "<b>denied</b>",
         "undo": "undone"}])
    frame = job.refresh().to_frame()
    assert list(frame.columns) == ["host", "status", "reason", "message", "step", "action", "step_status", "detail",
                                   "undo", "updated_at"]
    assert frame[["step", "action", "step_status"]].values.tolist() == [
        [2, "win.enable_firewall", "finished"], [3, "win.set_service_start_type", "failed"]]
    html_text = job._repr_html_()
    assert "<script>" not in html_text and "&lt;script&gt;" in html_text and "<b>denied" not in html_text
    assert job.id[:12] in html_text and "GO REPAIR: 2,3" in html_text
    assert job.result().equals(frame)  # repair jobs: the host's steps


def test_terminal_views_show_control_characters_from_the_backend_instead_of_running_them(backend, peer, windows_plan):
    """A hostile backend or host puts terminal escapes (retitle, clear the screen, OSC 52 clipboard write) into a
    job's status fields: the shell's rich table and repr show them as text, the terminal never receives them."""
    import io

    from rich.console import Console

    set_language("en")
    job = fleet.queue(windows_plan, "GO REPAIR: 2", hosts=HOST, backend=backend)
    evil = "\x1b]0;PWNED\x07\x1b[2J\x1b]52;c;cm0gLXJmIH4=\x07\u202e"
    peer.set_target(job.id, HOST, status="failed", reason="bad_signature", message=f"denied{evil}",
                    steps=[{"number": 2, "action": f"win.enable_firewall{evil}", "status": "failed"}])
    job.refresh()
    out = io.StringIO()
    Console(file=out, width=300, force_terminal=True, color_system=None).print(job)
    shown = out.getvalue()
    assert "\x1b]" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "denied\\x1b]0;PWNED\\x07\\x1b[2J" in shown and "\\u202e" in shown
    assert "win.enable_firewall\\x1b]0;PWNED" in shown
    assert "\x1b" not in repr(job) and "\x1b" not in job.timeout_note(1.0)


def test_hosts_and_jobs_frames(backend, peer, windows_plan):
    hosts = fleet.hosts(backend=backend)
    assert hosts["hostname"].tolist() == [HOST, "buero-mac"] and list(hosts.columns[:3]) == ["hostname", "os", "status"]
    set_language("en")
    peer.hosts[0]["tags"] = ["kasse", "filiale-1"]
    peer.hosts[1]["tags"] = []
    assert fleet.hosts("kasse", backend=backend)["hostname"].tolist() == [HOST]
    first = fleet.diagnose(HOST, backend=backend)
    second = fleet.queue(windows_plan, "GO REPAIR: 2", HOST, backend=backend)
    frame = fleet.jobs(backend=backend)
    assert frame["job_id"].tolist() == [second.id, first.id]
    assert frame.loc[0, "targets"] == f"{HOST}: queued" and frame.loc[0, "approval"] == "GO REPAIR: 2"
    assert fleet.jobs(host="buero-mac", backend=backend).empty
    with pytest.raises(fleet.FleetError, match="Unknown status 'fertig'. Allowed: queued, delivered"):
        fleet.jobs(status="fertig", backend=backend)
    with pytest.raises(fleet.FleetError, match="limit must be an integer from 1 to 200"):
        fleet.jobs(limit=500, backend=backend)


def test_cancel_and_unknown_jobs(backend, peer):
    job = fleet.diagnose(HOST, backend=backend)
    cancelled = fleet.cancel(job, backend=backend)
    assert cancelled.status == "cancelled" and job.status == "cancelled" and cancelled.finished
    set_language("en")
    with pytest.raises(fleet.FleetError, match="is not a job id"):
        fleet.cancel("123; DROP TABLE jobs", backend=backend)
    with pytest.raises(fleet.FleetError, match=f"Job {'b' * 32} is unknown to the backend"):
        fleet.job("b" * 32, backend=backend)


# ---- %fleet, the REPL and the CLI --------------------------------------------------------------------------------

@pytest.fixture
def ip(backend):
    from IPython.core.interactiveshell import InteractiveShell

    from techcare import fleet_magic
    from techcare.session import reset_session

    shell = InteractiveShell.instance()
    reset_session()
    shell.run_line_magic("load_ext", "techcare")
    desk = fleet_magic.get_desk()
    saved = desk.backend
    desk.backend = backend
    yield shell
    desk.backend, desk.plans, desk.shown, desk.diagnoses = saved, {}, {}, {}


def test_fleet_magic_usage_errors_fail_the_cell(ip):
    for cell in ("%fleet bogus", "%fleet diagnose", "%fleet repair WS-EMPFANG-01 1,2", "%fleet jobs --nope",
                 "%fleet job x --wait 99999", '%fleet diagnose "unclosed', "%fleet repair WS-EMPFANG-01"):
        result = ip.run_cell(cell)
        assert not result.success, cell
        assert type(result.error_in_exec).__name__ == "UsageError", (cell, result.error_in_exec)
        assert "%fleet diagnose HOST" in str(result.error_in_exec)


def test_fleet_magic_diagnose_plan_repair(ip, peer):
    frame = ip.run_line_magic("fleet", "")
    assert isinstance(frame, pd.DataFrame) and HOST in frame["hostname"].tolist()
    result = ip.run_cell(f"%fleet repair {HOST} GO REPAIR: 2")  # no plan shown for that host yet
    assert not result.success and isinstance(result.error_in_exec, fleet.FleetError)
    local = techcare.diagnose(snapshot=WINDOWS)

    def answer_diagnosis(request):
        for job_id, job in peer.jobs.items():
            if job["targets"][0]["status"] == "queued":
                peer.set_target(job_id, HOST, status="succeeded", diagnosis=json.loads(local.to_json()))
        return None

    peer.override = answer_diagnosis
    diagnosis = ip.run_line_magic("fleet", f"diagnose {HOST} --timeout 5")
    assert isinstance(diagnosis, techcare.Diagnosis) and diagnosis.hostname == HOST
    assert not ip.run_cell(f"%fleet repair {HOST} GO REPAIR: 2").success  # diagnosed, but the plan not shown yet
    plan = ip.run_line_magic("fleet", f"plan {HOST}")
    job = ip.run_line_magic("fleet", f"repair {HOST} GO REPAIR: 1,5 --confirm")
    assert isinstance(job, fleet.Job) and job.kind == "repair"
    assert peer.envelopes[-1]["payload"]["plan_fingerprint"] == plan.fingerprint()
    assert peer.envelopes[-1]["payload"]["confirm_high_risk"] is True
    assert ip.run_line_magic("fleet", f"cancel {job.id}").status == "cancelled"
    assert list(ip.run_line_magic("fleet", "jobs")["job_id"])[0] == job.id
    assert ip.user_ns["tc"].plan is None  # the remote plan never becomes the local session's plan


def test_repl_fleet_words(backend, peer):
    from techcare import fleet_magic
    from techcare.repl import Repl
    from techcare.session import Session

    said = []
    desk = fleet_magic.get_desk()
    saved = desk.backend
    desk.backend = backend
    try:
        repl = Repl(Session(), say=said.append, interactive=False)
        repl.handle("fleet")
        assert isinstance(said[-1], pd.DataFrame) and HOST in said[-1]["hostname"].tolist()
        repl.handle("fleet bogus")
        assert said[-1].startswith("✖") and "fleet diagnose HOST" in said[-1] and "%fleet" not in said[-1]
        desk.plans[HOST] = techcare.plan(techcare.diagnose(snapshot=WINDOWS))
        desk.shown[HOST] = desk.plans[HOST].id
        repl.handle(f"fleet repair {HOST} GO REPAIR: 2")  # no terminal and no --approve: refused
        assert "--approve" in said[-1] and peer.envelopes == []
        Repl(Session(), say=said.append, interactive=False, approve="GO REPAIR: 2").handle(
            f"fleet repair {HOST} GO REPAIR: 2")
        assert isinstance(said[-1], fleet.Job) and peer.envelopes[-1]["payload"]["approved_steps"] == [2]
        repl.handle("fleet hilfe")
        assert "fleet rollback ID" in said[-1]
    finally:
        desk.backend, desk.plans, desk.shown = saved, {}, {}


def test_cli_fleet_key_prints_the_key_to_pin(techcare_env, capsys, monkeypatch):
    from techcare import cli

    monkeypatch.setenv("TECHCARE_LANG", "en")
    assert cli.main(["fleet", "key"]) == 0
    out = capsys.readouterr().out
    key = own_key(techcare_env)
    assert key.public_key in out and f"Key id: {key.key_id}" in out and "techcare sensor trust add" in out
    assert cli.main(["fleet", "key"]) == 0 and key.public_key in capsys.readouterr().out  # same key again
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fleet"])
    assert exit_info.value.code == 2


def test_terminal_rendering_shows_backend_text_as_text(backend, peer):
    from rich.console import Console

    odd = "[bold]pc[/bold]"
    peer.hosts.append({"hostname": odd, "os": "windows", "status": "online"})
    job = fleet.diagnose(odd, backend=backend)
    peer.set_target(job.id, odd, status="running", message="[red]hidden[/] [link=http://x]klick[/link]")
    job.wait(0.1, poll=0.05)
    console = Console(record=True, width=200)
    console.print(job, markup=False)
    text = console.export_text()
    assert "[red]hidden[/] [link=http://x]klick[/link]" in text
    assert f"{odd} (running)" in text  # the caption names who has not answered, as text


def test_result_fetches_a_diagnosis_the_job_at_hand_does_not_carry(backend, peer):
    job = fleet.diagnose(HOST, backend=backend)
    local = techcare.diagnose(snapshot=WINDOWS)
    job.targets[0].update(status="succeeded", diagnosis=None)  # as a list answer shows a finished target
    peer.set_target(job.id, HOST, status="succeeded", diagnosis=json.loads(local.to_json()))
    assert job.result().to_dict() == local.to_dict()
