"""What is true about this machine — read only.

One dispatch point: each probe name maps to the function of the same name in the per-OS module
(``_linux``, ``_windows``, ``_macos``) selected by the runner's platform. This layer
- catches everything: a probe that raises becomes ``status="unknown"`` with the reason, never an exception,
- times each probe and can run several concurrently with a per-probe timeout,
- offers each result as typed records and as a DataFrame (``ProbeResult.to_frame()``).

The dispatch itself lives in ``_probes`` (so that ``snapshot`` can run the probes); :func:`runner_for` picks
the runner every caller works through: a snapshot's replay, a given runner, or this machine.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._probes import default_runner, host_info, platform_module, probe, run_probes
from .records import PROBES, ProbeResult
from .runner import CommandRunner, LocalRunner, RecordingRunner, ReplayRunner, current_platform

if TYPE_CHECKING:  # pragma: no cover
    from .snapshot import Snapshot

__all__ = [
    "PROBES",
    "CommandRunner",
    "LocalRunner",
    "ProbeResult",
    "RecordingRunner",
    "ReplayRunner",
    "antivirus",
    "current_platform",
    "default_runner",
    "events",
    "firewall",
    "host_info",
    "metrics",
    "pending_reboot",
    "pending_updates",
    "platform_module",
    "probe",
    "run_probes",
    "runner_for",
    "services",
    "smart",
    "update_service",
]


def runner_for(snapshot: str | os.PathLike[str] | Snapshot | None = None,
               runner: CommandRunner | None = None) -> CommandRunner:
    """The runner to work through: the replay of ``snapshot`` (a file or a loaded :class:`~.snapshot.Snapshot`)
    when one is given, else ``runner``, else this machine. Raises :class:`~techcare.errors.SnapshotError` for an
    unreadable snapshot file."""
    if snapshot is None:
        return runner or default_runner()
    from .snapshot import Snapshot, load_snapshot

    return (snapshot if isinstance(snapshot, Snapshot) else load_snapshot(snapshot)).runner()


def _make(name: str):
    def function(runner: CommandRunner | None = None) -> ProbeResult:
        return probe(name, runner)

    function.__name__ = name
    function.__doc__ = f"Run the ``{name}`` probe (see :mod:`techcare.system.records`)."
    return function


metrics = _make("metrics")
firewall = _make("firewall")
antivirus = _make("antivirus")
update_service = _make("update_service")
services = _make("services")
pending_updates = _make("pending_updates")
pending_reboot = _make("pending_reboot")
events = _make("events")
smart = _make("smart")
