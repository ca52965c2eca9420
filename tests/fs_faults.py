"""Real file-system faults for durability tests: a tiny file system that fills up, a read-only directory.

As root (the test containers and CI) both are real mounts made inside the test's temporary directory and removed
afterwards: a tmpfs of a few hundred KB (``ENOSPC`` from the kernel) and a read-only bind mount (``EROFS``; root
ignores file modes, so ``chmod`` would prove nothing). Without root the read-only case falls back to ``chmod``
(which binds a normal user); a tiny file system cannot be made without root, and such a test fails in CI rather
than skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["fill", "read_only", "tiny_fs"]


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@contextmanager
def tiny_fs(where: Path, size: str = "300k") -> Iterator[Path]:
    """A fresh tmpfs of ``size`` mounted at ``where`` (created), unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    if not (os.geteuid() == 0 and shutil.which("mount") and _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                                                   str(where))):
        if os.environ.get("CI"):
            pytest.fail("a tiny tmpfs cannot be mounted here (needs root): the full-disk test cannot run")
        pytest.skip("a tiny tmpfs needs root")
    try:
        yield where
    finally:
        _umount(where)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill the file system of ``directory`` until at most ``leave`` bytes are free (a filler file)."""
    filler = directory / "filler.bin"
    with filler.open("wb") as out:
        chunk = b"\0" * 4096
        try:
            while True:
                free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
                if free <= leave:
                    break
                out.write(chunk[: max(1, min(len(chunk), free - leave))])
                out.flush()
        except OSError:
            pass
    return filler


@contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """``directory`` read-only for this process while the block runs."""
    if os.geteuid() == 0:
        assert _mount("--bind", str(directory), str(directory)), "bind mount failed"
        try:
            assert _mount("-o", "remount,ro,bind", str(directory)), "read-only remount failed"
            yield directory
        finally:
            _umount(directory)
        return
    modes = {p: p.stat().st_mode for p in [directory, *directory.rglob("*")]}
    for p in modes:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        yield directory
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
