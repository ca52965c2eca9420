"""The alert rules over the hosts' current values (the fleet page, ``/api/v1/alerts`` and reports share them)."""

from __future__ import annotations

from collections.abc import Sequence

from techcare.i18n import tr

from ..schemas import AlertPublic, HostPublic

__all__ = ["ANTIVIRUS_ALERTS", "ANTIVIRUS_INFO_ONLY", "alerts", "antivirus_alert"]

# The antivirus rule of the client's diagnosis (``techcare.diagnosis``), for the states a sample carries: products
# found but none enabled -> critical everywhere; no product at all -> critical on Windows and macOS, only an info on
# Linux (where none is the norm; the diagnosis does not raise it either). "on"/"unknown" raise nothing.
ANTIVIRUS_ALERTS: dict[str, tuple[str, str, str, str]] = {
    "off": ("antivirus_off", "critical", "Virenschutz ist aus", "Antivirus is off"),
    "none": ("antivirus_missing", "critical", "Kein Virenschutz gefunden", "No antivirus found"),
}
ANTIVIRUS_INFO_ONLY = {("linux", "none")}


def antivirus_alert(os_name: str, antivirus: str) -> tuple[str, str, str, str] | None:
    """``(rule, severity, German, English)`` of a host's antivirus state, or ``None`` (no alert)."""
    if (os_name, antivirus) in ANTIVIRUS_INFO_ONLY:
        return None
    return ANTIVIRUS_ALERTS.get(antivirus)


def alerts(hosts: Sequence[HostPublic], *, disk_warning: float, disk_critical: float,
           lang: str | None = None) -> list[AlertPublic]:
    """The alert rules: disk warning/critical, SMART failing, firewall or antivirus off, host overdue."""
    out: list[AlertPublic] = []
    for h in hosts:
        if h.disk_max_percent is not None and h.disk_max_percent >= disk_warning:
            critical = h.disk_max_percent >= disk_critical
            out.append(AlertPublic(hostname=h.hostname, rule="disk_critical" if critical else "disk_warning",
                                   severity="critical" if critical else "warning", value=h.disk_max_percent,
                                   since=h.last_sample_at, message=tr(
                                       "Datenträger zu {p:.0f} % belegt", "Disk {p:.0f} % full", lang,
                                       p=h.disk_max_percent)))
        if h.smart_failing:
            out.append(AlertPublic(hostname=h.hostname, rule="smart_failing", severity="critical",
                                   since=h.last_sample_at, value="failing", message=tr(
                                       "SMART meldet einen ausfallenden Datenträger",
                                       "SMART reports a failing disk", lang)))
        if h.firewall == "off":
            out.append(AlertPublic(hostname=h.hostname, rule="firewall_off", severity="critical", value="off",
                                   since=h.last_sample_at, message=tr("Firewall ist aus", "Firewall is off", lang)))
        av = antivirus_alert(h.os, h.antivirus)
        if av is not None:
            rule, severity, de, en = av
            out.append(AlertPublic(hostname=h.hostname, rule=rule, severity=severity, value=h.antivirus,
                                   since=h.last_sample_at, message=tr(de, en, lang)))
        if h.status == "overdue":
            out.append(AlertPublic(hostname=h.hostname, rule="host_overdue", severity="warning",
                                   since=h.last_seen, value=h.last_seen.isoformat(), message=tr(
                                       "Keine Messwerte seit {t}", "No samples since {t}", lang,
                                       t=h.last_seen.isoformat(timespec="seconds"))))
    order = {"critical": 0, "warning": 1}
    return sorted(out, key=lambda a: (order[a.severity], a.hostname, a.rule))
