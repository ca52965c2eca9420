"""Pending updates whose security part was not measured (pacman, apk, a failed advisory read: issue 20) travel as
``security: null`` from the sensor and are shown as "security unknown", never as "0 security"."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard_helpers import Fleet, make_sample, post_samples

from techcare.monitoring.sensor import _updates_part
from techcare.system.records import PackageUpdate, PendingUpdates, ProbeResult


def test_the_sensor_sends_null_when_the_manager_cannot_tell_security_updates_apart() -> None:
    updates = [PackageUpdate(name="openssl"), PackageUpdate(name="glibc")]
    unknown = ProbeResult("pending_updates", data=PendingUpdates("pacman", updates=updates, security_known=False))
    assert _updates_part(unknown) == {"count": 2, "security": None}
    known = ProbeResult("pending_updates", data=PendingUpdates(
        "apt", updates=[PackageUpdate(name="openssl", security=True), PackageUpdate(name="vim")]))
    assert _updates_part(known) == {"count": 2, "security": 1}
    none_pending = ProbeResult("pending_updates", data=PendingUpdates("apt"))
    assert _updates_part(none_pending) == {"count": 0, "security": 0}


def test_the_host_page_says_security_unknown(fleet: Fleet, client_for) -> None:
    sample = make_sample("arch-nas-01", ts=datetime.now(UTC), os_name="linux", updates=3)
    sample["pending_updates"] = {"count": 3, "security": None}
    post_samples(fleet.url, fleet.a.keys["sensor"], [sample])
    client = client_for(fleet.a.keys["technician"])
    page = client.get("/dashboard/hosts/arch-nas-01?lang=en").text
    assert "security unknown" in page and "0 security" not in page
    page_de = client.get("/dashboard/hosts/arch-nas-01?lang=de").text
    assert "Sicherheit unbekannt" in page_de
    known = make_sample("win-pc-01", ts=datetime.now(UTC), updates=3)  # 1 security update of 3
    post_samples(fleet.url, fleet.a.keys["sensor"], [known])
    page = client.get("/dashboard/hosts/win-pc-01?lang=en").text
    assert "(1 security)" in page and "security unknown" not in page
