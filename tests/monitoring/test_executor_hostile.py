"""The sensor host against a hostile or broken backend (findings of an outside trial): a job delivered early or to
a host whose clock is behind is not used up; garbage is logged and reported once per job id; the run log stays
bounded; one answer hands over at most 10 jobs; the job thread keeps a pace; the job fetch is capped in size and
time, and a body that is not JSON (or nested too deeply) is one clear error. Nothing here touches this machine."""

from __future__ import annotations

import copy
import threading
import time

import httpx
import pytest

from techcare import backend_client as bc
from techcare.backend_client import BackendClient, BackendUnavailable
from techcare.config import get_settings, load_settings, reset_settings
from techcare.i18n import set_language
from techcare.monitoring import executor as ex
from techcare.monitoring.executor import Executor, RunLog
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import SigningKey, TrustStore

from remote_job_payloads import HOST, WINDOWS, iso, payload


class Recorder:
    """The backend's report route as the executor sees it."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, dict]] = []

    def report_job(self, job_id, *, host, **body):
        self.reports.append((job_id, copy.deepcopy(body)))
        return {"cancel": False}

    def post_json(self, path, body, **kwargs):
        return {"created": len(body["entries"]), "duplicates": 0}


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


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def delivered(key: SigningKey, p: dict) -> dict:
    return {"job_id": p["job_id"], "envelope": key.sign(p)}


# ---- M2: a refusal that depends on the time or on this host does not use up the job id ---------------------------

@pytest.mark.parametrize("case", ["delivered 20 minutes early", "host clock 10 minutes behind"])
def test_a_job_refused_not_yet_runs_when_delivered_again_inside_its_window(key, pc, case):
    start = time.time()
    if case == "delivered 20 minutes early":
        p = payload(not_before=iso(start + 20 * 60), expires=iso(start + 3600))
        clock = Clock(start)
    else:
        p = payload(not_before=iso(start), expires=iso(start + 3600))
        clock = Clock(start - 10 * 60)
    backend = Recorder()
    executor = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST, clock=clock)
    first = executor.process(delivered(key, p))
    assert (first.status, first.reason) == ("refused", "not_yet")
    assert not executor.log.seen(p["job_id"])
    clock.now = start + 21 * 60  # inside the window now (the backend delivers it again, or the clock was set)
    again = executor.process(delivered(key, p))
    assert (again.status, again.reason) == ("succeeded", None), again.message
    assert executor.log.seen(p["job_id"])
    third = executor.process(delivered(key, p))  # accepted once: a replay now is refused
    assert (third.status, third.reason) == ("refused", "replayed")


def test_an_expired_refusal_is_final(key, pc):
    start = time.time()
    p = payload(not_before=iso(start - 7200), expires=iso(start - 3600))
    clock = Clock(start)
    executor = Executor(get_settings(), runner=pc.runner(), client=Recorder(), hostname=HOST, clock=clock)
    assert executor.process(delivered(key, p)).reason == "expired"
    assert executor.log.seen(p["job_id"])
    clock.now = start - 5400  # a clock set back into the window does not make it run
    assert executor.process(delivered(key, p)).reason == "replayed"


def test_a_job_for_another_host_is_not_used_up_here(key, pc):
    p = payload(hosts=["KASSE-02"])
    backend = Recorder()
    wrong = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)
    assert wrong.process(delivered(key, p)).reason == "wrong_host"
    renamed = Executor(get_settings(), runner=pc.runner(), client=backend, hostname="KASSE-02")
    assert renamed.process(delivered(key, p)).status == "succeeded"


# ---- M4: garbage once per job id, a bounded run log, at most 10 jobs per answer --------------------------------

def test_garbage_is_logged_and_reported_once_per_job_id(key, pc):
    backend = Recorder()
    executor = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)
    stranger = SigningKey.generate()
    garbage = {"job_id": "ab" * 16, "envelope": {"payload": "nope"}}
    unsigned = delivered(stranger, payload())
    for _ in range(5):
        assert executor.process(garbage).reason == "malformed"
        assert executor.process(unsigned).reason == "unknown_signer"
    refused = [r for r in executor.log.records() if r["event"] == "refused"]
    assert [r["reason"] for r in refused] == ["malformed", "unknown_signer"]
    assert [body["status"] for _job, body in backend.reports] == ["refused", "refused"]


def test_deeply_nested_garbage_is_refused_as_malformed_not_a_traceback(key, pc, caplog):
    executor = Executor(get_settings(), runner=pc.runner(), client=Recorder(), hostname=HOST)
    deep: dict = {}
    inner = deep
    for _ in range(20_000):
        inner["x"] = {}
        inner = inner["x"]
    outcome = executor.process({"job_id": "cd" * 16, "envelope": {"payload": deep, "key_id": "k",
                                                                    "signature": "s"}})
    assert (outcome.status, outcome.reason) == ("refused", "malformed")
    assert "Traceback" not in caplog.text


def test_one_answer_hands_over_at_most_ten_jobs(key, pc):
    class Flood(Recorder):
        def fetch_jobs(self, host, *, wait=0):
            return {"jobs": [{"job_id": f"{i:032x}", "envelope": {}} for i in range(1, 501)], "cancelled": []}

    executor = Executor(get_settings(), runner=pc.runner(), client=Flood(), hostname=HOST)
    assert len(executor.poll()) == ex.MAX_JOBS_PER_POLL == 10


def test_the_run_log_is_compacted_and_keeps_what_replay_protection_needs(tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "RUN_LOG_COMPACT_AT", 60)
    monkeypatch.setattr(ex, "RUN_LOG_MAX_GARBAGE", 20)
    clock = Clock(time.time())
    path = tmp_path / "remote_jobs.jsonl"
    runlog = RunLog(path, clock=clock)
    done, running = "a" * 32, "b" * 32
    runlog.append("accepted", done, kind="repair", expires=iso(clock.now + 3600))
    runlog.append("step", done, session="s1")
    runlog.append("finished", done, status="succeeded")
    runlog.append("accepted", running, kind="repair", expires=iso(clock.now + 3600))
    for i in range(200):
        runlog.append("refused", f"{i:032x}", reason="malformed", verified=False)
    lines = path.read_text().splitlines()
    assert len(lines) <= 60 and len(runlog.records()) == len(lines)
    assert runlog.seen(done) and runlog.seen(running) and runlog.sessions(done) == ["s1"]
    assert [r["job_id"] for r in runlog.open_jobs()] == [running]
    garbage = [r for r in runlog.records() if r["event"] == "refused"]
    assert len(garbage) <= 60 and garbage[-1]["job_id"] == f"{199:032x}"  # the newest are kept
    # a year later: the refusals and the finished job are gone, the job that never finished is still there
    clock.now += 402 * 86400
    assert runlog.compact() > 0
    assert not runlog.seen(done) and runlog.seen(running)
    assert RunLog(path).records() == runlog.records()  # what is in memory is what is on disk


# ---- M4: the job thread keeps a pace; the fetch is capped in size and time --------------------------------------

def test_the_job_thread_pauses_between_polls_that_returned_jobs(tmp_path):
    from techcare.monitoring.sensor import Sensor
    from techcare.system.runner import ReplayRunner

    class Busy:
        calls = 0

        def fetch_jobs(self, host, *, wait=0):
            Busy.calls += 1
            return {"jobs": [{"job_id": "ef" * 16, "envelope": "garbage"}], "cancelled": []}

        def report_job(self, job_id, *, host, **body):
            return {"cancel": False}

    settings = load_settings(techcare_home=str(tmp_path / "home"), remote_jobs="on", sensor_interval=60)
    sensor = Sensor(settings=settings, runner=ReplayRunner(platform="linux"), client=Busy(), hostname="PC-1")
    thread = threading.Thread(target=sensor._job_loop, daemon=True)
    thread.start()
    time.sleep(1.5)
    sensor.stop()
    thread.join(5)
    assert not thread.is_alive()
    assert 1 <= Busy.calls <= 2, Busy.calls


def client_for(handler) -> tuple[BackendClient, httpx.Client]:
    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://backend.test")
    return BackendClient(api_key="tck_sensor", client=http, sleep=lambda s: None, retries=1), http


def test_a_job_answer_larger_than_the_limit_is_not_read(monkeypatch):
    monkeypatch.setattr(bc, "FETCH_LIMIT", 64 * 1024)
    sent = []

    def chunks():
        for _ in range(10_000):  # 10 MB if it were read to the end
            sent.append(1)
            yield b" " * 1024

    client, http = client_for(lambda request: httpx.Response(200, content=chunks()))
    set_language("en")
    with pytest.raises(BackendUnavailable, match=r"too large \(\d+ bytes, at most 65536\)"):
        client.fetch_jobs(HOST)
    assert len(sent) < 100
    declared = lambda request: httpx.Response(200, content=b"{}", headers={"Content-Length": str(10**9)})  # noqa: E731
    client, http = client_for(declared)
    with pytest.raises(BackendUnavailable, match="too large"):
        client.fetch_jobs(HOST)
    http.close()


def test_a_trickling_job_answer_is_given_up_at_its_deadline(monkeypatch):
    monkeypatch.setattr(bc, "FETCH_MARGIN", 0.5)

    def trickle():
        yield b'{"jobs": ['
        for _ in range(100):
            time.sleep(0.05)
            yield b" "

    client, http = client_for(lambda request: httpx.Response(200, content=trickle()))
    set_language("en")
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="took too long"):
        client.fetch_jobs(HOST)
    assert time.monotonic() - started < 2.0
    http.close()


@pytest.mark.parametrize("body, problem", [(b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
                                           (b"<html>proxy</html>", "JSONDecodeError")])
def test_a_job_answer_that_is_not_json_is_one_clear_error(body, problem):
    client, http = client_for(lambda request: httpx.Response(200, content=body))
    set_language("en")
    with pytest.raises(BackendUnavailable, match=f"not readable JSON \\({problem}"):
        client.fetch_jobs(HOST)
    http.close()


def test_a_fetch_sends_the_language_and_the_key_and_reads_a_normal_answer():
    seen = []

    def handler(request):
        seen.append((request.headers.get("accept-language"), request.headers.get("authorization"),
                     dict(request.url.params)))
        return httpx.Response(200, json={"jobs": [], "cancelled": []})

    client, http = client_for(handler)
    set_language("en")
    assert client.fetch_jobs(HOST, wait=0) == {"jobs": [], "cancelled": []}
    set_language("de")
    client.fetch_jobs(HOST, wait=0)
    assert seen == [("en", "Bearer tck_sensor", {"host": HOST, "wait": "0"}),
                    ("de", "Bearer tck_sensor", {"host": HOST, "wait": "0"})]
    http.close()


# ---- L2/L4: what the host says, in its language and about what really happened --------------------------------

def test_a_repair_reports_what_really_happened_in_the_right_number(key, pc):
    import uuid

    from remote_job_payloads import repair_payload

    backend = Recorder()
    executor = Executor(get_settings(), runner=pc.runner(), client=backend, hostname=HOST)
    p = repair_payload(pc, "GO REPAIR: 3")  # wuauserv start type: disabled -> manual
    first = executor.process(delivered(key, p))
    assert (first.status, first.message) == ("succeeded", "1 step done.")
    again = dict(p, job_id=uuid.uuid4().hex)  # the same signed plan once more: the step is not needed now
    second = executor.process(delivered(key, again))
    assert [s["status"] for s in second.steps] == ["skipped"]
    assert (second.status, second.message) == ("succeeded", "Nothing changed: 1 step not needed (skipped).")
    set_language("de")
    third = executor.process(delivered(key, dict(p, job_id=uuid.uuid4().hex)))
    assert third.message == "Nichts geändert: 1 Schritt nicht nötig (übersprungen)."
    mismatch = dict(p, job_id=uuid.uuid4().hex, approved_steps=[2])
    outcome = executor.process(delivered(key, mismatch))
    assert outcome.reason == "plan_mismatch" and "gibt Schritt 3 frei" in outcome.message


def test_the_sensor_log_follows_the_language():
    from types import SimpleNamespace

    from techcare.monitoring.sensor import _sent_line

    one = SimpleNamespace(sent=1, created=1, duplicates=0, rejected=0, remaining=0)
    set_language("de")
    assert _sent_line(one) == "1 Messung gesendet (1 neu, 0 doppelt, 0 abgelehnt), 0 wartend"
    set_language("en")
    assert _sent_line(one) == "sent 1 sample (1 new, 0 duplicates, 0 rejected), 0 waiting"
    assert _sent_line(SimpleNamespace(sent=3, created=2, duplicates=1, rejected=0, remaining=4)) == \
        "sent 3 samples (2 new, 1 duplicates, 0 rejected), 4 waiting"


def test_a_real_slow_loris_answer_cannot_stretch_the_fetch_past_its_deadline(monkeypatch):
    """A server on this machine's loopback sends the headers at once, then one byte every 1.5 s: each read stays
    under the read timeout; the fetch still ends at its deadline (wait 1 s + margin 1 s), not a read later."""
    import socket

    monkeypatch.setattr(bc, "FETCH_MARGIN", 1.0)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    done = threading.Event()

    def loris():
        conn, _addr = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            while not done.wait(1.5):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    thread = threading.Thread(target=loris, daemon=True)
    thread.start()
    client = BackendClient(f"http://127.0.0.1:{port}", "tck_sensor", sleep=lambda s: None)
    set_language("en")
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailable, match="took too long"):
            client.fetch_jobs(HOST, wait=1)
        assert time.monotonic() - started < 2.7
    finally:
        done.set()
        client.close()
        server.close()
        thread.join(10)
