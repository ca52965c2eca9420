"""File operations for temp/cache cleanup, run as a command through the CommandRunner::

    python -m techcare.repairs._fsops scan    --older-than-days N PATH
    python -m techcare.repairs._fsops clean   --older-than-days N [--quarantine DIR | --delete] PATH
    python -m techcare.repairs._fsops restore --quarantine DIR
    python -m techcare.repairs._fsops backup  --dest DIR FILE [FILE ...]
    python -m techcare.repairs._fsops restore-backup --dest DIR

Running it as a command (instead of calling Python functions) keeps the repair code identical on every OS and
lets replay and dry-run tests see exactly what would happen. Every sub-command prints one JSON object.

``clean`` only touches regular files (never symlinks, sockets, directories) whose modification AND access
time are older than N days. With ``--quarantine`` the files are moved (byte-for-byte, times kept) into DIR with
their relative path and a ``manifest.json``; ``restore`` moves them back. A file that reappeared at its old place
is never overwritten (reported as a conflict).
``backup`` copies files (content, mode and times) before an action changes them, noting files that do not
exist yet; ``restore-backup`` puts every file back byte-for-byte (atomically, checked by SHA-256) and removes
files the action created. Roots that are never cleaned: file-system roots, the home
directory itself and system directories.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FILES = "files"
_FORBIDDEN = {"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/sbin", "/sys", "/usr",
              "/var", "/var/lib", "/home", "/Users", "/System", "/Library", "/Applications", "/private"}


def expand(path: str) -> Path:
    return Path(os.path.expanduser(os.path.expandvars(path)))


def allowed_roots() -> list[Path]:
    """Where temp/cache cleanup may work: the temp and cache directories of this OS (plus any directories a
    technician lists in ``TECHCARE_CLEAN_ROOTS``, separated by the OS path separator)."""
    import tempfile

    home = Path.home()
    candidates = [tempfile.gettempdir(), "/tmp", "/var/tmp", "/private/tmp", "/private/var/folders",
                  home / ".cache", home / "Library" / "Caches", os.environ.get("TEMP"), os.environ.get("TMP")]
    if os.name == "nt":  # elsewhere "C:\\Windows\\Temp" is a relative name: it resolved into the working directory
        candidates += [os.path.join(os.environ.get("WINDIR", "C:\\Windows"), "Temp"),
                       os.path.join(os.environ["LOCALAPPDATA"], "Temp") if os.environ.get("LOCALAPPDATA") else None]
    candidates += [p for p in os.environ.get("TECHCARE_CLEAN_ROOTS", "").split(os.pathsep) if p]
    roots: list[Path] = []
    for item in candidates:
        if item and Path(item).expanduser().is_absolute():  # a relative entry would depend on the working directory
            try:
                real = Path(item).expanduser().resolve()
            except OSError:
                continue
            if real not in roots:
                roots.append(real)
    return roots


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def forbidden_root(root: Path) -> str | None:
    try:
        real = root.resolve()
    except OSError as exc:
        return f"cannot resolve {root}: {exc}"
    if not _inside(real, allowed_roots()):
        return (f"{real} is not a temp or cache directory (allowed: "
                + ", ".join(str(r) for r in allowed_roots()) + "; more via TECHCARE_CLEAN_ROOTS)")
    text = str(real).rstrip("\\/") or "/"
    if real.parent == real:
        return f"{real} is a file-system root"
    if text in _FORBIDDEN or text.lower().rstrip("\\") in ("c:\\windows", "c:\\windows\\system32", "c:\\users",
                                                            "c:\\program files", "c:\\program files (x86)"):
        return f"{real} is a system directory"
    if real == Path.home().resolve():
        return f"{real} is the home directory itself"
    return None


def _old_files(root: Path, days: float) -> list[tuple[Path, os.stat_result]]:
    cutoff = time.time() - days * 86400
    found: list[tuple[Path, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff and st.st_atime < cutoff:
                found.append((path, st))
    return found


def scan(root: Path, days: float) -> dict[str, Any]:
    files = _old_files(root, days)
    return {"root": str(root), "files": len(files), "bytes": sum(st.st_size for _, st in files)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(qdir: Path, manifest: dict[str, Any]) -> None:
    tmp = qdir / (MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, qdir / MANIFEST)


def _private_dirs(path: Path) -> None:
    """Create ``path`` and missing parents with mode 0700 (a quarantine may hold other users' private files)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)


def _still_safe(path: Path, real_root: Path) -> bool:
    """The file is still a regular file (not swapped for a symlink) in a directory really under the root."""
    try:
        st = path.lstat()
    except OSError:
        return False
    real_parent = Path(os.path.realpath(path.parent))
    return stat.S_ISREG(st.st_mode) and (real_parent == real_root or real_root in real_parent.parents)


def clean(root: Path, days: float, quarantine: Path | None) -> dict[str, Any]:
    moved: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    manifest: dict[str, Any] = {"root": str(root), "files": moved}
    real_root = root.resolve()
    if quarantine is not None:
        _private_dirs(quarantine / FILES)
        _write_manifest(quarantine, manifest)
    total = count = 0
    for path, st in _old_files(root, days):
        rel = path.relative_to(root)
        if not _still_safe(path, real_root):  # a directory replaced by a symlink since the scan: never follow it
            errors.append({"path": str(path), "error": "changed during cleanup (symlink or not a regular file)"})
            continue
        try:
            if quarantine is None:
                path.unlink()
            else:
                target = quarantine / FILES / rel
                _private_dirs(target.parent)
                entry = {"rel": rel.as_posix(), "size": st.st_size, "sha256": _sha256(path)}
                shutil.move(str(path), str(target))  # rename, or copy2 + unlink across file systems
                moved.append(entry)
                _write_manifest(quarantine, manifest)
            total += st.st_size
            count += 1
        except OSError as exc:
            errors.append({"path": str(path), "error": exc.strerror or str(exc)})
    return {"root": str(root), "removed": count, "bytes": total, "errors": errors,
            "quarantine": str(quarantine) if quarantine else None}


def restore(quarantine: Path) -> dict[str, Any]:
    if not (quarantine / MANIFEST).exists() and not any(files for _, _, files in os.walk(quarantine / FILES)):
        # the cleanup never started (refused, or stopped before its first write): nothing was moved
        return {"root": None, "restored": 0, "conflicts": [], "errors": []}
    manifest = json.loads((quarantine / MANIFEST).read_text(encoding="utf-8"))
    root = Path(manifest["root"])
    real_root = root.resolve()
    restored, conflicts, errors = 0, [], []
    base = quarantine / FILES
    for dirpath, _dirs, filenames in os.walk(base):
        for name in sorted(filenames):
            src = Path(dirpath) / name
            rel = src.relative_to(base)
            dst = root / rel
            if dst.exists() or dst.is_symlink():
                conflicts.append(rel.as_posix())
                continue
            # never let a directory swapped for a symlink redirect the restore outside the cleaned root
            real_parent = Path(os.path.realpath(dst.parent))
            if not (real_parent == real_root or real_root in real_parent.parents):
                errors.append({"path": str(dst), "error": "destination directory leads outside the cleaned root"})
                continue
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                real_parent = Path(os.path.realpath(dst.parent))
                if not (real_parent == real_root or real_root in real_parent.parents):
                    errors.append({"path": str(dst), "error": "destination directory leads outside the cleaned root"})
                    continue
                shutil.move(str(src), str(dst))
                restored += 1
            except OSError as exc:
                errors.append({"path": str(dst), "error": exc.strerror or str(exc)})
    return {"root": str(root), "restored": restored, "conflicts": conflicts, "errors": errors}


BACKUP_MANIFEST = "backup.json"


def backup(dest: Path, paths: list[str]) -> dict[str, Any]:
    dest.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, raw in enumerate(paths):
        path = expand(raw).absolute()
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ValueError(f"{path} is not a regular file")
        if not path.exists():
            entries.append({"path": str(path), "present": False})
            continue
        copy = dest / f"{index:04d}-{path.name}"
        shutil.copy2(path, copy)
        entries.append({"path": str(path), "present": True, "copy": copy.name, "sha256": _sha256(copy),
                        "size": copy.stat().st_size})
    tmp = dest / (BACKUP_MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"files": entries}), encoding="utf-8")
    os.replace(tmp, dest / BACKUP_MANIFEST)
    return {"backed_up": sum(1 for e in entries if e["present"]), "absent": sum(1 for e in entries if not e["present"])}


def restore_backup(dest: Path) -> dict[str, Any]:
    manifest = json.loads((dest / BACKUP_MANIFEST).read_text(encoding="utf-8"))
    restored, removed, errors = 0, 0, []
    for entry in manifest["files"]:
        path = Path(entry["path"])
        try:
            if not entry["present"]:
                if path.exists() or path.is_symlink():
                    path.unlink()
                    removed += 1
                continue
            tmp = path.with_name(f".{path.name}.techcare-restore")
            shutil.copy2(dest / entry["copy"], tmp)
            os.replace(tmp, path)
            if _sha256(path) != entry["sha256"]:
                errors.append({"path": str(path), "error": "checksum differs after restore"})
            else:
                restored += 1
        except OSError as exc:
            errors.append({"path": str(path), "error": exc.strerror or str(exc)})
    return {"restored": restored, "removed": removed, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m techcare.repairs._fsops")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("scan", "clean"):
        p = sub.add_parser(name)
        p.add_argument("--older-than-days", type=float, required=True)
        p.add_argument("path")
        if name == "clean":
            group = p.add_mutually_exclusive_group(required=True)
            group.add_argument("--quarantine")
            group.add_argument("--delete", action="store_true")
    r = sub.add_parser("restore")
    r.add_argument("--quarantine", required=True)
    b = sub.add_parser("backup")
    b.add_argument("--dest", required=True)
    b.add_argument("files", nargs="+")
    rb = sub.add_parser("restore-backup")
    rb.add_argument("--dest", required=True)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "backup":
            result = backup(expand(args.dest), args.files)
        elif args.cmd == "restore-backup":
            result = restore_backup(expand(args.dest))
            if result["errors"]:
                print(json.dumps(result))
                return 1
        elif args.cmd == "restore":
            result = restore(expand(args.quarantine))
        else:
            root = expand(args.path)
            if not root.is_dir():
                print(json.dumps({"error": f"{root} is not a directory"}))
                return 2
            why = forbidden_root(root)
            if why:
                print(json.dumps({"error": f"refused: {why}"}))
                return 2
            if args.cmd == "scan":
                result = scan(root, args.older_than_days)
            else:
                result = clean(root, args.older_than_days, None if args.delete else expand(args.quarantine))
    except (OSError, ValueError, KeyError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main())
