"""``techcare plugins new NAME``: a minimal plugin package that passes its own test.

What it writes (``NAME`` = ``acme-lob``, module ``acme_lob``)::

    acme-lob/
      pyproject.toml         entry point group techcare.plugins -> the module; pytest finds src/
      README.md              how to try, install or copy it
      src/acme_lob.py        PLUGIN = {...}; one check (is the service running?) and one action with undo
      tests/test_acme_lob.py the check and the action on a replayed machine (ReplayRunner), plan -> run -> undo

No cookiecutter, no network: the texts are below.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..i18n import tr
from ._types import NAME_PATTERN, RESERVED_NAMESPACES

__all__ = ["new"]

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
description = "TechCare plugin {name}: a service check and its start action"
requires-python = ">=3.11"
dependencies = ["techcare"]

[project.entry-points."techcare.plugins"]
{module} = "{module}"

[tool.setuptools]
package-dir = {{"" = "src"}}
py-modules = ["{module}"]

[tool.pytest.ini_options]
pythonpath = ["src"]
testpaths = ["tests"]
'''

README = '''# {name}

A TechCare plugin (docs/plugins.md in TechCare): the check `{module}.service` asks whether the service
`{service}` runs, the action `{module}.start_service` starts it (undo: stops it again if it was stopped before).

- Try it: `python -m pytest` (the test replays a machine; nothing on this computer is changed).
- Use it as a file: copy `src/{module}.py` to `TECHCARE_HOME/plugins/` (mode 0644, owned by you).
- Or install it: `pip install .` (entry point group `techcare.plugins`).
- Check: `techcare plugins` lists it with its check, action, risk and whether it loaded.
'''

MODULE = '''"""TechCare plugin {name}: is the line-of-business service running, and start it when not.

Everything reads and changes the machine only through the runner TechCare hands in (``runner.run([...])``), so the
check replays from snapshots, ``techcare snapshot save`` records it, and a repair's dry run shows its commands.
"""

from techcare.diagnosis import Finding
from techcare.plugins import DiagnosisCheck, hookimpl
from techcare.repairs import Action, Check, Param

PLUGIN = {{
    "name": "{name}",
    "version": "0.1.0",
    "author": "",
    "description": {{"de": "Prüft und startet den Dienst {service}.", "en": "Checks and starts the service {service}."}},
}}

SERVICE = "{service}"


def _is_active(runner, unit):
    """True / False, or None when the state could not be read (not recorded, systemctl missing, ...)."""
    result = runner.run(["systemctl", "is-active", unit])
    state = (result.stdout or "").strip()
    if result.error is not None or not state:
        return None, result.error or (result.stderr or "").strip() or "no answer"
    return state == "active", state


def service_check(runner):
    active, state = _is_active(runner, SERVICE)
    if active is None:
        return Finding("{module}.service", "services", "unknown", f"Zustand von {{SERVICE}} unbekannt ({{state}}).",
                       f"State of {{SERVICE}} unknown ({{state}}).", {{"unit": SERVICE, "reason": state}})
    if active:
        return Finding("{module}.service", "services", "ok", f"{{SERVICE}} läuft.", f"{{SERVICE}} is running.",
                       {{"unit": SERVICE, "state": state}})
    return Finding("{module}.service", "services", "warning", f"{{SERVICE}} läuft nicht ({{state}}).",
                   f"{{SERVICE}} is not running ({{state}}).", {{"unit": SERVICE, "state": state}},
                   repairs=["{module}.start_service"], repair_params={{"{module}.start_service": {{"unit": SERVICE}}}})


class StartService(Action):
    id = "{module}.start_service"
    title_de, title_en = "Dienst starten", "Start the service"
    explain_de = "Startet den Dienst mit systemctl; Rückgängig hält ihn wieder an, wenn er vorher stand."
    explain_en = "Starts the service with systemctl; undo stops it again if it was stopped before."
    platforms = ("linux",)
    risk = "low"
    needs_admin = True
    params = (Param("unit", "str", "Name der systemd-Unit", "systemd unit name", default=SERVICE,
                    pattern=r"[A-Za-z0-9@._-]+"),)

    def check(self, ctx):
        active, state = _is_active(ctx.runner, ctx.params["unit"])
        return Check(None if active is None else not active, state)

    def prepare(self, ctx):
        ctx.state["was_active"] = _is_active(ctx.runner, ctx.params["unit"])[0]

    def commands(self, params, ctx=None):
        return [["systemctl", "start", params["unit"]]]

    def verify(self, ctx):
        active, state = _is_active(ctx.runner, ctx.params["unit"])
        return Check(None if active is None else not active, state)

    def undo(self, ctx):
        if ctx.state.get("was_active") is False:
            ctx.must(["systemctl", "stop", ctx.params["unit"]])


@hookimpl
def techcare_checks(register):
    register(DiagnosisCheck("{module}.service", run=service_check, title_de="Dienst {service}",
                            title_en="Service {service}", platforms=("linux",)))


@hookimpl
def techcare_actions(register):
    register(StartService)
'''

TEST = '''"""The plugin on a replayed machine: the check finds the stopped service, the plan starts it, undo stops it.
Nothing on this computer is changed (the ReplayRunner answers every command)."""

import shutil
from pathlib import Path

import pytest

from techcare import config, plugins, repairs
from techcare.diagnosis import Finding
from techcare.system.runner import CommandResult, Entry, ReplayRunner

MODULE = Path(__file__).resolve().parents[1] / "src" / "{module}.py"


class Machine:
    """A replayed PC whose service {service} starts and stops on command."""

    def __init__(self, active):
        self.active = active

    def __call__(self, argv):
        if argv[:2] == ("systemctl", "is-active"):
            state = "active" if self.active else "inactive"
            return CommandResult(argv, 0 if self.active else 3, state + "\\n", "", 0.0)
        if argv[:2] in (("systemctl", "start"), ("systemctl", "stop")):
            self.active = argv[1] == "start"
            return CommandResult(argv, 0, "", "", 0.0)
        return CommandResult(argv, None, "", "not recorded", 0.0, "not_recorded")


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A temporary TECHCARE_HOME with this plugin as a file plugin."""
    home = tmp_path / "home"
    (home / "plugins").mkdir(parents=True)
    home.chmod(0o700)
    (home / "plugins").chmod(0o700)
    target = home / "plugins" / "{module}.py"
    shutil.copyfile(MODULE, target)
    target.chmod(0o600)
    monkeypatch.setenv("TECHCARE_HOME", str(home))
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path / "data"))
    config.reset_settings()
    repairs.reload_catalog()
    yield
    repairs.reload_catalog()
    config.reset_settings()


def test_loads_with_its_check_and_action(installed):
    row = plugins.frame().set_index("name").loc["{name}"]
    assert row["loaded"] and row["error"] == ""
    assert row["checks"] == ["{module}.service"] and row["actions"] == ["{module}.start_service"]


def test_check_plan_run_undo_on_a_replayed_machine(installed):
    import {module}

    machine = Machine(active=False)
    runner = ReplayRunner([Entry("fact", "is_admin", True)], platform="linux", fallback=machine)
    finding = {module}.service_check(runner)
    assert isinstance(finding, Finding) and finding.severity == "warning"
    plan = repairs.Plan.from_actions([{{"action": a, "params": finding.repair_params[a]}} for a in finding.repairs],
                                     platform="linux")
    result = plan.run(repairs.parse_approval("GO REPAIR: 1", plan), runner, progress=lambda _: None)
    assert result.ok and machine.active
    assert plan.rollback(progress=lambda _: None)[0]["status"] == "undone" and not machine.active


def test_a_state_that_was_not_recorded_is_unknown():
    import {module}

    runner = ReplayRunner([], platform="linux")
    assert {module}.service_check(runner).severity == "unknown"
'''


def new(name: str, dest: str | Path = ".") -> Path:
    """Write the plugin package ``NAME`` into ``dest`` (see the module doc) and return its folder."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name.endswith(("-", "_")):
        raise ConfigError(tr("Plugin-Name {n!r} ist ungültig. Erlaubt: Kleinbuchstaben, Ziffern, - und _, am Anfang "
                             "ein Buchstabe (z.B. acme-lob).", "Plugin name {n!r} is not valid. Allowed: lowercase "
                             "letters, digits, - and _, starting with a letter (e.g. acme-lob).", n=name))
    module = name.replace("-", "_")
    if module.split("_")[0] in RESERVED_NAMESPACES or module in RESERVED_NAMESPACES:
        raise ConfigError(tr("Der Name {n!r} beginnt mit einem Namensraum von TechCare ({r}); bitte einen eigenen "
                             "wählen (z.B. den der Firma).", "The name {n!r} starts with a namespace of TechCare "
                             "({r}); choose your own (e.g. your company's).", n=name, r=module.split("_")[0]))
    folder = Path(dest).expanduser() / name
    if folder.exists():
        raise ConfigError(tr("{p} gibt es schon; nichts wurde überschrieben. Erlaubt: ein neuer Ordner.",
                             "{p} already exists; nothing was overwritten. Allowed: a new folder.", p=folder))
    service = f"{name}.service"
    values = {"name": name, "module": module, "service": service}
    files = {"pyproject.toml": PYPROJECT, "README.md": README, f"src/{module}.py": MODULE,
             f"tests/test_{module}.py": TEST}
    try:
        for relative, text in files.items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.format(**values), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(tr("{p} konnte nicht geschrieben werden: {e}", "{p} could not be written: {e}", p=folder,
                             e=exc.strerror or exc)) from None
    return folder
