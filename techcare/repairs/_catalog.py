"""The catalogue: built-in actions plus the actions of plugins.

Plugins (``docs/plugins.md``, :mod:`techcare.plugins`) come from the entry-point groups ``techcare.plugins`` (the
hook ``techcare_actions``) and ``techcare.repairs`` (an Action, an Action subclass, a list of them or a callable
returning them) and from ``TECHCARE_HOME/plugins/*.py`` (hooks, or a module defining ``ACTIONS`` or ``actions()``).
A plugin that fails to load, or an action that fails validation or whose id is already in the catalogue, is
reported in :func:`plugin_errors` (and logged) and skipped; it never breaks the catalogue or shadows a built-in
action.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import RepairError
from ..i18n import msg, tr
from ..plugins import _manager as plugins
from ._model import Action, normalise_platform

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ENTRY_POINT_GROUP", "actions", "catalog", "get_action", "plugin_errors", "reload_catalog"]

#: the older entry-point group for repair actions (still read; new plugins use ``techcare.plugins``)
ENTRY_POINT_GROUP = plugins.LEGACY_GROUP
_lock = threading.Lock()
_actions: dict[str, Action] | None = None
_generation = -1


def _builtin() -> list[Action]:
    from . import _common, _linux, _macos, _vendor, _windows

    return [*_windows.ACTIONS, *_linux.ACTIONS, *_macos.ACTIONS, *_common.ACTIONS, *_vendor.ACTIONS]


def _load() -> dict[str, Action]:
    found: dict[str, Action] = {a.id: a for a in _builtin()}
    for info, action in plugins.plugin_actions():
        if action.id in found:
            owner = found[action.id].origin
            plugins.refuse(info, action, msg("{i!r} abgelehnt: die ID ist schon im Katalog ({o}); ein Plugin kann "
                                             "keine Aktion ersetzen", "{i!r} refused: id {i!r} is already in the "
                                             "catalogue ({o}); a plugin cannot replace an action", i=action.id,
                                             o=owner))
            continue
        reserved = plugins.namespace_problem(action.id)
        if reserved is not None:
            plugins.refuse(info, action, msg("{i!r} abgelehnt: {p}", "{i!r} refused: {p}", i=action.id, p=reserved))
            continue
        action.origin = info.where
        found[action.id] = action
    return found


def _all() -> dict[str, Action]:
    global _actions, _generation
    current = plugins.generation()
    with _lock:
        if _actions is None or _generation != current:
            _actions = _load()
            _generation = current
        return _actions


def reload_catalog() -> None:
    """Forget the loaded catalogue and plugins (both are read again on next use)."""
    global _actions
    plugins.reload()
    with _lock:
        _actions = None


def plugin_errors() -> list[dict[str, str]]:
    """Plugins that did not load and plugin items that were refused: ``[{"plugin", "source", "error",
    "error_de"}]`` (``error`` in English, ``error_de`` in German)."""
    _all()
    return plugins.errors()


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
