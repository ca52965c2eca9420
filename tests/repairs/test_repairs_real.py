"""Real execution on this machine, only inside temporary directories: temp-file cleanup with a byte-for-byte
undo, and a process killed with SIGKILL mid-step whose next start reports the step and undoes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from techcare.repairs import (
    Plan,
    _fsops,
    dismiss_interrupted,
    interrupted,
    parse_approval,
    read_entries,
    startup_check,
    undo_interrupted,
)
from techcare.system.runner import LocalRunner

OLD = time.time() - 30 * 86400


def make_tree(root: Path) -> dict[str, bytes]:
    """Old and fresh files, binary content, nested dirs, a symlink and an old file in a sub-directory."""
    files = {
        "old.log": b"log line\n" * 100,
        "sub/deeper/old.bin": bytes(range(256)) * 40,
        "sub/cache.tmp": os.urandom(5000),
        "fresh.txt": b"still in use",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if rel != "fresh.txt":
            os.utime(path, (OLD, OLD))
    (root / "link-to-old").symlink_to(root / "old.log")
    return files


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Content and mtime of every regular file. Reading bumps the access time, so the times are put back
    (the cleanup only takes files whose modification AND access time are old)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            out[path.relative_to(root).as_posix()] = (path.read_bytes(), int(st.st_mtime))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return out


def test_clear_temp_files_for_real_and_undo_restores_byte_for_byte(tmp_path):
    root = tmp_path / "kunden-temp"
    make_tree(root)
    before = snapshot(root)
    p = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": str(root), "older_than_days": 7}}],
                          platform="linux")
    result = p.run(parse_approval("GO REPAIR: 1", p), LocalRunner(platform="linux"), progress=lambda _: None)
    assert result.status == "completed", result.steps[0].detail
    assert sorted(snapshot(root)) == ["fresh.txt"]
    assert (root / "link-to-old").is_symlink()  # symlinks are never touched
    finished = next(e for e in read_entries(result.session) if e["event"] == "finished")
    assert finished["state"]["result"]["removed"] == 3
    quarantine = Path(finished["state"]["quarantine"])
    assert quarantine.is_relative_to(tmp_path / "data" / "sessions")
    manifest = json.loads((quarantine / "manifest.json").read_text())
    assert {f["rel"] for f in manifest["files"]} == {"old.log", "sub/deeper/old.bin", "sub/cache.tmp"}

    undone = p.rollback(progress=lambda _: None)
    assert undone == [{"step": 1, "action_id": "linux.clear_temp_files", "status": "undone", "detail": undone[0]["detail"]}]
    assert snapshot(root) == before  # same bytes and modification times


def test_second_run_skips_when_nothing_is_old(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "new.txt").write_text("x")
    p = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": str(root)}}], platform="linux")
    result = p.run(parse_approval("GO REPAIR: 1", p), LocalRunner(platform="linux"), progress=lambda _: None)
    assert result.steps[0].status == "skipped" and (root / "new.txt").exists()


def test_delete_mode_cannot_be_undone_and_says_so(tmp_path):
    root = tmp_path / "t"
    make_tree(root)
    p = Plan.from_actions([{"action": "linux.clear_temp_files",
                            "params": {"path": str(root), "keep_backup": False}}], platform="linux")
    assert "permanently" in (p.steps[0].undo_note("en") or "")
    assert p.steps[0].risk == "high"  # deleting for good asks once more
    refused = p.run(parse_approval("GO REPAIR: 1", p), LocalRunner(platform="linux"), progress=lambda _: None)
    assert refused.steps[0].status == "not_confirmed" and len(snapshot(root)) > 1
    result = p.run(parse_approval("GO REPAIR: 1", p), LocalRunner(platform="linux"), confirm=lambda step: True,
                   progress=lambda _: None)
    assert result.ok and sorted(snapshot(root)) == ["fresh.txt"]
    assert p.rollback(progress=lambda _: None)[0]["status"] == "not_undoable"


@pytest.mark.parametrize("bad_root", ["/", "/etc", "~", "/usr/lib", "/var/lib/dpkg", "/opt"])
def test_fsops_refuses_system_roots(bad_root, capsys):
    assert _fsops.main(["scan", "--older-than-days", "1", bad_root]) == 2
    assert "refused" in capsys.readouterr().out


def test_restore_never_overwrites_a_file_that_came_back(tmp_path):
    root, q = tmp_path / "r", tmp_path / "q"
    root.mkdir()
    (root / "a.txt").write_bytes(b"old")
    os.utime(root / "a.txt", (OLD, OLD))
    _fsops.clean(root, 7, q)
    (root / "a.txt").write_bytes(b"new content")
    result = _fsops.restore(q)
    assert result["conflicts"] == ["a.txt"] and (root / "a.txt").read_bytes() == b"new content"


CHILD = textwrap.dedent("""
    import sys, time
    from techcare.repairs import Plan, parse_approval
    from techcare.system.runner import LocalRunner

    class SlowAfterClean(LocalRunner):
        # the cleanup really runs, then the step hangs before verify (where we get killed)
        def run(self, argv, **kw):
            result = super().run(argv, **kw)
            if "clean" in argv:
                print("APPLIED", flush=True)
                time.sleep(60)
            return result

    p = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": sys.argv[1]}}], platform="linux")
    p.run(parse_approval("GO REPAIR: 1", p), SlowAfterClean(platform="linux"), progress=lambda _: None)
    print("NOT KILLED", flush=True)
""")


def test_kill_9_mid_step_is_reported_on_next_start_and_can_be_undone(tmp_path):
    root = tmp_path / "temp"
    make_tree(root)
    before = snapshot(root)
    env = dict(os.environ)
    with subprocess.Popen([sys.executable, "-c", CHILD, str(root)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()
            assert line.strip() == "APPLIED", proc.stderr.read()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert sorted(snapshot(root)) == ["fresh.txt"]  # the step had done its work

    # "next start": this process reads the changelog
    items = interrupted()
    assert len(items) == 1
    item = items[0]
    assert item.step == 1 and item.action_id == "linux.clear_temp_files" and item.prepared
    assert "quarantine" in item.state
    messages = startup_check("en")
    assert len(messages) == 1 and "Interrupted repair step 1 (linux.clear_temp_files)" in messages[0]
    assert "Undo available" in messages[0]

    outcome = undo_interrupted(item, LocalRunner(platform="linux"))
    assert outcome["status"] == "undone"
    assert snapshot(root) == before
    assert interrupted() == [] and startup_check() == []
    assert [e["event"] for e in read_entries(item.session)][-3:] == ["prepared", "undo_started", "undone"]


def test_a_step_killed_before_prepare_can_be_dismissed(tmp_path):
    from techcare.repairs._changelog import ChangelogWriter

    writer = ChangelogWriter("20260101T120000Z-abcdef123456-a1b2c3", {"plan_id": "abcdef123456", "technician": "",
                                                                      "company": "", "host": "h", "platform": "linux"})
    writer.write("started", step=2, action="linux.apt_clean", params={})
    [item] = interrupted()
    assert not item.prepared and "nothing to undo" in item.message("en")
    dismiss_interrupted(item, "checked by hand")
    assert interrupted() == []
    assert read_entries()[-1]["event"] == "abandoned" and read_entries()[-1]["detail"] == "checked by hand"


def test_a_rollback_killed_mid_undo_is_reported_and_can_be_finished(tmp_path):
    from techcare.repairs._changelog import ChangelogWriter

    root = tmp_path / "t"
    make_tree(root)
    before = snapshot(root)
    p = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": str(root)}}], platform="linux")
    result = p.run(parse_approval("GO REPAIR: 1", p), LocalRunner(platform="linux"), progress=lambda _: None)
    assert result.ok and interrupted() == []
    # the process died right after writing undo_started
    first = read_entries(result.session)[0]
    ChangelogWriter(result.session, {k: first.get(k) for k in ("plan_id", "technician", "company", "host",
                                                                "platform")}).write(
        "undo_started", step=1, action="linux.clear_temp_files", params=p.steps[0].params)
    [item] = interrupted()
    assert item.kind == "undo" and item.prepared and "quarantine" in item.state
    assert "Interrupted undo of step 1" in item.message("en")
    assert undo_interrupted(item, LocalRunner(platform="linux"))["status"] == "undone"
    assert snapshot(root) == before and interrupted() == []


EDIT_PLUGIN = '''
import sys
from techcare.repairs import Action, Check, Param

class RewriteConfig(Action):
    """Test plugin: rewrites a config file through the runner; undo restores the backup."""
    id = "test.rewrite_config"
    title_de, title_en = "Konfiguration neu schreiben", "Rewrite a configuration"
    explain_de, explain_en = "Schreibt die Datei neu.", "Rewrites the file."
    platforms = ("linux",)
    risk = "medium"
    needs_admin = False
    params = (Param("path", "str", "Datei", "file"), Param("content", "str", "Inhalt", "content"),
              Param("created", "str", "neue Datei", "new file", default=""))

    def commands(self, params, ctx=None):
        script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
        cmds = [[sys.executable, "-c", script, params["path"], params["content"]]]
        if params["created"]:
            cmds.append([sys.executable, "-c", script, params["created"], "new"])
        return cmds

    def prepare(self, ctx):
        ctx.backup_files([ctx.params["path"]] + ([ctx.params["created"]] if ctx.params["created"] else []))

    def verify(self, ctx):
        text = ctx.runner.read_file(ctx.params["path"]).content or ""
        return Check("BROKEN" in text, "content checked")

    def undo(self, ctx):
        ctx.restore_files()

ACTIONS = [RewriteConfig()]
'''


@pytest.mark.parametrize("content", ["ok=1", "BROKEN"])
def test_file_backup_is_restored_byte_for_byte_by_undo(techcare_env, tmp_path, content):
    from techcare.repairs import reload_catalog

    plugins = techcare_env / "techcare-home" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "edit.py").write_text(EDIT_PLUGIN)
    reload_catalog()
    target, created = tmp_path / "app.conf", tmp_path / "extra.conf"
    original = b"# kunde\r\nkey=\xe4\xf6\xfc\x00binary\n"
    target.write_bytes(original)
    os.chmod(target, 0o640)
    os.utime(target, (OLD, OLD))
    try:
        p = Plan.from_actions([{"action": "test.rewrite_config",
                                "params": {"path": str(target), "content": content, "created": str(created)}}],
                              platform="linux")
        result = p.run(parse_approval("GO REPAIR: 1", p), LocalRunner(platform="linux"), progress=lambda _: None)
        if content == "BROKEN":  # verification fails -> the step is undone at once
            assert result.status == "failed" and result.steps[0].undo
        else:
            assert result.ok and target.read_text() == content and created.exists()
            assert p.rollback(progress=lambda _: None)[0]["status"] == "undone"
        assert target.read_bytes() == original
        assert oct(target.stat().st_mode & 0o777) == "0o640" and int(target.stat().st_mtime) == int(OLD)
        assert not created.exists()  # created by the action, removed by undo
    finally:
        reload_catalog()


def test_next_run_reports_an_interrupted_step_first():
    from techcare.repairs._changelog import ChangelogWriter

    ChangelogWriter("20260101T120000Z-abcdef123456-a1b2c3", {"plan_id": "abcdef123456"}).write(
        "started", step=1, action="linux.apt_clean", params={})
    root_plan = Plan.from_actions([{"action": "linux.clear_temp_files", "params": {"path": "/nonexistent-techcare"}}],
                                  platform="linux")
    lines: list[str] = []
    result = root_plan.run(parse_approval("GO REPAIR: 1", root_plan), LocalRunner(platform="linux"),
                           progress=lines.append)
    assert "Unterbrochener Reparaturschritt 1 (linux.apt_clean)" in lines[0]
    assert result.messages[0].startswith("Unterbrochener Reparaturschritt")
