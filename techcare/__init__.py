"""TechCare — the PC repair technician's toolkit.

Everything the magics, the REPL and the CLI can do is available here::

    import techcare
    d = techcare.diagnose()            # read-only diagnosis of this machine
    d.findings                         # pandas DataFrame
    d = techcare.diagnose(snapshot="customer.tcsnap.json")   # replay a captured machine anywhere
    techcare.fleet.diagnose("kasse-01").result()             # the same, made on a customer PC (signed job)

Names are imported lazily so ``import techcare`` stays fast on a customer PC.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> module that defines it (relative to this package)
_LAZY: dict[str, str] = {
    "Assistant": ".assistant",
    "ApprovalError": ".errors",
    "ConfigError": ".errors",
    "Diagnosis": ".diagnosis",
    "Finding": ".diagnosis",
    "LicenseError": ".errors",
    "ProbeError": ".errors",
    "RepairError": ".errors",
    "Reply": ".assistant",
    "Settings": ".config",
    "SnapshotError": ".errors",
    "TechCareError": ".errors",
    "changelog": ".repairs",
    "diagnose": ".diagnosis",
    "driver_updates": ".tools.drivers",
    "drivers": ".tools.drivers",
    "get_settings": ".config",
    "list_sessions": ".assistant",
    "load_settings": ".config",
    "plan": ".repairs",
    "report": ".repairs",
    "save_snapshot": ".diagnosis",
    "triage": ".assistant",
    "load_snapshot": ".system.snapshot",
}
# ``techcare.plugins`` is a module and callable: ``techcare.plugins()`` is the DataFrame of the plugins
_SUBMODULES = ("assistant", "config", "diagnosis", "errors", "features", "fleet", "license", "monitoring", "plugins",
               "repairs", "system", "tools")
_ALIASES = {"cases": ".assistant.cases"}  # techcare.cases.search(...)

__all__ = sorted([*_LAZY, *_SUBMODULES, *_ALIASES, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    if name in _ALIASES:
        module = import_module(_ALIASES[name], __name__)
        globals()[name] = module
        return module
    if name in _SUBMODULES:
        module = import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'techcare' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext techcare``: register the TechCare magics (idempotent)."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .assistant import Assistant, Reply, list_sessions, triage
    from .config import Settings, get_settings, load_settings
    from .diagnosis import Diagnosis, Finding, diagnose, save_snapshot
    from .errors import (ApprovalError, ConfigError, LicenseError, ProbeError, RepairError, SnapshotError,
                         TechCareError)
    from .repairs import changelog, plan, report
    from .system.snapshot import load_snapshot
    from .tools.drivers import driver_updates, drivers
