"""Helpers shared by the assistant tests (a uniquely named module: every test directory has a conftest)."""

from __future__ import annotations

from techcare.diagnosis import Diagnosis, Finding
from techcare.system.records import EventRecord, ProbeResult


def make_diagnosis(os_name: str = "windows", findings: list[Finding] | None = None,
                   events: list[EventRecord] | None = None) -> Diagnosis:
    probes = {}
    if events is not None:
        probes["events"] = ProbeResult("events", "ok", data=events, source="test")
    return Diagnosis(host={"hostname": "PC-TEST", "os": os_name}, os=os_name, items=list(findings or []), probes=probes)


def firewall_off() -> Finding:
    return Finding("firewall", "services", "critical", "Firewall (Windows Defender Firewall) ist aus: Profile Public.",
                   "Firewall (Windows Defender Firewall) is off: profiles Public.", {"off_profiles": ["Public"]},
                   ["win.enable_firewall"], {"win.enable_firewall": {"profiles": ["Public"]}}, probe="firewall")


def update_service_disabled() -> Finding:
    return Finding("update_service", "updates", "critical", "Update-Dienst wuauserv kann keine Updates liefern (disabled).",
                   "Update service wuauserv cannot deliver updates (disabled).", {"name": "wuauserv"},
                   ["win.set_service_start_type", "win.reset_windows_update"],
                   {"win.set_service_start_type": {"name": "wuauserv", "start_type": "manual"}}, probe="update_service")
