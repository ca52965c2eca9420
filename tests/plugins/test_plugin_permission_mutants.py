"""The plugin permission checks, pinned where mutation testing (issue 23, target ``plugin-permissions``) found
them untested: who may change plugin code (exact refusals in German and English), the content hash computed
independently, what a plugin declares, every refusal of a registered item, whose findings a check may give, and
what a signed remote job must name (exact reasons)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import sys
from importlib import metadata
from pathlib import Path

import pytest
from plugin_texts import LOB, write_plugin

from techcare import plugins
from techcare.plugins import _manager, _safety


def _info(name: str) -> plugins.PluginInfo:
    return next(p for p in plugins.installed() if p.name == name)


def _both(message) -> tuple[str, str]:
    return message.de, message.en


# ---- who may change the code (_safety.unsafe) ------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "de_who", "en_who"), [
    (0o666, "alle", "everyone"), (0o646, "alle", "everyone"), (0o664, "die Gruppe", "the group"),
    (0o620, "die Gruppe", "the group")])
def test_code_others_can_write_is_refused_with_the_mode_and_the_fix(home, mode, de_who, en_who):
    path = write_plugin(home, "acme_lob.py", LOB, mode=mode)
    info = _info("acme-lob")
    assert not info.loaded and info.checks == info.actions == info.tools == info.driver_sources == []
    assert info.version == "" and info.source == "file"
    assert _both(info.error) == (
        f"abgelehnt: {path} ist für {de_who} beschreibbar (Rechte {oct(mode)}); erlaubt: nur der Eigentümer darf "
        f"schreiben (chmod go-w {path})",
        f"refused: {path} is writable by {en_who} (mode {oct(mode)}); allowed: only the owner may write "
        f"(chmod go-w {path})")


def test_a_folder_others_can_write_is_refused_even_with_the_sticky_bit(home):
    path = write_plugin(home, "acme_lob.py", LOB)
    path.parent.chmod(0o1777)
    assert _info("acme-lob").error.en == (f"refused: {path.parent} is writable by everyone (mode 0o777); allowed: "
                                          f"only the owner may write (chmod go-w {path.parent})")


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o755, 0o700, 0o444])
def test_code_only_its_owner_can_write_is_allowed(tmp_path, mode):
    path = tmp_path / "code.py"
    path.write_text("X = 1\n")
    path.chmod(mode)
    assert _safety.unsafe([path]) is None


def _needs_root() -> None:
    """chown to another account needs root: skipped elsewhere, but in CI (CI=true, run as root) it must run."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("chown needs root: CI must run as root so this test runs")
        pytest.skip("chown needs root")


def test_a_file_of_another_user_is_refused_and_roots_files_are_allowed_for_everyone(tmp_path):
    _needs_root()
    path = tmp_path / "code.py"
    path.write_text("X = 1\n")
    path.chmod(0o644)
    assert _safety.unsafe([path], uid=4242) is None                      # root's file: allowed for any account
    os.chown(path, 4242, 4242)
    assert _safety.unsafe([path], uid=4242) is None                      # the account's own file
    assert _both(_safety.unsafe([path])) == (
        f"{path} gehört einem anderen Benutzer (uid 4242); erlaubt sind nur eigene Dateien oder die von root",
        f"{path} is owned by another user (uid 4242); only your own files or root's are allowed")
    assert _safety.unsafe([path], uid=4243).en.startswith(f"{path} is owned by another user (uid 4242)")


def test_every_path_is_checked_once_and_the_first_problem_is_said(tmp_path):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("")
    bad.write_text("")
    good.chmod(0o644)
    bad.chmod(0o666)
    link = tmp_path / "link.py"
    link.symlink_to(good)
    assert _safety.unsafe([good, link, good, bad]).en.startswith(f"{bad} is writable by everyone")
    worse = tmp_path / "worse.py"
    worse.write_text("")
    worse.chmod(0o664)
    assert _safety.unsafe([worse, bad]).en.startswith(f"{worse} is writable by the group")


def test_a_plugin_link_to_nothing_is_refused_as_not_readable(home, tmp_path):
    (home / "plugins").mkdir()
    (home / "plugins").chmod(0o755)
    target = tmp_path / "gone.py"
    (home / "plugins" / "acme_lob.py").symlink_to(target)
    assert _both(_info("acme-lob").error) == (f"abgelehnt: {target} nicht lesbar (No such file or directory)",
                                              f"refused: {target} not readable (No such file or directory)")


def test_outside_posix_the_mode_bits_are_not_checked(tmp_path, monkeypatch):
    path = tmp_path / "code.py"
    path.write_text("")
    path.chmod(0o666)
    monkeypatch.setattr(os, "name", "nt")
    problem = _safety.unsafe([path])
    monkeypatch.undo()
    assert problem is None and _safety.unsafe([path]) is not None


# ---- the content hash and the files of a package ------------------------------------------------------------------

def _expected_hash(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(f.relative_to(root).as_posix() for f in files):
        digest.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return digest.hexdigest()


def _site(tmp_path: Path, monkeypatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    site.chmod(0o755)
    monkeypatch.syspath_prepend(str(site))
    return site


def _dist(site: Path, dist: str, version: str, entry: str, *, group: str = "techcare.plugins",
          meta: str = "Summary: test plugin\nAuthor: Test Shop\n") -> None:
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{meta}")
    (info / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")


PKG_INIT = LOB.replace('PLUGIN = {"name": "acme-lob", "version": "1.2.0", "author": "ACME IT", "description": {"de": '
                       '"Buchhaltung", "en": "Accounting"}}', "PLUGIN = {}")
assert PKG_INIT != LOB


def _package(site: Path) -> Path:
    pkg = site / "acme_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "__init__.py").write_text(PKG_INIT)
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "helpers.py").write_text("HELP = 1\n")
    (pkg / "__pycache__" / "stale.py").write_text("# not code of the package\n")
    (pkg / "notes.txt").write_text("not code\n")
    for folder in (pkg, pkg / "sub", pkg / "__pycache__"):
        folder.chmod(0o755)
    for file in pkg.rglob("*.*"):
        file.chmod(0o644)
    return pkg


def test_an_installed_package_is_hashed_over_its_py_files_and_their_paths(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    pkg = _package(site)
    _dist(site, "Acme.Pkg_Tools", "3.1", "acme_pkg = acme_pkg")
    monkeypatch.delitem(sys.modules, "acme_pkg", raising=False)
    files = [pkg / "__init__.py", pkg / "sub" / "__init__.py", pkg / "sub" / "helpers.py"]
    assert _safety.package_files(pkg / "__init__.py") == sorted(files)
    assert _safety.package_files(pkg / "sub" / "helpers.py") == [pkg / "sub" / "helpers.py"]
    info = _info("acme-pkg-tools")                                   # the package's name, lowercase, - for . and _
    assert info.loaded and info.version == "3.1" and info.source == "entry point"
    assert info.sha256 == _expected_hash(site, files) == _safety.tree_sha256(files, site)
    assert (info.author, _both(info.description)) == ("Test Shop", ("test plugin", "test plugin"))


@pytest.mark.parametrize("weak", ["sub/helpers.py", "sub"])
def test_a_package_with_a_module_or_folder_others_can_write_is_refused(home, tmp_path, monkeypatch, weak):
    site = _site(tmp_path, monkeypatch)
    pkg = _package(site)
    _dist(site, "acme-pkg", "1.0", "acme_pkg = acme_pkg.sub")
    monkeypatch.delitem(sys.modules, "acme_pkg", raising=False)
    (pkg / weak).chmod(0o777 if weak == "sub" else 0o666)
    info = _info("acme-pkg")
    assert info.loaded is False and info.version == "" and info.legacy is False
    assert info.error.en.startswith(f"refused: {pkg / weak} is writable by everyone")
    assert info.error.de.startswith(f"abgelehnt: {pkg / weak} ist für alle beschreibbar")
    assert "acme_pkg" not in sys.modules                              # refused before any of its code ran


def test_a_namespace_package_is_checked_and_hashed_by_its_folder(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    folder = site / "acme_ns"
    folder.mkdir()
    folder.chmod(0o755)
    (folder / "plugin.py").write_text(PKG_INIT)
    (folder / "plugin.py").chmod(0o644)
    (folder / "__pycache__").mkdir(mode=0o755)
    (folder / "__pycache__" / "stale.py").write_text("# not code of the package\n")
    _dist(site, "acme-ns", "2.0", "acme_ns_plugin = acme_ns.plugin")
    for name in ("acme_ns", "acme_ns.plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    info = _info("acme-ns")
    assert info.loaded and info.sha256 == _expected_hash(site, [folder / "plugin.py"])
    (folder / "plugin.py").chmod(0o646)
    for name in ("acme_ns", "acme_ns.plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    plugins.reload()
    assert _info("acme-ns").error.en.startswith(f"refused: {folder / 'plugin.py'} is writable by everyone")


def test_a_single_module_is_hashed_with_its_file_name(home, dist_path):
    module = dist_path("acme_ep", PKG_INIT.replace("PLUGIN = {", 'PLUGIN = {"name": "acme-ep", '), "2.0.0")
    assert _info("acme-ep").sha256 == _expected_hash(module.parent, [module])


# ---- loading a file plugin ----------------------------------------------------------------------------------------------

def test_a_file_plugin_without_a_declared_name_is_named_after_its_file(home):
    path = write_plugin(home, "Acme_Tools.py", "PLUGIN = {}\nACTIONS = []\n")
    try:
        info = _info("acme-tools")
        assert info.loaded and (info.version, info.author, _both(info.description)) == ("0", "", ("", ""))
        module = sys.modules["techcare_plugin_Acme_Tools"]
        assert module.__file__ == str(path) and module.__name__ == "techcare_plugin_Acme_Tools"
    finally:
        sys.modules.pop("techcare_plugin_Acme_Tools", None)


def test_a_plugin_that_fails_at_import_leaves_no_module_behind_and_adds_nothing(home):
    write_plugin(home, "acme_half.py", LOB + "\nraise OSError('half way')\n")
    info = _info("acme-half")
    assert not info.loaded and info.error.en == info.error.de == "OSError: half way"
    assert "techcare_plugin_acme_half" not in sys.modules


def test_a_hook_that_raises_after_registering_leaves_nothing_registered(home):
    write_plugin(home, "acme_lob.py", LOB.replace("    register(RestartLob)\n",
                                                  "    register(RestartLob)\n    raise KeyError('late')\n"))
    info = _info("acme-lob")
    assert not info.loaded and info.error.en == "KeyError: 'late'"
    assert info.checks == info.actions == info.driver_sources == info.tools == []
    assert _manager.action_plugin("acme.restart_lob") is None and _manager.checks() == []


def test_a_plugin_path_that_is_a_folder_is_listed_with_the_error(home):
    (home / "plugins" / "acme_dir.py").mkdir(parents=True)
    (home / "plugins").chmod(0o755)
    (home / "plugins" / "acme_dir.py").chmod(0o755)
    path = home / "plugins" / "acme_dir.py"
    assert _info("acme-dir").error.en == f"IsADirectoryError: [Errno 21] Is a directory: '{path}'"


def test_ctrl_c_while_a_plugin_is_imported_stops_techcare_as_usual(home, dist_path):
    write_plugin(home, "acme_slow.py", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        plugins.installed()
    (home / "plugins" / "acme_slow.py").unlink()
    dist_path("acme_ki", "raise KeyboardInterrupt\n", "1.0")
    plugins.reload()
    with pytest.raises(KeyboardInterrupt):
        plugins.installed()


# ---- what a plugin declares (_declared) ----------------------------------------------------------------------------

DECLARED = {
    "notdict": ("PLUGIN = ['x']\n", "PLUGIN muss ein dict sein (name, version, author, description, api)",
                "PLUGIN must be a dict (name, version, author, description, api)"),
    "unknown": ("PLUGIN = {'name': 'unknown', 'license': 'MIT', 'homepage': 'x'}\n",
                "PLUGIN: unbekannte Felder homepage, license (erlaubt: name, version, author, description, api)",
                "PLUGIN: unknown fields homepage, license (allowed: name, version, author, description, api)"),
    "badname": ("PLUGIN = {'name': 5}\n",
                "Name 5 ungültig: erlaubt sind Kleinbuchstaben, Ziffern, - und _ (1–64 Zeichen, am Anfang ein "
                "Buchstabe); ohne PLUGIN-Namen gilt der Datei- bzw. Paketname",
                "name 5 is not valid: allowed are lowercase letters, digits, - and _ (1-64 characters, starting with "
                "a letter); without a PLUGIN name the file or package name is used"),
    "longname": ("PLUGIN = {'name': 'a' * 65}\n", None, None),
    "verint": ("PLUGIN = {'version': 1}\n", 'version muss Text sein (z.B. "1.0.0")', 'version must be text (e.g. "1.0.0")'),
    "verblank": ("PLUGIN = {'version': ' \\t'}\n", 'version muss Text sein (z.B. "1.0.0")',
                 'version must be text (e.g. "1.0.0")'),
    "verlong": ("PLUGIN = {'version': '1' * 65}\n", 'version muss Text sein (z.B. "1.0.0")',
                'version must be text (e.g. "1.0.0")'),
    "api2": ("PLUGIN = {'api': 2}\n", "für die Plugin-Schnittstelle 2 geschrieben; dieses TechCare hat Version 1",
             "written for plugin API 2; this TechCare has API 1"),
}


def test_what_a_plugin_declares_is_checked_and_each_refusal_said_in_both_languages(home):
    for name, (text, _, _) in DECLARED.items():
        write_plugin(home, f"{name}.py", text + "ACTIONS = []\n")
    for name, (_, de, en) in DECLARED.items():
        info = next(p for p in plugins.installed() if p.where.endswith(f"/{name}.py"))
        assert not info.loaded, name
        if de is not None:
            assert _both(info.error) == (de, en), name
    assert _info("longname").error.en.startswith("name 'aaaa")


def test_the_longest_allowed_version_and_name_and_api_1_load(home):
    write_plugin(home, "edge.py", f"PLUGIN = {{'name': 'e' * 64, 'version': '1' * 64, 'api': 1}}\nACTIONS = []\n")
    info = _info("e" * 64)
    assert info.loaded and info.version == "1" * 64


@pytest.mark.parametrize(("declared", "author", "de", "en"), [
    ("'author': 'A' * 300, 'description': {'en': 'Only English'}", "A" * 200, "Only English", "Only English"),
    ("'author': 42, 'description': {'de': 'Nur Deutsch'}", "42", "Nur Deutsch", "Nur Deutsch"),
    ("'description': {'de': 'Buchhaltung', 'en': 'Accounting'}", "", "Buchhaltung", "Accounting"),
    ("'description': 7", "", "7", "7"),
])
def test_author_and_description_are_kept_as_declared(home, declared, author, de, en):
    write_plugin(home, "acme_lob.py", f"PLUGIN = {{'name': 'acme-lob', {declared}}}\nACTIONS = []\n")
    info = _info("acme-lob")
    assert info.loaded and info.author == author and _both(info.description) == (de, en)


def test_a_package_plugin_says_a_version_mismatch_exactly_and_takes_the_author_email(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    for name, version, meta in (("acme_a", "1.3.0", "Author-email: shop@example.org\n"),
                                ("acme_b", "2.0", "Author-email: shop@example.org\n")):
        (site / f"{name}.py").write_text(LOB.replace('"name": "acme-lob"', f'"name": "{name.replace("_", "-")}"')
                                         .replace(', "author": "ACME IT", "description": {"de": "Buchhaltung", '
                                                  '"en": "Accounting"}', ""))
        (site / f"{name}.py").chmod(0o644)
        _dist(site, name.replace("_", "-"), version, f"{name} = {name}", meta=meta)
        monkeypatch.delitem(sys.modules, name, raising=False)
    (site / "acme_b.py").write_text((site / "acme_b.py").read_text().replace(', "version": "1.2.0"', ""))
    assert _both(_info("acme-a").error) == (
        "Versionskonflikt: das Plugin erklärt 1.2.0, installiert ist Paket acme-a 1.3.0; beides muss gleich sein",
        "version mismatch: the plugin declares 1.2.0, the installed package acme-a is 1.3.0; both must be equal")
    info = _info("acme-b")
    assert info.loaded and info.version == "2.0" and info.author == "shop@example.org"
    assert _both(info.description) == ("", "")


def test_an_old_style_entry_point_without_a_package_is_version_0_named_after_the_entry_point(
        home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    (site / "acme_old_mod.py").write_text(LOB)
    (site / "acme_old_mod.py").chmod(0o644)
    monkeypatch.delitem(sys.modules, "acme_old_mod", raising=False)
    eps = [metadata.EntryPoint("Acme.Old_Repairs", "acme_old_mod:RestartLob", "techcare.repairs"),
           metadata.EntryPoint("acme_missing_attr", "acme_old_mod:nothing", "techcare.repairs")]
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda **kw: eps if kw.get("group") == "techcare.repairs" else real(**kw))
    info = _info("acme-old-repairs")
    assert info.loaded and info.legacy and info.version == "0" and [a.id for a in info.actions] == ["acme.restart_lob"]
    assert info.where == "entry point Acme.Old_Repairs (acme_old_mod:RestartLob)"
    missing = _info("acme-missing-attr")
    assert missing.error.en == "AttributeError: module 'acme_old_mod' has no attribute 'nothing'"
    assert missing.legacy is True and missing.loaded is False and missing.version == ""


# ---- hooks and what a plugin registers --------------------------------------------------------------------------------

def test_hooks_that_do_not_exist_or_do_not_fit_are_said_exactly(home):
    write_plugin(home, "acme_hooks.py", "from techcare.plugins import hookimpl\n@hookimpl\ndef techcare_check(register):"
                 "\n    pass\n@hookimpl\ndef techcare_tools(register):\n    pass\n")
    write_plugin(home, "acme_args.py", "from techcare.plugins import hookimpl\n@hookimpl\n"
                 "def techcare_checks(register, extra):\n    pass\n")
    assert _both(_info("acme-hooks").error) == (
        "unbekannter Hook techcare_check, techcare_tools; bekannt sind techcare_checks, techcare_actions, "
        "techcare_driver_sources, techcare_assistant_tools",
        "unknown hook techcare_check, techcare_tools; known hooks are techcare_checks, techcare_actions, "
        "techcare_driver_sources, techcare_assistant_tools")
    error = _info("acme-args").error
    assert error.de.startswith("Hook passt nicht zur Spezifikation: Plugin 'acme-args@")
    assert error.en.startswith("a hook does not fit the specification: Plugin 'acme-args@")
    assert error.en.endswith("extra") or "extra" in error.en


REGISTERS = '''
from techcare.plugins import AssistantTool, DiagnosisCheck, DriverSource, hookimpl
PLUGIN = {"name": "acme-reg", "version": "1.0"}


def run(*args):
    return None


@hookimpl
def techcare_checks(register):
    register("not a check")
    register(DiagnosisCheck("acme.ok", run=run, title_de="T", title_en="T"))
    register(DiagnosisCheck("Acme.X", run=run, title_de="T", title_en="T"))
    register(DiagnosisCheck("win.x", run=None, title_de="T", title_en="T", platforms=()))
    register(DiagnosisCheck("windows.a.b", run=run, title_de="T", title_en="T"))
    register(DiagnosisCheck("acme.y", run=run, title_de="T", title_en=" ", platforms=("linux", "beos")))
    register(DiagnosisCheck("acme.z", run=run, title_de="", title_en="T", platforms=("linux",)))


@hookimpl
def techcare_driver_sources(register):
    register(5)
    register(DriverSource("fwupd", offers=None, platforms=("beos",)))
    register(DriverSource("drivers.x", offers=run, platforms=()))
    register(DriverSource("acme.src", offers=run))


@hookimpl
def techcare_assistant_tools(register):
    register(3.5)
    register(AssistantTool("kb", "", None, input_schema={"type": "array"}, triggers="word"))
    register(AssistantTool("linux-kb", "d", run, input_schema=[], triggers=("a", " ")))
    register(AssistantTool("win-a-b", "d", run))
    register(AssistantTool("acme-kb", "d", run, triggers=["Lexware"]))
'''

PLATFORMS_DE, PLATFORMS_EN = ("platforms muss eine Auswahl aus windows, linux, darwin sein",
                              "platforms must be a selection of windows, linux, darwin")
REFUSED = [
    ("'str' abgelehnt: keine DiagnosisCheck, sondern str", "'str' refused: not a DiagnosisCheck but str"),
    ("'Acme.X' abgelehnt: id 'Acme.X' muss wie 'anbieter.name' aussehen (Kleinbuchstaben, Ziffern, _)",
     "'Acme.X' refused: id 'Acme.X' must look like 'vendor.name' (lowercase letters, digits, _)"),
    ("'win.x' abgelehnt: win.x: der Namensraum win gehört TechCare selbst; ein Plugin nimmt seinen eigenen (z.B. "
     f"acme.x); run muss eine Funktion run(runner) sein; {PLATFORMS_DE}",
     "'win.x' refused: win.x: the namespace win belongs to TechCare itself; a plugin uses its own (e.g. acme.x); "
     f"run must be a function run(runner); {PLATFORMS_EN}"),
    ("'windows.a.b' abgelehnt: windows.a.b: der Namensraum windows gehört TechCare selbst; ein Plugin nimmt seinen "
     "eigenen (z.B. acme.a.b)",
     "'windows.a.b' refused: windows.a.b: the namespace windows belongs to TechCare itself; a plugin uses its own "
     "(e.g. acme.a.b)"),
    (f"'acme.y' abgelehnt: {PLATFORMS_DE}; title_de und title_en fehlen",
     f"'acme.y' refused: {PLATFORMS_EN}; title_de and title_en are missing"),
    ("'acme.z' abgelehnt: title_de und title_en fehlen", "'acme.z' refused: title_de and title_en are missing"),
    ("'int' abgelehnt: keine DriverSource, sondern int", "'int' refused: not a DriverSource but int"),
    ("'fwupd' abgelehnt: name 'fwupd' muss wie 'anbieter.name' aussehen; offers muss eine Funktion offers(runner) "
     f"sein; {PLATFORMS_DE}",
     f"'fwupd' refused: name 'fwupd' must look like 'vendor.name'; offers must be a function offers(runner); "
     f"{PLATFORMS_EN}"),
    ("'drivers.x' abgelehnt: drivers.x: der Namensraum drivers gehört TechCare selbst; ein Plugin nimmt seinen "
     f"eigenen (z.B. acme.x); {PLATFORMS_DE}",
     "'drivers.x' refused: drivers.x: the namespace drivers belongs to TechCare itself; a plugin uses its own "
     f"(e.g. acme.x); {PLATFORMS_EN}"),
    ("'float' abgelehnt: kein AssistantTool, sondern float", "'float' refused: not an AssistantTool but float"),
    ("'win-a-b' abgelehnt: win-a-b: der Namensraum win gehört TechCare selbst; ein Plugin nimmt seinen eigenen (z.B. "
     "acme.win-a-b)", "'win-a-b' refused: win-a-b: the namespace win belongs to TechCare itself; a plugin uses its "
     "own (e.g. acme.win-a-b)"),
    ("'kb' abgelehnt: name 'kb' muss wie 'anbieter-name' aussehen (Kleinbuchstaben, Ziffern, _ und -; ein - trennt den "
     "Namensraum); run muss eine Funktion run(arguments, context) sein; description fehlt (das Modell liest sie); "
     "input_schema muss ein JSON-Schema mit type object sein; triggers muss eine Liste von Wörtern sein",
     "'kb' refused: name 'kb' must look like 'vendor-name' (lowercase letters, digits, _ and -; a - separates the "
     "namespace); run must be a function run(arguments, context); description is missing (the model reads it); "
     "input_schema must be a JSON schema of type object; triggers must be a list of words"),
    ("'linux-kb' abgelehnt: linux-kb: der Namensraum linux gehört TechCare selbst; ein Plugin nimmt seinen eigenen "
     "(z.B. acme.linux-kb); input_schema muss ein JSON-Schema mit type object sein; triggers muss eine Liste von "
     "Wörtern sein",
     "'linux-kb' refused: linux-kb: the namespace linux belongs to TechCare itself; a plugin uses its own (e.g. "
     "acme.linux-kb); input_schema must be a JSON schema of type object; triggers must be a list of words"),
]


def test_every_refused_item_is_said_exactly_and_the_rest_of_the_plugin_loads(home):
    write_plugin(home, "acme_reg.py", REGISTERS)
    info = _info("acme-reg")
    assert info.loaded and info.error is None
    assert [c.id for c in info.checks] == ["acme.ok"] and [s.name for s in info.driver_sources] == ["acme.src"]
    assert [t.name for t in info.tools] == ["acme-kb"] and info.actions == []
    assert sorted(_both(p) for p in info.problems) == sorted(REFUSED)


SECOND = (LOB.replace('"name": "acme-lob"', '"name": "acme-copy"') + "\n\nclass Extra(RestartLob):\n"
          '    id = "acme.extra"\n').replace("    register(RestartLob)\n", "    register(RestartLob)\n    register(Extra)\n")


def test_a_name_or_item_a_loaded_plugin_has_is_refused_for_the_later_one_of_every_kind(home):
    write_plugin(home, "a_broken.py", "def broken(:\n")                 # not loaded: it takes no name or id
    write_plugin(home, "b_lob.py", LOB)
    write_plugin(home, "c_lob.py", LOB)                                  # refused by name; the next is still checked
    write_plugin(home, "d_copy.py", SECOND)
    copy = _info("acme-copy")
    assert copy.loaded and [a.id for a in copy.actions] == ["acme.extra"]
    assert copy.checks == copy.driver_sources == copy.tools == []
    assert sorted(_both(p) for p in copy.problems) == sorted([
        (f"{i} gibt es schon (Plugin acme-lob)", f"{i} already exists (plugin acme-lob)")
        for i in ("acme.lob_service", "acme.restart_lob", "acme.printer_portal", "acme-kb")])
    later = next(p for p in plugins.installed() if p.where.endswith("c_lob.py"))
    assert not later.loaded and later.checks == later.actions == []
    assert _both(later.error) == (
        f"ein Plugin namens acme-lob ist schon geladen ({home / 'plugins' / 'b_lob.py'}); Namen sind eindeutig",
        f"a plugin named acme-lob is already loaded ({home / 'plugins' / 'b_lob.py'}); names are unique")
    assert _info("acme-lob").loaded and len(_info("acme-lob").actions) == 1


def test_an_item_taken_back_by_the_catalogue_is_logged_and_listed(home, caplog):
    from techcare import repairs

    write_plugin(home, "acme_lob.py", LOB.replace('id = "acme.restart_lob"', 'id = "linux.restart_unit"'))
    with caplog.at_level(logging.INFO, logger="techcare.plugins"):
        repairs.actions()
    (problem,) = _info("acme-lob").problems
    assert _info("acme-lob").actions == [] and _manager.action_plugin("linux.restart_unit") is None
    assert f"plugin acme-lob: {problem.en}" in [r.getMessage() for r in caplog.records]


# ---- whose findings a check may give (_checked) ------------------------------------------------------------------------

CHECKS = '''
from techcare.diagnosis import Finding
from techcare.plugins import DiagnosisCheck, hookimpl
PLUGIN = {"name": "acme-chk", "version": "1.0"}

def sub(runner):
    return [Finding("acme.sub:disk1", "services", "ok", "a", "a"), Finding("acme.sub", "services", "ok", "b", "b",
                                                                              probe="own")]

def prefix(runner):
    return Finding("acme.prefix", "services", "ok", "x", "x")

def empty(runner):
    return []

def as_tuple(runner):
    return (Finding("acme.tup", "services", "critical", "t", "t"),)

def mixed(runner):
    return [Finding("acme.mix", "services", "ok", "m", "m"), "oops"]

@hookimpl
def techcare_checks(register):
    for ident, run in (("acme.sub", sub), ("acme.pre", prefix), ("acme.empty", empty), ("acme.tup", as_tuple),
                       ("acme.mix", mixed)):
        register(DiagnosisCheck(ident, run=run, title_de="T", title_en="T"))
'''


def test_a_check_gives_only_findings_of_its_own_id_and_nothing_else_passes(home):
    from techcare.diagnosis import Finding
    from techcare.system.runner import ReplayRunner

    write_plugin(home, "acme_chk.py", CHECKS)
    found = _manager.findings(ReplayRunner([], platform="linux"), "linux", Finding)
    assert [(f.check, f.severity, f.probe) for f in found] == [
        ("acme.sub:disk1", "ok", "plugin:acme-chk"), ("acme.sub", "ok", "own"), ("acme.pre", "unknown", "plugin:acme-chk"),
        ("acme.empty", "unknown", "plugin:acme-chk"), ("acme.tup", "critical", "plugin:acme-chk"),
        ("acme.mix", "unknown", "plugin:acme-chk")]
    said = {f.check: (f.summary("de"), f.summary("en")) for f in found if f.severity == "unknown"}
    assert said == {
        "acme.pre": ("Unbekannt: Prüfung acme.pre von Plugin acme-chk lieferte kein Ergebnis (Befund acme.prefix gehört "
                     "nicht zur Prüfung (erlaubt: acme.pre oder acme.pre:…)).",
                     "Unknown: check acme.pre of plugin acme-chk gave no result (finding acme.prefix does not belong to "
                     "the check (allowed: acme.pre or acme.pre:…))."),
        "acme.empty": ("Unbekannt: Prüfung acme.empty von Plugin acme-chk lieferte kein Ergebnis (keine Befunde).",
                       "Unknown: check acme.empty of plugin acme-chk gave no result (no findings)."),
        "acme.mix": ("Unbekannt: Prüfung acme.mix von Plugin acme-chk lieferte kein Ergebnis (gab str statt Finding "
                     "zurück).", "Unknown: check acme.mix of plugin acme-chk gave no result (returned str instead of a "
                     "Finding)."),
    }


# ---- remote jobs: what a signed job must name ----------------------------------------------------------------------------

ACME_TWO_ACTIONS = LOB.replace("    register(RestartLob)\n", "    register(RestartLob)\n    register(Stop)\n") + \
    '\n\nclass Stop(RestartLob):\n    id = "acme.a_stop"\n'


@pytest.fixture
def two_plugins(home):
    write_plugin(home, "acme_lob.py", ACME_TWO_ACTIONS)
    write_plugin(home, "beta.py", LOB.replace('"name": "acme-lob"', '"name": "beta"').replace("acme.", "beta.")
                 .replace('"acme-kb"', '"beta-kb"'))
    write_plugin(home, "broken.py", "PLUGIN = {'name': 'broken', 'version': '1'}\ndef broken(:\n")
    return _info("acme-lob"), _info("beta")


def test_the_identities_a_job_names_are_per_plugin_sorted_and_without_built_ins(two_plugins):
    acme, beta = two_plugins
    assert _manager.action_plugin("acme.a_stop") is acme and _manager.action_plugin("linux.apt_clean") is None
    assert _manager.identities(["beta.restart_lob", "acme.restart_lob", "linux.apt_clean", "acme.a_stop",
                                "acme.restart_lob", "nobody.x"]) == [
        {"name": "acme-lob", "version": "1.2.0", "sha256": acme.sha256, "actions": ["acme.a_stop", "acme.restart_lob"]},
        {"name": "beta", "version": "1.2.0", "sha256": beta.sha256, "actions": ["beta.restart_lob"]}]
    assert _manager.identities(["linux.apt_clean"]) == []


MALFORMED = ("plugins muss eine Liste von {name, version, sha256, actions} sein.",
             "plugins must be a list of {name, version, sha256, actions}.")


def _named(info, **change):
    return {**{"name": info.name, "version": info.version, "sha256": info.sha256, "actions": ["acme.restart_lob"]},
            **change}


def test_a_signed_plugin_list_of_the_wrong_shape_is_malformed(two_plugins):
    acme, _ = two_plugins
    bad = ["x", {"name": "acme-lob"}, [1], [{"name": "acme-lob"}], [{**_named(acme), "extra": 1}],
           [_named(acme, name=1)], [_named(acme, version=1.2)], [_named(acme, sha256=None)],
           [_named(acme, actions="acme.restart_lob")], [_named(acme, actions=[1])]]
    for named in bad:
        reason, message = _manager.remote_problem(named, ["acme.restart_lob"])
        assert (reason, _both(message)) == ("malformed", MALFORMED), named
    assert _manager.remote_problem([_named(acme)], ["acme.restart_lob"]) is None
    assert _manager.remote_problem(None, ["linux.apt_clean"]) is None
    assert _manager.remote_problem([], ["linux.apt_clean"]) is None


def test_each_reason_a_host_refuses_a_plugin_job_is_said_exactly(two_plugins):
    acme, beta = two_plugins
    broken = _info("broken")
    cases = [
        ([_named(acme, name="zeta", version="2.0")], ["acme.restart_lob"], "plugin_missing",
         "Der Auftrag braucht Plugin zeta 2.0; es ist auf diesem Rechner nicht installiert.",
         "The job needs plugin zeta 2.0; it is not installed on this host."),
        ([_named(acme, name="broken", version="1")], ["acme.restart_lob"], "plugin_missing",
         f"Der Auftrag braucht Plugin broken 1; es ist auf diesem Rechner nicht installiert (hier nicht geladen: "
         f"{broken.error.de}).",
         f"The job needs plugin broken 1; it is not installed on this host (not loaded here: {broken.error.en})."),
        ([_named(acme, version="1.3.0")], ["acme.restart_lob"], "plugin_mismatch",
         "Der Auftrag nennt Plugin acme-lob 1.3.0, hier ist Version 1.2.0 installiert.",
         "The job names plugin acme-lob 1.3.0, this host has version 1.2.0."),
        ([_named(acme, sha256="ab" * 32)], ["acme.restart_lob"], "plugin_mismatch",
         f"Plugin acme-lob 1.2.0 hat hier einen anderen Inhalt (SHA-256 {acme.sha256[:12]}…, signiert abababababab…).",
         f"Plugin acme-lob 1.2.0 has other content here (SHA-256 {acme.sha256[:12]}…, signed abababababab…)."),
        ([_named(acme, actions=["acme.restart_lob", "acme.other", "acme.again"])], ["acme.restart_lob"],
         "plugin_mismatch", "Plugin acme-lob hat hier die Aktion acme.again, acme.other nicht.",
         "Plugin acme-lob has no action acme.again, acme.other here."),
        ([_named(acme, actions=[]), _named(beta, actions=["acme.restart_lob"])], ["acme.restart_lob"],
         "plugin_mismatch", None, None),
        ([_named(acme, actions=["acme.a_stop"])], ["acme.a_stop", "acme.restart_lob"], "plugin_mismatch",
         "Aktion acme.restart_lob kommt hier von Plugin acme-lob 1.2.0, das der signierte Auftrag nicht nennt.",
         "Action acme.restart_lob comes from plugin acme-lob 1.2.0 here, which the signed job does not name."),
        (None, ["linux.apt_clean", "beta.restart_lob"], "plugin_mismatch",
         "Aktion beta.restart_lob kommt hier von Plugin beta 1.2.0, das der signierte Auftrag nicht nennt.",
         "Action beta.restart_lob comes from plugin beta 1.2.0 here, which the signed job does not name."),
    ]
    for named, actions, reason, de, en in cases:
        got = _manager.remote_problem(named, actions)
        assert got is not None and got[0] == reason, (named, got)
        if de is not None:
            assert _both(got[1]) == (de, en), named
    assert _manager.remote_problem([_named(acme, actions=["acme.a_stop", "acme.restart_lob"]), _named(
        beta, actions=["beta.restart_lob"])], ["acme.restart_lob", "beta.restart_lob", "linux.apt_clean"]) is None


# ---- code whose owner cannot be checked ------------------------------------------------------------------------------

def test_a_namespace_package_spread_over_two_folders_is_refused_not_half_checked(home, tmp_path, monkeypatch):
    """Only the first folder was checked: an empty ``acme_split`` folder earlier on the path let a module others
    can write, in a second folder, load unchecked."""
    first, second = tmp_path / "first", _site(tmp_path, monkeypatch)
    for folder in (first / "acme_split", second / "acme_split"):
        folder.mkdir(parents=True)
        folder.chmod(0o755)
    first.chmod(0o755)
    (second / "acme_split" / "plugin.py").write_text(PKG_INIT)
    (second / "acme_split" / "plugin.py").chmod(0o666)                  # anybody may change it
    _dist(second, "acme-split", "1.0", "acme_split_plugin = acme_split.plugin")
    monkeypatch.syspath_prepend(str(first))
    for name in ("acme_split", "acme_split.plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    info = _info("acme-split")
    assert not info.loaded and info.checks == []
    assert _both(info.error) == (
        "abgelehnt: der Code von acme_split liegt nicht als Dateien in einem Ordner (ein ZIP-Archiv oder auf mehrere "
        "Ordner verteilt); wer ihn ändern kann, lässt sich nicht prüfen",
        "refused: the code of acme_split is not files in one folder (a zip archive, or spread over several "
        "folders); who can change it cannot be checked")
    assert "acme_split.plugin" not in sys.modules


def test_plugin_code_in_a_zip_archive_is_refused_not_loaded_unchecked(home, tmp_path, monkeypatch):
    import zipfile

    site = _site(tmp_path, monkeypatch)
    archive = tmp_path / "code.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("acme_zip.py", PKG_INIT)
    archive.chmod(0o666)
    monkeypatch.syspath_prepend(str(archive))
    _dist(site, "acme-zip", "1.0", "acme_zip = acme_zip")
    monkeypatch.delitem(sys.modules, "acme_zip", raising=False)
    info = _info("acme-zip")
    assert not info.loaded and info.error.en.startswith("refused: the code of acme_zip is not files in one folder")
    assert "acme_zip" not in sys.modules


# ---- more of loading, as the survivors asked --------------------------------------------------------------------------

def test_the_hash_does_not_depend_on_the_order_the_files_are_given(tmp_path):
    files = [tmp_path / "pkg" / name for name in ("a.py", "b.py", "sub/c.py", "sub-extra/d.py")]
    for n, file in enumerate(files):
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(f"N = {n}\n")                        # sorted by path text: sub-extra/ before sub/
    assert _safety.tree_sha256(list(reversed(files)), tmp_path) == _expected_hash(tmp_path, files) == \
        _safety.tree_sha256(files, tmp_path)


def test_a_package_file_that_cannot_be_read_refuses_the_plugin(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    pkg = _package(site)
    (pkg / "data.py").mkdir()
    (pkg / "data.py").chmod(0o755)
    _dist(site, "acme-pkg", "1.0", "acme_pkg = acme_pkg")
    monkeypatch.delitem(sys.modules, "acme_pkg", raising=False)
    info = _info("acme-pkg")
    assert not info.loaded and info.error.en == f"IsADirectoryError: [Errno 21] Is a directory: '{pkg / 'data.py'}'"
    assert "acme_pkg" not in sys.modules


def test_a_package_without_author_and_with_a_description_in_another_language(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    (site / "acme_c.py").write_text(PKG_INIT.replace("PLUGIN = {}", "PLUGIN = {'description': {'fr': 'Compta'}}"))
    (site / "acme_c.py").chmod(0o644)
    _dist(site, "acme-c", "1.0", "acme_c = acme_c", meta="Summary: ignored when declared\n")
    (site / "acme_d.py").write_text(PKG_INIT)
    (site / "acme_d.py").chmod(0o644)
    _dist(site, "acme-d", "1.0", "acme_d = acme_d", meta="Summary: From the package\n")
    for name in ("acme_c", "acme_d"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    c, d = _info("acme-c"), _info("acme-d")
    assert c.loaded and c.legacy is False and (c.author, _both(c.description)) == ("", ("", ""))
    assert d.loaded and (d.author, _both(d.description)) == ("", ("From the package", "From the package"))


def test_a_syntax_error_names_the_plugin_file(home):
    text = "def broken(:\n"
    path = write_plugin(home, "acme_syntax.py", text)
    try:
        compile(text, str(path), "exec")
    except SyntaxError as exc:
        expected = f"SyntaxError: {exc}"
    assert _info("acme-syntax").error.en == expected and "acme_syntax.py" in expected


def test_one_module_behind_two_entry_points_with_a_bad_hook_is_refused_for_each(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    (site / "acme_sig.py").write_text("from techcare.plugins import hookimpl\n@hookimpl\n"
                                      "def techcare_checks(register, extra):\n    pass\n")
    (site / "acme_sig.py").chmod(0o644)
    _dist(site, "acme-sig", "1.0", "first = acme_sig\nsecond = acme_sig")
    monkeypatch.delitem(sys.modules, "acme_sig", raising=False)
    first, second = (p for p in plugins.installed() if p.name == "acme-sig")
    assert not first.loaded and first.error.en.startswith("a hook does not fit the specification: Plugin 'acme-sig@")
    assert not second.loaded and second.error.en.startswith("a hook does not fit the specification: Plugin 'acme-sig@")


def test_an_entry_point_into_a_built_in_or_frozen_module_is_refused_as_not_files(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    for name in ("built-in", "frozen"):             # files of those names here must not be taken for the module
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o644)
    _dist(site, "acme-std", "1.0", "a = sys\nb = zipimport")
    first, second = (p for p in plugins.installed() if p.name == "acme-std")
    assert first.error.en.startswith("refused: the code of sys is not files in one folder")
    assert second.error.en.startswith("refused: the code of zipimport is not files in one folder")


class _OldEntryPoint:
    """An entry point as an older importlib.metadata (Python 3.8) gives it: no ``module``, no ``dist``."""

    def __init__(self, name: str, value: str) -> None:
        self.name, self.value, self.group = name, value, "techcare.plugins"

    def load(self):
        import importlib

        return importlib.import_module(self.value.partition(":")[0])


def test_an_entry_point_without_a_module_attribute_is_checked_by_its_value(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    (site / "acme_oldep.py").write_text(PKG_INIT)
    (site / "acme_oldep.py").chmod(0o666)
    monkeypatch.delitem(sys.modules, "acme_oldep", raising=False)
    (site / "acme_oldep2.py").write_text(PKG_INIT.replace("PLUGIN = {}", "PLUGIN = {'name': 'acme-oldep2'}"))
    (site / "acme_oldep2.py").chmod(0o666)
    monkeypatch.delitem(sys.modules, "acme_oldep2", raising=False)
    eps = [_OldEntryPoint("acme_oldep", "acme_oldep:techcare_checks"), _OldEntryPoint("acme_oldep2", "acme_oldep2")]
    real = metadata.entry_points
    monkeypatch.setattr(metadata, "entry_points",
                        lambda **kw: eps if kw.get("group") == "techcare.plugins" else real(**kw))
    info = _info("acme-oldep")
    assert not info.loaded and info.error.en.startswith(f"refused: {site / 'acme_oldep.py'} is writable by everyone")
    info = _info("acme-oldep2")
    assert not info.loaded and info.error.en.startswith(f"refused: {site / 'acme_oldep2.py'} is writable by everyone")
    assert "acme_oldep" not in sys.modules and "acme_oldep2" not in sys.modules


def test_an_entry_point_with_extras_is_checked_by_its_module(home, tmp_path, monkeypatch):
    site = _site(tmp_path, monkeypatch)
    (site / "acme_ext.py").write_text(PKG_INIT)
    (site / "acme_ext.py").chmod(0o666)
    _dist(site, "acme-ext", "1.0", "acme_ext = acme_ext [fast]")
    monkeypatch.delitem(sys.modules, "acme_ext", raising=False)
    info = _info("acme-ext")
    assert not info.loaded and info.error.en.startswith(f"refused: {site / 'acme_ext.py'} is writable by everyone")
    assert "acme_ext" not in sys.modules


def test_a_plugin_that_removes_its_own_module_and_fails_breaks_nothing(home):
    write_plugin(home, "acme_gone.py", "import sys\ndel sys.modules[__name__]\nraise RuntimeError('gone')\n")
    write_plugin(home, "b_lob.py", LOB)
    assert _info("acme-gone").error.en == "RuntimeError: gone" and _info("acme-lob").loaded


def test_the_account_techcare_runs_as_is_the_default_owner(tmp_path, monkeypatch):
    _needs_root()
    path = tmp_path / "code.py"
    path.write_text("")
    path.chmod(0o644)
    os.chown(path, 4242, 4242)
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    assert _safety.unsafe([path]) is None
    monkeypatch.setattr(os, "geteuid", lambda: 4243)
    assert _safety.unsafe([path]).en.startswith(f"{path} is owned by another user (uid 4242)")
