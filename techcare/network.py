"""Network methods to reach the backend (``NETWORK_METHOD``), with the product's semantics.

- ``cloudflare`` (recommended): Cloudflare Tunnel, ``BACKEND_URL`` must be ``https://`` with a DNS name.
- ``tailscale``: WireGuard mesh; ``BACKEND_URL`` usually ``http://<machine>`` resolved by MagicDNS. Checks
  ``tailscale status --json`` (running, online) and that the host name resolves to a Tailscale address.
- ``vpn`` (WireGuard/OpenVPN): plain http to a private address is fine; http to a public address is refused as
  unencrypted.
- ``direct`` (port forwarding): https is required and a warning says it is for testing only.

Whatever the method, a backend on this machine (``localhost``, ``127.0.0.0/8``, ``::1``) may be reached over plain
http: the traffic never leaves the machine (``scripts/start`` runs one at ``http://127.0.0.1:8000``).
:func:`transport_refusal` is the one rule; the setup wizard, :func:`require_transport` and the doctor use it.

:func:`check_network_method` returns :class:`Check` results (never raises for a network problem).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .i18n import tr

__all__ = ["TAILSCALE_V4", "TAILSCALE_V6", "Check", "allowed_urls", "check_network_method", "is_loopback_host",
           "is_tailscale_address", "require_transport", "resolve", "transport_refusal"]

TAILSCALE_V4 = ipaddress.ip_network("100.64.0.0/10")
TAILSCALE_V6 = ipaddress.ip_network("fd7a:115c:a1e0::/48")


@dataclass
class Check:
    name: str
    status: str                        # ok | warn | fail | skip
    detail: str
    fix: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system resolver, as httpx would use it)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


def is_tailscale_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return ip in (TAILSCALE_V4 if ip.version == 4 else TAILSCALE_V6)


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``), ``127.0.0.0/8`` or ``::1``: a backend on this very machine."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def allowed_urls(method: str) -> str:
    """What ``BACKEND_URL`` may look like under ``method`` (for error messages)."""
    if method in ("cloudflare", "direct"):
        return tr("https://… (z.B. https://techcare.firma.de); http:// nur zu diesem Rechner (http://127.0.0.1:8000, "
                  "http://localhost) oder mit NETWORK_METHOD=vpn/tailscale im privaten Netz",
                  "https://… (e.g. https://techcare.example.com); http:// only to this machine (http://127.0.0.1:8000, "
                  "http://localhost) or with NETWORK_METHOD=vpn/tailscale inside a private network")
    return tr("https://… oder http:// zu einer privaten Adresse (z.B. http://192.168.1.100, http://techcare)",
              "https://… or http:// to a private address (e.g. http://192.168.1.100, http://techcare)")


def transport_refusal(url: str, method: str) -> str | None:
    """Why ``url`` must not carry keys under ``method`` (plain http where https is required), or ``None``.

    Plain http to this machine is always fine; the vpn method's check of public addresses needs DNS and lives in
    :func:`check_network_method`.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" or is_loopback_host(parts.hostname or ""):
        return None
    if method in ("cloudflare", "direct"):
        return tr("NETWORK_METHOD={m} verlangt https:// (außer für ein Backend auf diesem Rechner)",
                  "NETWORK_METHOD={m} requires https:// (except for a backend on this machine)", m=method)
    return None


def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local or is_tailscale_address(address)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def check_network_method(settings: Any, *, runner: Any = None, resolver: Resolver = resolve) -> list[Check]:
    """Check that ``BACKEND_URL`` fits ``NETWORK_METHOD``."""
    method = settings.network_method
    url = settings.backend_url
    name = tr("Netzwerkmethode", "Network method")
    if not url:
        return [Check(name, "skip", tr("BACKEND_URL ist nicht gesetzt", "BACKEND_URL is not set"))]
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    checks: list[Check] = []
    local = is_loopback_host(host)
    refusal = transport_refusal(url, method)
    if refusal:
        if method == "cloudflare":
            fix = tr("BACKEND_URL auf die https://-Adresse des Tunnels ändern (Cloudflare Tunnel liefert HTTPS "
                     "automatisch).", "Change BACKEND_URL to the tunnel's https:// address (a Cloudflare Tunnel "
                     "provides HTTPS automatically).")
        else:
            fix = tr("Auf dem Server ein Zertifikat einrichten (z.B. Caddy oder Let's Encrypt vor dem Backend) und "
                     "BACKEND_URL auf https://… ändern – oder NETWORK_METHOD=vpn/tailscale im privaten Netz.",
                     "Set up a certificate on the server (e.g. Caddy or Let's Encrypt in front of the backend) and "
                     "change BACKEND_URL to https://… – or use NETWORK_METHOD=vpn/tailscale inside a private network.")
        checks.append(Check(name, "fail", f"{refusal}, BACKEND_URL {url}", fix))
    if method == "cloudflare" and _is_ip(host) and not local:
        checks.append(Check(name, "fail", tr("Cloudflare Tunnel braucht einen DNS-Namen, keine IP ({host})",
                                             "a Cloudflare Tunnel needs a DNS name, not an IP ({host})", host=host),
                            tr("cloudflared tunnel route dns techcare techcare.deinefirma.de",
                               "cloudflared tunnel route dns techcare techcare.example.com")))
    if method == "direct" and not local:
        checks.append(Check(name, "warn", tr("Direkte IP / Port-Forwarding: nur für Testing! Nicht Production!",
                                             "Direct IP / port forwarding: for testing only! Not for production!"),
                            tr("Für den Betrieb Cloudflare Tunnel, Tailscale oder VPN verwenden.",
                               "Use Cloudflare Tunnel, Tailscale or a VPN in production.")))
    if method == "vpn" and scheme == "http":
        try:
            addresses = [host] if _is_ip(host) else resolver(host, port)
        except OSError:
            addresses = []
        public = [a for a in addresses if not _is_private(a)]
        if public:
            checks.append(Check(name, "fail", tr("http:// zu einer öffentlichen Adresse ({a}) wäre unverschlüsselt",
                                                 "http:// to a public address ({a}) would be unencrypted", a=public[0]),
                                tr("Über das VPN die private Adresse des Servers verwenden (z.B. http://192.168.1.100) "
                                   "oder https://.",
                                   "Use the server's private address through the VPN (e.g. http://192.168.1.100) or https://.")))
    if method == "tailscale" and not local:
        checks.extend(_tailscale(host, port, runner, resolver))
    if not any(c.status in ("fail", "warn") for c in checks):
        checks.append(Check(name, "ok", f"{method}: {url}" + (tr(" (Backend auf diesem Rechner)",
                                                                " (backend on this machine)") if local else "")))
    return checks


def _tailscale(host: str, port: int, runner: Any, resolver: Resolver) -> list[Check]:
    from .system.runner import LocalRunner

    runner = runner or LocalRunner()
    name = "Tailscale"
    fix_up = tr("Auf Server und Laptop: tailscale up", "On the server and this machine: tailscale up")
    result = runner.run(["tailscale", "status", "--json"], timeout=15)
    if result.error == "not_found":
        return [Check(name, "fail", tr("tailscale ist nicht installiert", "tailscale is not installed"),
                      tr("Tailscale installieren (https://tailscale.com/download), dann tailscale up",
                         "Install Tailscale (https://tailscale.com/download), then tailscale up"))]
    try:
        status = json.loads(result.stdout or "")
    except ValueError:
        status = None
    if not isinstance(status, dict):
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        return [Check(name, "fail", tr("tailscale status --json ohne Antwort: {d}", "tailscale status --json gave no answer: {d}",
                                       d=detail[0] if detail else f"exit {result.returncode}"), fix_up)]
    checks: list[Check] = []
    state = status.get("BackendState")
    self_node = status.get("Self") or {}
    if state != "Running":
        checks.append(Check(name, "fail", tr("Tailscale läuft nicht (BackendState={s})", "Tailscale is not running (BackendState={s})",
                                             s=state), fix_up))
        return checks
    if self_node.get("Online") is False:
        checks.append(Check(name, "fail", tr("dieses Gerät ist im Tailnet offline", "this device is offline in the tailnet"),
                            fix_up))
    tailnet = status.get("CurrentTailnet") or {}
    suffix = status.get("MagicDNSSuffix") or tailnet.get("MagicDNSSuffix") or ""
    if tailnet.get("MagicDNSEnabled") is False:
        checks.append(Check(name, "warn", tr("MagicDNS ist im Tailnet ausgeschaltet", "MagicDNS is turned off in the tailnet"),
                            tr("In der Tailscale-Admin-Konsole unter DNS MagicDNS einschalten oder die 100.x-IP verwenden.",
                               "Enable MagicDNS under DNS in the Tailscale admin console, or use the 100.x IP.")))
    if _is_ip(host):
        addresses = [host]
    else:
        try:
            addresses = resolver(host, port)
        except OSError as exc:
            checks.append(Check("MagicDNS", "fail", tr("{h} lässt sich nicht auflösen: {e}", "{h} does not resolve: {e}",
                                                       h=host, e=exc),
                                tr("Server-Namen im Tailnet prüfen (tailscale status); MagicDNS-Suffix: {s}",
                                   "Check the server's name in the tailnet (tailscale status); MagicDNS suffix: {s}",
                                   s=suffix or "?")))
            return checks
    if not any(is_tailscale_address(a) for a in addresses):
        checks.append(Check("MagicDNS", "fail", tr("{h} zeigt auf {a}, keine Tailscale-Adresse (100.64.0.0/10)",
                                                   "{h} resolves to {a}, not a Tailscale address (100.64.0.0/10)",
                                                   h=host, a=", ".join(addresses)),
                            tr("BACKEND_URL auf den Tailnet-Namen des Servers setzen (z.B. http://techcare).",
                               "Set BACKEND_URL to the server's tailnet name (e.g. http://techcare).")))
    elif not checks:
        checks.append(Check("MagicDNS", "ok", f"{host} -> {', '.join(addresses)}"))
    return checks


def require_transport(settings: Any) -> list[str]:
    """Refuse a ``BACKEND_URL`` the network method forbids (cloudflare/direct over plain http) before any key is
    sent; returns warnings to show (direct is for testing only). Raises :class:`~techcare.errors.ConfigError`."""
    from .errors import ConfigError

    url = settings.backend_url
    method = settings.network_method
    if not url:
        return []
    refusal = transport_refusal(url, method)
    if refusal:
        allowed = allowed_urls(method)
        raise ConfigError(tr("BACKEND_URL={url!r} ist ungültig für NETWORK_METHOD={m}. Erlaubt: {allowed}.",
                             "BACKEND_URL={url!r} is not valid for NETWORK_METHOD={m}. Allowed: {allowed}.",
                             url=url, m=method, allowed=allowed), key="BACKEND_URL", value=url, allowed=allowed)
    if method == "direct" and not is_loopback_host(urlsplit(url).hostname or ""):
        return [tr("NETWORK_METHOD=direct: nur für Testing! Nicht Production!",
                   "NETWORK_METHOD=direct: for testing only! Not for production!")]
    return []
