"""The dashboard in headless Debian Chromium (Playwright): log in, fleet with seeded data, a host with its
history chart drawn, alerts, repairs and cases; unauthenticated access refused. Screenshots of every page go to
``test-artifacts/dashboard/`` and must not be blank."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import IN_CI, Fleet

pytestmark = [pytest.mark.browser, pytest.mark.parametrize("fleet", ["postgres"], indirect=True)]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"


def _need_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        script = ROOT / "scripts" / "ensure-browser"
        result = subprocess.run([str(script)], capture_output=True, text=True, timeout=900, check=False)
        if result.returncode != 0 or not os.path.exists(CHROMIUM):
            message = f"headless Chromium not available: {result.stderr.strip()[-300:]}"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _need_chromium()
    playwright_api = pytest.importorskip("playwright.sync_api") if not IN_CI else __import__(
        "playwright.sync_api", fromlist=["sync_playwright"])
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="de-DE")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.errors = errors
    try:
        yield pg
    finally:
        context.close()


def shot(page: Any, name: str, *, element: Any = None, min_stddev: float = 8.0) -> Path:
    """Save a screenshot and make sure it is not blank (pixel spread, and more than a handful of colours)."""
    from PIL import Image, ImageStat

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    data = (element or page).screenshot(path=str(path), **({} if element else {"full_page": True}))
    image = Image.open(io.BytesIO(data)).convert("RGB")
    stddev = max(ImageStat.Stat(image.convert("L")).stddev)
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert stddev > min_stddev and len(colours) > 16, f"{path} looks blank (stddev {stddev:.1f}, {len(colours)} colours)"
    return path


def log_in(page: Any, fleet: Fleet, key: str) -> None:
    page.goto(fleet.url + "/dashboard/fleet")
    assert "/dashboard/login" in page.url
    page.fill("#api_key", key)
    page.click("#login")
    page.wait_for_url("**/dashboard/fleet")


def test_unauthenticated_browser_gets_the_login_page_only(fleet: Fleet, page: Any) -> None:
    response = page.goto(fleet.url + "/dashboard/hosts/alpha-pc-00")
    assert "/dashboard/login?next=" in page.url and response.status == 200
    assert page.locator("#api_key").is_visible()
    body = page.content()
    assert "alpha-pc" not in body.replace("alpha-pc-00", "") or "Anmeldung" in body
    assert page.locator("table").count() == 0
    api = page.request.get(fleet.url + "/dashboard/fleet", max_redirects=0)
    assert api.status == 303
    shot(page, "01-login")
    page.fill("#api_key", "tck_" + "n" * 40)
    page.click("#login")
    assert page.locator("[role=alert]").inner_text().startswith("Unbekannter")


def test_login_fleet_host_chart_and_other_pages(fleet: Fleet, page: Any) -> None:
    log_in(page, fleet, fleet.a.keys["technician"])
    rows = page.locator("#fleet tbody tr")
    assert rows.count() == 25
    assert page.locator("#count-problems").inner_text() == "4"
    text = page.locator("#fleet").inner_text()
    assert "alpha-pc-04" in text and "beta-secret" not in page.content()
    shot(page, "02-fleet")

    page.click("text=alpha-pc-04")
    page.wait_for_url("**/dashboard/hosts/alpha-pc-04")
    page.wait_for_selector("body[data-chart=ready]", timeout=10_000)
    canvas = page.locator("#chart canvas")
    assert canvas.count() == 1 and canvas.bounding_box()["width"] > 300
    assert page.locator(".u-legend").inner_text().count("%") >= 3  # CPU, RAM, swap, disk series
    shot(page, "03-host-chart", element=page.locator("#chart"), min_stddev=4.0)
    shot(page, "03-host")

    page.select_option("#range", "1h")  # changing the range reloads with the new window
    page.wait_for_url("**range=1h")
    page.wait_for_selector("body[data-chart=ready]")
    assert "12" in page.locator("#range-form").inner_text()

    for nav, name, marker in (("Warnungen", "04-alerts", "#alerts"), ("Reparaturen", "05-changelogs", "#changelogs"),
                              ("Fälle", "06-cases", "#cases")):
        page.click(f"header nav >> text={nav}")
        page.wait_for_selector(marker)
        shot(page, name)
    assert "Windows Update hängt" in page.content() and "geheimes" not in page.content()
    page.click("header nav >> text=Reparaturen")
    page.click(f"a[href='/dashboard/changelogs/{fleet.session_a}']")
    page.wait_for_selector("#entries")
    assert "win.flush_dns" in page.locator("#entries").inner_text()
    shot(page, "07-changelog")
    assert page.errors == [], page.errors  # no script errors, no CSP violations

    page.click("header button[type=submit]")  # log out
    page.wait_for_url("**/dashboard/login")
    page.goto(fleet.url + "/dashboard/fleet")
    assert "/dashboard/login" in page.url


def test_other_organisation_sees_only_its_fleet_in_the_browser(fleet: Fleet, page: Any) -> None:
    log_in(page, fleet, fleet.b.keys["admin"])
    assert page.locator("#fleet tbody tr").count() == 3
    assert "alpha-pc" not in page.content()
    page.goto(fleet.url + "/dashboard/hosts/alpha-pc-00")
    assert "unbekannt" in page.locator("[role=alert]").inner_text()
    shot(page, "08-other-org")
