"""What a plugin registers, and what TechCare knows about a plugin (:class:`PluginInfo`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..i18n import Message, localize

__all__ = ["ALL_PLATFORMS", "AssistantTool", "DiagnosisCheck", "DriverSource", "PluginInfo", "ToolContext"]

ALL_PLATFORMS = ("windows", "linux", "darwin")
#: ids of checks, actions and driver sources: ``namespace.name`` (lowercase; the namespace is the plugin's own)
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
#: assistant tool names: ``namespace-name`` (the Messages API allows no dot; no built-in tool has a hyphen)
TOOL_PATTERN = re.compile(r"^[a-z][a-z0-9_]*-[a-z0-9_-]{1,50}$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
#: namespaces of TechCare's own checks, actions and sources: a plugin cannot use them
RESERVED_NAMESPACES = frozenset({"win", "windows", "linux", "macos", "darwin", "drivers", "techcare", "common",
                                 "builtin"})


@dataclass(frozen=True)
class DiagnosisCheck:
    """A diagnosis check. ``run(runner)`` returns a :class:`techcare.diagnosis.Finding` (or a list of them) whose
    ``check`` is ``id`` or starts with ``id + ":"``; it reads the machine only through ``runner`` (``runner.run``,
    ``runner.read_file``), never by itself. An exception or a wrong result becomes an ``unknown`` finding that says
    why; it never breaks the diagnosis."""

    id: str
    run: Callable[[Any], Any]
    title_de: str = ""
    title_en: str = ""
    area: str = "services"
    platforms: tuple[str, ...] = ALL_PLATFORMS


@dataclass(frozen=True)
class DriverSource:
    """A driver update source. ``offers(runner)`` returns :class:`techcare.tools.drivers.UpdateOffer` records
    (their ``source`` is set to ``name``); it reads only through ``runner``. An exception becomes the source's
    ``error`` status in the report."""

    name: str
    offers: Callable[[Any], Any]
    title_de: str = ""
    title_en: str = ""
    platforms: tuple[str, ...] = ALL_PLATFORMS


@dataclass(frozen=True)
class ToolContext:
    """What an assistant tool may look at: the conversation's language and OS, the current diagnosis (or
    ``None``) and the technician's message (offline engine) — no runner: a tool reads, it never runs."""

    language: str
    platform: str
    diagnosis: Any = None
    message: str = ""


@dataclass(frozen=True)
class AssistantTool:
    """A read-only assistant tool. ``run(arguments, context)`` returns JSON-able data; a dict may carry
    ``"summary"`` (text for the technician: a str or ``{"de", "en"}``) and ``"propose"``
    (``[{"action": id, "params": {...}}]``: catalogue actions the technician may approve; nothing runs).
    Claude calls it by ``name`` with ``input_schema``; the offline engine calls it with ``{}`` when the message
    contains one of ``triggers`` (words, case-insensitive)."""

    name: str
    description: str
    run: Callable[[dict[str, Any], ToolContext], Any]
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    title_de: str = ""
    title_en: str = ""
    triggers: tuple[str, ...] = ()


@dataclass
class PluginInfo:
    """One plugin as TechCare found it: what it declares, what it adds, whether it loaded (and why not)."""

    name: str
    version: str
    source: str            # "file" | "entry point"
    where: str             # the file, or "entry point NAME (module:attr)"
    author: str = ""
    description: Message = field(default_factory=lambda: Message("", ""))
    sha256: str = ""
    loaded: bool = False
    error: Message | None = None
    legacy: bool = False   # ACTIONS/actions() or a ``techcare.repairs`` entry point (before the hooks existed)
    checks: list[DiagnosisCheck] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    driver_sources: list[DriverSource] = field(default_factory=list)
    tools: list[AssistantTool] = field(default_factory=list)
    problems: list[Message] = field(default_factory=list)  # items refused, the plugin itself loaded

    def identity(self) -> dict[str, str]:
        """What a signed remote job names: ``{"name", "version", "sha256"}``."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "author": self.author,
                "description": localize(self.description, lang), "source": self.source, "where": self.where,
                "loaded": self.loaded, "error": localize(self.error, lang) if self.error else "",
                "checks": [c.id for c in self.checks], "actions": [a.id for a in self.actions],
                "risks": {a.id: a.risk for a in self.actions},
                "driver_sources": [s.name for s in self.driver_sources], "tools": [t.name for t in self.tools],
                "problems": [localize(p, lang) for p in self.problems], "sha256": self.sha256}
