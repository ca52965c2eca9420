"""The hook specification: four hooks, each handed a ``register`` callable (the style of simonw/llm).

A plugin implements any of them with :data:`hookimpl`::

    from techcare.plugins import hookimpl, DiagnosisCheck

    @hookimpl
    def techcare_checks(register):
        register(DiagnosisCheck("acme.lob_service", run=lob_service, title_de="...", title_en="..."))

A hook only *registers* what the plugin adds; TechCare validates each item (ids, shadowing, the action contract)
and decides when anything runs. A plugin that fails here is listed with its error and adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["HOOKS", "PROJECT", "hookimpl", "hookspec"]

PROJECT = "techcare"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Spec:
    @hookspec
    def techcare_checks(self, register: Callable[[Any], None]) -> None:
        """Register diagnosis checks (:class:`techcare.plugins.DiagnosisCheck`). A check reads the machine only
        through the CommandRunner it is given, so it replays from snapshots and ``snapshot save`` records it."""

    @hookspec
    def techcare_actions(self, register: Callable[[Any], None]) -> None:
        """Register repair actions (:class:`techcare.repairs.Action` instances or subclasses): parameters, risk,
        admin need, check, prepare, apply, verify, undo — the catalogue's contract."""

    @hookspec
    def techcare_driver_sources(self, register: Callable[[Any], None]) -> None:
        """Register driver update sources (:class:`techcare.plugins.DriverSource`)."""

    @hookspec
    def techcare_assistant_tools(self, register: Callable[[Any], None]) -> None:
        """Register read-only assistant tools (:class:`techcare.plugins.AssistantTool`). A tool sees data, never
        a runner; it may propose catalogue actions, which the technician approves like any plan."""


#: hook name -> what it adds (the listing's column)
HOOKS = {"techcare_checks": "checks", "techcare_actions": "actions", "techcare_driver_sources": "driver_sources",
         "techcare_assistant_tools": "tools"}
