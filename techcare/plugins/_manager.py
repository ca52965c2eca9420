"""Finding, checking and loading plugins; the registry every hook site asks.

Sources, in this order: entry points of the group ``techcare.plugins`` (installable packages), the older group
``techcare.repairs`` (an Action, a list of them or a callable returning them), then ``TECHCARE_HOME/plugins/*.py``.
Each plugin is checked (ownership and write bits, :mod:`._safety`; declared metadata; hook names and signatures
through pluggy), loaded, and each item it registers is validated. Whatever goes wrong is kept as the plugin's
``error`` (nothing of it is used) or, for a single refused item, in its ``problems``; nothing here raises into
TechCare. The hook sites (diagnosis, driver report, repair catalogue, assistant) read the registry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy

from ..i18n import Message, localize, msg
from . import _safety
from ._spec import HOOKS, PROJECT, Spec
from ._types import (
    ALL_PLATFORMS,
    ID_PATTERN,
    NAME_PATTERN,
    RESERVED_NAMESPACES,
    TOOL_PATTERN,
    AssistantTool,
    DiagnosisCheck,
    DriverSource,
    PluginInfo,
)

__all__ = ["API_VERSION", "ENTRY_POINT_GROUP", "LEGACY_GROUP", "action_plugin", "assistant_tools", "capture_checks",
           "checks", "driver_offers", "errors", "findings", "generation", "installed", "plugin_dir", "refuse",
           "reload"]

API_VERSION = 1
ENTRY_POINT_GROUP = "techcare.plugins"
LEGACY_GROUP = "techcare.repairs"
CHECK_TIMEOUT = 60.0
log = logging.getLogger("techcare.plugins")

_lock = threading.RLock()
_loaded: list[PluginInfo] | None = None
_loaded_for: str | None = None
_generation = 0


# ---- the registry -------------------------------------------------------------------------------------------

def plugin_dir() -> Path:
    from ..config import get_settings

    return Path(get_settings().techcare_home) / "plugins"


def installed() -> list[PluginInfo]:
    """Every plugin found (loaded or not), read once per ``TECHCARE_HOME`` until :func:`reload`."""
    global _loaded, _loaded_for, _generation
    where = str(plugin_dir())
    with _lock:
        if _loaded is None or _loaded_for != where:
            _loaded = _discover(Path(where))
            _loaded_for = where
            _generation += 1
        return _loaded


def generation() -> int:
    """Changes whenever the plugins were read again (the catalogue rebuilds itself then)."""
    installed()
    return _generation


def reload() -> None:
    """Forget the loaded plugins; they are read again on next use."""
    global _loaded
    with _lock:
        _loaded = None


def _active() -> Iterator[PluginInfo]:
    return (p for p in installed() if p.loaded)


def checks(platform: str | None = None) -> list[tuple[PluginInfo, DiagnosisCheck]]:
    return [(p, c) for p in _active() for c in p.checks if platform is None or platform in c.platforms]


def plugin_actions() -> list[tuple[PluginInfo, Any]]:
    return [(p, a) for p in _active() for a in p.actions]


def assistant_tools() -> list[tuple[PluginInfo, AssistantTool]]:
    return [(p, t) for p in _active() for t in p.tools]


def action_plugin(action_id: str) -> PluginInfo | None:
    """The loaded plugin that added catalogue action ``action_id`` (``None`` for a built-in or unknown one)."""
    return next((p for p in _active() for a in p.actions if a.id == action_id), None)


def refuse(info: PluginInfo, item: Any, problem: Message) -> None:
    """Take an item back that a later check refused (the catalogue: an id that shadows a built-in action)."""
    with _lock:
        for kind in ("actions", "checks", "driver_sources", "tools"):
            items = getattr(info, kind)
            if item in items:
                items.remove(item)
        info.problems.append(problem)
    log.info("plugin %s: %s", info.name, problem.en)


def errors() -> list[dict[str, str]]:
    """Plugins that did not load and items that were refused: ``[{"plugin", "source", "error", "error_de"}]``."""
    out = []
    for info in installed():
        for problem in ([info.error] if info.error else []) + list(info.problems):
            out.append({"plugin": info.name, "source": info.where, "error": problem.en, "error_de": problem.de})
    return out


# ---- discovery ----------------------------------------------------------------------------------------------

def _entry_points(group: str) -> tuple[list[Any], Message | None]:
    from importlib import metadata  # imported when plugins are first read (it costs ~30 ms)

    try:
        return list(metadata.entry_points(group=group)), None
    except Exception as exc:  # noqa: BLE001 - broken metadata must not break TechCare
        return [], msg("Paket-Metadaten nicht lesbar: {e}", "package metadata not readable: {e}", e=exc)


def _discover(folder: Path) -> list[PluginInfo]:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(Spec)
    found: list[PluginInfo] = []
    eps, problem = _entry_points(ENTRY_POINT_GROUP)
    if problem is not None:
        found.append(PluginInfo("entry-points", "", "entry point", ENTRY_POINT_GROUP, error=problem))
    for ep in eps:
        found.append(_from_entry_point(manager, ep, legacy=False))
    eps, problem = _entry_points(LEGACY_GROUP)
    if problem is not None:
        found.append(PluginInfo("entry-points", "", "entry point", LEGACY_GROUP, error=problem))
    for ep in eps:
        found.append(_from_entry_point(manager, ep, legacy=True))
    if folder.is_dir():
        for path in sorted(folder.glob("*.py")):
            found.append(_from_file(manager, path))
    _dedupe(found)
    for info in found:
        if info.error is not None:
            log.info("plugin %s not loaded (%s): %s", info.name, info.where, info.error.en)
    return found


def _dedupe(found: list[PluginInfo]) -> None:
    """Plugin names, and the ids of what they add, are unique: the later one is refused."""
    names: dict[str, PluginInfo] = {}
    ids: dict[tuple[str, str], PluginInfo] = {}
    for info in found:
        if not info.loaded:
            continue
        first = names.get(info.name)
        if first is not None:
            _fail(info, msg("ein Plugin namens {n} ist schon geladen ({w}); Namen sind eindeutig",
                            "a plugin named {n} is already loaded ({w}); names are unique", n=info.name, w=first.where))
            continue
        names[info.name] = info
        for kind, key in (("checks", "id"), ("actions", "id"), ("driver_sources", "name"), ("tools", "name")):
            for item in list(getattr(info, kind)):
                ident = getattr(item, key)
                owner = ids.get((kind, ident))
                if owner is not None:
                    getattr(info, kind).remove(item)
                    info.problems.append(msg("{i} gibt es schon (Plugin {o})", "{i} already exists (plugin {o})",
                                             i=ident, o=owner.name))
                else:
                    ids[(kind, ident)] = info


def _fail(info: PluginInfo, error: Message) -> PluginInfo:
    info.loaded = False
    info.error = error
    info.checks, info.actions, info.driver_sources, info.tools = [], [], [], []
    return info


def _exc(exc: BaseException) -> Message:
    return Message.data(f"{type(exc).__name__}: {exc}")


def _from_file(manager: pluggy.PluginManager, path: Path) -> PluginInfo:
    info = PluginInfo(path.stem.lower().replace("_", "-"), "", "file", str(path))
    real = Path(os.path.realpath(path))  # a symbolic link: the file it points to and that file's folder count too
    problem = _safety.unsafe([path, real.parent, path.parent, path.parent.parent])
    if problem is not None:
        return _fail(info, msg("abgelehnt: {p}", "refused: {p}", p=problem))
    try:
        code = path.read_bytes()
    except OSError as exc:
        return _fail(info, _exc(exc))
    info.sha256 = hashlib.sha256(code).hexdigest()
    name = f"techcare_plugin_{path.stem}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module
    try:
        exec(compile(code, str(path), "exec"), module.__dict__)  # noqa: S102 - the checked bytes that were hashed
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, SystemExit, ... of third-party code
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _fail(info, _exc(exc))
    return _adopt(manager, info, module, dist=None)


def _module_files(module_name: str) -> tuple[list[Path], Path] | None:
    """The files of an entry point's top-level module (found without running it) and the folder they hang in;
    ``None`` when there is no such module (loading it fails and says so); no files when the module is not files in
    one folder (a zip archive, a namespace package spread over several folders): who can change it is unknown."""
    top = module_name.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("built-in", "frozen") and Path(spec.origin).is_file():
        origin = Path(spec.origin)
        root = origin.parent.parent if origin.name == "__init__.py" else origin.parent
        return _safety.package_files(origin), root
    locations = list(spec.submodule_search_locations or [])
    if len(locations) == 1:
        folder = Path(locations[0])
        return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts), folder.parent
    return [], Path()


def _from_entry_point(manager: pluggy.PluginManager, ep: Any, *, legacy: bool) -> PluginInfo:
    dist = getattr(ep, "dist", None)
    default = (dist.metadata["Name"] if dist is not None and dist.metadata["Name"] else ep.name).lower()
    default = default.replace("_", "-").replace(".", "-")
    info = PluginInfo(default, "", "entry point",
                      f"entry point {ep.name} ({ep.value})", legacy=legacy)
    module = getattr(ep, "module", "") or ep.value.partition(":")[0]
    located = _module_files(module)
    if located is not None:
        files, root = located
        if not files:
            return _fail(info, msg("abgelehnt: der Code von {m} liegt nicht als Dateien in einem Ordner (ein "
                                   "ZIP-Archiv oder auf mehrere Ordner verteilt); wer ihn ändern kann, lässt sich "
                                   "nicht prüfen", "refused: the code of {m} is not files in one folder (a zip "
                                   "archive, or spread over several folders); who can change it cannot be checked",
                                   m=module.partition(".")[0]))
        problem = _safety.unsafe([*files, *{f.parent for f in files}])
        if problem is not None:
            return _fail(info, msg("abgelehnt: {p}", "refused: {p}", p=problem))
        try:
            info.sha256 = _safety.tree_sha256(files, root)
        except (OSError, ValueError) as exc:
            return _fail(info, _exc(exc))
    try:
        obj = ep.load()
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _fail(info, _exc(exc))
    if legacy:
        info.version = str(dist.version) if dist is not None else "0"
        return _legacy_actions(info, obj)
    return _adopt(manager, info, obj, dist=dist)


def _declared(info: PluginInfo, obj: Any, dist: Any) -> Message | None:
    """Fill name, version, author, description from ``PLUGIN = {...}`` (and the package metadata); the problem."""
    declared = getattr(obj, "PLUGIN", None)
    if declared is None:
        declared = {}
    if not isinstance(declared, dict):
        return msg("PLUGIN muss ein dict sein (name, version, author, description, api)",
                   "PLUGIN must be a dict (name, version, author, description, api)")
    unknown = sorted(set(declared) - {"name", "version", "author", "description", "api"})
    if unknown:
        return msg("PLUGIN: unbekannte Felder {u} (erlaubt: name, version, author, description, api)",
                   "PLUGIN: unknown fields {u} (allowed: name, version, author, description, api)",
                   u=", ".join(unknown))
    name = declared.get("name", info.name)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        return msg("Name {n!r} ungültig: erlaubt sind Kleinbuchstaben, Ziffern, - und _ (1–64 Zeichen, am Anfang ein "
                   "Buchstabe); ohne PLUGIN-Namen gilt der Datei- bzw. Paketname",
                   "name {n!r} is not valid: allowed are lowercase letters, digits, - and _ (1-64 characters, starting "
                   "with a letter); without a PLUGIN name the file or package name is used", n=name)
    info.name = name
    version = declared.get("version")
    dist_version = str(dist.version) if dist is not None else None
    if version is not None and (not isinstance(version, str) or not version.strip() or len(version) > 64):
        return msg("version muss Text sein (z.B. \"1.0.0\")", "version must be text (e.g. \"1.0.0\")")
    if version is not None and dist_version is not None and version != dist_version:
        return msg("Versionskonflikt: das Plugin erklärt {v}, installiert ist Paket {n} {d}; beides muss gleich sein",
                   "version mismatch: the plugin declares {v}, the installed package {n} is {d}; both must be equal",
                   v=version, n=dist.metadata["Name"], d=dist_version)
    info.version = version or dist_version or "0"
    api = declared.get("api", API_VERSION)
    if api != API_VERSION:
        return msg("für die Plugin-Schnittstelle {a} geschrieben; dieses TechCare hat Version {b}",
                   "written for plugin API {a}; this TechCare has API {b}", a=api, b=API_VERSION)
    author = declared.get("author")
    if author is None and dist is not None:
        author = dist.metadata["Author"] or dist.metadata["Author-email"] or ""
    info.author = str(author or "")[:200]
    description = declared.get("description")
    if description is None and dist is not None:
        description = dist.metadata["Summary"] or ""
    if isinstance(description, dict):
        info.description = Message(str(description.get("de") or description.get("en") or ""),
                                   str(description.get("en") or description.get("de") or ""))
    else:
        info.description = Message.data(str(description or ""))
    return None


def _has_hooks(manager: pluggy.PluginManager, obj: Any) -> bool:
    return any(manager.parse_hookimpl_opts(obj, attr) is not None for attr in dir(obj)
               if not attr.startswith("__"))


def _adopt(manager: pluggy.PluginManager, info: PluginInfo, obj: Any, *, dist: Any) -> PluginInfo:
    problem = _declared(info, obj, dist)
    if problem is not None:
        return _fail(info, problem)
    if not _has_hooks(manager, obj):
        return _legacy_actions(info, obj)
    try:
        manager.register(obj, name=f"{info.name}@{info.where}")
    except pluggy.PluginValidationError as exc:
        return _fail(info, msg("Hook passt nicht zur Spezifikation: {e}", "a hook does not fit the specification: {e}",
                               e=exc))
    except ValueError as exc:
        return _fail(info, _exc(exc))
    try:
        callers = manager.get_hookcallers(obj) or []
        unknown = sorted(c.name for c in callers if c.name not in HOOKS)
        if unknown:
            return _fail(info, msg("unbekannter Hook {u}; bekannt sind {k}", "unknown hook {u}; known hooks are {k}",
                                   u=", ".join(unknown), k=", ".join(HOOKS)))
        for caller in callers:
            for impl in caller.get_hookimpls():
                if impl.plugin is obj:
                    register = _registrar(info, HOOKS[caller.name])
                    impl.function(**{arg: register for arg in impl.argnames})
    except Exception as exc:  # noqa: BLE001 - a hook that raises: the plugin adds nothing
        return _fail(info, _exc(exc))
    finally:
        manager.unregister(obj)
    info.loaded = True
    return info


def _legacy_actions(info: PluginInfo, obj: Any) -> PluginInfo:
    """A plugin from before the hooks: a module with ``ACTIONS`` / ``actions()``, or what a ``techcare.repairs``
    entry point loads to (an Action, an Action subclass, a list of them or a callable returning them)."""
    info.legacy = True
    if isinstance(obj, types.ModuleType):
        if callable(getattr(obj, "actions", None)):
            obj = obj.actions
        elif hasattr(obj, "ACTIONS"):
            obj = obj.ACTIONS
        else:
            return _fail(info, msg("definiert keinen Hook ({h}) und weder ACTIONS noch actions()",
                                   "defines no hook ({h}) and neither ACTIONS nor actions()", h=", ".join(HOOKS)))
    try:
        items = _as_actions(obj)
    except Exception as exc:  # noqa: BLE001
        return _fail(info, _exc(exc))
    register = _registrar(info, "actions")
    for item in items:
        register(item)
    info.loaded = True
    return info


def _as_actions(obj: Any) -> list[Any]:
    from ..repairs._model import Action

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


# ---- validating what a plugin registers ---------------------------------------------------------------------

def namespace_problem(ident: str) -> Message | None:
    if ident.split(".", 1)[0].split("-", 1)[0] in RESERVED_NAMESPACES:
        return msg("{i}: der Namensraum {n} gehört TechCare selbst; ein Plugin nimmt seinen eigenen (z.B. acme.{r})",
                   "{i}: the namespace {n} belongs to TechCare itself; a plugin uses its own (e.g. acme.{r})",
                   i=ident, n=ident.split(".", 1)[0].split("-", 1)[0], r=ident.split(".", 1)[-1])
    return None


def _registrar(info: PluginInfo, kind: str) -> Callable[[Any], None]:
    validate = {"checks": _check_problems, "actions": _action_problems, "driver_sources": _source_problems,
                "tools": _tool_problems}[kind]

    def register(item: Any) -> None:
        if kind == "actions":
            from ..repairs._model import Action

            if isinstance(item, type) and issubclass(item, Action):
                item = item()
        problems = validate(item)
        label = getattr(item, "id", None) or getattr(item, "name", None) or type(item).__name__
        if problems:
            info.problems.append(msg("{i!r} abgelehnt: {p}", "{i!r} refused: {p}", i=label,
                                     p=Message.join("; ", problems)))
            return
        getattr(info, kind).append(item)

    return register


def _id_problem(value: Any, pattern: Any, de: str, en: str) -> Message | None:
    """What is wrong with an item's identifier ``value`` (a check's ``id``, a driver source's or a tool's ``name``):
    not a text of ``pattern`` (``de``/``en`` with ``{i}``, the value), else a namespace of TechCare's own."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return msg(de, en, i=value)
    return namespace_problem(value)


def _platforms_problem(platforms: Any) -> Message | None:
    if not platforms or any(p not in ALL_PLATFORMS for p in platforms):
        return msg("platforms muss eine Auswahl aus {a} sein", "platforms must be a selection of {a}",
                   a=", ".join(ALL_PLATFORMS))
    return None


def _item_problems(ident: Message | None, function: Any, not_a_function: Message,
                   platforms: Any) -> list[Message]:
    """The checks a diagnosis check and a driver source share, in this order: identifier, function, platforms."""
    found = [ident, None if callable(function) else not_a_function, _platforms_problem(platforms)]
    return [problem for problem in found if problem is not None]


def _check_problems(item: Any) -> list[Any]:
    if not isinstance(item, DiagnosisCheck):
        return [msg("keine DiagnosisCheck, sondern {t}", "not a DiagnosisCheck but {t}", t=type(item).__name__)]
    out: list[Any] = _item_problems(
        _id_problem(item.id, ID_PATTERN, "id {i!r} muss wie 'anbieter.name' aussehen (Kleinbuchstaben, Ziffern, _)",
                    "id {i!r} must look like 'vendor.name' (lowercase letters, digits, _)"),
        item.run, msg("run muss eine Funktion run(runner) sein", "run must be a function run(runner)"), item.platforms)
    if not (item.title_de.strip() and item.title_en.strip()):
        out.append(msg("title_de und title_en fehlen", "title_de and title_en are missing"))
    return out


def _action_problems(item: Any) -> list[Any]:
    from ..repairs._model import validate_action

    return list(validate_action(item))  # shadowing and namespaces: the catalogue, which knows the built-in ids


def _source_problems(item: Any) -> list[Any]:
    if not isinstance(item, DriverSource):
        return [msg("keine DriverSource, sondern {t}", "not a DriverSource but {t}", t=type(item).__name__)]
    return _item_problems(
        _id_problem(item.name, ID_PATTERN, "name {i!r} muss wie 'anbieter.name' aussehen",
                    "name {i!r} must look like 'vendor.name'"),
        item.offers, msg("offers muss eine Funktion offers(runner) sein", "offers must be a function offers(runner)"),
        item.platforms)


def _tool_problems(item: Any) -> list[Any]:
    if not isinstance(item, AssistantTool):
        return [msg("kein AssistantTool, sondern {t}", "not an AssistantTool but {t}", t=type(item).__name__)]
    out: list[Any] = []
    ident = _id_problem(item.name, TOOL_PATTERN, "name {i!r} muss wie 'anbieter-name' aussehen (Kleinbuchstaben, "
                        "Ziffern, _ und -; ein - trennt den Namensraum)", "name {i!r} must look like 'vendor-name' "
                        "(lowercase letters, digits, _ and -; a - separates the namespace)")
    if ident is not None:
        out.append(ident)
    if not callable(item.run):
        out.append(msg("run muss eine Funktion run(arguments, context) sein",
                       "run must be a function run(arguments, context)"))
    if not isinstance(item.description, str) or not item.description.strip():
        out.append(msg("description fehlt (das Modell liest sie)", "description is missing (the model reads it)"))
    schema = item.input_schema
    if not isinstance(schema, dict) or schema.get("type") != "object":
        out.append(msg("input_schema muss ein JSON-Schema mit type object sein",
                       "input_schema must be a JSON schema of type object"))
    if not isinstance(item.triggers, (tuple, list)) or not all(isinstance(t, str) and t.strip() for t in item.triggers):
        out.append(msg("triggers muss eine Liste von Wörtern sein", "triggers must be a list of words"))
    return out


# ---- the hook sites ---------------------------------------------------------------------------------------------

def _unknown(finding_type: Any, info: PluginInfo, check: DiagnosisCheck, why: Message) -> Any:
    said = msg("Unbekannt: Prüfung {c} von Plugin {p} lieferte kein Ergebnis ({w}).",
               "Unknown: check {c} of plugin {p} gave no result ({w}).", c=check.id, p=info.name, w=why)
    evidence = {"plugin": info.name, "version": info.version, "reason_de": why.de, "reason_en": why.en}
    try:
        return finding_type(check.id, check.area, "unknown", said.de, said.en, evidence, probe=f"plugin:{info.name}")
    except ValueError:  # the check declared an area the diagnosis does not know
        return finding_type(check.id, "services", "unknown", said.de, said.en, evidence, probe=f"plugin:{info.name}")


def _checked(result: Any, finding_type: Any, info: PluginInfo, check: DiagnosisCheck) -> list[Any]:
    items = result if isinstance(result, (list, tuple)) else [result]
    out = []
    for item in items:
        if not isinstance(item, finding_type):
            return [_unknown(finding_type, info, check, msg("gab {t} statt Finding zurück",
                                                            "returned {t} instead of a Finding",
                                                            t=type(item).__name__))]
        if item.check != check.id and not item.check.startswith(check.id + ":"):
            return [_unknown(finding_type, info, check, msg(
                "Befund {f} gehört nicht zur Prüfung (erlaubt: {c} oder {c}:…)",
                "finding {f} does not belong to the check (allowed: {c} or {c}:…)", f=item.check, c=check.id))]
        if not item.probe:
            item.probe = f"plugin:{info.name}"
        out.append(item)
    if not out:
        return [_unknown(finding_type, info, check, msg("keine Befunde", "no findings"))]
    return out


def _bounded(todo: list[tuple[PluginInfo, DiagnosisCheck]], runner: Any, timeout: float) -> list[tuple[str, Any]]:
    """Run ``check.run(runner)`` of each of ``todo`` (at most 4 at a time) for at most ``timeout`` seconds in all:
    per check ``("ok", result)``, ``("error", exception)`` or ``("timeout", None)``. The checks run in daemon
    threads that nobody waits for: a check that never returns is left behind and cannot keep the process alive
    (a ThreadPoolExecutor's workers are joined when the interpreter exits)."""
    import queue

    results: list[tuple[str, Any] | None] = [None] * len(todo)
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for index in range(len(todo)):
        pending.put(index)
    finished = threading.Condition()

    def work() -> None:
        while True:
            try:
                index = pending.get_nowait()
            except queue.Empty:
                return
            try:
                outcome: tuple[str, Any] = ("ok", todo[index][1].run(runner))
            except Exception as exc:  # noqa: BLE001 - a plugin bug never breaks the caller
                outcome = ("error", exc)
            with finished:
                results[index] = outcome
                finished.notify_all()

    for n in range(min(4, len(todo))):
        threading.Thread(target=work, name=f"techcare-plugin-check-{n}", daemon=True).start()
    with finished:
        finished.wait_for(lambda: all(r is not None for r in results), timeout=max(0.0, timeout))
        return [r if r is not None else ("timeout", None) for r in results]


def _stopped(timeout: float) -> Message:
    return msg("nach {t} s abgebrochen", "stopped after {t} s", t=f"{timeout:.1f}".removesuffix(".0"))


def findings(runner: Any, platform: str, finding_type: Any, *, timeout: float = CHECK_TIMEOUT) -> list[Any]:
    """Run every loaded plugin check for ``platform`` through ``runner`` (at most ``timeout`` seconds in all)
    and return their findings (instances of ``finding_type``, the diagnosis's ``Finding``). A check that raises,
    returns something else or takes too long gives an ``unknown`` finding saying why. Never raises; a check that
    hangs is left behind in a daemon thread (the process still exits)."""
    todo = checks(platform)
    if not todo:
        return []
    out: list[Any] = []
    for (info, check), (status, value) in zip(todo, _bounded(todo, runner, timeout), strict=True):
        if status == "timeout":
            out.append(_unknown(finding_type, info, check, _stopped(timeout)))
            continue
        if status == "error":
            out.append(_unknown(finding_type, info, check, _exc(value)))
            continue
        try:
            out.extend(_checked(value, finding_type, info, check))
        except Exception as exc:  # noqa: BLE001 - a plugin bug never breaks the diagnosis
            out.append(_unknown(finding_type, info, check, _exc(exc)))
    return out


def capture_checks(runner: Any, *, timeout: float | None = None) -> dict[str, Any]:
    """Run every plugin check through ``runner`` so that ``snapshot save`` (a RecordingRunner) records what they
    read; a replay of the snapshot then answers them. The same limit as in the diagnosis applies (``timeout``,
    default the ``probe_timeout`` setting, for all checks together): a check still running then is left behind
    and named in ``timed_out`` (its replay will say it gave no result), the snapshot is written anyway. Returns
    how many checks ran and which timed out."""
    todo = checks(runner.platform)
    if timeout is None:
        from ..config import get_settings

        timeout = float(get_settings().probe_timeout)
    outcomes = _bounded(todo, runner, timeout) if todo else []
    late = [check.id for (_, check), (status, _) in zip(todo, outcomes, strict=True) if status == "timeout"]
    for check_id in late:
        log.warning("%s", localize(msg("Plugin-Prüfung {c}: {w}; der Snapshot enthält, was sie bis dahin gelesen hat.",
                                       "plugin check {c}: {w}; the snapshot holds what it had read until then.",
                                       c=check_id, w=_stopped(timeout))))
    return {"plugin_checks": len(todo), "timed_out": late}


def driver_offers(runner: Any) -> tuple[list[Any], list[Any]]:
    """Offers of every loaded plugin driver source for the runner's platform, and one SourceStatus per source
    (``error`` with the reason when it raised or returned something else). Never raises."""
    from ..tools.drivers.records import SourceStatus, UpdateOffer

    offers: list[Any] = []
    statuses: list[Any] = []
    for info, source in ((p, s) for p in _active() for s in p.driver_sources if runner.platform in s.platforms):
        try:
            found = list(source.offers(runner) or [])
            bad = next((o for o in found if not isinstance(o, UpdateOffer)), None)
            if bad is not None:
                raise TypeError(f"offers() returned {type(bad).__name__}, not UpdateOffer")
        except Exception as exc:  # noqa: BLE001
            statuses.append(SourceStatus(source.name, "error", msg("Plugin {p}: {e}", "plugin {p}: {e}", p=info.name,
                                                                   e=f"{type(exc).__name__}: {exc}")))
            continue
        for offer in found:
            offer.source = source.name
        offers.extend(found)
        statuses.append(SourceStatus(source.name, "ok", msg("Plugin {p} {v}", "plugin {p} {v}", p=info.name,
                                                            v=info.version), count=len(found)))
    return offers, statuses


def describe(info: PluginInfo, lang: str | None = None) -> str:
    return f"{info.name} {info.version}" + (f" ({localize(info.error, lang)})" if info.error else "")


# ---- remote jobs ----------------------------------------------------------------------------------------------

def identities(action_ids: list[str]) -> list[dict[str, Any]]:
    """What a signed job names for the plugin actions among ``action_ids``: per plugin ``{"name", "version",
    "sha256", "actions"}`` (sorted), empty when every action is built in."""
    named: dict[str, dict[str, Any]] = {}
    for action_id in action_ids:
        info = action_plugin(action_id)
        if info is None:
            continue
        entry = named.setdefault(info.name, {**info.identity(), "actions": []})
        if action_id not in entry["actions"]:
            entry["actions"].append(action_id)
    return [{**named[n], "actions": sorted(named[n]["actions"])} for n in sorted(named)]


def remote_problem(named: Any, action_ids: list[str]) -> tuple[str, Message] | None:
    """Why this host must not run a signed job's steps ``action_ids`` with the plugins it ``named``:
    ``("malformed" | "plugin_missing" | "plugin_mismatch", message)``, or ``None`` when every plugin action of
    the steps belongs to a plugin the job names and that is installed here with the same name, version and
    content hash."""
    if named is None:
        named = []
    fields = {"name", "version", "sha256", "actions"}
    if not isinstance(named, list) or not all(
            isinstance(n, dict) and set(n) == fields
            and all(isinstance(n[k], str) for k in ("name", "version", "sha256"))
            and isinstance(n["actions"], list) and all(isinstance(a, str) for a in n["actions"]) for n in named):
        return "malformed", msg("plugins muss eine Liste von {name, version, sha256, actions} sein.",
                                "plugins must be a list of {name, version, sha256, actions}.")
    here = {p.name: p for p in installed()}
    for entry in named:
        info = here.get(entry["name"])
        if info is None or not info.loaded:
            why = (msg(" (hier nicht geladen: {e})", " (not loaded here: {e})", e=info.error) if info
                   else Message("", ""))
            return "plugin_missing", msg(
                "Der Auftrag braucht Plugin {n} {v}; es ist auf diesem Rechner nicht installiert{w}.",
                "The job needs plugin {n} {v}; it is not installed on this host{w}.", n=entry["name"],
                v=entry["version"], w=why)
        if info.version != entry["version"]:
            return "plugin_mismatch", msg(
                "Der Auftrag nennt Plugin {n} {v}, hier ist Version {h} installiert.",
                "The job names plugin {n} {v}, this host has version {h}.", n=info.name, v=entry["version"],
                h=info.version)
        if info.sha256 != entry["sha256"]:
            return "plugin_mismatch", msg(
                "Plugin {n} {v} hat hier einen anderen Inhalt (SHA-256 {h}…, signiert {s}…).",
                "Plugin {n} {v} has other content here (SHA-256 {h}…, signed {s}…).", n=info.name, v=info.version,
                h=info.sha256[:12], s=entry["sha256"][:12])
        missing = sorted(set(entry["actions"]) - {a.id for a in info.actions})
        if missing:
            return "plugin_mismatch", msg("Plugin {n} hat hier die Aktion {a} nicht.",
                                          "Plugin {n} has no action {a} here.", n=info.name, a=", ".join(missing))
    for action_id in action_ids:
        info = action_plugin(action_id)
        if info is not None and not any(e["name"] == info.name and action_id in e["actions"] for e in named):
            return "plugin_mismatch", msg(
                "Aktion {a} kommt hier von Plugin {n} {v}, das der signierte Auftrag nicht nennt.",
                "Action {a} comes from plugin {n} {v} here, which the signed job does not name.", a=action_id,
                n=info.name, v=info.version)
    return None
