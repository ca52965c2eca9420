"""A plugin's assistant tool: called by Claude (the real SDK against the fake Messages server) and by the offline
engine on a trigger word; what it proposes becomes a plan only through the catalogue, and nothing runs."""

from __future__ import annotations

import json

import pytest
from plugin_texts import LOB, write_plugin

from techcare import repairs
from techcare.assistant import Assistant
from techcare.assistant.testing import FakeMessagesServer, text, tool_use
from techcare.diagnosis import Diagnosis, Finding
from techcare.system.runner import ReplayRunner


def _diagnosis() -> Diagnosis:
    stopped = Finding("acme.lob_service", "services", "critical", "Buchhaltungsdienst steht", "Accounting service stopped")
    return Diagnosis(host={"hostname": "buero-pc", "os": "linux"}, os="linux", items=[stopped], probes={})


@pytest.fixture
def fake_api():
    with FakeMessagesServer() as server:
        yield server


def _results(request: dict) -> list[dict]:
    return [b for b in request["body"]["messages"][-1]["content"] if b["type"] == "tool_result"]


def test_claude_sees_and_calls_the_plugin_tool(home, fake_api):
    write_plugin(home, "acme_lob.py", LOB)
    fake_api.enqueue(tool_use("acme-kb", {"topic": "Lexware startet nicht"}),
                     tool_use("propose_repairs", {"steps": [{"action": "acme.restart_lob",
                                                             "params": {"unit": "lexware-db.service"}}]}),
                     text("Laut Werkstatt-Wissen: Dienst neu starten. Freigabe mit GO REPAIR: 1"))
    runner = ReplayRunner(platform="linux")
    bot = Assistant(engine="auto", api_key="sk-ant-test", base_url=fake_api.url, language="de",
                    model="claude-sonnet-5-5", diagnosis=_diagnosis(), runner=runner, max_retries=0)
    reply = bot.ask("Lexware startet nicht")
    first = fake_api.requests[0]["body"]
    spec = next(t for t in first["tools"] if t["name"] == "acme-kb")
    assert "plugin acme-lob 1.2.0" in spec["description"] and spec["input_schema"]["properties"]["topic"]
    assert "acme.restart_lob" in next(t for t in first["tools"] if t["name"] == "propose_repairs")["description"]
    (result,) = _results(fake_api.requests[1])
    content = json.loads(result["content"])
    assert not result["is_error"] and content["tool"] == "acme-kb"
    data = content["untrusted_data"]
    assert data["plugin"] == "acme-lob 1.2.0" and "Lexware startet nicht" in data["data"]["summary"]["de"]
    assert data["proposable_steps"] == [{"action": "acme.restart_lob", "params": {"unit": "lexware-db.service"}}]
    assert "Nothing has been run" in data["note"]
    assert [s.action_id for s in reply.plan.steps] == ["acme.restart_lob"] and runner.calls == []


def test_a_failing_plugin_tool_is_an_error_result_for_the_model(home, fake_api):
    write_plugin(home, "acme_lob.py", LOB.replace('    topic = str(', '    raise RuntimeError("KB offline")\n    topic = str('))
    fake_api.enqueue(tool_use("acme-kb", {}), text("Die Wissensdatenbank ist nicht erreichbar."))
    bot = Assistant(engine="auto", api_key="sk-ant-test", base_url=fake_api.url, language="de",
                    model="claude-sonnet-5-5", diagnosis=_diagnosis(), runner=ReplayRunner(platform="linux"),
                    max_retries=0)
    reply = bot.ask("Lexware startet nicht")
    (result,) = _results(fake_api.requests[1])
    assert result["is_error"] and "RuntimeError: KB offline" in result["content"] and reply.plan is None


def test_the_offline_engine_calls_the_tool_on_its_trigger_word(home):
    write_plugin(home, "acme_lob.py", LOB)
    runner = ReplayRunner(platform="linux")
    reply = Assistant(engine="offline", language="de", diagnosis=_diagnosis(), runner=runner).ask(
        "Die Buchhaltung (Lexware) startet nicht")
    assert reply.route == "plugin" and reply.engine == "offline"
    assert "ACME-Wissen (Plugin acme-lob):" in reply.text and "KB: Lexware-Dienst neu starten" in reply.text
    assert "Vorgeschlagener Plan (es wurde nichts ausgeführt):" in reply.text and "GO REPAIR: 1" in reply.text
    assert [s.action_id for s in reply.plan.steps] == ["acme.restart_lob"] and runner.calls == []


def test_the_offline_engine_drops_what_the_catalogue_does_not_have(home):
    write_plugin(home, "acme_lob.py", LOB.replace('"propose": [{"action": "acme.restart_lob"',
                                                  '"propose": [{"action": "acme.format_disk"'))
    reply = Assistant(engine="offline", language="en", diagnosis=_diagnosis(),
                      runner=ReplayRunner(platform="linux")).ask("lexware is broken")
    assert reply.plan is None and "Not proposed: acme.format_disk" in reply.text


def test_without_a_trigger_word_the_offline_engine_answers_as_before(home):
    write_plugin(home, "acme_lob.py", LOB)
    reply = Assistant(engine="offline", language="de", diagnosis=_diagnosis(),
                      runner=ReplayRunner(platform="linux")).ask("Drucker druckt nicht")
    assert reply.route != "plugin" and "Plugin acme-lob" not in reply.text


def test_a_plugin_tool_never_gets_a_runner(home):
    write_plugin(home, "acme_lob.py", LOB.replace("    topic = str(", "    assert not hasattr(context, 'runner')\n"
                                                  "    topic = str("))
    reply = Assistant(engine="offline", language="en", diagnosis=_diagnosis(),
                      runner=ReplayRunner(platform="linux")).ask("lexware")
    assert "failed" not in reply.text and reply.plan is not None
    assert repairs.get_action("acme.restart_lob").risk == "medium"


def test_a_huge_summary_is_cut(home):
    write_plugin(home, "acme_lob.py", LOB.replace('"en": f"KB: restart the Lexware service ({topic})"',
                                                  '"en": "x" * 100000'))
    reply = Assistant(engine="offline", language="en", diagnosis=_diagnosis(),
                      runner=ReplayRunner(platform="linux")).ask("lexware")
    assert "x" * 2000 + " …" in reply.text and len(reply.text) < 4000
