"""Probes for linux (being written; every probe answers with an explained unknown until then)."""

from __future__ import annotations

from ._common import metrics_from_fact
from .records import ProbeResult, unknown
from .runner import CommandRunner

PLATFORM = "linux"


def metrics(runner: CommandRunner) -> ProbeResult:
    return metrics_from_fact(runner)


def _todo(name: str) -> ProbeResult:
    return unknown(name, "failed", "probe not available in this build")


def firewall(runner: CommandRunner) -> ProbeResult:
    return _todo("firewall")


def antivirus(runner: CommandRunner) -> ProbeResult:
    return _todo("antivirus")


def update_service(runner: CommandRunner) -> ProbeResult:
    return _todo("update_service")


def services(runner: CommandRunner) -> ProbeResult:
    return _todo("services")


def pending_updates(runner: CommandRunner) -> ProbeResult:
    return _todo("pending_updates")


def pending_reboot(runner: CommandRunner) -> ProbeResult:
    return _todo("pending_reboot")


def events(runner: CommandRunner) -> ProbeResult:
    return _todo("events")


def smart(runner: CommandRunner) -> ProbeResult:
    return _todo("smart")
