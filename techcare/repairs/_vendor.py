"""Vendor driver packages from the own driver database (``driver_database.json``) as a repair step.

A database entry that names the vendor's installer (``package``: a local or UNC path, ``sha256``, for ``.exe``
also ``install_args``; see :mod:`techcare.tools.drivers.database`) becomes ``drivers.install_vendor_package``:

- **check**: the installed version of the device (driver inventory, read-only) against the entry's version;
  already that version or newer -> not needed. A package made for another system is refused here.
- **apply**: (1) ``python -m techcare.repairs._vendor stage`` copies the package into the step's own backup
  directory while computing its SHA-256 and keeps the copy only when the checksum matches - a changed or
  swapped file on the share never runs, and the file that runs is the one that was checked (no second read of
  the share); (2) the installer runs on that copy with fixed silent switches per kind (``msiexec /i .. /qn
  /norestart``, ``installer -target / -pkg ..``, ``fwupdmgr local-install``, ``apt-get install``,
  ``rpm -U``) or, for ``.exe``, the entry's ``install_args``.
- **verify**: the inventory again: the device now reports the entry's version (or newer). When the installer
  said a restart is needed (3010/1641) and the old version is still loaded, the step says so instead of failing.
- **undo**: none - a vendor installer cannot be rolled back automatically; the plan says so before approval.

Repairs do not download: a package given by address is refused when the database is read.

The ``stage`` sub-command (run through the CommandRunner like every repair command, so replay, dry-run and
recording tests see it)::

    python -m techcare.repairs._vendor stage --sha256 HEX --dest DIR PACKAGE

prints one JSON object: ``{"staged": PATH, "sha256": HEX, "bytes": N}`` (exit 0), or ``{"error": CODE, ...}``
with exit 2 (package not readable), 3 (checksum mismatch; nothing kept), 4 (destination not writable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import stat
import sys
from pathlib import Path, PureWindowsPath
from typing import Any

from ..errors import RepairError
from ..i18n import tr
from ._model import Action, Check, Param, StepContext, StepFailed

__all__ = ["ACTIONS", "InstallVendorPackage", "main", "stage"]

MAX_PACKAGE_BYTES = 16 * 1024**3
_CHUNK = 1024 * 1024
#: Exit codes a Windows installer uses for "done" (0), "done, restart needed" (3010) and "done, restarting" (1641).
_WINDOWS_OK = (0, 3010, 1641)
_RESTART_CODES = (3010, 1641)


def package_name(package: str) -> str:
    """The file name of a package path (Windows, UNC or POSIX form)."""
    name = PureWindowsPath(package).name if ("\\" in package or re.match(r"^[A-Za-z]:", package)) \
        else Path(package).name
    return re.sub(r"[^\w.\-+ ()]", "_", name) or "package"


def installer_argv(kind: str, staged: str, install_args: str = "") -> list[str]:
    """The command that installs a staged package of ``kind`` (fixed silent switches; ``.exe``: the entry's)."""
    if kind == "msi":
        return ["msiexec.exe", "/i", staged, "/qn", "/norestart"]
    if kind == "exe":
        return [staged, *install_args.split()]
    if kind == "pkg":
        return ["/usr/sbin/installer", "-target", "/", "-pkg", staged]
    if kind == "cab":
        return ["fwupdmgr", "local-install", staged, "--assume-yes", "--no-reboot-check"]
    if kind == "deb":
        return ["apt-get", "install", "-y", "--no-install-recommends", staged]
    if kind == "rpm":
        return ["rpm", "-U", "--replacepkgs", staged]
    raise ValueError(f"unknown package kind {kind!r}")


class InstallVendorPackage(Action):
    id = "drivers.install_vendor_package"
    title_de, title_en = "Herstellerpaket installieren (eigene Treiberdatenbank)", \
        "Install a vendor package (own driver database)"
    explain_de = ("Installiert das Treiberpaket des Herstellers, das die eigene Treiberdatenbank für dieses Gerät "
                  "nennt: kopiert es in die Sicherung der Sitzung, prüft die SHA-256-Prüfsumme der Kopie und führt "
                  "nur eine passende Kopie still aus; danach wird die Treiberversion nachgeprüft.")
    explain_en = ("Installs the vendor's driver package the own driver database names for this device: copies it "
                  "into the session backup, checks the copy's SHA-256 checksum and runs only a matching copy "
                  "silently; afterwards the driver version is checked again.")
    platforms = ("windows", "linux", "darwin")
    risk = "high"
    needs_admin = True
    timeout = 3600.0
    cannot_undo_de = ("Ein Herstellerpaket lässt sich nicht automatisch zurücknehmen – ggf. über Apps/Programme "
                      "deinstallieren oder im Geräte-Manager „Vorheriger Treiber“ wählen.")
    cannot_undo_en = ("A vendor package cannot be taken back automatically – if needed uninstall it under "
                      "Apps/Programs or use Device Manager › 'Roll Back Driver'.")
    params = (
        Param("hardware_id", "str", "Hardware-ID des Datenbank-Eintrags (ohne Anführungszeichen)",
              "hardware id of the database entry (no quotes)", pattern=r"[^'\"\x00-\x1f]{1,300}", max_length=300),
        Param("version", "str", "Version, die das Paket installiert (z. B. 528.49)",
              "version the package installs (e.g. 528.49)", pattern=r"[A-Za-z0-9][A-Za-z0-9 ._+()\-]{0,63}",
              max_length=64),
        Param("package", "str", "lokaler oder UNC-Pfad des Pakets (.msi .exe .pkg .cab .deb .rpm)",
              "local or UNC path of the package (.msi .exe .pkg .cab .deb .rpm)", pattern=r"[^\x00-\x1f]+",
              max_length=400),
        Param("sha256", "str", "SHA-256 des Pakets (64 Hex-Ziffern)", "SHA-256 of the package (64 hex digits)",
              pattern=r"[0-9a-fA-F]{64}", max_length=64),
        Param("install_args", "str", "Schalter für die stille Installation (nur .exe)",
              "silent-install switches (.exe only)", default="", max_length=200),
    )

    def validate_params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        from ..tools.drivers.database import package_problem

        given = {k: v for k, v in (params or {}).items() if not (k == "install_args" and v == "")}
        valid = super().validate_params(given)
        problem = package_problem(valid["package"], valid["sha256"], valid["install_args"])
        if problem is not None:
            raise RepairError(tr("{a}: Parameter {p}: {m}", "{a}: parameter {p}: {m}", a=self.id, p=problem[0],
                                 m=tr(problem[1], problem[2])))
        valid["sha256"] = valid["sha256"].lower()
        return valid

    # ---- commands ----------------------------------------------------------------------------------------------
    @staticmethod
    def _kind(params: dict[str, Any]) -> str:
        from ..tools.drivers.database import package_kind

        kind = package_kind(params["package"])
        if kind is None:  # validate_params refuses these; a hand-made params dict must not get further
            raise StepFailed(f"unknown package kind: {params['package']}")
        return kind

    @staticmethod
    def _stage_dir(ctx: StepContext | None) -> str:
        # absolute: installers take a relative argument as a package name (apt-get) or resolve it elsewhere
        if ctx is None or ctx.backup_dir is None:
            return "<backup>/package"
        return os.path.abspath(ctx.backup_dir / "package")

    def _staged_path(self, params: dict[str, Any], ctx: StepContext | None) -> str:
        if ctx is None or ctx.backup_dir is None:
            return f"<backup>/package/{package_name(params['package'])}"
        return os.path.join(self._stage_dir(ctx), package_name(params["package"]))

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        stage_cmd = [sys.executable, "-m", "techcare.repairs._vendor", "stage", "--sha256", params["sha256"],
                     "--dest", self._stage_dir(ctx), params["package"]]
        return [stage_cmd, installer_argv(self._kind(params), self._staged_path(params, ctx),
                                          params.get("install_args") or "")]

    # ---- the parts ---------------------------------------------------------------------------------------------
    def _installed(self, ctx: StepContext) -> tuple[str | None, int | None]:
        """(installed version or None, comparison with the package's version or None) from the inventory."""
        from ..tools.drivers.core import inventory
        from ..tools.drivers.hwids import candidates, normalise_hardware_id
        from ..tools.drivers.versions import compare_versions

        wanted = normalise_hardware_id(ctx.params["hardware_id"]) or ctx.params["hardware_id"].upper()
        items, _ = inventory(ctx.runner)
        for item in items:
            keys = set(candidates(item.hardware_id)) | {k for k in item.match_ids if k}
            if wanted in keys and item.installed_version:
                cmp = compare_versions(item.installed_version, ctx.params["version"], vendor=item.vendor,
                                       hardware_id=item.hardware_id)
                return item.installed_version, cmp
        return None, None

    def check(self, ctx: StepContext) -> Check:
        from ..tools.drivers.database import PACKAGE_KINDS

        kind = self._kind(ctx.params)
        if PACKAGE_KINDS[kind] != ctx.platform:
            raise StepFailed(tr("Ein .{k}-Paket ist für {want}, dieser Rechner ist {have}.",
                                "A .{k} package is for {want}; this computer is {have}.", k=kind,
                                want=PACKAGE_KINDS[kind], have=ctx.platform))
        installed, cmp = self._installed(ctx)
        p = ctx.params
        if installed is None:
            return Check(None, tr("Gerät {h} nicht im Treiber-Inventar; ob das Paket nötig ist, bleibt offen.",
                                  "Device {h} is not in the driver inventory; whether the package is needed is "
                                  "unknown.", h=p["hardware_id"]))
        if cmp is not None and cmp >= 0:
            return Check(False, tr("{h}: Version {i} ist installiert (Paket: {v}).",
                                   "{h}: version {i} is installed (package: {v}).", h=p["hardware_id"], i=installed,
                                   v=p["version"]))
        if cmp is None:
            return Check(None, tr("{h}: Versionen nicht vergleichbar ({i} / {v}).",
                                  "{h}: versions not comparable ({i} / {v}).", h=p["hardware_id"], i=installed,
                                  v=p["version"]))
        return Check(True, tr("{h}: installiert {i}, das Paket bringt {v}.", "{h}: {i} installed, the package "
                              "brings {v}.", h=p["hardware_id"], i=installed, v=p["version"]))

    def apply(self, ctx: StepContext) -> None:
        stage_cmd, install_cmd = self.commands(ctx.params, ctx)
        res = ctx.run(stage_cmd, timeout=self.timeout)
        if res.error == "dry_run":
            ctx.run(install_cmd, timeout=self.timeout)
            return
        data = _last_json(res.stdout)
        if res.error is not None or res.returncode != 0 or not data.get("staged"):
            raise StepFailed(_stage_failure(ctx.params["package"], res.returncode, data, res.error))
        ctx.state["staged"] = data["staged"]  # = the install command's path (same name rule, same directory)
        ctx.state["sha256"] = data.get("sha256")
        kind = self._kind(ctx.params)
        ok = _WINDOWS_OK if kind in ("msi", "exe") else (0,)
        result = ctx.must(install_cmd, ok_codes=ok, timeout=self.timeout)
        ctx.state["exit_code"] = result.returncode
        ctx.state["restart_needed"] = result.returncode in _RESTART_CODES

    def verify(self, ctx: StepContext) -> Check:
        installed, cmp = self._installed(ctx)
        p = ctx.params
        if cmp is not None and cmp >= 0:
            return Check(False, tr("{h}: jetzt Version {i}.", "{h}: now version {i}.", h=p["hardware_id"], i=installed))
        if ctx.state.get("restart_needed"):
            return Check(None, tr("Paket installiert; {h} meldet {i} bis zum Neustart.",
                                  "Package installed; {h} reports {i} until the restart.", h=p["hardware_id"],
                                  i=installed or "?"))
        if installed is None or cmp is None:
            return Check(None, tr("Version von {h} danach nicht feststellbar.",
                                  "The version of {h} could not be read afterwards.", h=p["hardware_id"]))
        return Check(True, tr("{h}: weiterhin Version {i} statt {v}.", "{h}: still version {i} instead of {v}.",
                              h=p["hardware_id"], i=installed, v=p["version"]))


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed((text or "").strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


def _stage_failure(package: str, code: int | None, data: dict[str, Any], error: str | None) -> str:
    reason = data.get("error")
    if reason == "sha256_mismatch":
        return tr("Prüfsumme stimmt nicht: {p} hat SHA-256 {a}, erwartet {e}. Das Paket wurde nicht ausgeführt "
                  "(Datei geändert oder falscher Eintrag).",
                  "Checksum mismatch: {p} has SHA-256 {a}, expected {e}. The package was not run (file changed or "
                  "wrong entry).", p=package, a=data.get("actual"), e=data.get("expected"))
    if reason == "not_readable":
        return tr("Paket {p} nicht lesbar: {d}", "Package {p} cannot be read: {d}", p=package, d=data.get("detail"))
    if reason == "too_large":
        return tr("Paket {p} ist größer als {m} GiB.", "Package {p} is larger than {m} GiB.", p=package,
                  m=MAX_PACKAGE_BYTES // 1024**3)
    if reason == "dest_not_writable":
        return tr("Sicherungsverzeichnis nicht beschreibbar: {d}", "Backup directory not writable: {d}",
                  d=data.get("detail"))
    return tr("Paket {p} konnte nicht bereitgestellt werden ({w}).", "Package {p} could not be staged ({w}).",
              p=package, w=error or tr("Exit-Code {c}", "exit code {c}", c=code))


# ---- the stage command ---------------------------------------------------------------------------------------


def stage(package: str, dest: str, sha256: str) -> tuple[int, dict[str, Any]]:
    """Copy ``package`` into ``dest`` while hashing it; keep the copy only when its SHA-256 is ``sha256``.
    Returns (exit code, JSON object)."""
    expected = sha256.strip().lower()
    target_dir = Path(dest)
    try:
        target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        return 4, {"error": "dest_not_writable", "detail": f"{dest}: {exc.strerror or exc}"}
    target = target_dir / package_name(package)
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    size = 0
    try:
        if not stat.S_ISREG(os.stat(package).st_mode):  # a device or FIFO would be read forever
            return 2, {"error": "not_readable", "detail": f"{package}: not a regular file"}
        with open(package, "rb") as src:
            try:
                out = open(partial, "wb")
            except OSError as exc:
                return 4, {"error": "dest_not_writable", "detail": f"{partial}: {exc.strerror or exc}"}
            with out:
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    if size > MAX_PACKAGE_BYTES:
                        raise OverflowError
                    digest.update(chunk)
                    out.write(chunk)
    except OverflowError:
        partial.unlink(missing_ok=True)
        return 2, {"error": "too_large", "bytes": size}
    except OSError as exc:
        partial.unlink(missing_ok=True)
        return 2, {"error": "not_readable", "detail": f"{exc.strerror or exc}"}
    actual = digest.hexdigest()
    if actual != expected:
        partial.unlink(missing_ok=True)
        return 3, {"error": "sha256_mismatch", "expected": expected, "actual": actual, "bytes": size}
    os.replace(partial, target)
    return 0, {"staged": str(target), "sha256": actual, "bytes": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m techcare.repairs._vendor")
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("stage", help="copy a package into DIR and keep it only when its SHA-256 matches")
    st.add_argument("--sha256", required=True)
    st.add_argument("--dest", required=True)
    st.add_argument("package")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[0-9a-fA-F]{64}", args.sha256):
        print(json.dumps({"error": "bad_sha256", "detail": "64 hex digits expected"}))
        return 2
    code, data = stage(args.package, args.dest, args.sha256)
    print(json.dumps(data))
    return code


ACTIONS = [InstallVendorPackage()]


if __name__ == "__main__":  # pragma: no cover - exercised through subprocesses
    sys.exit(main())
