"""The sensor host's executor of signed remote jobs (docs/remote-jobs.md §2, §4): every refusal reason in the
documented order, the write-ahead run log, replays, high-risk confirmation, REMOTE_JOBS=off, and repair /
diagnose / rollback jobs run through the repairs engine on a simulated Windows PC (nothing here touches this
machine). Reports go to an in-process recorder of the backend's two sensor routes; the real backend is used in
test_sensor_jobs.py."""

from __future__ import annotations

import copy
import json
import time
import uuid

import pytest

from techcare import repairs
from techcare.backend_client import BackendUnavailable
from techcare.config import get_settings, reset_settings
from techcare.diagnosis import diagnose
from techcare.monitoring.executor import REASONS, Executor, Refusal
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import SigningKey, TrustStore

from remote_job_payloads import HOST, WINDOWS, iso, payload, repair_payload


class Recorder:
    """The backend's sensor routes as seen by the executor: reports and changelog uploads are kept."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str, dict]] = []
        self.uploads: list[dict] = []
        self.cancel_after_reports: int | None = None
        self.down = False

    def report_job(self, job_id, *, host, **body):
        if self.down:
            raise BackendUnavailable("backend down")
        self.reports.append((job_id, host, copy.deepcopy(body)))
        running = sum(1 for r in self.reports if r[2]["status"] == "running")
        return {"cancel": self.cancel_after_reports is not None and running > self.cancel_after_reports}

    def post_json(self, path, body, **kwargs):
        assert path == "/api/changelogs"
        self.uploads.append(body)
        return {"created": len(body["entries"]), "duplicates": 0}

    def final(self, job_id):
        return [body for jid, _host, body in self.reports if jid == job_id and body["status"] != "running"]


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
def backend() -> Recorder:
    return Recorder()


@pytest.fixture
def executor(key, pc, backend) -> Executor:
    return Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)


def job(key: SigningKey, p: dict) -> dict:
    return {"job_id": p["job_id"], "envelope": key.sign(p)}


def changes(pc: SimulatedPC) -> list[tuple[str, ...]]:
    return [c for c in pc.commands if c[0] in ("net.exe", "dism.exe") or c[:2] == ("sc.exe", "config")
            or "Set-NetFirewallProfile" in c[-1] or "Checkpoint-Computer" in c[-1]]


# ---- refusals, in the documented order -------------------------------------------------------------------------

def test_remote_jobs_off_verifies_and_runs_nothing(key, pc, backend, monkeypatch):
    monkeypatch.setenv("REMOTE_JOBS", "off")
    reset_settings()
    executor = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)
    p = repair_payload(pc)
    pc.commands.clear()
    outcome = executor.process(job(key, p))
    assert (outcome.status, outcome.reason) == ("refused", "disabled")
    assert pc.commands == []
    assert backend.final(p["job_id"])[0]["reason"] == "disabled"
    record = executor.log.records()[-1]
    assert record["event"] == "refused" and record["verified"] is False
    assert not executor.log.seen(p["job_id"])  # an unverified refusal never blocks the genuine job later


def test_remote_jobs_is_off_by_default():
    assert get_settings().remote_jobs == "off"


@pytest.mark.parametrize(("mutate", "why"), [
    (lambda env: env.pop("signature"), "not a signed envelope"),
    (lambda env: env["payload"].pop("expires"), "expires is missing"),
    (lambda env: env["payload"].update(hosts="WS-EMPFANG-01"), "hosts has the wrong type"),
    (lambda env: env["payload"].update(kind="shell"), "unknown kind"),
    (lambda env: env["payload"].update(job_id="../../etc"), "32 hex"),
    (lambda env: env["payload"].update(expires=iso(time.time() + 40 * 86400)), "at most 30 days"),
    (lambda env: env["payload"].update(confirm_high_risk="yes"), "confirm_high_risk has the wrong type"),
])
def test_malformed_jobs_are_refused_before_the_signature_check(executor, key, backend, mutate, why):
    j = job(key, payload())
    mutate(j["envelope"])
    with pytest.raises(Refusal) as info:
        executor.verify(j["envelope"], job_id=j["job_id"])
    assert info.value.reason == "malformed" and why in info.value.message
    outcome = executor.process(j)
    assert (outcome.status, outcome.reason) == ("refused", "malformed")
    assert backend.final(j["job_id"])[0]["reason"] == "malformed"


def test_a_job_delivered_under_another_id_is_malformed(executor, key):
    p = payload()
    with pytest.raises(Refusal) as info:
        executor.verify(key.sign(p), job_id=uuid.uuid4().hex)
    assert info.value.reason == "malformed" and "signed as" in info.value.message


def test_unpinned_signer_is_refused_and_reported(executor, backend):
    stranger = SigningKey.generate()
    p = payload()
    outcome = executor.process(job(stranger, p))
    assert (outcome.status, outcome.reason) == ("refused", "unknown_signer")
    assert stranger.key_id in outcome.message
    assert backend.final(p["job_id"])[0]["status"] == "refused"


@pytest.mark.parametrize("tamper", [
    lambda p: p["steps"][2]["params"].update(start_type="auto"),        # parameters
    lambda p: p["steps"][1].update(action="win.reset_winsock"),          # the action
    lambda p: p.update(hosts=[HOST, "kasse-01"]),                        # targets
    lambda p: p.update(expires=iso(time.time() + 7 * 86400)),            # extended
    lambda p: p.update(approval="GO REPAIR: 1-5", approved_steps=[1, 2, 3, 4, 5]),
    lambda p: p.update(confirm_high_risk=True),
])
def test_anything_changed_after_signing_is_refused(executor, key, pc, backend, tamper):
    p = repair_payload(pc)
    j = job(key, p)
    tamper(j["envelope"]["payload"])
    pc.commands.clear()
    outcome = executor.process(j)
    assert (outcome.status, outcome.reason) == ("refused", "bad_signature")
    assert changes(pc) == [] and backend.final(p["job_id"])[0]["reason"] == "bad_signature"


@pytest.mark.parametrize(("over", "reason"), [
    ({"hosts": ["kasse-01"]}, "wrong_host"),
    ({"not_before": iso(time.time() + 3600), "expires": iso(time.time() + 7200)}, "not_yet"),
    ({"not_before": iso(time.time() - 7200), "expires": iso(time.time() - 60)}, "expired"),
])
def test_host_and_time_window(executor, key, over, reason):
    outcome = executor.process(job(key, payload(**over)))
    assert (outcome.status, outcome.reason) == ("refused", reason)


def test_clock_skew_of_five_minutes_is_allowed(executor, key):
    p = payload(not_before=iso(time.time() + 240), expires=iso(time.time() + 3600))
    assert executor.verify(key.sign(p))["job_id"] == p["job_id"]


def test_repair_for_another_platform_is_refused(executor, key):
    p = payload("rollback", platform="darwin", rollback_of=uuid.uuid4().hex)
    assert executor.process(job(key, p)).reason == "platform"


def test_a_finished_job_is_never_run_again(executor, key, pc, backend):
    p = repair_payload(pc, "GO REPAIR: 1,3")
    first = executor.process(job(key, p))
    assert first.status == "succeeded"
    pc.commands.clear()
    again = executor.process(job(key, p))
    assert (again.status, again.reason) == ("refused", "replayed")
    assert changes(pc) == []
    # a fresh executor (sensor restarted) reads the same run log
    fresh = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)
    assert fresh.process(job(key, p)).reason == "replayed"


def test_plan_mismatch_fingerprint_and_approval(executor, key, pc):
    p = repair_payload(pc, plan_fingerprint="0123456789ab")
    assert executor.process(job(key, p)).reason == "plan_mismatch"
    p = repair_payload(pc, approved_steps=[1, 2])  # approval says 1-4
    outcome = executor.process(job(key, p))
    assert outcome.reason == "plan_mismatch" and "approves steps 1,2,3,4" in outcome.message
    # a risky step without its restore point: the repairs' own approval rule refuses it
    p = repair_payload(pc, "GO REPAIR: 1,5", confirm_high_risk=True)
    p["approval"], p["approved_steps"] = "GO REPAIR: 5", [5]
    outcome = executor.process(job(key, p))
    assert outcome.reason == "plan_mismatch" and "restore point" in outcome.message


def test_high_risk_steps_need_the_signed_confirmation(executor, key, pc):
    p = repair_payload(pc, "GO REPAIR: 1,5")  # 5: win.install_updates, high risk
    outcome = executor.process(job(key, p))
    assert (outcome.status, outcome.reason) == ("refused", "needs_confirmation")
    assert "5" in outcome.message


def test_reasons_are_checked_in_the_documented_order(executor, key, monkeypatch):
    # for another host, expired and replayed at once: the first of them in the table decides
    p = payload(hosts=["kasse-01"], not_before=iso(time.time() - 7200), expires=iso(time.time() - 60))
    assert executor.process(job(key, p)).reason == "wrong_host"
    p = payload(not_before=iso(time.time() - 7200), expires=iso(time.time() - 60))
    executor.log.append("accepted", p["job_id"], kind="diagnose")
    assert executor.process(job(key, p)).reason == "expired"
    assert REASONS.index("wrong_host") < REASONS.index("expired") < REASONS.index("replayed")


# ---- running jobs ------------------------------------------------------------------------------------------------

def test_repair_runs_through_the_repairs_engine_and_reports_each_step(executor, key, pc, backend):
    p = repair_payload(pc, "GO REPAIR: 1-4")
    outcome = executor.process(job(key, p))
    assert outcome.status == "succeeded", outcome.message
    assert [s["status"] for s in outcome.steps] == ["finished"] * 4
    assert pc.start_types["wuauserv"] == "demand" and pc.state["firewall"]["public"] is True
    running = [b for jid, _h, b in backend.reports if jid == p["job_id"] and b["status"] == "running"]
    assert [len(b["steps"]) for b in running] == [0, 1, 2, 3, 4]  # progress after every step
    final = backend.final(p["job_id"])
    assert len(final) == 1 and final[0]["status"] == "succeeded"
    sessions = executor.log.sessions(p["job_id"])
    assert len(sessions) == 4
    assert {u["session"] for u in backend.uploads} == set(sessions)
    assert all(u["job_id"] == p["job_id"] for u in backend.uploads)
    entries = repairs.read_entries(sessions[2])
    assert entries[0]["technician"] == "Anna Technikerin" and entries[0]["host"] == HOST


def test_the_run_log_is_written_before_anything_runs(executor, key, pc):
    p = repair_payload(pc, "GO REPAIR: 1")
    seen_at_first_command = []
    original = pc._answer

    def answer(argv):
        if not seen_at_first_command:
            seen_at_first_command.append([(r["event"], r["job_id"]) for r in
                                          [json.loads(line) for line in executor.log.path.read_text().splitlines()]])
        return original(argv)

    pc._answer = answer
    executor.process(job(key, p))
    assert seen_at_first_command == [[("accepted", p["job_id"])]]


def test_failed_step_is_undone_and_the_rest_does_not_run(executor, key, pc):
    pc.start_types["wuauserv"] = "disabled"
    p = repair_payload(pc, "GO REPAIR: 1,3,4")
    real = pc._answer

    def broken(argv):  # the Windows Update reset cannot start the service on this PC
        if argv[:2] == ("net.exe", "start"):
            return type(real(("sfc.exe",)))(argv, 2, "", "System error 5: Access is denied.", 0.0)
        return real(argv)

    pc._answer = broken
    outcome = executor.process(job(key, p))
    assert (outcome.status, outcome.reason) == ("failed", "step_failed")
    assert [(s["number"], s["status"]) for s in outcome.steps] == [(1, "finished"), (3, "finished"), (4, "failed")]
    assert "Step 4 failed" in outcome.message


def test_cancel_stops_before_the_next_step(executor, key, pc, backend):
    backend.cancel_after_reports = 1  # the answer to the progress after step 1 says cancel
    p = repair_payload(pc, "GO REPAIR: 1-4")
    outcome = executor.process(job(key, p))
    assert (outcome.status, outcome.reason) == ("cancelled", "cancelled")
    assert [(s["number"], s["status"]) for s in outcome.steps] == [(1, "finished"), (2, "not_run"),
                                                                  (3, "not_run"), (4, "not_run")]
    assert pc.state["firewall"]["public"] is False  # step 2 never ran


def test_diagnose_job_returns_the_cli_json(executor, key, pc, backend):
    p = payload()
    outcome = executor.process(job(key, p))
    assert outcome.status == "succeeded"
    expected = json.loads(diagnose(runner=pc.runner()).to_json())
    got = backend.final(p["job_id"])[0]["diagnosis"]
    assert got["host"] == expected["host"] and got["os"] == "windows"
    assert [f["check"] for f in got["findings"]] == [f["check"] for f in expected["findings"]]
    assert changes(pc) == []


def test_rollback_job_undoes_the_completed_steps_of_a_job(executor, key, pc, backend):
    repair = repair_payload(pc, "GO REPAIR: 1-4")
    assert executor.process(job(key, repair)).status == "succeeded"
    assert pc.start_types["wuauserv"] == "demand"
    rollback = payload("rollback", platform="windows", rollback_of=repair["job_id"])
    outcome = executor.process(job(key, rollback))
    assert outcome.status == "rolled_back", outcome.message
    assert pc.start_types["wuauserv"] == "disabled" and pc.state["firewall"]["public"] is False
    assert {s["number"]: s["status"] for s in outcome.steps} == {4: "undone", 3: "undone", 2: "undone",
                                                                 1: "not_undoable"}
    assert "Cannot be undone (kept): 1 win.create_restore_point" in outcome.message
    assert any(u["job_id"] == rollback["job_id"] for u in backend.uploads)


def test_rollback_of_a_job_that_never_ran_here_fails_clearly(executor, key):
    outcome = executor.process(job(key, payload("rollback", platform="windows", rollback_of=uuid.uuid4().hex)))
    assert (outcome.status, outcome.reason) == ("failed", "not_run_here")


def test_results_wait_in_the_run_log_while_the_backend_is_down(executor, key, backend):
    backend.down = True
    p = payload()
    assert executor.process(job(key, p)).status == "succeeded"
    assert executor.log.pending_reports()[0]["job_id"] == p["job_id"]
    backend.down = False
    fresh = Executor(get_settings(), runner=executor.runner, client=backend, hostname=HOST)
    assert fresh.flush_reports() == 1
    assert backend.final(p["job_id"])[0]["status"] == "succeeded"
    assert fresh.log.pending_reports() == []


def test_damaged_trust_store_refuses_every_job(executor, key):
    TrustStore(get_settings().techcare_home).path.write_text("{not json")
    with pytest.raises(Refusal) as info:
        executor.verify(key.sign(payload()))
    assert info.value.reason == "unknown_signer" and "damaged" in info.value.message


def test_the_run_log_survives_a_torn_last_line(executor, key):
    p = payload()
    executor.process(job(key, p))
    with executor.log.path.open("a") as handle:
        handle.write('{"event": "accep')
    fresh = Executor(get_settings(), runner=executor.runner, client=Recorder(), hostname=HOST)
    assert fresh.log.seen(p["job_id"]) and fresh.process(job(key, copy.deepcopy(p))).reason == "replayed"


def test_an_idle_job_loop_imports_nothing_heavy(tmp_path):
    """The sensor's steady cost with REMOTE_JOBS=on: polling and finding nothing loads neither the repairs engine,
    the diagnosis, pandas nor the signature code (they come with the first job)."""
    import subprocess
    import sys

    script = """
import json, sys
from techcare.config import load_settings
from techcare.monitoring.sensor import Sensor
from techcare.system.runner import ReplayRunner

class Idle:
    def fetch_jobs(self, host, *, wait=0):
        return {"jobs": [], "cancelled": []}

settings = load_settings(techcare_home=sys.argv[1], remote_jobs="on")
sensor = Sensor(settings=settings, runner=ReplayRunner(platform="linux"), client=Idle(), hostname="PC-1")
assert sensor.jobs and sensor.run_jobs(wait=0)
heavy = ("pandas", "techcare.repairs", "techcare.diagnosis", "cryptography", "techcare.signing")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m in heavy)))
"""
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "home")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.parametrize("mode", ["down", "instant"])
def test_the_job_loop_neither_hammers_a_down_backend_nor_spins_on_instant_answers(tmp_path, monkeypatch, mode):
    import threading

    from techcare.config import load_settings
    from techcare.monitoring.sensor import Sensor
    from techcare.system.runner import ReplayRunner

    class Backend:
        calls = 0

        def fetch_jobs(self, host, *, wait=0):
            Backend.calls += 1
            if mode == "down":
                raise BackendUnavailable("backend down")
            return {"jobs": [], "cancelled": []}  # a proxy that does not hold the long-poll

    settings = load_settings(techcare_home=str(tmp_path / "home"), remote_jobs="on", sensor_interval=60)
    sensor = Sensor(settings=settings, runner=ReplayRunner(platform="linux"), client=Backend(), hostname="PC-1")
    thread = threading.Thread(target=sensor._job_loop, daemon=True)
    thread.start()
    time.sleep(1.5)
    sensor.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert 1 <= Backend.calls <= 2, Backend.calls


def test_a_corrupted_pinned_key_trusts_nobody(executor, key):
    store = TrustStore(get_settings().techcare_home)
    data = json.loads(store.path.read_text())
    data["signers"][0]["public_key"] = "%%%"
    store.path.write_text(json.dumps(data))
    outcome = executor.process(job(key, payload()))
    assert (outcome.status, outcome.reason) == ("refused", "unknown_signer") and "damaged" in outcome.message


def test_a_stopping_sensor_ends_a_repair_after_the_current_step(key, pc, backend):
    import threading

    stop = threading.Event()
    executor = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST, stop=stop)
    real = pc._answer

    def answer(argv):
        if "Set-NetFirewallProfile" in argv[-1]:  # step 2 is running when the service is told to stop
            stop.set()
        return real(argv)

    pc._answer = answer
    outcome = executor.process(job(key, repair_payload(pc, "GO REPAIR: 1-4")))
    assert (outcome.status, outcome.reason) == ("interrupted", "interrupted")
    assert [(s["number"], s["status"]) for s in outcome.steps] == [(1, "finished"), (2, "finished"),
                                                                  (3, "not_run"), (4, "not_run")]
    assert executor.log.open_jobs() == []


def test_recovery_finds_steps_the_run_log_never_heard_of(executor, key, pc, backend):
    """Killed after a step's run ended but before its ``step`` record: recovery records the session (so a
    rollback undoes it) and reports the job interrupted."""
    p = repair_payload(pc, "GO REPAIR: 1,3")
    plan = repairs.Plan.from_actions([{"action": s["action"], "params": s["params"]} for s in p["steps"]],
                                     platform="windows", host=HOST)
    executor.log.append("accepted", p["job_id"], kind="repair", plan_fingerprint=p["plan_fingerprint"],
                        rollback_of=None, signer="Anna", approval=p["approval"])
    result = plan.run(repairs.Approval(plan.id, (3,), p["approval"]), pc.runner(), progress=lambda line: None)
    assert result.status == "completed" and pc.start_types["wuauserv"] == "demand"
    [outcome] = executor.recover()
    assert (outcome.status, outcome.reason) == ("interrupted", "interrupted")
    assert [(s["number"], s["action"]) for s in outcome.steps] == [(3, "win.set_service_start_type")]
    assert executor.log.sessions(p["job_id"]) == [result.session]
    rollback = payload("rollback", platform="windows", rollback_of=p["job_id"])
    assert executor.process(job(key, rollback)).status == "rolled_back"
    assert pc.start_types["wuauserv"] == "disabled"
