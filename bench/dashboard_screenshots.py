"""Regenerate the dashboard screenshots of the README (``docs/images/dashboard-*.png``).

    .venv/bin/python bench/dashboard_screenshots.py

Starts an embedded local backend, feeds it a small demo fleet (24 hours of history for one host) and photographs
the fleet and host pages in headless Chromium (/usr/bin/chromium, Playwright). Nothing leaves the machine.
"""

from __future__ import annotations

import math
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NAMES = ["empfang-pc", "buchhaltung-01", "buchhaltung-02", "chef-laptop", "lager-terminal", "werkstatt-pc",
         "marketing-mac", "server-dateien", "konferenz-pc", "azubi-laptop", "kasse-01", "kasse-02"]


def sample(host: str, ts: datetime, i: int, k: int) -> dict:
    disk = {3: 96.0, 7: 91.0}.get(i, 35.0 + i * 4)
    cpu = max(1.0, min(99.0, 25 + 20 * math.sin(k / 9 + i) + (i * 7) % 15))
    total = 512 * 10**9
    used = int(total * disk / 100)
    return {"sample_id": str(uuid.uuid4()), "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "hostname": host,
            "os": "darwin" if "mac" in host else ("linux" if "server" in host else "windows"),
            "cpu_percent": round(cpu, 1), "ram_percent": round(45 + 15 * math.sin(k / 20 + i / 2), 1),
            "swap_percent": 4.0, "disks": [{"mount": "C:", "total": total, "used": used, "free": total - used,
                                            "percent": disk}],
            "services": {"firewall": "off" if i == 5 else "on", "antivirus": "off" if i == 9 else "on",
                         "update_service": "ok", "failed": []},
            "pending_updates": {"count": (i * 3) % 8, "security": i % 3}, "pending_reboot": i == 2, "events": [],
            "smart": [{"device": "disk0", "health": "failing" if i == 7 else "passed", "model": "Samsung SSD 870",
                       "temperature_c": 37}], "dropped_samples": 0, "agent_version": "1.0.0",
            "uptime_seconds": 7200}


def main() -> int:
    sys.path.insert(0, str(ROOT / "backend"))
    from playwright.sync_api import sync_playwright
    from techcare_backend.testing import seed, start_backend

    with start_backend(host_overdue_seconds=900) as backend:
        org = seed(backend, organisation="Musterfirma GmbH")
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        samples = []
        for i, host in enumerate(NAMES):
            last = now
            points = 288 if i == 3 else 3  # 24 h every 5 minutes for the host shown in detail
            samples += [sample(host, last - timedelta(minutes=5 * (points - 1 - k)), i, k) for k in range(points)]
        for start in range(0, len(samples), 1000):
            httpx.post(backend.url + "/api/monitoring/metrics/batch", json={"samples": samples[start:start + 1000]},
                       headers=org.headers("sensor"), timeout=60).raise_for_status()
        OUT.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 760}, locale="de-DE")
            page.goto(backend.url + "/dashboard/login")
            page.fill("#api_key", org.keys["technician"])
            page.click("#login")
            page.wait_for_url("**/dashboard/fleet")
            page.screenshot(path=str(OUT / "dashboard-fleet.png"), full_page=True)
            page.goto(backend.url + f"/dashboard/hosts/{NAMES[3]}?range=24h")
            page.wait_for_selector("body[data-chart=ready]")
            page.screenshot(path=str(OUT / "dashboard-host.png"), full_page=False)
            browser.close()
    print("wrote", OUT / "dashboard-fleet.png", OUT / "dashboard-host.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
