"""Loading plugins: file and entry-point plugins, what they declare, and every way a plugin is refused while
TechCare keeps working (broken, shadowing, writable by others, owned by another user, version mismatch)."""

from __future__ import annotations

import hashlib
import os

import pytest
from plugin_texts import LOB, write_plugin

from techcare import plugins
from techcare.plugins import _manager


def _info(name: str) -> plugins.PluginInfo:
    return next(p for p in plugins.installed() if p.name == name)


def test_a_file_plugin_declares_itself_and_lists_what_it_adds(home):
    path = write_plugin(home, "acme_lob.py", LOB)
    row = plugins.frame("en").set_index("name").loc["acme-lob"]
    assert (row["version"], row["author"], row["description"], row["loaded"], row["error"]) == \
        ("1.2.0", "ACME IT", "Accounting", True, "")
    assert row["checks"] == ["acme.lob_service"] and row["actions"] == ["acme.restart_lob"]
    assert row["risks"] == {"acme.restart_lob": "medium"}
    assert row["driver_sources"] == ["acme.printer_portal"] and row["tools"] == ["acme-kb"]
    assert row["source"] == "file" and row["where"] == str(path)
    assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_module_is_callable_as_techcare_plugins(home):
    import techcare

    write_plugin(home, "acme_lob.py", LOB)
    frame = techcare.plugins()
    assert list(frame["name"]) == ["acme-lob"] and "plugins" in techcare.__all__


BROKEN = [
    ("syntax.py", "def broken(:\n", "SyntaxError"),
    ("raises.py", "raise RuntimeError('boom at import')\n", "boom at import"),
    ("exits.py", "import sys\nsys.exit(3)\n", "SystemExit"),
    ("empty.py", "X = 1\n", "neither ACTIONS nor actions()"),
    ("badhook.py", "from techcare.plugins import hookimpl\n@hookimpl\ndef techcare_check(register):\n    pass\n",
     "unknown hook techcare_check"),
    ("badargs.py", "from techcare.plugins import hookimpl\n@hookimpl\ndef techcare_checks(register, extra):\n    pass\n",
     "does not fit the specification"),
    ("hookraises.py", "from techcare.plugins import hookimpl\n@hookimpl\ndef techcare_checks(register):\n"
     "    raise ValueError('no config')\n", "ValueError: no config"),
    ("baddecl.py", "PLUGIN = {'name': 'Bad Name', 'version': '1'}\nACTIONS = []\n", "is not valid"),
    ("api2.py", "PLUGIN = {'name': 'future', 'version': '1', 'api': 2}\nACTIONS = []\n", "plugin API 2"),
]


@pytest.mark.parametrize(("name", "text", "error"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_plugin_is_listed_with_its_error_and_breaks_nothing(home, name, text, error):
    from techcare import repairs

    write_plugin(home, name, text)
    write_plugin(home, "zz_lob.py", LOB)
    frame = plugins.frame("en").set_index("where")
    row = frame.loc[str(home / "plugins" / name)]
    assert not row["loaded"] and error in row["error"], row["error"]
    assert frame.loc[str(home / "plugins" / "zz_lob.py"), "loaded"]  # the good plugin still loads
    assert "acme.restart_lob" in {a.id for a in repairs.actions("linux")}
    errors = repairs.plugin_errors()
    assert len(errors) == 1 and name in errors[0]["source"] and error in errors[0]["error"] and errors[0]["error_de"]


SHADOWS = [
    ("check", "DiagnosisCheck('linux.firewall', run=lambda r: None, title_de='x', title_en='x')", "techcare_checks",
     "namespace linux belongs to TechCare"),
    ("check id", "DiagnosisCheck('firewall', run=lambda r: None, title_de='x', title_en='x')", "techcare_checks",
     "must look like 'vendor.name'"),
    ("source", "DriverSource('fwupd', offers=lambda r: [])", "techcare_driver_sources", "must look like 'vendor.name'"),
    ("source namespace", "DriverSource('drivers.custom_db', offers=lambda r: [])", "techcare_driver_sources",
     "namespace drivers belongs to TechCare"),
    ("tool", "AssistantTool('run_diagnosis', 'x', lambda a, c: {})", "techcare_assistant_tools",
     "must look like 'vendor-name'"),
]


@pytest.mark.parametrize(("what", "item", "hook", "error"), SHADOWS, ids=[s[0] for s in SHADOWS])
def test_a_plugin_cannot_shadow_a_builtin(home, what, item, hook, error):
    text = (f"from techcare.plugins import hookimpl, DiagnosisCheck, DriverSource, AssistantTool\n"
            f"@hookimpl\ndef {hook}(register):\n    register({item})\n")
    write_plugin(home, "shadow.py", text)
    info = _info("shadow")
    assert info.loaded and not (info.checks or info.actions or info.driver_sources or info.tools)
    assert len(info.problems) == 1 and error in info.problems[0].en, info.problems


def test_a_new_action_in_a_techcare_namespace_is_refused(home):
    from techcare import repairs

    write_plugin(home, "shadow.py", LOB.replace('id = "acme.restart_lob"', 'id = "win.fix_it"'))
    (error,) = repairs.plugin_errors()
    assert "namespace win belongs to TechCare" in error["error"] and "Namensraum win" in error["error_de"]
    assert "win.fix_it" not in {a.id for a in repairs.actions()}


def test_an_action_with_a_builtin_id_is_refused_by_the_catalogue(home):
    from techcare import repairs

    write_plugin(home, "shadow.py", LOB.replace('id = "acme.restart_lob"', 'id = "linux.restart_unit"'))
    errors = repairs.plugin_errors()
    assert len(errors) == 1 and "already in the catalogue" in errors[0]["error"], errors
    assert repairs.get_action("linux.restart_unit").origin == "builtin"
    assert _info("acme-lob").loaded and _info("acme-lob").actions == []


def test_two_plugins_cannot_add_the_same_check(home):
    write_plugin(home, "a_lob.py", LOB)
    write_plugin(home, "b_lob.py", LOB.replace('"name": "acme-lob"', '"name": "acme-copy"'))
    copy = _info("acme-copy")
    assert copy.loaded and copy.checks == [] and any("acme.lob_service already exists" in p.en for p in copy.problems)
    assert _info("acme-lob").checks[0].id == "acme.lob_service"


def test_two_plugins_with_one_name_load_once(home):
    write_plugin(home, "a_lob.py", LOB)
    write_plugin(home, "b_lob.py", LOB)
    second = next(p for p in plugins.installed() if p.where.endswith("b_lob.py"))
    assert not second.loaded and "already loaded" in second.error.en


@pytest.mark.parametrize(("target", "mode", "error"), [
    ("file", 0o666, "writable by everyone"),
    ("file", 0o664, "writable by the group"),
    ("folder", 0o777, "writable by everyone"),
    ("home", 0o775, "writable by the group"),
])
def test_plugin_code_others_can_write_is_refused(home, target, mode, error):
    path = write_plugin(home, "acme_lob.py", LOB)
    os.chmod({"file": path, "folder": path.parent, "home": home}[target], mode)
    info = _info("acme-lob")
    assert not info.loaded and "refused" in info.error.en and error in info.error.en, info.error
    assert "chmod go-w" in info.error.en and "chmod go-w" in info.error.de
    assert "acme.restart_lob" not in {a.id for a in __import__("techcare").repairs.actions()}


def test_plugin_code_owned_by_another_user_is_refused(home):
    path = write_plugin(home, "acme_lob.py", LOB)
    if os.geteuid() == 0:
        os.chown(path, 4242, 4242)
        problem = plugins._safety.unsafe([path])
    else:  # not root: this file is ours; as seen by an account it does not belong to
        problem = plugins._safety.unsafe([path], uid=os.geteuid() + 1)
    assert problem is not None and "owned by another user" in problem.en and "anderen Benutzer" in problem.de
    if os.geteuid() == 0:
        info = _info("acme-lob")
        assert not info.loaded and "owned by another user (uid 4242)" in info.error.en


def test_a_plugin_the_owner_alone_can_write_loads(home):
    path = write_plugin(home, "acme_lob.py", LOB, mode=0o600)
    os.chmod(path.parent, 0o700)
    assert _info("acme-lob").loaded


def test_an_entry_point_plugin_takes_version_and_author_from_its_package(home, dist_path):
    source = LOB.replace('"version": "1.2.0", "author": "ACME IT", ', "").replace('"name": "acme-lob"', '"name": "acme-ep"')
    module = dist_path("acme_ep", source, "2.0.0")
    info = _info("acme-ep")
    assert info.loaded and (info.version, info.author, info.source) == ("2.0.0", "Test Shop", "entry point")
    assert info.where == "entry point acme_ep (acme_ep)" and [c.id for c in info.checks] == ["acme.lob_service"]
    assert info.sha256 == plugins._safety.tree_sha256([module], module.parent)


def test_an_entry_point_plugin_declaring_another_version_than_its_package_is_refused(home, dist_path):
    dist_path("acme_ep", LOB.replace('"name": "acme-lob"', '"name": "acme-ep"'), "1.3.0")
    info = _info("acme-ep")
    assert not info.loaded and "version mismatch" in info.error.en and "1.2.0" in info.error.en \
        and "1.3.0" in info.error.en and "Versionskonflikt" in info.error.de


def test_an_entry_point_plugin_writable_by_others_is_refused(home, dist_path):
    module = dist_path("acme_ep", LOB.replace('"name": "acme-lob"', '"name": "acme-ep"').replace("1.2.0", "1.0"), "1.0")
    os.chmod(module, 0o666)
    info = _info("acme-ep")
    assert not info.loaded and "writable by everyone" in info.error.en


def test_a_repair_plugin_of_the_old_entry_point_group_still_loads(home, dist_path):
    dist_path("acme_old", "from techcare.repairs import Action\n" + LOB.split("class RestartLob", 1)[1].join(
        ["", ""]) if False else LOB + "\nACTIONS = [RestartLob()]\n", "0.9", group="techcare.repairs")
    info = next(p for p in plugins.installed() if p.where.startswith("entry point acme_old"))
    assert info.loaded and info.legacy and info.version == "0.9" and [a.id for a in info.actions] == ["acme.restart_lob"]


def test_errors_are_said_in_both_languages(home):
    write_plugin(home, "empty.py", "X = 1\n")
    (error,) = _manager.errors()
    assert "weder ACTIONS noch actions()" in error["error_de"] and "neither ACTIONS nor actions()" in error["error"]


def test_a_link_to_a_file_in_a_folder_others_can_write_is_refused(home, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)  # not sticky: anybody could swap the file
    target = shared / "acme_lob.py"
    target.write_text(LOB)
    os.chmod(target, 0o644)
    (home / "plugins").mkdir()
    (home / "plugins").chmod(0o755)
    (home / "plugins" / "acme_lob.py").symlink_to(target)
    info = _info("acme-lob")
    assert not info.loaded and f"{shared} is writable by everyone" in info.error.en


def test_a_file_whose_name_is_no_plugin_name_needs_a_declared_one(home):
    write_plugin(home, "2fast.py", "ACTIONS = []\n")
    (info,) = plugins.installed()
    assert not info.loaded and "without a PLUGIN name the file or package name is used" in info.error.en
    write_plugin(home, "2fast.py", "PLUGIN = {'name': 'fast'}\nACTIONS = []\n")
    plugins.reload()
    assert _info("fast").loaded


@pytest.mark.parametrize(("old", "new", "de", "en"), [
    ('id = "acme.restart_lob"', 'id = "Linux.Flush_dns"', "id 'Linux.Flush_dns' muss wie 'anbieter.name' aussehen",
     "id 'Linux.Flush_dns' must look like 'vendor.name'"),
    ('risk = "medium"', 'risk = "yolo"', "risk 'yolo' muss eines von", "risk 'yolo' must be one of"),
])
def test_a_refused_action_is_listed_in_german_too(home, old, new, de, en):
    assert old in LOB
    write_plugin(home, "acme_lob.py", LOB.replace(old, new))
    german, english = plugins.frame("de").loc[0, "error"], plugins.frame("en").loc[0, "error"]
    assert de in german and en not in german and "must" not in german, german
    assert en in english, english
