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
