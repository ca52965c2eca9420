"""A plugin action in a remote job: the signed job names the plugin (name, version, content hash); a host runs
it only when it has that very plugin, else it refuses (plugin_missing / plugin_mismatch) and runs nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from plugin_texts import LOB, write_plugin

from techcare import plugins, repairs
from techcare.config import get_settings, reset_settings
from techcare.fleet import build_payload
from techcare.monitoring.executor import Executor
from techcare.signing import SigningKey, TrustStore
from techcare.system.runner import CommandResult, Entry, ReplayRunner

HOST = "kasse-01"


class Machine:
    """The host's replayed PC: the accounting unit starts and stops on command."""

    def __init__(self) -> None:
        self.active = False
        self.changes: list[tuple[str, ...]] = []

    def __call__(self, argv):
        if argv[:2] == ("systemctl", "is-active"):
            return CommandResult(argv, 0 if self.active else 3, "active\n" if self.active else "inactive\n", "", 0.0)
        if argv[:2] in (("systemctl", "restart"), ("systemctl", "stop")):
            self.changes.append(argv)
            self.active = argv[1] == "restart"
            return CommandResult(argv, 0, "", "", 0.0)
        return CommandResult(argv, None, "", "not recorded", 0.0, "not_recorded")


class Backend:
    def __init__(self) -> None:
        self.reports: list[dict] = []

    def report_job(self, job_id, *, host, **body):
        self.reports.append(copy.deepcopy(body))
        return {"cancel": False}

    def post_json(self, path, body, **kwargs):
        return {"created": len(body["entries"]), "duplicates": 0}


@pytest.fixture
def signed(home, monkeypatch, licensed):
    """The technician's side: plugin installed, plan made and signed; returns the delivered job."""
    monkeypatch.setenv("REMOTE_JOBS", "on")
    monkeypatch.setenv("TECHCARE_LANG", "en")
    reset_settings()
    licensed("pro_business")
    key = SigningKey.generate()
    TrustStore(get_settings().techcare_home).add(key.public_key, name="Anna")
    write_plugin(home, "acme_lob.py", LOB)
    plan = repairs.Plan.from_actions([{"action": "acme.restart_lob"}], platform="linux")
    payload = build_payload("repair", [HOST], signer="Anna", plan=plan, approval="GO REPAIR: 1",
                            now=datetime.now(UTC))
    return {"job_id": payload["job_id"], "envelope": key.sign(payload)}, key


def _host(machine: Machine, backend: Backend | None = None) -> Executor:
    plugins.reload()
    runner = ReplayRunner([Entry("fact", "is_admin", True)], platform="linux", fallback=machine)
    return Executor(get_settings(), runner=runner, client=backend or Backend(), hostname=HOST)


def test_the_signed_job_names_the_plugin_of_its_action(signed, home):
    job, _ = signed
    info = next(p for p in plugins.installed() if p.name == "acme-lob")
    assert job["envelope"]["payload"]["plugins"] == [{"name": "acme-lob", "version": "1.2.0", "sha256": info.sha256,
                                                      "actions": ["acme.restart_lob"]}]


def test_a_host_with_the_same_plugin_runs_the_action(signed):
    job, _ = signed
    machine, backend = Machine(), Backend()
    outcome = _host(machine, backend).process(job)
    assert outcome.status == "succeeded", outcome.message
    assert machine.changes == [("systemctl", "restart", "lexware-db.service")] and machine.active


@pytest.mark.parametrize(("change", "reason", "said"), [
    (lambda path: path.unlink(), "plugin_missing", "not installed on this host"),
    (lambda path: path.write_text(LOB.replace('"version": "1.2.0"', '"version": "1.3.0"')), "plugin_mismatch",
     "this host has version 1.3.0"),
    (lambda path: path.write_text(LOB + "\n# changed here\n"), "plugin_mismatch", "has other content here"),
    (lambda path: path.chmod(0o666), "plugin_missing", "not loaded here"),
])
def test_a_host_without_that_plugin_refuses_and_runs_nothing(signed, home, change, reason, said):
    job, _ = signed
    change(home / "plugins" / "acme_lob.py")
    machine, backend = Machine(), Backend()
    outcome = _host(machine, backend).process(job)
    assert (outcome.status, outcome.reason) == ("refused", reason) and said in outcome.message, outcome.message
    assert machine.changes == [] and backend.reports[-1]["reason"] == reason


def test_a_job_that_does_not_name_the_plugin_is_refused(signed):
    job, key = signed
    payload = dict(job["envelope"]["payload"])
    del payload["plugins"]  # e.g. signed by an older TechCare
    outcome = _host(Machine()).process({"job_id": payload["job_id"], "envelope": key.sign(payload)})
    assert (outcome.status, outcome.reason) == ("refused", "plugin_mismatch")
    assert "which the signed job does not name" in outcome.message


def test_the_plugin_list_cannot_be_changed_after_signing(signed):
    job, _ = signed
    job["envelope"]["payload"]["plugins"][0]["sha256"] = "0" * 64
    outcome = _host(Machine()).process(job)
    assert (outcome.status, outcome.reason) == ("refused", "bad_signature")


def test_the_backend_takes_the_plugins_field_and_refuses_a_bad_one(signed):
    from techcare_backend.crud_jobs import JobInvalid, check_plugins, parse_envelope

    job, _ = signed
    parsed = parse_envelope(job["envelope"], now=datetime.now(UTC))
    assert parsed.job_id == job["job_id"]
    for bad in ([{"name": "acme-lob"}], "acme-lob", [{"name": "Acme", "version": "1", "sha256": "0" * 64,
                                                      "actions": []}]):
        with pytest.raises(JobInvalid, match="plugins"):
            check_plugins({"plugins": bad}, "payload")


def test_a_schedule_variant_names_the_plugin_and_the_backend_takes_it(signed):
    from techcare.fleet import build_schedule_payload
    from techcare_backend.crud_schedules import parse_envelope as parse_schedule

    _, key = signed
    plan = repairs.Plan.from_actions([{"action": "acme.restart_lob"}], platform="linux")
    payload = build_schedule_payload({"linux": (plan, "GO REPAIR: 1")}, [HOST], rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2",
                                     signer="Anna", name="Wartung Buchhaltung", now=datetime.now(UTC))
    variant = payload["variants"]["linux"]
    assert [p["name"] for p in variant["plugins"]] == ["acme-lob"] and variant["plugins"][0]["version"] == "1.2.0"
    parsed = parse_schedule(key.sign(payload), now=datetime.now(UTC))
    assert parsed is not None
    plain = repairs.Plan.from_actions([{"action": "linux.apt_clean"}], platform="linux")
    without = build_schedule_payload({"linux": (plain, "GO REPAIR: 1")}, [HOST], rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2",
                                     signer="Anna", name="Wartung", now=datetime.now(UTC))
    assert "plugins" not in without["variants"]["linux"]  # built-in plans sign what they signed before


@pytest.mark.parametrize("installed", [True, False])
def test_a_maintenance_occurrence_with_a_plugin_action_needs_that_plugin(signed, home, installed):
    from datetime import timedelta

    from techcare.fleet import build_schedule_payload
    from techcare.monitoring.executor import Refusal

    _, key = signed
    now = datetime.now(UTC).replace(microsecond=0)
    plan = repairs.Plan.from_actions([{"action": "acme.restart_lob"}], platform="linux")
    payload = build_schedule_payload({"linux": (plan, "GO REPAIR: 1")}, [HOST], signer="Anna", name="Wartung",
                                     rrule="FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", now=now)
    sunday = (now + timedelta(days=(6 - now.weekday()) % 7 or 7)).replace(hour=2, minute=10, second=0)
    item = {"schedule_id": payload["schedule_id"], "occurrence": sunday.strftime("%Y-%m-%dT02:00"),
            "envelope": key.sign(payload)}
    if not installed:
        (home / "plugins" / "acme_lob.py").unlink()
    plugins.reload()
    runner = ReplayRunner([Entry("fact", "is_admin", True)], platform="linux", fallback=Machine())
    executor = Executor(get_settings(), runner=runner, client=Backend(), hostname=HOST,
                        clock=lambda: sunday.timestamp(), timezone="UTC")
    if installed:
        assert executor.verify_occurrence(item)[0]["schedule_id"] == payload["schedule_id"]
    else:
        with pytest.raises(Refusal) as refused:
            executor.verify_occurrence(item)
        assert refused.value.reason == "plugin_missing" and "acme-lob 1.2.0" in refused.value.message
