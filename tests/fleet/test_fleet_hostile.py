"""The technician's side against a hostile backend (findings of an outside trial): a diagnosis returned for one PC
that was made on another (or for another OS) is refused, so that the README pattern ``fleet.queue(plan, ...)`` can
never sign a repair for a PC the technician did not diagnose; ``fleet.queue`` without ``hosts=`` defaults only to a
host whose remote diagnosis was checked. The peer (conftest.JobsPeer) plays the backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import techcare
from techcare import fleet
from techcare.i18n import set_language

HOST = "WS-EMPFANG-01"
KASSE = "KASSE-02"
WINDOWS = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "windows11-problems.json"


def local_diagnosis(hostname: str | None = None, os_name: str | None = None) -> dict:
    data = json.loads(techcare.diagnose(snapshot=WINDOWS).to_json())  # made on WS-EMPFANG-01 (windows)
    if hostname is not None:
        data["host"] = hostname
        data["host_info"]["hostname"] = hostname
    if os_name is not None:
        data["os"] = os_name
    return data


@pytest.fixture(autouse=True)
def no_checked_hosts(monkeypatch):
    """Each test starts as a fresh session: no remote diagnosis checked yet (other tests check some)."""
    monkeypatch.setattr("techcare.fleet._job._CHECKED_HOSTS", {})


@pytest.fixture
def kasse(peer):
    peer.hosts.append({"hostname": KASSE, "os": "windows", "status": "online", "last_seen": "2026-12-02T07:00:00Z"})
    return KASSE


def test_a_diagnosis_made_on_another_pc_is_refused_and_nothing_can_be_queued_from_it(backend, peer, kasse):
    set_language("en")
    job = fleet.diagnose(kasse, backend=backend)
    peer.set_target(job.id, kasse, status="succeeded", diagnosis=local_diagnosis())  # WS-EMPFANG-01's
    with pytest.raises(fleet.FleetError) as err:
        job.result(timeout=1)
    assert "KASSE-02" in str(err.value) and "WS-EMPFANG-01" in str(err.value) and "not taken" in str(err.value)
    set_language("de")
    with pytest.raises(fleet.FleetError, match="stammt von WS-EMPFANG-01; nicht übernommen"):
        job.result(timeout=1)
    assert len(peer.envelopes) == 1  # only the diagnose job was ever signed


def test_a_diagnosis_for_another_os_than_the_sensor_reports_is_refused(backend, peer):
    set_language("en")
    job = fleet.diagnose("buero-mac", backend=backend)  # the backend lists it as darwin
    peer.set_target(job.id, "buero-mac", status="succeeded", diagnosis=local_diagnosis("buero-mac"))
    with pytest.raises(fleet.FleetError, match=r"is for windows, but the sensor of buero-mac reports darwin"):
        job.result(timeout=1)


def test_a_checked_diagnosis_plans_for_its_target_and_queue_defaults_to_it(backend, peer, kasse):
    job = fleet.diagnose(kasse, backend=backend)
    peer.set_target(job.id, kasse, status="succeeded", diagnosis=local_diagnosis("kasse-02"))  # case differs
    d = job.result(timeout=1)
    assert d.hostname == KASSE
    plan = techcare.plan(d)
    assert plan.host == KASSE
    repair = fleet.queue(plan, "GO REPAIR: 2", backend=backend)
    assert peer.envelopes[-1]["payload"]["hosts"] == [KASSE] and repair.hosts == [KASSE]


def test_queue_without_hosts_refuses_a_plan_not_made_from_a_checked_remote_diagnosis(backend, peer):
    set_language("en")
    plan = techcare.plan(techcare.diagnose(snapshot=WINDOWS))  # names WS-EMPFANG-01, but was made here
    with pytest.raises(fleet.FleetError, match=r"not made from a remote diagnosis.*'WS-EMPFANG-01'.*hosts="):
        fleet.queue(plan, "GO REPAIR: 2", backend=backend)
    assert peer.envelopes == []
    fleet.queue(plan, "GO REPAIR: 2", hosts=HOST, backend=backend)  # naming the target is always possible
    assert peer.envelopes[0]["payload"]["hosts"] == [HOST]


# ---- L2/L3: the technician's language, the interface's own words, a plan to approve from -----------------------

def test_the_backend_is_asked_in_the_technicians_language():
    import httpx

    from techcare.backend_client import BackendClient

    languages = []

    def handler(request):
        languages.append(request.headers.get("accept-language"))
        return httpx.Response(200, json=[])

    http = httpx.Client(transport=httpx.MockTransport(handler), base_url="http://backend.test")
    client = BackendClient(api_key="tck_technician", client=http, sleep=lambda s: None)
    set_language("en")
    client.hosts()
    set_language("de")
    client.list_jobs()
    assert languages == ["en", "de"]
    http.close()


def test_usage_errors_speak_german_in_german(backend):
    from techcare.fleet_magic import FleetUsageError, parse

    set_language("de")
    for line, german, english in (("bogus", "Befehl: ungültige Auswahl: 'bogus' (möglich: 'hosts'", "invalid choice"),
                                  ("job", "es fehlt: job_id", "the following arguments are required"),
                                  ("jobs --wat 3", "unbekannte Angaben: --wat 3", "unrecognized"),
                                  ("diagnose x --timeout abc", "Argument --timeout: keine Zahl: 'abc'", "invalid")):
        with pytest.raises(FleetUsageError) as err:
            parse(line, "fleet")
        assert german in str(err.value) and english not in str(err.value), str(err.value)
    set_language("en")
    with pytest.raises(FleetUsageError, match="the following arguments are required: job_id"):
        parse("job", "%fleet")


def test_a_too_long_window_is_said_in_days(backend):
    from datetime import timedelta

    set_language("de")
    with pytest.raises(fleet.FleetError) as err:
        fleet.diagnose(HOST, expires=timedelta(days=40, hours=12), backend=backend)
    assert str(err.value).endswith("hier 40,5 Tage.") and "day" not in str(err.value)
    set_language("en")
    with pytest.raises(fleet.FleetError, match=r"here 40\.5 days\.$"):
        fleet.diagnose(HOST, expires=timedelta(days=40, hours=12), backend=backend)


def test_the_repl_hint_names_its_own_word_and_the_terminal_magic_shows_the_numbered_plan(backend, capsys):
    from techcare import fleet_magic
    from techcare.repl import Repl
    from techcare.session import Session, reset_session

    desk = fleet_magic.get_desk()
    saved = desk.backend
    desk.backend = backend
    set_language("de")
    try:
        with pytest.raises(fleet.FleetError) as err:
            Repl(Session(), say=lambda _x: None, interactive=False).handle(f"fleet plan {HOST}")
        assert f"erst fleet diagnose {HOST}" in str(err.value) and "%fleet" not in str(err.value)

        class TerminalInteractiveShell:  # what the terminal IPython is called; the magic only looks at the name
            magic = None

            def register_magic_function(self, fn, magic_kind, magic_name):
                self.magic = fn

        reset_session()
        terminal = TerminalInteractiveShell()
        fleet_magic.load_ipython_extension(terminal)
        plan = techcare.plan(techcare.diagnose(snapshot=WINDOWS))
        desk.plans[HOST] = plan
        capsys.readouterr()
        assert terminal.magic(f"plan {HOST}") is None
        shown = capsys.readouterr().out
        assert shown == plan.text() + "\n" and "<Plan" not in shown
        assert all(step.title() in shown for step in plan.steps)
        assert desk.shown[HOST] == plan.id  # what was shown is what "%fleet repair" approves
        with pytest.raises(Exception, match=f"erst %fleet diagnose {KASSE}"):
            terminal.magic(f"plan {KASSE}")
    finally:
        desk.backend, desk.plans, desk.shown = saved, {}, {}


def test_an_unclosed_quote_is_said_in_the_language():
    from techcare.fleet_magic import FleetUsageError, parse

    set_language("de")
    with pytest.raises(FleetUsageError, match="ein Anführungszeichen ist nicht geschlossen"):
        parse('diagnose "WS-EMPFANG-01', "fleet")
    set_language("en")
    with pytest.raises(FleetUsageError, match="a quotation mark is not closed"):
        parse('diagnose "WS-EMPFANG-01', "fleet")
