"""Helpers of the dashboard tests (imported as ``dashboard_helpers``): sample and changelog builders, the seeded
two-organisation fleet, and logging in through the real login form."""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from service_helpers import FAST  # noqa: F401  (re-exported for the dashboard suite)

REDIS_URL = "redis://127.0.0.1:6379/0"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")






def make_sample(hostname: str, *, ts: datetime, os_name: str = "windows", cpu: float = 20.0, ram: float = 40.0,
                disk: float = 50.0, firewall: str = "on", antivirus: str = "on", smart: str = "passed",
                updates: int | None = 0) -> dict[str, Any]:
    total = 500_000_000_000
    used = int(total * disk / 100)
    return {
        "sample_id": str(uuid.uuid4()), "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "hostname": hostname,
        "os": os_name, "cpu_percent": cpu, "ram_percent": ram, "swap_percent": 5.0,
        "disks": [{"mount": "C:" if os_name == "windows" else "/", "total": total, "used": used,
                   "free": total - used, "percent": disk}],
        "services": {"firewall": firewall, "antivirus": antivirus, "update_service": "ok", "failed": []},
        "pending_updates": None if updates is None else {"count": updates, "security": min(updates, 1)},
        "pending_reboot": False,
        "events": [{"time": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "level": "error", "source": "disk",
                    "message": "The device has a bad block", "event_id": 7}],
        "smart": [{"device": "PhysicalDrive0", "health": smart, "model": "Samsung SSD 870", "temperature_c": 38}],
        "dropped_samples": 0, "agent_version": "1.0.0", "uptime_seconds": 3600,
    }


def post_samples(url: str, key: str, samples: list[dict[str, Any]]) -> None:
    for start in range(0, len(samples), 1000):
        resp = httpx.post(url + "/api/monitoring/metrics/batch", json={"samples": samples[start:start + 1000]},
                          headers={"Authorization": f"Bearer {key}"}, timeout=60)
        resp.raise_for_status()
        assert resp.json()["errors"] == 0, resp.json()


def changelog_entries(session: str, *, host: str, technician: str) -> list[dict[str, Any]]:
    common = {"session": session, "plan_id": session.split("-")[1], "technician": technician, "company": "ACME",
              "host": host, "platform": "windows"}
    return [
        {"ts": "2026-11-27T10:00:00.000Z", "event": "run", "dry_run": False, "approval": "GO REPAIR: 1",
         "approved": [1], **common},
        {"ts": "2026-11-27T10:00:01.000Z", "event": "started", "step": 1, "action": "win.flush_dns",
         "params": {}, **common},
        {"ts": "2026-11-27T10:00:02.000Z", "event": "finished", "step": 1, "action": "win.flush_dns",
         "params": {}, "detail": "DNS cache flushed", **common},
    ]


@dataclass
class Fleet:
    url: str
    kind: str
    backend: Any
    a: Any
    b: Any
    hosts_a: list[str] = field(default_factory=list)
    hosts_b: list[str] = field(default_factory=list)
    session_a: str = "20261127T100000Z-aaaa1111-0a0a"
    session_b: str = "20261127T110000Z-bbbb2222-0b0b"


def seed_fleet(backend: Any, kind: str) -> Fleet:
    from techcare_backend.testing import seed

    a = seed(backend, edition="enterprise", organisation=f"Alpha {uuid.uuid4().hex[:6]}")
    b = seed(backend, edition="enterprise", organisation=f"Beta {uuid.uuid4().hex[:6]}")
    now = datetime.now(UTC).replace(microsecond=0)
    fleet = Fleet(url=backend.url, kind=kind, backend=backend, a=a, b=b)
    samples = []
    for i in range(25):
        name = f"alpha-pc-{i:02d}"
        fleet.hosts_a.append(name)
        for m in range(12):  # an hour of history, every 5 minutes
            samples.append(make_sample(
                name, ts=now - timedelta(minutes=55 - 5 * m), cpu=10 + (i + m * 7) % 80, ram=30 + m * 3,
                disk=97.0 if i == 3 else 40 + i, firewall="off" if i == 1 else "on",
                antivirus="off" if i == 2 else "on", smart="failing" if i == 4 else "passed", updates=i % 4))
    post_samples(backend.url, a.keys["sensor"], samples)
    samples_b = []
    for i in range(3):
        name = f"beta-secret-{i}"
        fleet.hosts_b.append(name)
        samples_b.append(make_sample(name, ts=now - timedelta(minutes=1), os_name="linux", firewall="off"))
    post_samples(backend.url, b.keys["sensor"], samples_b)
    for org, session, host, tech in ((a, fleet.session_a, "alpha-pc-00", "Anna Alpha"),
                                     (b, fleet.session_b, "beta-secret-0", "Bert Beta")):
        resp = httpx.post(backend.url + "/api/changelogs", headers=org.headers("technician"),
                          json={"session": session, "entries": changelog_entries(session, host=host, technician=tech)})
        resp.raise_for_status()
    for org, symptom in ((a, "Windows Update hängt bei 0 %"), (b, "Beta geheimes Druckerproblem")):
        resp = httpx.post(backend.url + "/api/cases", headers=org.headers("technician"), json={
            "symptom": symptom, "language": "de", "os": "windows", "findings": [],
            "actions": ["win.reset_windows_update"], "outcome": "success"})
        resp.raise_for_status()
    return fleet


def login(client: httpx.Client, key: str, *, next_path: str = "/dashboard/fleet") -> httpx.Response:
    """Log in through the real form (CSRF token from the page, Origin of the backend)."""
    page = client.get("/dashboard/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return client.post("/dashboard/login", data={"api_key": key, "csrf": token, "next": next_path},
                       headers={"Origin": str(client.base_url).rstrip("/")})
