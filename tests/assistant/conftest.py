"""Fixtures for the assistant tests: hand-built diagnoses, a fake Messages API, a Windows driver replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from assistant_helpers import firewall_off, make_diagnosis, update_service_disabled

from techcare.assistant import cases
from techcare.assistant.testing import FakeMessagesServer
from techcare.diagnosis import Diagnosis
from techcare.system.runner import ReplayRunner, decode_output

DATA = Path(__file__).parent / "data"
DRIVER_FIXTURES = Path(__file__).parent.parent / "drivers" / "fixtures"


@pytest.fixture(autouse=True)
def _fresh_case_stores() -> Iterator[None]:
    """No cached case store and no registered run hook leaks from one test (or test directory) to the next."""
    from techcare import repairs

    cases.reset_store()
    yield
    cases.reset_store()
    while cases.record_run in repairs.on_run_finished:
        repairs.on_run_finished.remove(cases.record_run)


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
