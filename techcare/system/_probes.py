"""The probe dispatch: each probe name maps to the function of the same name in the per-OS module (``_linux``,
``_windows``, ``_macos``) selected by the runner's platform. Re-exported by :mod:`techcare.system`; it lives
here so that :mod:`.snapshot` can run the probes without importing the package that loads snapshots.
"""

from __future__ import annotations

import importlib
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from types import ModuleType
from typing import Any

from ..i18n import msg
from .records import PROBES, ProbeResult, unknown
from .runner import CommandRunner, LocalRunner

__all__ = ["default_runner", "host_info", "platform_module", "probe", "run_probes"]

_MODULES = {"linux": "._linux", "windows": "._windows", "darwin": "._macos"}


def default_runner() -> CommandRunner:
    return LocalRunner()


def platform_module(platform: str) -> ModuleType:
    """The per-OS probe module for ``linux``, ``windows`` or ``darwin``."""
    try:
        return importlib.import_module(_MODULES[platform], __package__)
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}; known: {', '.join(_MODULES)}") from None


def probe(name: str, runner: CommandRunner | None = None) -> ProbeResult:
    """Run one probe. Never raises for a probe failure: the result says ``unknown`` and why."""
    if name not in PROBES:
        raise ValueError(f"unknown probe {name!r}; known: {', '.join(PROBES)}")
    runner = runner or default_runner()
    started = time.monotonic()
    try:
        function = getattr(platform_module(runner.platform), name)
        result = function(runner)
    except Exception as exc:  # noqa: BLE001 - a probe bug must not break the diagnosis
        result = unknown(name, "failed", msg("Fehler in der Prüfung: {e}", "probe error: {e}",
                                             e=f"{type(exc).__name__}: {exc}"))
    result.duration = time.monotonic() - started
    return result


def run_probes(names: list[str] | tuple[str, ...] | None = None, runner: CommandRunner | None = None, *,
               timeout: float = 20.0, on_done: Any = None) -> dict[str, ProbeResult]:
    """Run probes concurrently. A probe still running after ``timeout`` seconds (or the longer time its OS module
    allows in ``PROBE_TIMEOUTS``) is reported ``unknown``.

    ``on_done(name, result)`` is called as each probe finishes (progress displays use it).
    """
    names = list(names or PROBES)
    runner = runner or default_runner()
    results: dict[str, ProbeResult] = {}
    # Some probes are slow by nature (softwareupdate -l talks to Apple): a module may allow them more time.
    slow = getattr(platform_module(runner.platform), "PROBE_TIMEOUTS", {})
    pool = ThreadPoolExecutor(max_workers=min(9, len(names)), thread_name_prefix="techcare-probe")
    started = time.monotonic()
    futures = {name: pool.submit(probe, name, runner) for name in names}
    try:
        for name, future in futures.items():
            allowed = max(timeout, float(slow.get(name, 0)))
            try:
                result = future.result(timeout=max(0.0, started + allowed - time.monotonic()))
            except FutureTimeout:
                result = unknown(name, "timeout", msg("Prüfung nach {s:g} s nicht fertig", "probe did not finish within {s:g} s",
                                                      s=allowed))
                result.duration = allowed
            results[name] = result
            if on_done is not None:
                on_done(name, result)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {name: results[name] for name in names}


def host_info(runner: CommandRunner | None = None) -> dict[str, Any]:
    """Host name, OS, version, architecture, elevation of the machine the runner talks to."""
    runner = runner or default_runner()
    try:
        fact = runner.fact("host")
    except LookupError:
        fact = None
    info = dict(fact) if isinstance(fact, dict) else {}  # a replay's fact is checked on load; anything else is no host
    info.setdefault("hostname", "unknown")
    info.setdefault("os", runner.platform)
    return info
