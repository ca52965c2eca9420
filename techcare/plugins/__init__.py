"""Custom tool plugins: one plugin system for diagnosis checks, repair actions, driver update sources and
assistant tools (``docs/plugins.md``).

A plugin is an installable package (entry point group ``techcare.plugins``) or a single file in
``TECHCARE_HOME/plugins``. It declares itself with ``PLUGIN = {"name", "version", "author", "description"}`` and
implements any of four hooks (:mod:`._spec`) with :data:`hookimpl`. TechCare checks who can change its code, loads
it, validates everything it registers (no built-in check, action or tool can be replaced or shadowed) and lists
it — loaded or with the reason it did not load. A broken plugin never breaks TechCare.

``techcare.plugins()`` (this module is callable) returns the list as a DataFrame; ``techcare plugins`` and
``%techcare plugins`` show it; ``techcare plugins new NAME`` writes a plugin package that passes its own test.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from ._manager import API_VERSION, ENTRY_POINT_GROUP, LEGACY_GROUP, errors, installed, plugin_dir, reload
from ._spec import hookimpl, hookspec
from ._types import AssistantTool, DiagnosisCheck, DriverSource, PluginInfo, ToolContext

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["API_VERSION", "ENTRY_POINT_GROUP", "LEGACY_GROUP", "AssistantTool", "DiagnosisCheck", "DriverSource",
           "PluginInfo", "ToolContext", "errors", "frame", "hookimpl", "hookspec", "installed", "new", "plugin_dir",
           "reload", "render"]


def frame(lang: str | None = None) -> pd.DataFrame:
    """Every plugin as a DataFrame (see :data:`._listing.COLUMNS`)."""
    from ._listing import frame as _frame

    return _frame(lang)


def render(lang: str | None = None) -> Any:
    """The plugin list as a rich table."""
    from ._listing import render as _render

    return _render(lang=lang)


def new(name: str, dest: Any = ".") -> Any:
    """Write a minimal plugin package ``NAME`` (one check, one action with undo, one test using the replay
    runner) into ``dest``; returns its folder. Raises :class:`~techcare.errors.ConfigError` for a bad name or an
    existing folder."""
    from ._scaffold import new as _new

    return _new(name, dest)


class _CallableModule(types.ModuleType):
    """``techcare.plugins()`` is the DataFrame of :func:`frame`; ``techcare.plugins.X`` the module's names."""

    def __call__(self, lang: str | None = None) -> pd.DataFrame:
        return frame(lang)


sys.modules[__name__].__class__ = _CallableModule
