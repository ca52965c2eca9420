"""macOS repair actions (dscacheutil, socketfilterfw, softwareupdate, diskutil)."""

from __future__ import annotations

import re
from typing import Any

from ..i18n import tr
from ._model import Action, Check, Param, StepContext

SOCKETFILTERFW = "/usr/libexec/ApplicationFirewall/socketfilterfw"


class FlushDnsMac(Action):
    id = "macos.flush_dns"
    title_de, title_en = "DNS-Cache leeren", "Flush the DNS cache"
    explain_de = "Leert den Verzeichnisdienst-Cache und lässt mDNSResponder seinen Cache verwerfen (HUP)."
    explain_en = "Flushes the directory service cache and makes mDNSResponder drop its cache (HUP)."
    platforms = ("darwin",)
    risk = "low"
    timeout = 60.0
    cannot_undo_de = "Nichts zurückzunehmen: der Cache füllt sich von selbst wieder."
    cannot_undo_en = "Nothing to undo: the cache refills by itself."

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["dscacheutil", "-flushcache"], ["killall", "-HUP", "mDNSResponder"]]

    def verify(self, ctx: StepContext) -> Check:
        # HUP makes mDNSResponder drop its cache; it must still be running afterwards or name resolution stops.
        res = ctx.run(["pgrep", "-x", "mDNSResponder"], timeout=30)
        if res.ok and res.stdout.strip():
            return Check(False, tr("DNS-Cache geleert, mDNSResponder läuft.", "DNS cache flushed, mDNSResponder is running."))
        return Check(True, tr("mDNSResponder läuft nicht mehr.", "mDNSResponder is not running any more."))


class EnableFirewallMac(Action):
    id = "macos.enable_firewall"
    title_de, title_en = "Programm-Firewall einschalten", "Enable the application firewall"
    explain_de = "Schaltet die macOS-Programm-Firewall ein (socketfilterfw --setglobalstate on)."
    explain_en = "Turns the macOS application firewall on (socketfilterfw --setglobalstate on)."
    platforms = ("darwin",)
    risk = "medium"
    timeout = 60.0

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [[SOCKETFILTERFW, "--setglobalstate", "on"]]

    def _state(self, ctx: StepContext) -> bool | None:
        res = ctx.run([SOCKETFILTERFW, "--getglobalstate"], timeout=30)
        match = re.search(r"State = (\d)", res.stdout) if res.ok else None
        if match:
            return match.group(1) != "0"
        out = res.stdout.lower()
        return True if "is enabled" in out else False if "is disabled" in out else None

    def check(self, ctx: StepContext) -> Check:
        state = self._state(ctx)
        if state is None:
            return Check(None, tr("Firewall-Zustand unbekannt.", "Firewall state unknown."))
        return Check(not state, tr("Firewall ist an.", "Firewall is on.") if state else tr("Firewall ist aus.", "Firewall is off."))

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["previous_enabled"] = self._state(ctx)

    def verify(self, ctx: StepContext) -> Check:
        state = self._state(ctx)
        return Check(not state, tr("Firewall ist an.", "Firewall is on.") if state else tr("Firewall ist aus.", "Firewall is off."))

    def undo(self, ctx: StepContext) -> None:
        if ctx.state.get("previous_enabled") is False:
            ctx.must([SOCKETFILTERFW, "--setglobalstate", "off"])


class InstallUpdatesMac(Action):
    id = "macos.install_updates"
    title_de, title_en = "Empfohlene Updates installieren", "Install recommended updates"
    explain_de = "Installiert alle empfohlenen Software-Updates (softwareupdate --install --recommended)."
    explain_en = "Installs every recommended software update (softwareupdate --install --recommended)."
    platforms = ("darwin",)
    risk = "high"
    timeout = 7200.0
    cannot_undo_de = "macOS-Updates lassen sich nicht zurücknehmen (nur über ein Time-Machine-Backup)."
    cannot_undo_en = "macOS updates cannot be reversed (only through a Time Machine backup)."

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["softwareupdate", "--install", "--recommended"]]

    def _pending(self, ctx: StepContext) -> int | None:
        res = ctx.run(["softwareupdate", "--list"], timeout=900)
        text = res.stdout + "\n" + res.stderr
        if res.error:
            return None
        if "No new software available" in text:
            return 0
        titles = re.findall(r"^\s*Title: .*Recommended: YES", text, re.MULTILINE)
        return len(titles) if titles or "Label:" in text else None

    def check(self, ctx: StepContext) -> Check:
        count = self._pending(ctx)
        if count is None:
            return Check(None, tr("Update-Stand unbekannt.", "Update state unknown."))
        return Check(count > 0, tr("{n} empfohlene Updates.", "{n} recommended updates.", n=count))

    def verify(self, ctx: StepContext) -> Check:
        count = self._pending(ctx)
        if count is None:   # the search after the update failed: not "None updates"
            return Check(None, tr("Update-Stand nach dem Lauf unbekannt.", "Update state after the run unknown."))
        if count == 0:
            return Check(False, tr("Keine empfohlenen Updates mehr.", "No recommended updates left."))
        return Check(True, tr("Noch {n} empfohlene Updates (evtl. Neustart nötig).",
                              "{n} recommended updates left (a restart may be needed).", n=count))


class VerifyVolume(Action):
    id = "macos.verify_volume"
    title_de, title_en = "Volume prüfen (diskutil verifyVolume)", "Verify a volume (diskutil verifyVolume)"
    explain_de = "Prüft das Dateisystem eines Volumes nur lesend; Fehler zeigen, ob eine Reparatur nötig ist."
    explain_en = "Checks a volume's file system read-only; errors show whether a repair is needed."
    platforms = ("darwin",)
    risk = "low"
    timeout = 3600.0
    cannot_undo_de = "Nichts zurückzunehmen: die Prüfung ändert nichts."
    cannot_undo_en = "Nothing to undo: the check changes nothing."
    params = (Param("volume", "str", "/ oder /Volumes/Name oder diskNsM", "/ or /Volumes/Name or diskNsM", default="/",
                    pattern=r"/|/Volumes/[^\x00-\x1f/][^\x00-\x1f]{0,250}|disk[0-9]+(s[0-9]+)*"),)

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["diskutil", "verifyVolume", params["volume"]]]

    def apply(self, ctx: StepContext) -> None:
        res = ctx.run(self.commands(ctx.params)[0], timeout=self.timeout)
        ctx.state["returncode"] = res.returncode
        ctx.state["summary"] = [ln.strip() for ln in (res.stdout + "\n" + res.stderr).splitlines()
                                if "appears to be OK" in ln or "Error" in ln or "exit code" in ln][-3:]
        if res.error and res.error != "dry_run":
            ctx.must(self.commands(ctx.params)[0])  # raise with the runner's reason

    def verify(self, ctx: StepContext) -> Check:
        summary = " ".join(ctx.state.get("summary") or [])
        if ctx.state.get("returncode") == 0 and "Error" not in summary:
            return Check(False, summary or tr("Volume in Ordnung.", "Volume is OK."))
        return Check(True, tr("Dateisystemfehler gefunden – Reparatur im Wiederherstellungsmodus nötig: {s}",
                              "File system errors found – repair from Recovery needed: {s}", s=summary or "-"))


ACTIONS = [FlushDnsMac(), EnableFirewallMac(), InstallUpdatesMac(), VerifyVolume()]
