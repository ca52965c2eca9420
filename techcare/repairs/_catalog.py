"""The catalogue: built-in actions plus plugins.

Plugins come from the entry-point group ``techcare.repairs`` (the entry point loads to an Action, an Action
subclass, a list of them or a callable returning them) and from ``TECHCARE_HOME/plugins/*.py`` (a module defining
``ACTIONS`` or ``actions()``). A plugin that fails to import or whose actions fail validation is reported in
:func:`plugin_errors` (and logged) and skipped; it never breaks the catalogue or shadows a built-in action.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RepairError
from ..i18n import tr
from ._model import Action, normalise_platform, validate_action

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ENTRY_POINT_GROUP", "actions", "catalog", "get_action", "plugin_errors", "reload_catalog"]

ENTRY_POINT_GROUP = "techcare.repairs"
log = logging.getLogger("techcare.repairs")
_lock = threading.Lock()
_actions: dict[str, Action] | None = None
_errors: list[dict[str, str]] = []


def _builtin() -> list[Action]:
    from . import _common, _linux, _macos, _vendor, _windows

    return [*_windows.ACTIONS, *_linux.ACTIONS, *_macos.ACTIONS, *_common.ACTIONS, *_vendor.ACTIONS]


def _as_actions(obj: Any) -> list[Any]:
    if isinstance(obj, type) and issubclass(obj, Action):
        return [obj()]
    if isinstance(obj, Action):
        return [obj]
    if callable(obj):
        return _as_actions(obj())
    if isinstance(obj, (list, tuple)):
        out: list[Any] = []
        for item in obj:
            out.extend(_as_actions(item) if isinstance(item, type) else [item])
        return out
    return [obj]


def _plugin_sources() -> list[tuple[str, Any]]:
    """(source name, loader) for every entry point and plugin file; loaders raise on a broken plugin."""
    sources: list[tuple[str, Any]] = []
    try:
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as exc:  # noqa: BLE001 - broken metadata must not break the catalogue
        _errors.append({"source": "entry points", "error": str(exc)})
        eps = []
    for ep in eps:
        sources.append((f"entry point {ep.name} ({ep.value})", ep.load))
    from ..config import get_settings

    plugin_dir = Path(get_settings().techcare_home) / "plugins"
    if plugin_dir.is_dir():
        for path in sorted(plugin_dir.glob("*.py")):
            sources.append((str(path), lambda path=path: _load_file(path)))
    return sources


def _load_file(path: Path) -> Any:
    name = f"techcare_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    if hasattr(module, "actions") and callable(module.actions):
        return module.actions
    if hasattr(module, "ACTIONS"):
        return module.ACTIONS
    raise ImportError("defines neither ACTIONS nor actions()")


def _load() -> dict[str, Action]:
    found: dict[str, Action] = {a.id: a for a in _builtin()}
    _errors.clear()
    for source, loader in _plugin_sources():
        try:
            candidates = _as_actions(loader())
        except Exception as exc:  # noqa: BLE001 - any error in third-party code is reported, not raised
            _report(source, f"{type(exc).__name__}: {exc}")
            continue
        for action in candidates:
            problems = validate_action(action)
            if not problems and action.id in found:
                problems = [f"id {action.id!r} is already in the catalogue ({found[action.id].origin})"]
            if problems:
                _report(source, f"{getattr(action, 'id', action)!r}: " + "; ".join(problems))
                continue
            action.origin = source
            found[action.id] = action
    return found


def _report(source: str, error: str) -> None:
    _errors.append({"source": source, "error": error})
    log.warning("repair plugin skipped: %s: %s", source, error)


def _all() -> dict[str, Action]:
    global _actions
    with _lock:
        if _actions is None:
            _actions = _load()
        return _actions


def reload_catalog() -> None:
    """Forget the loaded catalogue (plugins are read again on next use)."""
    global _actions
    with _lock:
        _actions = None


def plugin_errors() -> list[dict[str, str]]:
    """Plugins that were skipped: ``[{"source", "error"}]``."""
    _all()
    return list(_errors)


def actions(platform: str | None = None) -> list[Action]:
    plat = normalise_platform(platform)
    return sorted((a for a in _all().values() if plat is None or plat in a.platforms), key=lambda a: a.id)


def get_action(action_id: str) -> Action:
    found = _all().get(str(action_id).strip())
    if found is None:
        import difflib

        known = sorted(_all())
        close = difflib.get_close_matches(str(action_id), known, n=3)
        raise RepairError(tr("Unbekannte Reparatur {a!r}.{near} Erlaubt sind die Katalog-IDs, z.B. {k}.",
                             "Unknown repair {a!r}.{near} Allowed are catalogue ids, e.g. {k}.", a=action_id,
                             near=(tr(" Gemeint: ", " Did you mean: ") + ", ".join(close) + "?") if close else "",
                             k=", ".join(known[:6]) + ", …"))
    return found


def catalog(platform: str | None = None) -> pd.DataFrame:
    """Every action as a DataFrame: id, title, platforms, risk, needs_admin, undoable, params, origin, ..."""
    import pandas as pd

    columns = ["id", "title", "platforms", "risk", "needs_admin", "undoable", "params", "origin", "explanation",
               "undo_note"]
    rows = [a.describe() for a in actions(platform)]
    return pd.DataFrame(rows, columns=columns)
