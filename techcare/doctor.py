"""``techcare doctor``: check everything between this machine and the backend, and say what to do.

Checks, in the order a connection is built: configuration, network method, DNS, TCP, TLS certificate (expiry,
host name), ``GET /api/health``, clock skew against the server, license state, the sensor spool backlog, the
technician password and the prerequisites of the driver check. Each failure comes with the product's
troubleshooting steps ("Lizenz-Check fehlgeschlagen", "Connection refused", "Passwort falsch",
"Driver-Check fehlgeschlagen").

Exit status of ``techcare doctor`` (for scripts): 0 when no check failed (warnings are listed in the summary),
1 when at least one check failed, and with ``--strict`` also 1 when there are warnings.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from .errors import TechCareError
from .i18n import tr
from .i18n_argparse import Parser
from .network import Check, check_network_method, is_loopback_host, resolve

__all__ = ["Check", "Doctor", "build_parser", "exit_status", "main", "render", "run_checks"]

SKEW_WARN = 60.0
SKEW_FAIL = 600.0
CERT_WARN_DAYS = 14


_ROUTE_FIX = {
    "cloudflare": ("Prüfe den Cloudflare Tunnel (cloudflared tunnel info techcare)",
                   "Check the Cloudflare Tunnel (cloudflared tunnel info techcare)"),
    "tailscale": ("Prüfe Tailscale auf beiden Seiten (tailscale status)",
                  "Check Tailscale on both sides (tailscale status)"),
    "vpn": ("Prüfe, ob das VPN verbunden ist (WireGuard/OpenVPN)",
            "Check that the VPN is connected (WireGuard/OpenVPN)"),
    "direct": ("Prüfe die Portweiterleitung am Router", "Check the port forwarding on the router"),
}


def _fix_connection_refused(settings: Any = None) -> str:
    url = getattr(settings, "backend_url", None) or ""
    if is_loopback_host(urlsplit(url).hostname or ""):
        return tr("Connection refused – das Backend auf diesem Rechner läuft nicht:\n"
                  "  1. scripts/start startet es (oder: techcare-backend serve)\n"
                  "  2. Log ansehen: data/backend.log\n"
                  "  3. Port in BACKEND_URL prüfen ({url})",
                  "Connection refused – the backend on this machine is not running:\n"
                  "  1. scripts/start starts it (or: techcare-backend serve)\n"
                  "  2. Look at the log: data/backend.log\n"
                  "  3. Check the port in BACKEND_URL ({url})", url=url)
    route = _ROUTE_FIX.get(getattr(settings, "network_method", ""), (
        "Prüfe das Cloudflare/Tailscale/VPN-Setup", "Check the Cloudflare/Tailscale/VPN setup"))
    return tr("Connection refused – so gehst du vor:\n"
              "  1. Prüfe, ob die Docker-Services laufen (docker compose ps)\n"
              "  2. Prüfe die Firewall-Regeln\n"
              "  3. {route}",
              "Connection refused – what to do:\n"
              "  1. Check that the Docker services are running (docker compose ps)\n"
              "  2. Check the firewall rules\n"
              "  3. {route}", route=tr(*route))


def _fix_license() -> str:
    return tr("Lizenz-Check fehlgeschlagen – so gehst du vor:\n"
              "  1. Prüfe BACKEND_URL in .env\n  2. Prüfe die Netzwerkverbindung (ping)\n"
              "  3. Prüfe den Lizenzschlüssel\n  4. Prüfe, ob der License-Server läuft",
              "License check failed – what to do:\n"
              "  1. Check BACKEND_URL in .env\n  2. Check the network connection (ping)\n"
              "  3. Check the license key\n  4. Check that the license server is running")


def _fix_unreachable_license(url: str) -> str:
    return tr("Backend nicht erreichbar – so gehst du vor:\n"
              "  1. Prüfe, ob das Backend läuft ({url}; lokal: scripts/start, Log data/backend.log)\n"
              "  2. Prüfe BACKEND_URL in .env und die Punkte DNS/TCP oben\n"
              "  3. Danach: techcare license (prüft online und speichert die Lizenz für 7 Tage offline)",
              "The backend is unreachable – what to do:\n"
              "  1. Check that the backend is running ({url}; locally: scripts/start, log data/backend.log)\n"
              "  2. Check BACKEND_URL in .env and the DNS/TCP lines above\n"
              "  3. Then: techcare license (checks online and caches the license for 7 days offline)", url=url)


def _parse_ts(value: Any) -> float | None:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None


class Doctor:
    """Runs the checks. Network, clock, TLS trust store and backend client are injectable for tests."""

    def __init__(self, settings: Any = None, *, runner: Any = None, client: Any = None,
                 resolver: Callable[[str, int], list[str]] = resolve, clock: Callable[[], float] = time.time,
                 cafile: str | None = None, timeout: float = 5.0, license_manager: Any = None) -> None:
        self.settings = settings
        self.runner = runner
        self._client = client
        self.resolver = resolver
        self.clock = clock
        self.cafile = cafile
        self.timeout = timeout
        self._license_manager = license_manager
        self.checks: list[Check] = []
        self.server_time: float | None = None
        self.backend_reachable: bool | None = None   # None: no backend configured

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    # ---- the checks -------------------------------------------------------------------------------------
    def run(self) -> list[Check]:
        if not self.check_config():
            return self.checks
        s = self.settings
        for check in check_network_method(s, runner=self.runner, resolver=self.resolver):
            self.add(check)
        if s.backend_url:
            parts = urlsplit(s.backend_url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            self.backend_reachable = False
            if self.check_dns(host, port) and self.check_tcp(host, port):
                if parts.scheme == "https":
                    self.check_tls(host, port)
                self.check_health()
                self.check_clock()
                self.check_api_key()
        self.check_license()
        self.check_spool()
        self.check_journals()
        self.check_password()
        self.check_driver_prerequisites()
        return self.checks

    def check_config(self) -> bool:
        from .errors import ConfigError

        name = tr("Konfiguration", "Configuration")
        if self.settings is None:
            try:
                from .config import get_settings

                self.settings = get_settings()
            except ConfigError as exc:
                self.add(Check(name, "fail", exc.message, exc.hint))
                return False
        from .config import resolve_env_file

        env = resolve_env_file()
        self.add(Check(name, "ok", tr("{env}; Edition {ed}; Netzwerk {m}", "{env}; edition {ed}; network {m}",
                                      env=env if env.exists() else tr("keine .env", "no .env"),
                                      ed=self.settings.edition, m=self.settings.network_method)))
        if not self.settings.backend_url:
            needed = self.settings.edition != "community"
            self.add(Check("BACKEND_URL", "fail" if needed else "skip",
                           tr("nicht gesetzt", "not set"),
                           tr("BACKEND_URL in .env eintragen (techcare setup), z.B. https://techcare.firma.de",
                              "Set BACKEND_URL in .env (techcare setup), e.g. https://techcare.example.com")
                           if needed else None))
        return True

    def check_dns(self, host: str, port: int) -> bool:
        try:
            addresses = self.resolver(host, port)
        except OSError as exc:
            self.add(Check("DNS", "fail", tr("{h} lässt sich nicht auflösen: {e}", "{h} does not resolve: {e}",
                                             h=host, e=exc),
                           tr("Host-Namen in BACKEND_URL prüfen; bei Tailscale: tailscale up und MagicDNS; "
                              "bei Cloudflare: cloudflared tunnel route dns …",
                              "Check the host name in BACKEND_URL; Tailscale: tailscale up and MagicDNS; "
                              "Cloudflare: cloudflared tunnel route dns …")))
            return False
        self.add(Check("DNS", "ok", f"{host} -> {', '.join(addresses[:4])}"))
        return True

    def check_tcp(self, host: str, port: int) -> bool:
        started = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=self.timeout):
                pass
        except ConnectionRefusedError:
            self.add(Check("TCP", "fail", f"{host}:{port}: Connection refused", _fix_connection_refused(self.settings)))
            return False
        except TimeoutError:
            self.add(Check("TCP", "fail", tr("{h}:{p}: keine Antwort in {t:g} s", "{h}:{p}: no answer within {t:g} s",
                                             h=host, p=port, t=self.timeout), _fix_connection_refused(self.settings)))
            return False
        except OSError as exc:
            self.add(Check("TCP", "fail", f"{host}:{port}: {exc}", _fix_connection_refused(self.settings)))
            return False
        self.add(Check("TCP", "ok", f"{host}:{port} ({(time.monotonic() - started) * 1000:.0f} ms)"))
        return True

    def check_tls(self, host: str, port: int) -> bool:
        context = ssl.create_default_context(cafile=self.cafile)
        try:
            with socket.create_connection((host, port), timeout=self.timeout) as raw:
                with context.wrap_socket(raw, server_hostname=host) as tls:
                    cert = tls.getpeercert() or {}
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or str(exc)
            if "expired" in reason.lower():
                fix = tr("Das Server-Zertifikat ist abgelaufen: auf dem Server erneuern (Cloudflare/ACME).",
                         "The server certificate has expired: renew it on the server (Cloudflare/ACME).")
            elif "hostname" in reason.lower() or "match" in reason.lower():
                fix = tr("Das Zertifikat passt nicht zum Host-Namen in BACKEND_URL.",
                         "The certificate does not match the host name in BACKEND_URL.")
            else:
                fix = tr("Zertifikat ist nicht vertrauenswürdig (selbst signiert?). Ein gültiges Zertifikat auf dem "
                         "Server einrichten (z.B. Let's Encrypt) oder einen Cloudflare Tunnel verwenden.",
                         "The certificate is not trusted (self-signed?). Set up a valid certificate on the server "
                         "(e.g. Let's Encrypt) or use a Cloudflare Tunnel.")
            self.add(Check("TLS", "fail", reason, fix))
            return False
        except (ssl.SSLError, OSError) as exc:
            self.add(Check("TLS", "fail", str(exc), tr("Spricht der Port wirklich HTTPS? BACKEND_URL prüfen.",
                                                       "Does the port really speak HTTPS? Check BACKEND_URL.")))
            return False
        not_after = cert.get("notAfter")
        days = None
        if not_after:
            days = (ssl.cert_time_to_seconds(not_after) - self.clock()) / 86400
        if days is not None and days < CERT_WARN_DAYS:
            self.add(Check("TLS", "warn", tr("Zertifikat läuft in {d:.0f} Tagen ab",
                                             "certificate expires in {d:.0f} days", d=days),
                           tr("Zertifikat auf dem Server erneuern.", "Renew the certificate.")))
        else:
            self.add(Check("TLS", "ok", tr("gültig für {h}, noch {d:.0f} Tage", "valid for {h}, {d:.0f} days left",
                                           h=host, d=days or 0)))
        return True

    @property
    def client(self) -> Any:
        if self._client is None:
            from .backend_client import BackendClient

            self._client = BackendClient(settings=self.settings, retries=0, timeout=self.timeout)
        return self._client

    def check_health(self) -> None:
        from .errors import BackendError

        try:
            response = self.client.request("GET", "/api/health", auth=False, retries=0)
            body = response.json()
        except BackendError as exc:
            self.add(Check(tr("Backend-Health", "Backend health"), "fail", exc.message,
                           _fix_connection_refused(self.settings) if "refused" in exc.message.lower() else exc.hint))
            return
        except ValueError:
            self.add(Check(tr("Backend-Health", "Backend health"), "fail",
                           tr("Antwort ist kein JSON – zeigt BACKEND_URL auf den TechCare-Server?",
                              "The answer is not JSON – does BACKEND_URL point at the TechCare server?")))
            return
        date = response.headers.get("Date")
        self.server_time = _parse_ts(body.get("ts")) if isinstance(body, dict) else None
        if self.server_time is None and date:
            try:
                self.server_time = parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                pass
        status = body.get("status") if isinstance(body, dict) else None
        detail = (f"status={status} database={body.get('database')} cache={body.get('cache')} "
                  f"version={body.get('version')}")
        self.backend_reachable = True
        if status == "ok":
            self.add(Check(tr("Backend-Health", "Backend health"), "ok", detail))
        elif status == "degraded":
            self.add(Check(tr("Backend-Health", "Backend health"), "warn", detail,
                           tr("Datenbank oder Redis auf dem Server prüfen (docker compose ps, Logs).",
                              "Check the database or Redis on the server (docker compose ps, logs).")))
        else:
            self.add(Check(tr("Backend-Health", "Backend health"), "fail", detail,
                           tr("Backend-Logs prüfen (docker compose logs license-server).",
                              "Check the backend logs (docker compose logs).")))

    def check_api_key(self) -> None:
        from .backend_client import BackendHTTPError
        from .errors import BackendError

        name = tr("API-Schlüssel", "API key")
        if not self.settings.techcare_api_key:
            self.add(Check(name, "skip", tr("TECHCARE_API_KEY nicht gesetzt", "TECHCARE_API_KEY not set")))
            return
        try:
            me = self.client.me()
        except BackendHTTPError as exc:
            fix = tr("Neuen Schlüssel beim Backend-Admin anfordern (tck_…) und TECHCARE_API_KEY in .env ersetzen.",
                     "Ask the backend admin for a new key (tck_…) and replace TECHCARE_API_KEY in .env.")
            self.add(Check(name, "fail", exc.message, fix if exc.status_code in (401, 403) else exc.hint))
            return
        except BackendError as exc:
            self.add(Check(name, "fail", exc.message, exc.hint))
            return
        org = (me.get("organisation") or {}).get("name", "?")
        detail = f"{me.get('role')} · {org}" + (f" · {me['technician']}" if me.get("technician") else "")
        if me.get("role") == "sensor" and "sensor_mode" not in (me.get("entitlements") or []):
            self.add(Check(name, "fail", detail + tr(" – die Lizenz der Organisation hat keinen Sensor-Mode",
                                                     " – the organisation's license has no sensor mode"),
                           tr("Sensor-Mode braucht Pro Business oder höher.",
                              "Sensor mode needs Pro Business or higher.")))
            return
        self.add(Check(name, "ok", detail))

    def check_clock(self) -> None:
        name = tr("Uhrzeit", "Clock")
        if self.server_time is None:
            self.add(Check(name, "skip", tr("Serverzeit unbekannt", "server time unknown")))
            return
        skew = self.clock() - self.server_time
        detail = tr("Abweichung zur Serverzeit: {s:+.0f} s", "offset from the server time: {s:+.0f} s", s=skew)
        fix = tr("Zeitsynchronisation einschalten (Windows: w32tm /resync; Linux: timedatectl set-ntp true; "
                 "macOS: Datum & Uhrzeit automatisch).",
                 "Turn on time synchronisation (Windows: w32tm /resync; Linux: timedatectl set-ntp true; "
                 "macOS: set date and time automatically).")
        if abs(skew) > SKEW_FAIL:
            self.add(Check(name, "fail", detail + tr(" – Offline-Lizenz wird als Manipulation gewertet",
                                                     " – the offline license treats this as tampering"), fix))
        elif abs(skew) > SKEW_WARN:
            self.add(Check(name, "warn", detail, fix))
        else:
            self.add(Check(name, "ok", detail))

    def check_license(self) -> None:
        name = tr("Lizenz", "License")
        try:
            if self._license_manager is None:
                from .license import LicenseManager

                client = self._client if self.settings.backend_url else None
                self._license_manager = LicenseManager(self.settings, client=client, runner=self.runner)
            status = self._license_manager.check()
        except TechCareError as exc:   # said on purpose (e.g. this machine's id cannot be read): its words, its advice
            self.add(Check(name, "fail", exc.message, exc.hint or _fix_license()))
            return
        except Exception as exc:  # noqa: BLE001 - the doctor must report, not crash
            self.add(Check(name, "fail", f"{type(exc).__name__}: {exc}", _fix_license()))
            return
        first_line = status.message.splitlines()[0]
        if (self.settings.license_key and not status.ok and not status.online and self.backend_reachable is False
                and self._license_manager.cached_lease() is None):
            # Nothing was verified and nothing failed verification: the first online check never happened.
            self.add(Check(name, "fail", tr(
                "nicht geprüft – das Backend ist nicht erreichbar und es ist noch keine Lizenz zwischengespeichert "
                "(die erste Prüfung braucht eine Verbindung)",
                "not checked – the backend is unreachable and no license is cached yet (the first check needs a "
                "connection)"), _fix_unreachable_license(self.settings.backend_url)))
            return
        if status.ok and status.code == "OFFLINE_GRACE":
            self.add(Check(name, "warn", first_line, _fix_unreachable_license(self.settings.backend_url or "-")))
        elif status.ok:
            self.add(Check(name, "ok", first_line))
        else:
            self.add(Check(name, "fail", f"{status.code}: {first_line}", _fix_license()))

    def check_spool(self) -> None:
        from .monitoring.spool import Spool, SpoolError

        name = tr("Sensor-Spool", "Sensor spool")
        path = self.settings.techcare_home / "sensor-spool.sqlite3"
        damaged = sorted(path.parent.glob(f"{path.name}.damaged-*[!lm]")) if path.parent.is_dir() else []
        if not path.exists() and not damaged:
            self.add(Check(name, "skip", tr("kein Sensor auf diesem Rechner", "no sensor on this machine")))
            return
        try:
            with Spool(path, repair=False) as spool:   # looks only: the sensor quarantines and salvages
                stats = spool.stats()
                scan = spool.scan()
        except SpoolError as exc:
            self.add(Check(name, "fail", exc.message, exc.hint))
            return
        pending, oldest = stats["pending"], stats["oldest_created"]
        age = (self.clock() - oldest) if oldest else 0.0
        detail = tr("{n} Messungen warten (älteste {a:.0f} min), {d} verworfen, {r} abgelehnt",
                    "{n} samples waiting (oldest {a:.0f} min), {d} dropped, {r} rejected",
                    n=pending, a=age / 60, d=stats["dropped_total"], r=stats["rejected"])
        damage = []
        if stats["quarantined"]:
            damage.append(tr("{q} unlesbare Messungen in Quarantäne (nicht gesendet)",
                             "{q} unreadable samples quarantined (not sent)", q=stats["quarantined"]))
        if scan["unreadable"]:
            damage.append(tr("{u} wartende Messungen unlesbar (der Sensor legt sie in Quarantäne)",
                             "{u} waiting samples unreadable (the sensor quarantines them)", u=scan["unreadable"]))
        if stats["unreadable_total"]:
            damage.append(tr("{u} Messungen in einer beschädigten Datei verloren (als verworfen gemeldet)",
                             "{u} samples lost in a damaged file (reported as dropped)", u=stats["unreadable_total"]))
        if stats.get("unknown_losses"):
            damage.append(tr("{k}-mal eine beschädigte Datei, deren Verlust sich nicht mehr bestimmen ließ "
                             "(unbekannt wie viele Messungen)",
                             "{k} damaged file(s) whose loss could not be told (unknown how many samples)",
                             k=stats["unknown_losses"]))
        if damaged:
            damage.append(tr("beschädigte Datei beiseitegelegt: {f}", "damaged file kept aside: {f}",
                             f=", ".join(p.name for p in damaged)))
        if damage:
            self.add(Check(name, "warn", detail + "; " + "; ".join(damage),
                           tr("Diese Messungen fehlen im Verlauf. Die Quarantäne bleibt in {p} (Tabelle quarantine) "
                              "zum Nachsehen; häufige Schäden deuten auf einen defekten Datenträger (SMART prüfen).",
                              "These samples are missing from the history. The quarantine stays in {p} (table "
                              "quarantine) to look at; frequent damage points to a failing disk (check SMART).",
                              p=path)))
        elif pending and age > 3 * self.settings.sensor_interval:
            self.add(Check(name, "warn", detail, tr("Der Sensor erreicht das Backend nicht: Netzwerk und "
                                                    "TECHCARE_API_KEY prüfen; nichts geht verloren, er sendet nach.",
                                                    "The sensor cannot reach the backend: check the network and "
                                                    "TECHCARE_API_KEY; nothing is lost, it catches up.")))
        else:
            self.add(Check(name, "ok", detail))

    def check_journals(self) -> None:
        """The repair journals (one per session): damaged lines, files that cannot be read."""
        from .repairs import JournalError, read_journal_file

        name = tr("Änderungsprotokolle", "Changelogs")
        folder = self.settings.changelogs_dir
        if not folder.exists():
            self.add(Check(name, "skip", tr("noch keine Reparatursitzung", "no repair session yet")))
            return
        if not folder.is_dir():
            self.add(Check(name, "fail", tr("{p} ist kein Ordner", "{p} is not a directory", p=folder),
                           tr("Die Datei beiseitelegen; TechCare legt den Ordner neu an.",
                              "Move the file aside; TechCare creates the directory again.")))
            return
        # a journal deleted while its .head remains is a session too: its head proves entries that are gone
        files = sorted(set(folder.glob("*.jsonl")) | {h.with_name(h.name.removesuffix(".head"))
                                                       for h in folder.glob("*.jsonl.head")})
        damaged: list[str] = []
        unreadable: list[str] = []
        unverified = 0
        for path in files:
            try:
                result = read_journal_file(path)
            except JournalError as exc:
                unreadable.append(f"{path.name} ({exc.message})")
                continue
            unverified += result.unverified
            if result.missing:
                damaged.append(tr("{s} fehlt ({n} Einträge laut .head)", "{s} is missing ({n} entries by its .head)",
                                  s=path.name, n=result.cut_off))
            elif result.damaged:
                damaged.append(tr("{s} Zeile {l}", "{s} line {l}", s=path.stem,
                                  l=", ".join(str(n) for n in result.damaged[:10])))
        detail = tr("1 Sitzung", "1 session") if len(files) == 1 else tr("{n} Sitzungen", "{n} sessions", n=len(files))
        if unverified:
            detail += tr(", {u} Einträge ohne Prüfsumme (ältere Version)", ", {u} entries without checksum (older "
                         "version)", u=unverified)
        if unreadable:
            self.add(Check(name, "fail",
                           detail + "; " + tr("nicht lesbar: ", "cannot be read: ") + "; ".join(unreadable),
                           tr("Rechte prüfen; der Pfad muss eine Datei sein.",
                              "Check the permissions; the path must be a file.")))
        elif damaged:
            self.add(Check(name, "warn", detail + "; " + tr("beschädigt: ", "damaged: ") + "; ".join(damaged),
                           tr("Was in diesen Zeilen stand, ist verloren: Bericht und Undo dieser Sitzungen sagen es, "
                              "automatisches Zurücknehmen ist dort gesperrt. Die Schritte von Hand prüfen; häufige "
                              "Schäden deuten auf einen defekten Datenträger (SMART prüfen).",
                              "What stood on these lines is lost: the report and undo of these sessions say so, "
                              "automatic undo is blocked there. Check the steps by hand; frequent damage points to a "
                              "failing disk (check SMART).")))
        else:
            self.add(Check(name, "ok", detail))

    def check_password(self) -> None:
        name = tr("Techniker-Passwort", "Technician password")
        value = self.settings.technician_password_hash
        if not value:
            self.add(Check(name, "warn", tr("nicht gesetzt (empfohlen)", "not set (recommended)"),
                           "techcare --set-password"))
            return
        try:
            import bcrypt

            bcrypt.checkpw(b"techcare-doctor-probe", value.encode("utf-8"))
        except (ValueError, TypeError):
            self.add(Check(name, "fail", tr("TECHNICIAN_PASSWORD_HASH ist kein gültiger bcrypt-Hash – "
                                            "jede Eingabe gilt als \"Passwort falsch\"",
                                            "TECHNICIAN_PASSWORD_HASH is not a valid bcrypt hash – every entry "
                                            "counts as \"wrong password\""),
                           tr("Passwort zurücksetzen: techcare --set-password", "Reset it: techcare --set-password")))
            return
        self.add(Check(name, "ok", tr("bcrypt-Hash gesetzt", "bcrypt hash set")))

    def check_driver_prerequisites(self) -> None:
        from .system.runner import LocalRunner

        runner = self.runner or LocalRunner()
        name = tr("Treiberprüfung", "Driver check")
        if runner.platform == "windows":
            try:
                admin = bool(runner.fact("is_admin"))
            except (LookupError, KeyError):
                admin = None
            if admin is False:
                self.add(Check(name, "warn", tr("keine Admin-Rechte", "no administrator rights"),
                               tr("PowerShell als Administrator starten.", "Start PowerShell as administrator.")))
            else:
                self.add(Check(name, "ok", tr("Admin-Rechte vorhanden", "administrator rights present")))
        elif runner.platform == "darwin":
            self.add(Check(name, "ok" if runner.which("softwareupdate") else "warn",
                           "softwareupdate", tr("Terminal-Berechtigungen prüfen (Systemeinstellungen → Datenschutz "
                                                "→ Festplattenvollzugriff).",
                                                "Check the Terminal's permissions (System Settings → Privacy → Full "
                                                "Disk Access).")))
        else:
            if runner.which("smartctl"):
                self.add(Check(name, "ok", tr("smartctl vorhanden", "smartctl installed")))
            else:
                self.add(Check(name, "warn", tr("smartctl fehlt – SMART-Werte und Teile der Treiberprüfung fehlen",
                                                "smartctl is missing – no SMART data and a partial driver check"),
                               tr("smartctl installieren: sudo apt install smartmontools",
                                  "Install smartctl: sudo apt install smartmontools")))


def run_checks(**kwargs: Any) -> list[Check]:
    return Doctor(**kwargs).run()


_ICON = {"ok": "✔", "warn": "!", "fail": "✘", "skip": "-"}


def render(checks: list[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{_ICON[c.status]} {c.name}: {c.detail}")
        if c.fix and c.status in ("fail", "warn"):
            lines.extend("    " + line for line in c.fix.splitlines())
    failed = sum(c.status == "fail" for c in checks)
    warned = sum(c.status == "warn" for c in checks)
    if failed:
        lines.append(tr("{n} Problem(e) gefunden, {w} Warnung(en).", "{n} problem(s) found, {w} warning(s).",
                        n=failed, w=warned))
    elif warned:
        lines.append(tr("Keine Fehler, aber {w} Warnung(en) (!) – siehe oben.",
                        "No failures, but {w} warning(s) (!) – see above.", w=warned))
    else:
        lines.append(tr("Alles in Ordnung.", "All good."))
    return "\n".join(lines)


def exit_status(checks: list[Check], *, strict: bool = False) -> int:
    """0 when nothing failed (with ``strict``: nothing failed and nothing warned), else 1."""
    bad = ("fail", "warn") if strict else ("fail",)
    return 1 if any(c.status in bad for c in checks) else 0


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``techcare doctor``, its texts in the active language."""
    parser = Parser(prog="techcare doctor", description=tr(
        "Verbindung, Lizenz und Sensor prüfen und Lösungen anzeigen. Exit-Status: 0 = kein Fehler, 1 = mindestens "
        "ein Fehler (mit --strict auch bei Warnungen).",
        "Check the connection, license and sensor and show what to do. Exit status: 0 = no failure, 1 = at least "
        "one failure (with --strict also on warnings)."))
    parser.add_argument("--json", action="store_true", help=tr("Ergebnisse als JSON", "results as JSON"))
    parser.add_argument("--strict", action="store_true",
                        help=tr("auch Warnungen ergeben Exit-Status 1", "warnings give exit status 1 too"))
    parser.add_argument("--timeout", type=float, default=5.0, help=tr(
        "Sekunden je Verbindungsprüfung (Standard: 5)", "seconds for each connection check (default: 5)"))
    return parser


def main(argv: list[str] | None = None, **kwargs: Any) -> int:
    """``techcare doctor [--json] [--strict]``: 0 when nothing failed, 1 otherwise (``--strict``: warnings too)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    checks = Doctor(timeout=args.timeout, **kwargs).run()
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], ensure_ascii=False, indent=2))
    else:
        print(render(checks))
    return exit_status(checks, strict=args.strict)

if __name__ == "__main__":
    sys.exit(main())
