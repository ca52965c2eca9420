"""Plugin sources the plugin tests write into a temporary TECHCARE_HOME/plugins (or a temporary dist-info)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

#: A shop's plugin with every hook kind: the accounting service's check and its restart action, the printer
#: vendor's driver page, and a knowledge lookup for the assistant.
LOB = '''
from techcare.diagnosis import Finding
from techcare.plugins import AssistantTool, DiagnosisCheck, DriverSource, hookimpl
from techcare.repairs import Action, Check, Param
from techcare.tools.drivers import UpdateOffer, normalise_hardware_id

PLUGIN = {"name": "acme-lob", "version": "1.2.0", "author": "ACME IT", "description": {"de": "Buchhaltung", "en": "Accounting"}}
UNIT = "lexware-db.service"


def state(runner, unit):
    res = runner.run(["systemctl", "is-active", unit])
    text = (res.stdout or "").strip()
    return (None if res.error or not text else text == "active"), text or res.error


def lob_check(runner):
    active, text = state(runner, UNIT)
    if active is None:
        return Finding("acme.lob_service", "services", "unknown", f"Buchhaltung unbekannt ({text})",
                       f"Accounting unknown ({text})", {"unit": UNIT})
    if active:
        return Finding("acme.lob_service", "services", "ok", "Buchhaltung läuft", "Accounting runs", {"unit": UNIT})
    return Finding("acme.lob_service", "services", "critical", "Buchhaltungsdienst steht", "Accounting service stopped",
                   {"unit": UNIT, "state": text}, repairs=["acme.restart_lob"],
                   repair_params={"acme.restart_lob": {"unit": UNIT}})


class RestartLob(Action):
    id = "acme.restart_lob"
    title_de, title_en = "Buchhaltungsdienst starten", "Start the accounting service"
    explain_de, explain_en = "Startet den Dienst.", "Starts the service."
    platforms = ("linux",)
    risk = "medium"
    needs_admin = False
    params = (Param("unit", "str", "Unit", "unit", default=UNIT, pattern=r"[a-z0-9@._-]+"),)

    def check(self, ctx):
        active, text = state(ctx.runner, ctx.params["unit"])
        return Check(None if active is None else not active, text)

    def prepare(self, ctx):
        ctx.state["was_active"] = state(ctx.runner, ctx.params["unit"])[0]

    def commands(self, params, ctx=None):
        return [["systemctl", "restart", params["unit"]]]

    def verify(self, ctx):
        active, text = state(ctx.runner, ctx.params["unit"])
        return Check(None if active is None else not active, text)

    def undo(self, ctx):
        if ctx.state.get("was_active") is False:
            ctx.must(["systemctl", "stop", ctx.params["unit"]])


def printer_offers(runner):
    res = runner.read_file("/opt/acme/printer-drivers.txt")
    offers = []
    for line in (res.content or "").splitlines():
        hwid, version = line.split()
        offers.append(UpdateOffer("ignored", "ACME driver", normalise_hardware_id(hwid), version, vendor="ACME",
                                  category="net", importance="CRITICAL", download_url="https://acme.example/drv"))
    return offers


def kb_lookup(arguments, context):
    topic = str(arguments.get("topic") or context.message or "")
    return {"summary": {"de": f"KB: Lexware-Dienst neu starten ({topic})", "en": f"KB: restart the Lexware service ({topic})"},
            "propose": [{"action": "acme.restart_lob", "params": {"unit": UNIT}}]}


@hookimpl
def techcare_checks(register):
    register(DiagnosisCheck("acme.lob_service", run=lob_check, title_de="Buchhaltung", title_en="Accounting",
                            platforms=("linux",)))


@hookimpl
def techcare_actions(register):
    register(RestartLob)


@hookimpl
def techcare_driver_sources(register):
    register(DriverSource("acme.printer_portal", offers=printer_offers, title_de="ACME-Druckerportal",
                          title_en="ACME printer portal"))


@hookimpl
def techcare_assistant_tools(register):
    register(AssistantTool("acme-kb", "Looks up the shop's knowledge base for the accounting software.", kb_lookup,
                           input_schema={"type": "object", "properties": {"topic": {"type": "string"}}},
                           title_de="ACME-Wissen", title_en="ACME knowledge", triggers=("lexware", "buchhaltung")))
'''


def write_plugin(home: Path, name: str, text: str, *, mode: int = 0o644) -> Path:
    folder = home / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    os.chmod(path, mode)
    return path
