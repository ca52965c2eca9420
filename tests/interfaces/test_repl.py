"""The plain REPL for real: offline chat, a sandboxed repair approved with GO REPAIR and undone, and the
no-TTY rule (repairs only with --approve)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pexpect

TECHCARE = str(Path(sys.executable).parent / "techcare")


def env_for(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "tc.env").write_text("TECHNICIAN_NAME='Erika'\nCOMPANY='Muster IT'\n")
    return {**os.environ, "TECHCARE_HOME": str(tmp_path / "home"), "TECHCARE_DATA_DIR": str(tmp_path / "data"),
            "TECHCARE_ENV_FILE": str(tmp_path / "tc.env"), "TERM": "dumb", "TECHCARE_LANG": "de",
            "PYTHONWARNINGS": "ignore"}


def old_files(tmp_path: Path) -> Path:
    """Two files untouched for 20 days and a fresh one (reading them would refresh atime: tests don't)."""
    target = tmp_path / "sandbox-temp"
    target.mkdir()
    for name in ("alt1.tmp", "alt2.log"):
        path = target / name
        path.write_bytes(CONTENT[name])
        past = time.time() - 20 * 86400
        os.utime(path, (past, past))
    (target / "neu.tmp").write_bytes(CONTENT["neu.tmp"])
    return target


CONTENT = {"alt1.tmp": b"customer bytes \x00\x01 alt1", "alt2.log": b"log \xff\xfe line", "neu.tmp": b"fresh"}


def test_repl_chat_then_go_repair_runs_a_sandboxed_step_and_undo_restores_it(tmp_path):
    target = old_files(tmp_path)
    child = pexpect.spawn(TECHCARE, ["--plain"], env=env_for(tmp_path), encoding="utf-8", timeout=90,
                          cwd=str(tmp_path), dimensions=(50, 220))
    child.expect("techcare> ")
    child.sendline("Prüfe Treiber-Updates")  # routed to the driver report, no repair plan
    child.expect("techcare> ")
    assert "Treiber" in child.before
    child.sendline("plan clear")
    child.expect("techcare> ")
    child.sendline(f"plan add linux.clear_temp_files path={target} older_than_days=7")
    child.expect("GO REPAIR")
    child.expect("techcare> ")
    child.sendline("GO REPAIR: 1")
    child.expect("techcare> ")
    assert "erledigt" in child.before and "finished" not in child.before, child.before  # German run, German words
    assert sorted(p.name for p in target.iterdir()) == ["neu.tmp"]
    child.sendline("undo")
    child.expect("techcare> ")
    assert "rückgängig gemacht" in child.before and "undone" not in child.before
    assert {p.name: p.read_bytes() for p in target.iterdir()} == CONTENT  # byte-for-byte back
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert list((tmp_path / "data" / "changelogs").glob("*.jsonl"))


def test_repl_chat_proposes_a_plan_that_is_never_run_without_approval(tmp_path):
    script = "mein PC ist total lahm und langsam\nplan\nexit\n"
    out = subprocess.run([TECHCARE, "--plain"], input=script, capture_output=True, text=True, env=env_for(tmp_path),
                         cwd=str(tmp_path), timeout=90)
    assert out.returncode == 0, out.stderr
    assert "GO REPAIR" in out.stdout
    assert not list((tmp_path / "data" / "changelogs").glob("*.jsonl"))  # nothing ran


def test_without_tty_repairs_need_the_matching_approve_flag(tmp_path):
    target = old_files(tmp_path)
    script = f"plan add linux.clear_temp_files path={target} older_than_days=7\nGO REPAIR: 1\nexit\n"
    refused = subprocess.run([TECHCARE, "--plain"], input=script, capture_output=True, text=True,
                             env=env_for(tmp_path), cwd=str(tmp_path), timeout=90)
    assert refused.returncode == 0
    assert "--approve" in refused.stdout
    assert len(list(target.iterdir())) == 3  # nothing ran
    allowed = subprocess.run([TECHCARE, "--plain", "--approve", "GO REPAIR: 1"], input=script, capture_output=True,
                             text=True, env=env_for(tmp_path), cwd=str(tmp_path), timeout=90)
    assert allowed.returncode == 0, allowed.stderr
    assert sorted(p.name for p in target.iterdir()) == ["neu.tmp"]


def test_bad_plan_add_input_is_explained_not_a_traceback(tmp_path):
    script = "plan add linux.nope\nplan add linux.clear_temp_files older_than_days=abc\nplan add linux.flush_dns x\nexit\n"
    out = subprocess.run([TECHCARE, "--plain"], input=script, capture_output=True, text=True, env=env_for(tmp_path),
                         cwd=str(tmp_path), timeout=90)
    assert out.returncode == 0
    assert "Traceback" not in out.stdout + out.stderr
    assert out.stdout.count("✖") >= 3
