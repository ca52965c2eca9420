"""Actions shared by several platforms: old-file cleanup (temp files, user caches) and driver updates."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from ..errors import RepairError
from ..i18n import tr
from ._model import Action, Check, Param, StepContext, StepFailed, ps_command

PATH_PATTERN = r"[^\x00-\x1f]{1,260}"


def fsops(*args: str) -> list[str]:
    return [sys.executable, "-m", "techcare.repairs._fsops", *args]


def parse_json(text: str) -> dict[str, Any] | None:
    for line in reversed((text or "").strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                return None
            return data if isinstance(data, dict) else None
    return None


def mb(value: float) -> str:
    return f"{value / 1e6:.1f} MB"


class CleanOldFiles(Action):
    """Moves (or deletes) regular files older than N days under one directory. With ``keep_backup`` (default)
    the files go into the session's backup directory and ``undo`` restores them byte-for-byte."""

    risk = "low"
    needs_admin = False
    default_path = "/tmp"
    timeout = 1800.0

    def __init__(self) -> None:
        self.params = (
            Param("path", "str", "ein Verzeichnis (~ und Umgebungsvariablen erlaubt)",
                  "a directory (~ and environment variables allowed)", default=self.default_path,
                  pattern=PATH_PATTERN),
            Param("older_than_days", "int", "", "", default=7, minimum=1, maximum=3650),
            Param("keep_backup", "bool", "", "", default=True),
        )

    def risk_for(self, params: dict[str, Any] | None = None) -> str:
        # deleting for good cannot be undone: that is a high-risk step and asks once more
        return "high" if params is not None and params.get("keep_backup") is False else self.risk

    def undo_reason(self, params: dict[str, Any] | None = None, lang: str | None = None) -> str | None:
        if params is not None and params.get("keep_backup") is False:
            return tr("Ohne Sicherung werden die Dateien endgültig gelöscht.",
                      "Without a backup the files are deleted permanently.", lang)
        return None

    def _quarantine(self, ctx: StepContext | None) -> str:
        if ctx is None or ctx.backup_dir is None:
            return "<backup>"
        return str(ctx.backup_dir / "quarantine")

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        days = str(params["older_than_days"])
        target = ["--quarantine", self._quarantine(ctx)] if params["keep_backup"] else ["--delete"]
        return [fsops("clean", "--older-than-days", days, *target, params["path"])]

    def _scan(self, ctx: StepContext) -> dict[str, Any] | None:
        res = ctx.run(fsops("scan", "--older-than-days", str(ctx.params["older_than_days"]), ctx.params["path"]),
                      timeout=self.timeout)
        if res.ok:
            return parse_json(res.stdout)
        error = (parse_json(res.stdout) or {}).get("error") if res.returncode == 2 else None
        if isinstance(error, str):  # not a temp or cache directory, or not a directory: the cleanup would refuse too
            raise StepFailed(tr("{p} wird nicht bereinigt: {e}", "{p} is not cleaned: {e}", p=ctx.params["path"],
                                e=error.removeprefix("refused: ")))
        return None

    def check(self, ctx: StepContext) -> Check:
        data = self._scan(ctx)
        if data is None:
            return Check(None, tr("Verzeichnis {p} konnte nicht geprüft werden.", "Could not scan {p}.", p=ctx.params["path"]))
        if not data.get("files"):
            return Check(False, tr("Keine Dateien älter als {d} Tage in {p}.", "No files older than {d} days in {p}.",
                                   d=ctx.params["older_than_days"], p=ctx.params["path"]))
        return Check(True, tr("{n} Dateien ({s}) älter als {d} Tage in {p}.", "{n} files ({s}) older than {d} days in {p}.",
                              n=data["files"], s=mb(data["bytes"]), d=ctx.params["older_than_days"], p=ctx.params["path"]))

    def prepare(self, ctx: StepContext) -> None:
        if ctx.params["keep_backup"]:
            ctx.state["quarantine"] = self._quarantine(ctx)

    def apply(self, ctx: StepContext) -> None:
        res = ctx.must(self.commands(ctx.params, ctx)[0], timeout=self.timeout)
        data = parse_json(res.stdout) or {}
        ctx.state["result"] = {"removed": data.get("removed", 0), "bytes": data.get("bytes", 0),
                               "errors": len(data.get("errors") or [])}

    def verify(self, ctx: StepContext) -> Check:
        data = self._scan(ctx)
        if data is None:
            return Check(None, tr("erneuter Scan von {p} ohne Ergebnis.", "re-scan of {p} gave no result.",
                                  p=ctx.params["path"]))
        left, locked = data.get("files", 0), (ctx.state.get("result") or {}).get("errors", 0)
        done = ctx.state.get("result") or {}
        if left > locked:
            return Check(True, tr("Noch {n} alte Dateien vorhanden.", "{n} old files are still there.", n=left))
        return Check(False, tr("{n} Dateien entfernt ({s}); {e} gesperrt/übersprungen.",
                               "{n} files removed ({s}); {e} locked/skipped.", n=done.get("removed", 0),
                               s=mb(done.get("bytes", 0)), e=locked))

    def undo(self, ctx: StepContext) -> None:
        quarantine = ctx.state.get("quarantine")
        if not quarantine:
            raise StepFailed(self.undo_reason(ctx.params) or "no backup")
        res = ctx.must(fsops("restore", "--quarantine", quarantine), timeout=self.timeout)
        data = parse_json(res.stdout) or {}
        if data.get("errors"):
            raise StepFailed(tr("{n} Dateien konnten nicht zurückgelegt werden.", "{n} files could not be put back.",
                                n=len(data["errors"])))


class LinuxClearTemp(CleanOldFiles):
    id = "linux.clear_temp_files"
    title_de, title_en = "Alte temporäre Dateien entfernen", "Clear old temporary files"
    explain_de = ("Verschiebt Dateien, die seit N Tagen weder geändert noch gelesen wurden, aus dem Temp-Verzeichnis "
                  "in die Sicherung der Sitzung (Undo legt sie zurück).")
    explain_en = ("Moves files not modified or read for N days out of the temp directory into the session backup "
                  "(undo puts them back).")
    platforms = ("linux",)
    default_path = "/var/tmp"


class WinClearTemp(CleanOldFiles):
    id = "win.clear_temp_files"
    title_de, title_en = "Temporäre Dateien bereinigen", "Clear temporary files"
    explain_de = ("Verschiebt alte Dateien aus %TEMP% in die Sicherung der Sitzung; gesperrte Dateien werden "
                  "übersprungen. Undo legt sie zurück.")
    explain_en = ("Moves old files out of %TEMP% into the session backup; files in use are skipped. Undo puts them "
                  "back.")
    platforms = ("windows",)
    default_path = "%TEMP%"


class MacClearCaches(CleanOldFiles):
    id = "macos.clear_user_caches"
    title_de, title_en = "Benutzer-Caches leeren", "Clear user caches"
    explain_de = ("Verschiebt alte Dateien aus ~/Library/Caches in die Sicherung der Sitzung; Programme legen "
                  "Caches bei Bedarf neu an. Undo legt sie zurück.")
    explain_en = ("Moves old files out of ~/Library/Caches into the session backup; apps rebuild caches when "
                  "needed. Undo puts them back.")
    platforms = ("darwin",)
    default_path = "~/Library/Caches"


# ---- drivers ----------------------------------------------------------------------------------------------

_WU_FIND = ("$s = New-Object -ComObject Microsoft.Update.Session; "
            "$r = $s.CreateUpdateSearcher().Search(\"UpdateID='{uid}'\"); ")


SOFTWAREUPDATE = "/usr/sbin/softwareupdate"
_STRICT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")


class DriverInstallUpdate(Action):
    id = "drivers.install_update"
    title_de, title_en = "Treiber-Update installieren", "Install a driver update"
    explain_de = ("Installiert ein vom Treiber-Modul gefundenes Update: über Windows Update (Update-ID), "
                  "fwupd (Linux-Firmware, Geräte-ID) oder Apple Softwareupdate (Label).")
    explain_en = ("Installs an update found by the driver module: through Windows Update (update id), fwupd "
                  "(Linux firmware, device id) or Apple Software Update (label).")
    platforms = ("windows", "linux", "darwin")
    risk = "high"
    timeout = 3600.0
    cannot_undo_de = ("Ein Treiber lässt sich nicht automatisch zurückrollen – unter Windows vorher Wiederherstellungs"
                      "punkt, danach ggf. Geräte-Manager › „Vorheriger Treiber“.")
    cannot_undo_en = ("A driver cannot be rolled back automatically – on Windows a restore point is taken first; "
                      "afterwards use Device Manager › 'Roll Back Driver' if needed.")
    params = (
        Param("source", "choice", "", "", choices=("windows_update", "fwupd", "apple")),
        Param("update_id", "str", "Update-ID bzw. Apple-Label (ohne Anführungszeichen)",
              "update id or Apple label (no quotes)", pattern=r"[A-Za-z0-9][^'\"`\x00-\x1f]{0,199}"),
        Param("hardware_id", "str", "Hardware-ID (ohne Anführungszeichen)", "hardware id (no quotes)",
              default="", pattern=r"[^'\"\x00-\x1f]{0,300}", max_length=300),
    )

    def validate_params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        # the driver module passes hardware_id="" when it has none; that means "not given", not a bad value
        valid = super().validate_params({k: v for k, v in (params or {}).items()
                                         if not (k == "hardware_id" and v == "")})
        # Windows Update ids go into a PowerShell string and fwupd ids are hex: only labels may have spaces.
        if valid["source"] != "apple" and not _STRICT_ID.fullmatch(valid["update_id"]):
            raise RepairError(tr("{a}: Parameter update_id={v!r} ist ungültig. Erlaubt für {s}: Buchstaben, Ziffern, - _ . :",
                                 "{a}: parameter update_id={v!r} is not valid. Allowed for {s}: letters, digits, - _ . :",
                                 a=self.id, v=valid["update_id"], s=valid["source"]))
        if valid["source"] == "apple" and valid.get("hardware_id"):
            valid["hardware_id"] = ""
        return valid

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        if params["source"] == "apple":
            return [[SOFTWAREUPDATE, "--install", params["update_id"]]]
        if params["source"] == "fwupd":  # update_id is fwupd's DeviceId (hardware_id is a PCI/FWUPD id for display)
            return [["fwupdmgr", "update", params["update_id"], "--assume-yes", "--no-reboot-check"]]
        script = (_WU_FIND.format(uid=params["update_id"]) +
                  "$c = New-Object -ComObject Microsoft.Update.UpdateColl; "
                  "foreach ($u in $r.Updates) { if (-not $u.EulaAccepted) { $u.AcceptEula() }; [void]$c.Add($u) }; "
                  "if ($c.Count -eq 0) { Write-Error 'update not found'; exit 1 }; "
                  "$d = $s.CreateUpdateDownloader(); $d.Updates = $c; [void]$d.Download(); "
                  "$i = $s.CreateUpdateInstaller(); $i.Updates = $c; $res = $i.Install(); "
                  "[pscustomobject]@{result=$res.ResultCode; reboot=$res.RebootRequired} | ConvertTo-Json -Compress; "
                  "if ($res.ResultCode -ne 2) { exit 1 }")
        return [ps_command(script)]

    def _installed(self, ctx: StepContext) -> bool | None:
        if ctx.params["source"] == "apple":
            res = ctx.run([SOFTWAREUPDATE, "-l"], timeout=300)
            if res.error or res.returncode != 0:
                return None
            listing = f"{res.stdout}\n{res.stderr}"
            if "No new software available" in listing:
                return True
            label = ctx.params["update_id"]
            offered = any(line.strip().lstrip("*").strip().removeprefix("Label:").strip() == label
                          for line in res.stdout.splitlines())
            return not offered  # no longer offered = installed
        if ctx.params["source"] == "fwupd":
            res = ctx.run(["fwupdmgr", "get-updates", ctx.params["update_id"], "--json"], timeout=120)
            if res.error:
                return None
            data = parse_json(res.stdout.replace("\n", " ")) if res.stdout.strip().startswith("{") else None
            if res.returncode == 2 or (data is not None and not data.get("Devices")):
                return True  # fwupdmgr exits 2 when there is nothing to do
            return False if res.returncode == 0 else None
        script = _WU_FIND.format(uid=ctx.params["update_id"]) + (
            "if ($r.Updates.Count -eq 0) { 'missing' } elseif ($r.Updates.Item(0).IsInstalled) { 'installed' } "
            "else { 'pending' }")
        res = ctx.run(ps_command(script), timeout=300)
        word = res.stdout.strip().lower()
        return {"installed": True, "pending": False}.get(word) if res.ok else None

    def check(self, ctx: StepContext) -> Check:
        installed = self._installed(ctx)
        if installed is True:
            return Check(False, tr("Update {u} ist bereits installiert.", "Update {u} is already installed.",
                                   u=ctx.params["update_id"]))
        return Check(True if installed is False else None, tr("Update {u} steht zur Installation an.",
                                                               "Update {u} is pending.", u=ctx.params["update_id"]))

    def verify(self, ctx: StepContext) -> Check:
        installed = self._installed(ctx)
        if installed:
            return Check(False, tr("Update {u} ist installiert.", "Update {u} is installed.", u=ctx.params["update_id"]))
        return Check(True, tr("Update {u} ist noch nicht installiert.", "Update {u} is still not installed.",
                              u=ctx.params["update_id"]))


ACTIONS = [LinuxClearTemp(), WinClearTemp(), MacClearCaches(), DriverInstallUpdate()]
