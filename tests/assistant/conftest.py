"""Fixtures for the assistant tests: hand-built diagnoses, a fake Messages API, a Windows driver replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from techcare.assistant import cases
from techcare.assistant.testing import FakeMessagesServer
from techcare.diagnosis import Diagnosis, Finding
from techcare.system.records import EventRecord, ProbeResult
from techcare.system.runner import ReplayRunner, decode_output

DATA = Path(__file__).parent / "data"
DRIVER_FIXTURES = Path(__file__).parent.parent / "drivers" / "fixtures"


@pytest.fixture(autouse=True)
def _fresh_case_stores() -> Iterator[None]:
    cases.reset_store()
    yield
    cases.reset_store()


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


@pytest.fixture
def windows_diagnosis() -> Diagnosis:
    return make_diagnosis("windows", [firewall_off(), update_service_disabled()])


@pytest.fixture
def fake_api() -> Iterator[FakeMessagesServer]:
    with FakeMessagesServer() as server:
        yield server


@pytest.fixture
def windows_driver_runner() -> ReplayRunner:
    """Real recorded Windows inventory + Windows Update driver offers (the drivers part's fixtures)."""
    from techcare.tools.drivers import _windows

    runner = ReplayRunner(platform="windows")
    runner.add_command(list(_windows.INVENTORY_ARGV), 0,
                       decode_output((DRIVER_FIXTURES / "win_pnpsigneddriver_ps51_de.json").read_bytes()))
    runner.add_command(list(_windows.WU_ARGV), 0,
                       decode_output((DRIVER_FIXTURES / "win_wu_drivers_ps51.json").read_bytes()))
    return runner
