"""Windows repair actions (sc.exe, net.exe, netsh, ipconfig, sfc, DISM, chkdsk, PowerShell)."""

from __future__ import annotations

import json
import re
from typing import Any

from ..i18n import tr
from ._common import parse_json
from ._model import Action, Check, Param, StepContext, StepFailed, ps_command, ps_quote

SERVICE_NAME = r"[A-Za-z0-9_.\-]{1,80}"
_STATE = re.compile(r"^\s*STATE\s*:\s*\d+\s+(\w+)", re.MULTILINE)
_START = re.compile(r"^\s*START_TYPE\s*:\s*(\d+)\s+(\w+)(\s*\(DELAYED\))?", re.MULTILINE)
# sc.exe "start=" values by our parameter names, and back from `sc qc` output
START_TYPES = {"automatic": "auto", "delayed": "delayed-auto", "manual": "demand", "disabled": "disabled"}
_QC_TO_PARAM = {"AUTO_START": "automatic", "DEMAND_START": "manual", "DISABLED": "disabled"}


def service_state(ctx: StepContext, name: str) -> str | None:
    """RUNNING / STOPPED / ... from ``sc.exe query``; None when unknown or no such service."""
    res = ctx.run(["sc.exe", "query", name], timeout=30)
    match = _STATE.search(res.stdout) if res.ok else None
    return match.group(1).upper() if match else None


def start_type(ctx: StepContext, name: str) -> str | None:
    res = ctx.run(["sc.exe", "qc", name], timeout=30)
    match = _START.search(res.stdout) if res.ok else None
    if not match:
        return None
    if match.group(2).upper() == "AUTO_START" and match.group(3):
        return "delayed"
    return _QC_TO_PARAM.get(match.group(2).upper())


# ---- Windows Update reset ----------------------------------------------------------------------------------

WU_SERVICES = ("bits", "wuauserv", "cryptsvc", "msiserver")
WU_DIRS = (("SoftwareDistribution", "SoftwareDistribution"), ("System32\\catroot2", "catroot2"))
WU_SUFFIX = ".techcare-old"


def _rename(rel: str, leaf: str) -> str:
    return (f"$p = Join-Path $env:SystemRoot {ps_quote(rel)}; $b = $p + {ps_quote(WU_SUFFIX)}; "
            f"if (Test-Path -LiteralPath $b) {{ Remove-Item -LiteralPath $b -Recurse -Force -ErrorAction Stop }}; "
            f"if (Test-Path -LiteralPath $p) {{ Rename-Item -LiteralPath $p -NewName {ps_quote(leaf + WU_SUFFIX)} "
            f"-ErrorAction Stop }}")


def _rename_back(rel: str, leaf: str) -> str:
    return (f"$p = Join-Path $env:SystemRoot {ps_quote(rel)}; $b = $p + {ps_quote(WU_SUFFIX)}; "
            f"if (Test-Path -LiteralPath $b) {{ if (Test-Path -LiteralPath $p) {{ Remove-Item -LiteralPath $p -Recurse "
            f"-Force -ErrorAction Stop }}; Rename-Item -LiteralPath $b -NewName {ps_quote(leaf)} -ErrorAction Stop }}")


class ResetWindowsUpdate(Action):
    id = "win.reset_windows_update"
    title_de, title_en = "Windows-Update-Komponenten zurücksetzen", "Reset Windows Update components"
    explain_de = ("Stoppt BITS, Windows Update, Kryptografie- und Installer-Dienst, benennt SoftwareDistribution und "
                  "catroot2 um (Windows legt sie neu an) und startet die Dienste wieder.")
    explain_en = ("Stops BITS, Windows Update, Cryptographic and Installer services, renames SoftwareDistribution and "
                  "catroot2 (Windows recreates them) and starts the services again.")
    platforms = ("windows",)
    risk = "medium"
    timeout = 300.0

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        cmds = [["net.exe", "stop", svc, "/y"] for svc in WU_SERVICES]
        cmds += [ps_command(_rename(rel, leaf)) for rel, leaf in WU_DIRS]
        cmds += [["net.exe", "start", svc] for svc in reversed(WU_SERVICES)]
        return cmds

    def check(self, ctx: StepContext) -> Check:
        state = service_state(ctx, "wuauserv")
        return Check(True, tr("Windows-Update-Dienst: {s}. Zurücksetzen wurde vorgeschlagen.",
                              "Windows Update service: {s}. A reset was proposed.", s=state or "?"))

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["services"] = {svc: service_state(ctx, svc) for svc in WU_SERVICES}

    def apply(self, ctx: StepContext) -> None:
        for argv in self.commands(ctx.params, ctx):
            # net stop: 2 = "service is not started"; net start: 2 = "already started"
            ctx.must(argv, ok_codes=(0, 2) if argv[0] == "net.exe" else (0,), timeout=self.timeout)

    def verify(self, ctx: StepContext) -> Check:
        states = {svc: service_state(ctx, svc) for svc in ("wuauserv", "bits")}
        bad = [svc for svc, st in states.items() if st != "RUNNING"]
        if bad:
            return Check(True, tr("Dienst(e) laufen nicht: {s}.", "Service(s) not running: {s}.", s=", ".join(bad)))
        return Check(False, tr("Windows Update und BITS laufen wieder.", "Windows Update and BITS are running again."))

    def undo(self, ctx: StepContext) -> None:
        for svc in WU_SERVICES:
            ctx.must(["net.exe", "stop", svc, "/y"], ok_codes=(0, 2))
        for rel, leaf in WU_DIRS:
            ctx.must(ps_command(_rename_back(rel, leaf)))
        for svc, state in reversed(list((ctx.state.get("services") or {}).items())):
            if state == "RUNNING":
                ctx.must(["net.exe", "start", svc], ok_codes=(0, 2))


# ---- system file repair ---------------------------------------------------------------------------------------

class SfcScannow(Action):
    id = "win.sfc_scannow"
    title_de, title_en = "Systemdateien prüfen und reparieren (sfc /scannow)", "Check and repair system files (sfc /scannow)"
    explain_de = "Prüft alle geschützten Systemdateien und ersetzt beschädigte aus dem Komponentenspeicher."
    explain_en = "Checks all protected system files and replaces corrupt ones from the component store."
    platforms = ("windows",)
    risk = "medium"
    timeout = 3600.0
    cannot_undo_de = "sfc ersetzt beschädigte Systemdateien durch Originale; die beschädigten Versionen werden nicht aufbewahrt."
    cannot_undo_en = "sfc replaces corrupt system files with originals; the corrupt versions are not kept."

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["sfc.exe", "/scannow"]]

    def apply(self, ctx: StepContext) -> None:
        res = ctx.run(["sfc.exe", "/scannow"], timeout=self.timeout)
        ctx.state["output"] = _squash(res.stdout)[-2000:]
        if res.error == "dry_run":
            return
        if res.error or (res.returncode != 0 and "resource protection" not in ctx.state["output"].lower()):
            raise StepFailed(tr("sfc lief nicht: {e}", "sfc did not run: {e}",
                                e=res.error or _last_sentence(res.stdout + "\n" + res.stderr) or res.returncode))

    def verify(self, ctx: StepContext) -> Check:
        out = (ctx.state.get("output") or "").lower()
        last = _last_sentence(ctx.state.get("output", "")) or "-"
        if any(p in out for p in SFC_BAD):
            return Check(True, tr("sfc konnte nicht alles reparieren: {o}", "sfc could not repair everything: {o}", o=last))
        if any(p in out for p in SFC_GOOD):
            return Check(False, last)
        # sfc speaks the system language; an unknown sentence is "could not tell", never a false failure
        return Check(None, tr("sfc-Ergebnis nicht erkannt: {o}", "sfc result not recognised: {o}", o=last))


# Result sentences of sfc in English and German (matched without umlauts: sfc writes UTF-16 without a BOM).
SFC_GOOD = ("did not find any integrity violations", "successfully repaired", "keine integrit", "erfolgreich repariert")
SFC_BAD = ("unable to fix", "could not perform", "nicht reparieren", "konnte den angeforderten vorgang nicht")


def _squash(text: str) -> str:
    """sfc prints UTF-16 with NULs and progress lines; keep readable text."""
    return re.sub(r"[ \t]+", " ", (text or "").replace("\x00", "")).strip()


def _last_sentence(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip() and "%" not in ln]
    return lines[-1] if lines else ""


class DismRestoreHealth(Action):
    id = "win.dism_restore_health"
    title_de, title_en = "Komponentenspeicher reparieren (DISM RestoreHealth)", "Repair the component store (DISM RestoreHealth)"
    explain_de = ("Prüft den Windows-Komponentenspeicher und lädt beschädigte Teile über Windows Update neu "
                  "(DISM /Online /Cleanup-Image /RestoreHealth).")
    explain_en = ("Checks the Windows component store and re-downloads corrupt parts through Windows Update "
                  "(DISM /Online /Cleanup-Image /RestoreHealth).")
    platforms = ("windows",)
    risk = "medium"
    timeout = 7200.0
    cannot_undo_de = "DISM ersetzt beschädigte Komponenten; es gibt keinen Vorher-Zustand, der sinnvoll wiederherstellbar wäre."
    cannot_undo_en = "DISM replaces corrupt components; there is no meaningful previous state to restore."
    HEALTH = ps_command("(Repair-WindowsImage -Online -CheckHealth).ImageHealthState")

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["DISM.exe", "/Online", "/Cleanup-Image", "/RestoreHealth"]]

    def _health(self, ctx: StepContext) -> Check:
        res = ctx.run(self.HEALTH, timeout=900)
        state = res.stdout.strip().splitlines()[-1].strip() if res.ok and res.stdout.strip() else ""
        if state == "Healthy":
            return Check(False, tr("Komponentenspeicher in Ordnung.", "Component store is healthy."))
        if state in ("Repairable", "NonRepairable"):
            return Check(True, tr("Komponentenspeicher beschädigt ({s}).", "Component store is corrupt ({s}).", s=state))
        return Check(None, tr("DISM-Zustand unbekannt: {o}", "DISM state unknown: {o}",
                              o=_last_sentence(res.stdout or res.stderr) or res.error or "-"))

    def check(self, ctx: StepContext) -> Check:
        return self._health(ctx)

    def verify(self, ctx: StepContext) -> Check:
        return self._health(ctx)


# ---- network ----------------------------------------------------------------------------------------------------

class FlushDnsWin(Action):
    id = "win.flush_dns"
    title_de, title_en = "DNS-Cache leeren", "Flush the DNS cache"
    explain_de = "Leert den DNS-Auflösungscache (ipconfig /flushdns); hilft bei veralteten Namensauflösungen."
    explain_en = "Empties the DNS resolver cache (ipconfig /flushdns); helps with stale name resolution."
    platforms = ("windows",)
    risk = "low"
    needs_admin = False
    timeout = 60.0
    cannot_undo_de = "Nichts zurückzunehmen: der Cache füllt sich von selbst wieder."
    cannot_undo_en = "Nothing to undo: the cache refills by itself."

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["ipconfig.exe", "/flushdns"]]

    def verify(self, ctx: StepContext) -> Check:
        # ipconfig's text is localised; its exit code was checked. The DNS Client must still serve lookups.
        state = service_state(ctx, "Dnscache")
        if state == "RUNNING":
            return Check(False, tr("DNS-Cache geleert, DNS-Client läuft.", "DNS cache flushed, DNS Client is running."))
        if state is None:
            return Check(None, tr("Zustand des DNS-Clients unbekannt.", "DNS Client state unknown."))
        return Check(True, tr("DNS-Client läuft nicht ({s}).", "DNS Client is not running ({s}).", s=state))


class ResetWinsock(Action):
    id = "win.reset_winsock"
    title_de, title_en = "Winsock und TCP/IP zurücksetzen", "Reset Winsock and TCP/IP"
    explain_de = ("Setzt den Winsock-Katalog und den TCP/IP-Stack auf Standard zurück (netsh winsock reset, "
                  "netsh int ip reset). Braucht einen Neustart; statische IP-Einstellungen gehen verloren.")
    explain_en = ("Resets the Winsock catalog and the TCP/IP stack to defaults (netsh winsock reset, netsh int ip "
                  "reset). Needs a restart; static IP settings are lost.")
    platforms = ("windows",)
    risk = "high"
    timeout = 120.0
    cannot_undo_de = ("Winsock-Katalog und TCP/IP-Einstellungen werden auf Standard gesetzt; der alte Katalog "
                      "(z.B. Einträge von VPN-/Sicherheitssoftware) lässt sich nicht zurückspielen.")
    cannot_undo_en = ("The Winsock catalog and TCP/IP settings are reset to defaults; the old catalog (e.g. entries of "
                      "VPN/security software) cannot be put back.")

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["netsh.exe", "winsock", "reset"], ["netsh.exe", "int", "ip", "reset"]]

    def apply(self, ctx: StepContext) -> None:
        winsock, ip = self.commands(ctx.params)
        ctx.must(winsock, timeout=self.timeout)
        # "int ip reset" exits 1 when single settings could not be reset (e.g. locked registry keys)
        res = ctx.run(ip, timeout=self.timeout)
        if res.error and res.error != "dry_run":
            ctx.must(ip, timeout=self.timeout)
        ctx.state["ip_reset_exit"] = res.returncode

    def verify(self, ctx: StepContext) -> Check:
        if ctx.state.get("ip_reset_exit") == 0:
            return Check(False, tr("Zurückgesetzt – Neustart erforderlich.", "Reset – a restart is required."))
        return Check(True, tr("TCP/IP ließ sich nicht vollständig zurücksetzen (Exit-Code {c}).",
                              "TCP/IP could not be reset completely (exit code {c}).", c=ctx.state.get("ip_reset_exit")))


# ---- services ---------------------------------------------------------------------------------------------------

class RestartService(Action):
    id = "win.restart_service"
    title_de, title_en = "Dienst (neu) starten", "Restart a service"
    explain_de = "Startet einen Windows-Dienst neu (oder startet ihn, wenn er steht) und prüft, dass er läuft."
    explain_en = "Restarts a Windows service (or starts it when stopped) and checks that it runs."
    platforms = ("windows",)
    risk = "low"
    timeout = 120.0
    params = (Param("name", "str", "Dienstname (Buchstaben, Ziffern, _ . -)", "service name (letters, digits, _ . -)",
                    pattern=SERVICE_NAME),)

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [ps_command(f"Restart-Service -Name {ps_quote(params['name'])} -Force -ErrorAction Stop")]

    def check(self, ctx: StepContext) -> Check:
        state = service_state(ctx, ctx.params["name"])
        if state is None:
            return Check(None, tr("Dienst {n} nicht gefunden.", "Service {n} not found.", n=ctx.params["name"]))
        return Check(True, tr("Dienst {n}: {s}.", "Service {n}: {s}.", n=ctx.params["name"], s=state))

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["previous_state"] = service_state(ctx, ctx.params["name"])

    def verify(self, ctx: StepContext) -> Check:
        state = service_state(ctx, ctx.params["name"])
        if state == "RUNNING":
            return Check(False, tr("Dienst {n} läuft.", "Service {n} is running.", n=ctx.params["name"]))
        return Check(True, tr("Dienst {n} läuft nicht ({s}).", "Service {n} is not running ({s}).",
                              n=ctx.params["name"], s=state or "?"))

    def undo(self, ctx: StepContext) -> None:
        if ctx.state.get("previous_state") == "STOPPED":
            ctx.must(ps_command(f"Stop-Service -Name {ps_quote(ctx.params['name'])} -Force -ErrorAction Stop"))


class SetServiceStartType(Action):
    id = "win.set_service_start_type"
    title_de, title_en = "Starttyp eines Dienstes setzen", "Set a service's start type"
    explain_de = "Setzt den Starttyp (automatisch, verzögert, manuell, deaktiviert) eines Dienstes mit sc.exe config."
    explain_en = "Sets a service's start type (automatic, delayed, manual, disabled) with sc.exe config."
    platforms = ("windows",)
    risk = "medium"
    timeout = 60.0
    params = (Param("name", "str", "Dienstname (Buchstaben, Ziffern, _ . -)", "service name (letters, digits, _ . -)",
                    pattern=SERVICE_NAME),
              Param("start_type", "choice", "", "", choices=tuple(START_TYPES)))

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["sc.exe", "config", params["name"], "start=", START_TYPES[params["start_type"]]]]

    def check(self, ctx: StepContext) -> Check:
        current = start_type(ctx, ctx.params["name"])
        if current is None:
            return Check(None, tr("Starttyp von {n} unbekannt.", "Start type of {n} unknown.", n=ctx.params["name"]))
        if current == ctx.params["start_type"]:
            return Check(False, tr("{n} steht schon auf {t}.", "{n} is already {t}.", n=ctx.params["name"], t=current))
        return Check(True, tr("{n} steht auf {t}.", "{n} is {t}.", n=ctx.params["name"], t=current))

    def prepare(self, ctx: StepContext) -> None:
        previous = start_type(ctx, ctx.params["name"])
        if previous is None:
            raise StepFailed(tr("Bisheriger Starttyp von {n} unbekannt – ohne ihn kein Undo.",
                                "Current start type of {n} unknown – no undo without it.", n=ctx.params["name"]))
        ctx.state["previous_start_type"] = previous

    def verify(self, ctx: StepContext) -> Check:
        current = start_type(ctx, ctx.params["name"])
        ok = current == ctx.params["start_type"]
        return Check(not ok, tr("Starttyp jetzt: {t}.", "Start type now: {t}.", t=current or "?"))

    def undo(self, ctx: StepContext) -> None:
        ctx.must(["sc.exe", "config", ctx.params["name"], "start=", START_TYPES[ctx.state["previous_start_type"]]])


# ---- firewall, Defender ------------------------------------------------------------------------------------------

FW_PROFILES = ("domain", "private", "public")
_FW_NAMES = {"domain": "Domain", "private": "Private", "public": "Public"}
FW_STATE = ps_command("ConvertTo-Json -Compress -InputObject @(Get-NetFirewallProfile -PolicyStore ActiveStore | "
                      "Select-Object Name, @{n='Enabled';e={[string]$_.Enabled}})")


def firewall_states(ctx: StepContext) -> dict[str, bool]:
    """{"domain": True, ...} from Get-NetFirewallProfile (the same in every Windows language)."""
    res = ctx.run(FW_STATE, timeout=60)
    if not res.ok:
        return {}
    try:
        data = json.loads(res.stdout.strip() or "[]")
    except ValueError:
        return {}
    out = {}
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and str(item.get("Name", "")).lower() in FW_PROFILES:
            out[str(item["Name"]).lower()] = str(item.get("Enabled")) in ("True", "1", "true")
    return out


def _set_profiles(profiles: list[str], enabled: bool) -> list[str]:
    names = ",".join(_FW_NAMES[p] for p in profiles)
    return ps_command(f"Set-NetFirewallProfile -Profile {names} -Enabled {'True' if enabled else 'False'}")


class EnableFirewall(Action):
    id = "win.enable_firewall"
    title_de, title_en = "Windows-Firewall einschalten", "Enable Windows Firewall"
    explain_de = "Schaltet die Windows-Firewall für die gewählten Profile (Domäne, Privat, Öffentlich) ein."
    explain_en = "Turns Windows Firewall on for the chosen profiles (domain, private, public)."
    platforms = ("windows",)
    risk = "medium"
    timeout = 60.0
    params = (Param("profiles", "list", "", "", default=list(FW_PROFILES), choices=FW_PROFILES),)

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [_set_profiles(params["profiles"], True)]

    def check(self, ctx: StepContext) -> Check:
        states = firewall_states(ctx)
        if not states:
            return Check(None, tr("Firewall-Zustand unbekannt.", "Firewall state unknown."))
        off = [p for p in ctx.params["profiles"] if not states.get(p, False)]
        if not off:
            return Check(False, tr("Alle gewählten Profile sind schon an.", "All chosen profiles are already on."))
        return Check(True, tr("Aus: {p}.", "Off: {p}.", p=", ".join(off)))

    def prepare(self, ctx: StepContext) -> None:
        states = firewall_states(ctx)
        ctx.state["previous"] = {p: states.get(p) for p in ctx.params["profiles"]}

    def verify(self, ctx: StepContext) -> Check:
        states = firewall_states(ctx)
        off = [p for p in ctx.params["profiles"] if not states.get(p, False)]
        if off:
            return Check(True, tr("Noch aus: {p}.", "Still off: {p}.", p=", ".join(off)))
        return Check(False, tr("Firewall an: {p}.", "Firewall on: {p}.", p=", ".join(ctx.params["profiles"])))

    def undo(self, ctx: StepContext) -> None:
        were_off = [p for p, was_on in (ctx.state.get("previous") or {}).items() if was_on is False]
        if were_off:
            ctx.must(_set_profiles(were_off, False))


MPCMDRUN = "C:\\Program Files\\Windows Defender\\MpCmdRun.exe"
_MP_STATUS = ps_command("Get-MpComputerStatus | Select-Object AntivirusSignatureAge,AntivirusSignatureVersion "
                        "| ConvertTo-Json -Compress")


def defender_status(ctx: StepContext) -> dict[str, Any] | None:
    res = ctx.run(_MP_STATUS, timeout=120)
    return parse_json(res.stdout) if res.ok else None


class UpdateDefenderSignatures(Action):
    id = "win.update_defender_signatures"
    title_de, title_en = "Defender-Signaturen aktualisieren", "Update Defender signatures"
    explain_de = "Lädt die neuesten Virensignaturen für Microsoft Defender (MpCmdRun -SignatureUpdate)."
    explain_en = "Downloads the latest Microsoft Defender signatures (MpCmdRun -SignatureUpdate)."
    platforms = ("windows",)
    risk = "low"
    timeout = 900.0

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [[MPCMDRUN, "-SignatureUpdate"]]

    def check(self, ctx: StepContext) -> Check:
        status = defender_status(ctx)
        if not status:
            return Check(None, tr("Defender-Status unbekannt.", "Defender status unknown."))
        age = status.get("AntivirusSignatureAge")
        return Check(not (isinstance(age, int) and age < 1),
                     tr("Signaturen {a} Tage alt (Version {v}).", "Signatures {a} days old (version {v}).",
                        a=age, v=status.get("AntivirusSignatureVersion")))

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["previous"] = defender_status(ctx)

    def verify(self, ctx: StepContext) -> Check:
        status = defender_status(ctx) or {}
        before = (ctx.state.get("previous") or {}).get("AntivirusSignatureVersion")
        age = status.get("AntivirusSignatureAge")
        if (isinstance(age, int) and age <= 1) or (status.get("AntivirusSignatureVersion") not in (None, before)):
            return Check(False, tr("Signaturen aktuell (Version {v}).", "Signatures current (version {v}).",
                                   v=status.get("AntivirusSignatureVersion")))
        return Check(True, tr("Signaturen weiterhin {a} Tage alt.", "Signatures still {a} days old.", a=age))

    def undo(self, ctx: StepContext) -> None:
        # "-RemoveDefinitions: restores the installed signature definitions to a previous backup copy"
        ctx.must([MPCMDRUN, "-RemoveDefinitions"])


# ---- disk, restore point, updates ---------------------------------------------------------------------------

class ScheduleChkdsk(Action):
    id = "win.schedule_chkdsk"
    title_de, title_en = "Datenträgerprüfung beim Neustart planen (chkdsk)", "Schedule a disk check at restart (chkdsk)"
    explain_de = ("Markiert das Laufwerk als prüfbedürftig (fsutil dirty set); beim nächsten Neustart repariert "
                  "autochk/chkdsk /f das Dateisystem, bevor Windows es benutzt. Läuft ohne Rückfrage.")
    explain_en = ("Marks the drive as needing a check (fsutil dirty set); at the next restart autochk/chkdsk /f "
                  "repairs the file system before Windows uses it. Runs without prompts.")
    platforms = ("windows",)
    risk = "medium"
    timeout = 120.0
    cannot_undo_de = ("Die Markierung löscht erst chkdsk beim Neustart; „chkntfs /x“ würde die Prüfung dauerhaft "
                      "abschalten und wird deshalb nicht automatisch benutzt.")
    cannot_undo_en = ("Only chkdsk clears the mark at the next restart; 'chkntfs /x' would switch the check off for "
                      "good and is therefore not used automatically.")
    params = (Param("drive", "str", "Laufwerksbuchstabe wie C:", "a drive letter like C:", default="C:",
                    pattern=r"[A-Za-z]:"),)

    def validate_params(self, params: dict[str, Any] | None) -> dict[str, Any]:
        out = super().validate_params(params)
        out["drive"] = out["drive"].upper()
        return out

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["fsutil.exe", "dirty", "set", params["drive"]]]

    def _dirty(self, ctx: StepContext) -> bool | None:
        # fsutil's "is Dirty" text is localised; Win32_Volume.DirtyBitSet is not.
        res = ctx.run(ps_command(f"(Get-CimInstance Win32_Volume -Filter \"DriveLetter='{ctx.params['drive']}'\")"
                                 ".DirtyBitSet"), timeout=60)
        word = res.stdout.strip() if res.ok else ""
        return {"True": True, "False": False}.get(word)

    def check(self, ctx: StepContext) -> Check:
        dirty = self._dirty(ctx)
        if dirty:
            return Check(False, tr("Laufwerk {d} ist schon markiert – chkdsk läuft beim nächsten Neustart.",
                                   "Drive {d} is already marked – chkdsk runs at the next restart.", d=ctx.params["drive"]))
        return Check(True if dirty is False else None, tr("Laufwerk {d} ist nicht zur Prüfung markiert.",
                                                          "Drive {d} is not marked for a check.", d=ctx.params["drive"]))

    def verify(self, ctx: StepContext) -> Check:
        if self._dirty(ctx):
            return Check(False, tr("chkdsk ist für den nächsten Neustart geplant.", "chkdsk is scheduled for the next restart."))
        return Check(True, tr("Laufwerk ist nicht markiert – chkdsk nicht geplant.", "Drive not marked – chkdsk not scheduled."))


RESTORE_POINT_QUERY = ("Get-ComputerRestorePoint | Sort-Object SequenceNumber | Select-Object -Last 1 "
                       "SequenceNumber,Description,@{n='AgeHours';e={((Get-Date) - "
                       "$_.ConvertToDateTime($_.CreationTime)).TotalHours}} | ConvertTo-Json -Compress")


class CreateRestorePoint(Action):
    id = "win.create_restore_point"
    title_de, title_en = "Systemwiederherstellungspunkt erstellen", "Create a System Restore point"
    explain_de = "Erstellt einen Wiederherstellungspunkt, zu dem Windows später zurückkehren kann."
    explain_en = "Creates a restore point Windows can later return to."
    platforms = ("windows",)
    risk = "low"
    timeout = 900.0
    cannot_undo_de = "Ein Wiederherstellungspunkt ändert nichts am System; Windows löscht alte Punkte selbst."
    cannot_undo_en = "A restore point changes nothing on the system; Windows removes old points itself."
    params = (Param("description", "str", "Beschreibung: Buchstaben, Ziffern, Leerzeichen und - _ . , ( ) : (höchstens 200)",
                    "a description: letters, digits, spaces and - _ . , ( ) : (at most 200)",
                    default="TechCare", pattern=r"[\w][\w .,()\-:]{0,199}", max_length=200),)

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [ps_command(f"Checkpoint-Computer -Description {ps_quote(params['description'])} "
                           "-RestorePointType 'MODIFY_SETTINGS' -ErrorAction Stop")]

    def _latest_point(self, ctx: StepContext) -> tuple[int, float | None]:
        """Sequence number and age in hours of the newest restore point (0, None when there is none)."""
        res = ctx.run(ps_command(RESTORE_POINT_QUERY), timeout=120)
        data = parse_json(res.stdout) if res.ok else None
        if not data:
            return 0, None
        age = data.get("AgeHours")
        return int(data.get("SequenceNumber") or 0), float(age) if isinstance(age, (int, float)) else None

    def _latest(self, ctx: StepContext) -> int:
        return self._latest_point(ctx)[0]

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["previous_sequence"] = self._latest(ctx)

    def verify(self, ctx: StepContext) -> Check:
        latest, age = self._latest_point(ctx)
        if latest > int(ctx.state.get("previous_sequence") or 0):
            return Check(False, tr("Wiederherstellungspunkt {n} erstellt.", "Restore point {n} created.", n=latest))
        if latest and age is not None and age < 24:
            # Windows creates at most one restore point per 24 hours; a recent one protects this run as well
            return Check(False, tr("Wiederherstellungspunkt {n} ist {h:.0f} h alt (Windows erstellt höchstens einen pro "
                                   "24 h) und sichert diesen Lauf ab.",
                                   "Restore point {n} is {h:.0f} h old (Windows creates at most one per 24 h) and "
                                   "covers this run.", n=latest, h=age))
        return Check(True, tr("Kein Wiederherstellungspunkt möglich – Systemschutz ist vermutlich aus "
                              "(Systemeigenschaften › Computerschutz einschalten).",
                              "No restore point possible – System Protection is probably off "
                              "(System Properties › System Protection)."))


_WU_SEARCH = ("$s = New-Object -ComObject Microsoft.Update.Session; "
              "$r = $s.CreateUpdateSearcher().Search(\"IsInstalled=0 and IsHidden=0 and Type='Software'\"); ")


class InstallUpdatesWin(Action):
    id = "win.install_updates"
    title_de, title_en = "Ausstehende Windows-Updates installieren", "Install pending Windows updates"
    explain_de = "Sucht, lädt und installiert alle ausstehenden Software-Updates über die Windows-Update-API."
    explain_en = "Searches, downloads and installs all pending software updates through the Windows Update API."
    platforms = ("windows",)
    risk = "high"
    timeout = 7200.0
    cannot_undo_de = ("Installierte Updates werden nicht automatisch entfernt; einzelne lassen sich über "
                      "„Updates deinstallieren“ entfernen, vorher wird ein Wiederherstellungspunkt erstellt.")
    cannot_undo_en = ("Installed updates are not removed automatically; single ones can be removed via 'Uninstall "
                      "updates', and a restore point is created first.")

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [ps_command(_WU_SEARCH +
                           "$c = New-Object -ComObject Microsoft.Update.UpdateColl; "
                           "foreach ($u in $r.Updates) { if (-not $u.EulaAccepted) { $u.AcceptEula() }; [void]$c.Add($u) }; "
                           "if ($c.Count -eq 0) { '{\"installed\":0}'; exit 0 }; "
                           "$d = $s.CreateUpdateDownloader(); $d.Updates = $c; [void]$d.Download(); "
                           "$i = $s.CreateUpdateInstaller(); $i.Updates = $c; $res = $i.Install(); "
                           "[pscustomobject]@{installed=$c.Count; result=$res.ResultCode; reboot=$res.RebootRequired} "
                           "| ConvertTo-Json -Compress; if ($res.ResultCode -ne 2) { exit 1 }")]

    def _pending(self, ctx: StepContext) -> int | None:
        res = ctx.run(ps_command(_WU_SEARCH + "[pscustomobject]@{count=$r.Updates.Count} | ConvertTo-Json -Compress"),
                      timeout=900)
        data = parse_json(res.stdout) if res.ok else None
        return int(data["count"]) if data and isinstance(data.get("count"), int) else None

    def check(self, ctx: StepContext) -> Check:
        count = self._pending(ctx)
        if count is None:
            return Check(None, tr("Update-Suche fehlgeschlagen.", "Update search failed."))
        return Check(count > 0, tr("{n} Updates ausstehend.", "{n} updates pending.", n=count))

    def apply(self, ctx: StepContext) -> None:
        res = ctx.must(self.commands(ctx.params)[0], timeout=self.timeout)
        ctx.state["result"] = parse_json(res.stdout)

    def verify(self, ctx: StepContext) -> Check:
        count = self._pending(ctx)
        reboot = bool((ctx.state.get("result") or {}).get("reboot"))
        note = tr(" Neustart erforderlich.", " Restart required.") if reboot else ""
        if count is None:   # the search after the update failed: not "None updates"
            return Check(None, tr("Update-Suche nach dem Lauf fehlgeschlagen.", "Update search after the run "
                                  "failed.") + note)
        if count == 0:
            return Check(False, tr("Keine Updates mehr ausstehend.", "No updates pending any more.") + note)
        return Check(True, tr("Noch {n} Updates ausstehend.", "{n} updates still pending.", n=count) + note)


ACTIONS = [ResetWindowsUpdate(), SfcScannow(), DismRestoreHealth(), FlushDnsWin(), ResetWinsock(), RestartService(),
           SetServiceStartType(), EnableFirewall(), UpdateDefenderSignatures(), ScheduleChkdsk(),
           CreateRestorePoint(), InstallUpdatesWin()]
