"""Network methods to reach the backend (``NETWORK_METHOD``), with the product's semantics.

- ``cloudflare`` (recommended): Cloudflare Tunnel, ``BACKEND_URL`` must be ``https://`` with a DNS name.
- ``tailscale``: WireGuard mesh; ``BACKEND_URL`` usually ``http://<machine>`` resolved by MagicDNS. Checks
  ``tailscale status --json`` (running, online) and that the host name resolves to a Tailscale address.
- ``vpn`` (WireGuard/OpenVPN): plain http to a private address is fine; http to a public address is refused as
  unencrypted.
- ``direct`` (port forwarding): https is required and a warning says it is for testing only.

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

__all__ = ["TAILSCALE_V4", "TAILSCALE_V6", "Check", "check_network_method", "is_tailscale_address", "require_transport",
           "resolve"]

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
    if method in ("cloudflare", "direct") and scheme != "https":
        checks.append(Check(name, "fail", tr("NETWORK_METHOD={m} verlangt https://, BACKEND_URL ist {url}",
                                             "NETWORK_METHOD={m} requires https://, BACKEND_URL is {url}", m=method, url=url),
                            tr("BACKEND_URL auf https://… ändern (Cloudflare Tunnel liefert HTTPS automatisch).",
                               "Change BACKEND_URL to https://… (a Cloudflare Tunnel provides HTTPS automatically).")))
    if method == "cloudflare" and _is_ip(host):
        checks.append(Check(name, "fail", tr("Cloudflare Tunnel braucht einen DNS-Namen, keine IP ({host})",
                                             "a Cloudflare Tunnel needs a DNS name, not an IP ({host})", host=host),
                            tr("cloudflared tunnel route dns techcare techcare.deinefirma.de",
                               "cloudflared tunnel route dns techcare techcare.example.com")))
    if method == "direct":
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
    if method == "tailscale":
        checks.extend(_tailscale(host, port, runner, resolver))
    if not any(c.status in ("fail", "warn") for c in checks):
        checks.append(Check(name, "ok", f"{method}: {url}"))
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
    scheme = urlsplit(url).scheme.lower()
    if method in ("cloudflare", "direct") and scheme != "https":
        allowed = tr("https://… (oder NETWORK_METHOD=vpn/tailscale für http im privaten Netz)",
                     "https://… (or NETWORK_METHOD=vpn/tailscale for http inside a private network)")
        raise ConfigError(tr("BACKEND_URL={url!r} ist ungültig für NETWORK_METHOD={m}. Erlaubt: {allowed}.",
                             "BACKEND_URL={url!r} is not valid for NETWORK_METHOD={m}. Allowed: {allowed}.",
                             url=url, m=method, allowed=allowed), key="BACKEND_URL", value=url, allowed=allowed)
    if method == "direct":
        return [tr("NETWORK_METHOD=direct: nur für Testing! Nicht Production!",
                   "NETWORK_METHOD=direct: for testing only! Not for production!")]
    return []
