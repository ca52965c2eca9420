"""A plugin action as a remote job through the real backend (embedded default): the technician's fleet.queue
signs the plugin's identity, the backend stores and routes the job unchanged, the sensor host runs it when it has
that plugin and refuses (reported to the backend) when it has not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_texts import write_plugin
from service_helpers import FAST

from techcare import fleet, plugins, repairs
from techcare.backend_client import BackendClient
from techcare.config import load_settings, reset_settings
from techcare.i18n import set_language
from techcare.monitoring.executor import Executor
from techcare.monitoring.sensor import Sensor
from techcare.monitoring.simulated import SimulatedPC
from techcare.signing import TrustStore

WINDOWS = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "windows11-problems.json"
HOST = "WS-EMPFANG-01"

ACCOUNTING = '''
from techcare.plugins import hookimpl
from techcare.repairs import Action, Check

PLUGIN = {"name": "acme-win", "version": "2.1.0", "author": "ACME IT"}


def state(ctx):
    out = ctx.run(["sc.exe", "query", "LexwareDB"]).stdout or ""
    return "RUNNING" in out


class StartAccounting(Action):
    id = "acme.start_accounting"
    title_de, title_en = "Buchhaltungsdatenbank starten", "Start the accounting database"
    explain_de, explain_en = "Startet den Dienst LexwareDB.", "Starts the LexwareDB service."
    platforms = ("windows",)
    risk = "low"

    def check(self, ctx):
        return Check(not state(ctx), "")

    def prepare(self, ctx):
        ctx.state["was_running"] = state(ctx)

    def commands(self, params, ctx=None):
        return [["net.exe", "start", "LexwareDB"]]

    def verify(self, ctx):
        return Check(not state(ctx), "")

    def undo(self, ctx):
        if not ctx.state.get("was_running"):
            ctx.must(["net.exe", "stop", "LexwareDB"])


@hookimpl
def techcare_actions(register):
    register(StartAccounting)
'''


@pytest.fixture(scope="module")
def live() -> Iterator[Any]:
    from techcare_backend.testing import start_backend

    backend = start_backend(**FAST)
    yield backend
    backend.stop()


@pytest.fixture
def host(live: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from techcare_backend.testing import seed

    org = seed(live, edition="pro_business")
    monkeypatch.setenv("BACKEND_URL", live.url)
    monkeypatch.setenv("TECHCARE_API_KEY", org.keys["technician"])
    monkeypatch.setenv("TECHNICIAN_NAME", "Anna Technikerin")
    reset_settings()
    set_language("en")
    write_plugin(home, "acme_win.py", ACCOUNTING)
    pc = SimulatedPC.from_snapshot(WINDOWS, state_file=tmp_path / "pc.json")
    settings = load_settings(techcare_home=tmp_path / "host-home", remote_jobs="on", backend_url=live.url,
                             techcare_api_key=org.keys["sensor"])
    client = BackendClient(live.url, org.keys["sensor"], retries=0)
    sensor = Sensor(runner=pc.runner(), persist=False)
    sample = sensor.sample()
    sensor.close()
    sample["hostname"] = HOST
    client.post_metrics(sample)
    TrustStore(tmp_path / "host-home").add(fleet.signing_key().public_key, name="Anna")
    executor = Executor(settings, runner=pc.runner(), client=client, hostname=HOST)
    yield pc, executor
    client.close()


def _queue() -> Any:
    plan = repairs.Plan.from_actions([{"action": "acme.start_accounting"}], platform="windows")
    return fleet.queue(plan, "GO REPAIR: 1", hosts=[HOST])


def test_a_host_with_the_plugin_runs_the_remote_plugin_action(host):
    pc, executor = host
    job = _queue()
    [outcome] = executor.poll(wait=0)
    assert outcome.status == "succeeded", outcome.message
    assert job.wait(10).status == "done" and pc.services["lexwaredb"] == "RUNNING"


def test_a_host_without_the_plugin_refuses_and_the_backend_shows_why(host, home):
    pc, executor = host
    job = _queue()
    (home / "plugins" / "acme_win.py").unlink()  # this process plays the host now: the plugin is not there
    plugins.reload()
    [outcome] = executor.poll(wait=0)
    assert (outcome.status, outcome.reason) == ("refused", "plugin_missing")
    target = job.wait(10).target(HOST)
    assert (target["status"], target["reason"]) == ("refused", "plugin_missing")
    assert "acme-win 2.1.0" in target["message"] and pc.services.get("lexwaredb", "STOPPED") == "STOPPED"
