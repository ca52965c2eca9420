"""The catalogue DataFrame, action contracts, and plugins (entry points and TECHCARE_HOME/plugins/*.py)."""

from __future__ import annotations

import textwrap
from importlib import metadata

import pytest

from techcare.errors import RepairError
from techcare.repairs import (
    Action,
    Check,
    Plan,
    actions,
    catalog,
    get_action,
    parse_approval,
    plugin_errors,
    reload_catalog,
)
from techcare.repairs._catalog import _builtin
from techcare.repairs._model import PLATFORMS, RISKS, validate_action
from techcare.system.runner import CommandResult, Entry, ReplayRunner

REQUIRED_IDS = {
    "windows": {"win.reset_windows_update", "win.sfc_scannow", "win.dism_restore_health", "win.flush_dns",
                "win.reset_winsock", "win.restart_service", "win.set_service_start_type", "win.enable_firewall",
                "win.update_defender_signatures", "win.clear_temp_files", "win.schedule_chkdsk",
                "win.create_restore_point", "win.install_updates", "drivers.install_update",
                "drivers.install_vendor_package"},
    "linux": {"linux.restart_unit", "linux.dpkg_configure", "linux.apt_fix_broken", "linux.apt_clean",
              "linux.journal_vacuum", "linux.clear_temp_files", "linux.flush_dns", "linux.enable_ufw",
              "linux.install_updates", "drivers.install_update", "drivers.install_vendor_package"},
    "darwin": {"macos.flush_dns", "macos.enable_firewall", "macos.install_updates", "macos.clear_user_caches",
               "macos.verify_volume", "drivers.install_update", "drivers.install_vendor_package"},
}


@pytest.fixture(autouse=True)
def fresh_catalog():
    reload_catalog()
    yield
    reload_catalog()


def test_catalog_frame_lists_every_action_with_the_public_columns():
    frame = catalog()
    for column in ("id", "title", "platforms", "risk", "needs_admin", "undoable"):
        assert column in frame.columns
    assert set(frame["id"]) == {a.id for a in actions()}
    assert frame["id"].is_unique and set(frame["risk"]) <= set(RISKS)
    for platform, ids in REQUIRED_IDS.items():
        assert set(catalog(platform)["id"]) == ids
    assert set(catalog("macos")["id"]) == REQUIRED_IDS["darwin"]
    with pytest.raises(RepairError, match="beos"):
        catalog("beos")


def test_diagnosis_only_proposes_catalogue_actions():
    from techcare.diagnosis import _REPAIRS

    proposed = {rid for per_os in _REPAIRS.values() for ids in per_os.values() for rid in ids}
    assert proposed <= {a.id for a in actions()}


@pytest.mark.parametrize("action", _builtin(), ids=lambda a: a.id)  # collected without reading TECHCARE_HOME
def test_every_builtin_action_is_valid_and_documented_in_both_languages(action):
    assert validate_action(action) == []
    assert set(action.platforms) <= set(PLATFORMS)
    assert action.title("de") != "" and action.title("en") != ""
    if not action.undoable:
        reason_de, reason_en = action.undo_reason(action.defaults(), "de"), action.undo_reason(action.defaults(), "en")
        assert reason_de and reason_en and reason_de != reason_en


def test_unknown_action_names_close_matches(monkeypatch):
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(RepairError, match="Did you mean: linux.apt_clean"):
        get_action("linux.apt_claen")


GOOD_PLUGIN = '''
from techcare.repairs import Action, Check, Param

class RestartPrinterSpooler(Action):
    id = "acme.clear_print_queue"
    title_de, title_en = "Druckwarteschlange leeren", "Clear the print queue"
    explain_de, explain_en = "Leert die CUPS-Warteschlange.", "Cancels every CUPS job."
    platforms = ("linux",)
    risk = "low"
    needs_admin = False
    params = (Param("printer", "str", "Druckername", "printer name", pattern=r"[A-Za-z0-9_-]+"),)
    cannot_undo_de = "Abgebrochene Druckaufträge kommen nicht zurück."
    cannot_undo_en = "Cancelled print jobs do not come back."

    def commands(self, params, ctx=None):
        return [["cancel", "-a", params["printer"]]]

    def verify(self, ctx):
        res = ctx.run(["lpstat", "-o", ctx.params["printer"]])
        return Check(bool(res.stdout.strip()), res.stdout.strip() or "queue empty")

ACTIONS = [RestartPrinterSpooler()]
'''


def _write_plugin(home, name, text):
    folder = home / "plugins"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))


def test_plugin_file_adds_an_action_that_plans_and_runs(techcare_env):
    _write_plugin(techcare_env / "techcare-home", "acme.py", GOOD_PLUGIN)
    action = get_action("acme.clear_print_queue")
    assert action.origin.endswith("acme.py") and plugin_errors() == []
    assert "acme.clear_print_queue" in set(catalog("linux")["id"])
    p = Plan.from_actions([{"action": "acme.clear_print_queue", "params": {"printer": "HP_LaserJet"}}], platform="linux")
    runner = ReplayRunner([Entry("fact", "is_admin", False)], platform="linux",
                          fallback=lambda argv: CommandResult(argv, 0, "", "", 0.0))
    result = p.run(parse_approval("GO REPAIR: 1", p), runner, progress=lambda _: None)
    assert result.ok and ("cmd", ("cancel", "-a", "HP_LaserJet")) in runner.calls


@pytest.mark.parametrize(("name", "text", "error"), [
    ("syntax.py", "def broken(:\n", "SyntaxError"),
    ("raises.py", "raise RuntimeError('boom at import')\n", "boom at import"),
    ("empty.py", "X = 1\n", "neither ACTIONS nor actions()"),
    ("notaction.py", "ACTIONS = [object()]\n", "not an Action"),
    ("badid.py", GOOD_PLUGIN.replace('"acme.clear_print_queue"', '"Bad Id"'), "vendor.name"),
    ("badrisk.py", GOOD_PLUGIN.replace('risk = "low"', 'risk = "yolo"'), "risk"),
    ("noundo.py", GOOD_PLUGIN.replace("cannot_undo_de", "x_de").replace("cannot_undo_en", "x_en"), "no undo()"),
    ("shadow.py", GOOD_PLUGIN.replace('"acme.clear_print_queue"', '"win.flush_dns"'), "already in the catalogue"),
])
def test_bad_plugins_are_reported_and_skipped(techcare_env, name, text, error):
    _write_plugin(techcare_env / "techcare-home", name, text)
    _write_plugin(techcare_env / "techcare-home", "zz_good.py", GOOD_PLUGIN)
    ids = {a.id for a in actions()}
    assert "acme.clear_print_queue" in ids  # the good plugin still loads
    errors = plugin_errors()
    assert len(errors) == 1 and name in errors[0]["source"] and error in errors[0]["error"], errors
    assert get_action("win.flush_dns").origin == "builtin"


class EntryPointAction(Action):
    id = "vendor.reset_spooler"
    title_de, title_en = "Spooler zurücksetzen", "Reset spooler"
    explain_de, explain_en = "Setzt den Spooler zurück.", "Resets the spooler."
    platforms = ("windows",)
    risk = "medium"

    def commands(self, params, ctx=None):
        return [["net.exe", "stop", "spooler"], ["net.exe", "start", "spooler"]]

    def undo(self, ctx):
        pass

    def check(self, ctx):
        return Check(True, "always")


def test_entry_point_plugins(monkeypatch):
    eps = [metadata.EntryPoint("spooler", f"{__name__}:EntryPointAction", "techcare.repairs"),
           metadata.EntryPoint("broken", "no_such_module_techcare:thing", "techcare.repairs")]
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda **kw: eps if kw.get("group") == "techcare.repairs" else real(**kw))
    reload_catalog()
    assert get_action("vendor.reset_spooler").origin.startswith("entry point spooler")
    errors = plugin_errors()
    assert len(errors) == 1 and "broken" in errors[0]["source"] and "ModuleNotFoundError" in errors[0]["error"]
