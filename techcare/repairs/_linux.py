"""Linux repair actions (systemd, dpkg/apt or dnf, journald, resolved, ufw)."""

from __future__ import annotations

import re
from typing import Any

from ..i18n import tr
from ._model import Action, Check, Param, StepContext, StepFailed

UNIT_NAME = r"[A-Za-z0-9][A-Za-z0-9:_.@\\\-]{0,200}"
NONINTERACTIVE = ["env", "DEBIAN_FRONTEND=noninteractive"]
APT_OPTS = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]


def unit_state(ctx: StepContext, unit: str) -> str | None:
    res = ctx.run(["systemctl", "is-active", unit], timeout=30)
    word = res.stdout.strip().splitlines()[0].strip() if res.stdout.strip() else ""
    return word if res.error is None and word else None


class RestartUnit(Action):
    id = "linux.restart_unit"
    title_de, title_en = "systemd-Unit neu starten", "Restart a systemd unit"
    explain_de = "Setzt den Fehlerzustand zurück, startet die Unit neu und prüft, dass sie aktiv ist."
    explain_en = "Resets the failed state, restarts the unit and checks that it is active."
    platforms = ("linux",)
    risk = "low"
    timeout = 180.0
    params = (Param("unit", "str", "Unit-Name wie nginx.service", "a unit name like nginx.service", pattern=UNIT_NAME),)

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["systemctl", "reset-failed", params["unit"]], ["systemctl", "restart", params["unit"]]]

    def apply(self, ctx: StepContext) -> None:
        reset, restart = self.commands(ctx.params)
        ctx.run(reset, timeout=30)  # fails harmlessly when the unit is not in the failed state
        ctx.must(restart, timeout=self.timeout)

    def check(self, ctx: StepContext) -> Check:
        state = unit_state(ctx, ctx.params["unit"])
        if state is None:
            return Check(None, tr("Zustand von {u} unbekannt.", "State of {u} unknown.", u=ctx.params["unit"]))
        return Check(state != "active", tr("{u} ist {s}.", "{u} is {s}.", u=ctx.params["unit"], s=state))

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["previous_state"] = unit_state(ctx, ctx.params["unit"])

    def verify(self, ctx: StepContext) -> Check:
        state = unit_state(ctx, ctx.params["unit"])
        return Check(state != "active", tr("{u} ist jetzt {s}.", "{u} is now {s}.", u=ctx.params["unit"], s=state or "?"))

    def undo(self, ctx: StepContext) -> None:
        if ctx.state.get("previous_state") != "active":
            ctx.must(["systemctl", "stop", ctx.params["unit"]], timeout=self.timeout)


class DpkgConfigure(Action):
    id = "linux.dpkg_configure"
    title_de, title_en = "Unterbrochene Paketinstallationen abschließen (dpkg --configure -a)", \
        "Finish interrupted package installs (dpkg --configure -a)"
    explain_de = "Konfiguriert alle entpackten, aber nicht fertig eingerichteten Pakete."
    explain_en = "Configures every unpacked but not fully set up package."
    platforms = ("linux",)
    risk = "medium"
    timeout = 3600.0
    cannot_undo_de = "Paketkonfiguration lässt sich nicht zurücknehmen; dpkg-Protokoll: /var/log/dpkg.log."
    cannot_undo_en = "Package configuration cannot be reversed; dpkg log: /var/log/dpkg.log."

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [[*NONINTERACTIVE, "dpkg", "--configure", "-a"]]

    def _audit(self, ctx: StepContext) -> Check:
        res = ctx.run(["dpkg", "--audit"], timeout=120)
        if res.error:
            return Check(None, tr("dpkg nicht verfügbar.", "dpkg not available."))
        if res.stdout.strip():
            return Check(True, tr("dpkg meldet unfertige Pakete: {o}", "dpkg reports unfinished packages: {o}",
                                  o=res.stdout.strip().splitlines()[-1].strip()))
        return Check(False, tr("Alle Pakete sind fertig konfiguriert.", "All packages are configured."))

    check = _audit
    verify = _audit


class AptFixBroken(Action):
    id = "linux.apt_fix_broken"
    title_de, title_en = "Kaputte Paketabhängigkeiten reparieren (apt-get -f install)", \
        "Fix broken package dependencies (apt-get -f install)"
    explain_de = "Installiert fehlende oder entfernt widersprüchliche Abhängigkeiten, bis apt-get check sauber ist."
    explain_en = "Installs missing or removes conflicting dependencies until apt-get check is clean."
    platforms = ("linux",)
    risk = "high"
    timeout = 3600.0
    cannot_undo_de = "apt kann Paketänderungen nicht automatisch zurücknehmen; sie stehen in /var/log/apt/history.log."
    cannot_undo_en = "apt cannot reverse package changes automatically; they are listed in /var/log/apt/history.log."

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [[*NONINTERACTIVE, "apt-get", "-f", "install", "-y", *APT_OPTS]]

    def _check(self, ctx: StepContext) -> Check:
        res = ctx.run(["apt-get", "check"], timeout=300)
        if res.error:
            return Check(None, tr("apt-get nicht verfügbar.", "apt-get not available."))
        if res.returncode != 0:
            lines = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.startswith("E:")]
            return Check(True, lines[0] if lines else tr("apt-get check meldet Fehler.", "apt-get check reports errors."))
        return Check(False, tr("Keine kaputten Abhängigkeiten.", "No broken dependencies."))

    check = _check
    verify = _check


class AptClean(Action):
    id = "linux.apt_clean"
    title_de, title_en = "Paket-Cache leeren (apt-get clean)", "Clear the package cache (apt-get clean)"
    explain_de = "Löscht heruntergeladene .deb-Dateien aus /var/cache/apt/archives."
    explain_en = "Deletes downloaded .deb files from /var/cache/apt/archives."
    platforms = ("linux",)
    risk = "low"
    timeout = 300.0
    cannot_undo_de = "Gelöschte Paketdateien werden nicht gesichert; apt lädt sie bei Bedarf neu."
    cannot_undo_en = "Deleted package files are not kept; apt downloads them again when needed."
    ARCHIVES = "/var/cache/apt/archives"

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["apt-get", "clean"]]

    def _debs(self, ctx: StepContext) -> Check:
        names = ctx.runner.list_dir(self.ARCHIVES)
        if names is None:
            return Check(None, tr("{d} nicht lesbar.", "{d} not readable.", d=self.ARCHIVES))
        debs = [n for n in names if n.endswith(".deb")]
        return Check(bool(debs), tr("{n} Paketdateien im Cache.", "{n} package files in the cache.", n=len(debs)))

    check = _debs
    verify = _debs


_SIZE = re.compile(r"take up ([0-9.]+)\s*([BKMGTP]?)", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_size(text: str) -> int | None:
    match = re.fullmatch(r"\s*([0-9.]+)\s*([BKMGTP]?)\s*", text or "", re.IGNORECASE)
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()]) if match else None


class JournalVacuum(Action):
    id = "linux.journal_vacuum"
    title_de, title_en = "Systemjournal verkleinern", "Vacuum the system journal"
    explain_de = "Löscht archivierte Journal-Dateien, bis das Journal höchstens die angegebene Größe hat."
    explain_en = "Deletes archived journal files until the journal takes at most the given size."
    platforms = ("linux",)
    risk = "low"
    timeout = 600.0
    cannot_undo_de = "Gelöschte alte Protokolleinträge lassen sich nicht wiederherstellen."
    cannot_undo_en = "Deleted old log entries cannot be restored."
    params = (Param("max_size", "str", "Größe wie 200M oder 1G", "a size like 200M or 1G", default="500M",
                    pattern=r"[1-9][0-9]{0,5}[KMG]"),)

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["journalctl", f"--vacuum-size={params['max_size']}"]]

    def _usage(self, ctx: StepContext) -> int | None:
        res = ctx.run(["journalctl", "--disk-usage"], timeout=60)
        match = _SIZE.search(res.stdout + res.stderr) if res.ok else None
        return parse_size(match.group(1) + match.group(2)) if match else None

    def check(self, ctx: StepContext) -> Check:
        usage, limit = self._usage(ctx), parse_size(ctx.params["max_size"])
        if usage is None or limit is None:
            return Check(None, tr("Journal-Größe unbekannt.", "Journal size unknown."))
        return Check(usage > limit, tr("Journal: {u:.0f} MB (Ziel {m}).", "Journal: {u:.0f} MB (target {m}).",
                                       u=usage / 1024**2, m=ctx.params["max_size"]))

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["usage_before"] = self._usage(ctx)

    def verify(self, ctx: StepContext) -> Check:
        usage, limit = self._usage(ctx), parse_size(ctx.params["max_size"])
        before = ctx.state.get("usage_before")
        if usage is None or limit is None:
            return Check(None, tr("Journal-Größe unbekannt.", "Journal size unknown."))
        # vacuum removes archived files only; the active file may keep the journal slightly above the target
        if usage <= limit or (before and usage < before):
            return Check(False, tr("Journal jetzt {u:.0f} MB.", "Journal now {u:.0f} MB.", u=usage / 1024**2))
        return Check(True, tr("Journal weiterhin {u:.0f} MB.", "Journal still {u:.0f} MB.", u=usage / 1024**2))


class FlushDnsLinux(Action):
    id = "linux.flush_dns"
    title_de, title_en = "DNS-Cache leeren (systemd-resolved)", "Flush the DNS cache (systemd-resolved)"
    explain_de = "Leert den Cache von systemd-resolved (resolvectl flush-caches)."
    explain_en = "Empties the systemd-resolved cache (resolvectl flush-caches)."
    platforms = ("linux",)
    risk = "low"
    timeout = 60.0
    cannot_undo_de = "Nichts zurückzunehmen: der Cache füllt sich von selbst wieder."
    cannot_undo_en = "Nothing to undo: the cache refills by itself."

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["resolvectl", "flush-caches"]]

    def check(self, ctx: StepContext) -> Check:
        if unit_state(ctx, "systemd-resolved") != "active":
            return Check(False, tr("systemd-resolved läuft nicht – kein lokaler DNS-Cache.",
                                   "systemd-resolved is not running – no local DNS cache."))
        return self._cache(ctx)

    def _cache(self, ctx: StepContext) -> Check:
        res = ctx.run(["resolvectl", "statistics"], timeout=30)
        match = re.search(r"Current Cache Size:\s*(\d+)", res.stdout)
        if not match:
            return Check(None, tr("Cache-Größe unbekannt.", "Cache size unknown."))
        size = int(match.group(1))
        return Check(size > 0, tr("Cache-Einträge: {n}.", "Cache entries: {n}.", n=size))

    def verify(self, ctx: StepContext) -> Check:
        return self._cache(ctx)


class EnableUfw(Action):
    id = "linux.enable_ufw"
    title_de, title_en = "Firewall einschalten (ufw)", "Enable the firewall (ufw)"
    explain_de = ("Schaltet ufw ein (eingehend standardmäßig gesperrt). Achtung bei Fernwartung über SSH: vorher "
                  "eine Regel für SSH anlegen.")
    explain_en = ("Turns ufw on (incoming blocked by default). Careful with remote SSH sessions: add an SSH rule "
                  "first.")
    platforms = ("linux",)
    risk = "high"
    timeout = 60.0

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        return [["ufw", "--force", "enable"]]

    def _status(self, ctx: StepContext) -> str | None:
        res = ctx.run(["ufw", "status"], timeout=30)
        match = re.search(r"^Status:\s*(\w+)", res.stdout, re.MULTILINE) if res.ok else None
        return match.group(1).lower() if match else None

    def check(self, ctx: StepContext) -> Check:
        status = self._status(ctx)
        if status is None:
            return Check(None, tr("ufw-Status unbekannt (ufw installiert? root?).", "ufw status unknown (installed? root?)."))
        return Check(status != "active", f"ufw: {status}")

    def prepare(self, ctx: StepContext) -> None:
        ctx.state["previous"] = self._status(ctx)

    def verify(self, ctx: StepContext) -> Check:
        status = self._status(ctx)
        return Check(status != "active", f"ufw: {status or '?'}")

    def undo(self, ctx: StepContext) -> None:
        if ctx.state.get("previous") == "inactive":
            ctx.must(["ufw", "disable"])


class InstallUpdatesLinux(Action):
    id = "linux.install_updates"
    title_de, title_en = "Ausstehende Updates installieren", "Install pending updates"
    explain_de = "Aktualisiert die Paketlisten und installiert alle ausstehenden Updates (apt oder dnf)."
    explain_en = "Refreshes the package lists and installs every pending update (apt or dnf)."
    platforms = ("linux",)
    risk = "high"
    timeout = 7200.0
    cannot_undo_de = "Paket-Updates lassen sich nicht automatisch zurücknehmen; siehe /var/log/apt/history.log bzw. dnf history."
    cannot_undo_en = "Package updates cannot be reversed automatically; see /var/log/apt/history.log or dnf history."

    # The package manager is a shown parameter (the diagnosis fills it in), so the plan shows exactly what runs.
    params = (Param("manager", "choice", "", "", default="apt", choices=("apt", "dnf")),)
    _BINARY = {"apt": "apt-get", "dnf": "dnf"}

    def _manager(self, ctx: StepContext) -> str:
        return str(ctx.params.get("manager") or "apt")

    def commands(self, params: dict[str, Any], ctx: StepContext | None = None) -> list[list[str]]:
        if params.get("manager") == "dnf":
            return [["dnf", "-y", "upgrade"]]
        return [["apt-get", "update"], [*NONINTERACTIVE, "apt-get", "-y", *APT_OPTS, "upgrade"]]

    def prepare(self, ctx: StepContext) -> None:
        binary = self._BINARY[self._manager(ctx)]
        if not ctx.runner.which(binary):
            raise StepFailed(tr("{b} gibt es auf diesem System nicht – der Plan passt nicht zu dieser Maschine; bitte neu "
                                "diagnostizieren.", "{b} is not on this system – the plan does not fit this machine; "
                                "please diagnose again.", b=binary))

    def _pending(self, ctx: StepContext) -> int | None:
        if self._manager(ctx) == "dnf":
            res = ctx.run(["dnf", "-q", "check-update"], timeout=600)
            if res.returncode == 0:
                return 0
            if res.returncode == 100:  # dnf: 100 = updates available
                return sum(1 for ln in res.stdout.splitlines() if ln.strip() and not ln.startswith((" ", "Obsoleting")))
            return None
        res = ctx.run(["apt-get", "-s", "upgrade"], timeout=600)
        match = re.search(r"^(\d+) upgraded,", res.stdout, re.MULTILINE) if res.ok else None
        return int(match.group(1)) if match else None

    def check(self, ctx: StepContext) -> Check:
        count = self._pending(ctx)
        if count is None:
            return Check(None, tr("Update-Stand unbekannt.", "Update state unknown."))
        return Check(count > 0, tr("{n} Updates ausstehend.", "{n} updates pending.", n=count))

    def verify(self, ctx: StepContext) -> Check:
        count = self._pending(ctx)
        if count is None:   # the search after the update failed: not "None updates"
            return Check(None, tr("Update-Stand nach dem Lauf unbekannt.", "Update state after the run unknown."))
        if count == 0:
            return Check(False, tr("Keine Updates mehr ausstehend.", "No updates pending any more."))
        return Check(True, tr("Noch {n} Updates ausstehend.", "{n} updates still pending.", n=count))

    def apply(self, ctx: StepContext) -> None:
        for argv in self.commands(ctx.params, ctx):
            ctx.must(argv, timeout=self.timeout)
        if ctx.runner.read_file("/var/run/reboot-required").ok:
            ctx.state["reboot_required"] = True


ACTIONS = [RestartUnit(), DpkgConfigure(), AptFixBroken(), AptClean(), JournalVacuum(), FlushDnsLinux(), EnableUfw(),
           InstallUpdatesLinux()]
