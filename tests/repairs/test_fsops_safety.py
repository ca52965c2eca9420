"""Cleanup never leaves the temp/cache roots: symlink swaps are not followed, restores cannot be redirected,
and the quarantine is private."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from techcare.repairs import _fsops


def old(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    past = time.time() - 30 * 86400
    os.utime(path, (past, past))


def test_only_temp_and_cache_roots_are_allowed(tmp_path, monkeypatch):
    assert _fsops.forbidden_root(tmp_path) is None  # pytest's tmp_path lives in the temp directory
    assert "not a temp or cache directory" in (_fsops.forbidden_root(Path("/usr/lib")) or "")
    assert _fsops.forbidden_root(Path.home()) is not None
    monkeypatch.setenv("TECHCARE_CLEAN_ROOTS", "/usr/share/doc")
    assert _fsops.forbidden_root(Path("/usr/share/doc")) is None


def test_clean_skips_a_directory_swapped_for_a_symlink(tmp_path, monkeypatch):
    root, outside = tmp_path / "root", tmp_path / "outside"
    old(root / "sub" / "a.tmp")
    old(outside / "a.tmp", b"precious")
    files = _fsops._old_files(root, 7)  # scan first, then the attacker swaps sub -> outside
    (root / "sub" / "a.tmp").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(outside, target_is_directory=True)
    monkeypatch.setattr(_fsops, "_old_files", lambda r, d: files)
    result = _fsops.clean(root, 7, tmp_path / "q")
    assert result["removed"] == 0 and result["errors"]
    assert (outside / "a.tmp").read_bytes() == b"precious"


def test_restore_refuses_a_redirected_destination(tmp_path):
    root, outside, quarantine = tmp_path / "root", tmp_path / "outside", tmp_path / "q"
    old(root / "sub" / "evil.conf", b"attacker")
    assert _fsops.clean(root, 7, quarantine)["removed"] == 1
    (root / "sub").rmdir()
    outside.mkdir()
    (root / "sub").symlink_to(outside, target_is_directory=True)
    result = _fsops.restore(quarantine)
    assert result["restored"] == 0 and result["errors"]
    assert not (outside / "evil.conf").exists()


def test_quarantine_directories_are_private(tmp_path):
    root, quarantine = tmp_path / "root", tmp_path / "q"
    old(root / "private" / "token")
    _fsops.clean(root, 7, quarantine)
    for directory in (quarantine, quarantine / "files", quarantine / "files" / "private"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
