"""Dashboard over HTTP: login, sessions, CSRF, tenant isolation, fleet filters and pages (both backends)."""

from __future__ import annotations

import re
import time
from datetime import UTC

import httpx
import pytest
from dashboard_helpers import Fleet, login

PAGES = ["/dashboard/fleet", "/dashboard/alerts", "/dashboard/hosts/alpha-pc-00", "/dashboard/changelogs",
         "/dashboard/changelogs/20261127T100000Z-aaaa1111-0a0a", "/dashboard/cases"]


def _rows(html: str) -> list[str]:
    return re.findall(r'class="host" href="/dashboard/hosts/([^"]+)"', html)


@pytest.mark.parametrize("path", PAGES)
def test_no_data_without_login(fleet: Fleet, client_for, path: str) -> None:
    resp = client_for(None).get(path)
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/dashboard/login?next=")
    assert "alpha-pc" not in resp.text and "Windows Update" not in resp.text


def test_forged_expired_and_foreign_cookies_are_refused(fleet: Fleet, client_for) -> None:
    from techcare_backend.dashboard import session as sessions

    key = sessions.signing_key(fleet.backend.settings)
    expired, _ = sessions.issue(key, key_id=fleet.a.key_ids["admin"], organisation_id=fleet.a.organisation_id,
                                organisation="x", role="admin", name="x", seconds=-10)
    other_key = b"\x01" * 32
    forged, _ = sessions.issue(other_key, key_id=fleet.a.key_ids["admin"], organisation_id=fleet.a.organisation_id,
                               organisation="x", role="admin", name="x")
    good, _ = sessions.issue(key, key_id=fleet.a.key_ids["admin"], organisation_id=fleet.a.organisation_id,
                             organisation="x", role="admin", name="x")
    payload = good.split(".")[1]
    # Claims edited to another organisation with the signature kept: refused.
    import base64
    import json
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["organisation_id"] = fleet.b.organisation_id
    edited = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    tampered = f"v1.{edited}.{good.split('.')[2]}"
    for cookie in (expired, forged, tampered, "garbage", "v1.a.b"):
        with httpx.Client(base_url=fleet.url, cookies={sessions.COOKIE: cookie}) as client:
            resp = client.get("/dashboard/fleet")
        assert resp.status_code == 303, cookie
    with httpx.Client(base_url=fleet.url, cookies={sessions.COOKIE: good}) as client:
        assert client.get("/dashboard/fleet").status_code == 200


def test_login_sets_a_strict_httponly_session_cookie(fleet: Fleet) -> None:
    with httpx.Client(base_url=fleet.url) as client:
        resp = login(client, fleet.a.keys["technician"], next_path="/dashboard/alerts")
        assert resp.status_code == 303 and resp.headers["location"] == "/dashboard/alerts"
        cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("tc_dash=")).lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie
        assert "max-age=28800" in cookie
        assert fleet.a.keys["technician"] not in resp.headers.get("set-cookie", "")  # the key is never stored


@pytest.mark.parametrize("case", ["no_token", "wrong_token", "foreign_origin", "cross_site_fetch", "null_origin"])
def test_login_csrf(fleet: Fleet, case: str) -> None:
    with httpx.Client(base_url=fleet.url) as client:
        page = client.get("/dashboard/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        data = {"api_key": fleet.a.keys["admin"], "csrf": token}
        headers = {"Origin": fleet.url}
        if case == "no_token":
            data.pop("csrf")
        elif case == "wrong_token":
            data["csrf"] = "x" * len(token)
        elif case == "foreign_origin":
            headers["Origin"] = "https://evil.example"
        elif case == "null_origin":
            headers["Origin"] = "null"
        else:
            headers["Sec-Fetch-Site"] = "cross-site"
        resp = client.post("/dashboard/login", data=data, headers=headers)
        assert resp.status_code == 403
        assert "tc_dash=" not in resp.headers.get("set-cookie", "")


@pytest.mark.parametrize("which,status", [("unknown", 401), ("not_a_key", 401), ("sensor", 403)])
def test_login_refusals_are_clear(fleet: Fleet, which: str, status: int) -> None:
    key = {"unknown": "tck_" + "a" * 40, "not_a_key": "hunter2", "sensor": fleet.a.keys["sensor"]}[which]
    with httpx.Client(base_url=fleet.url) as client:
        resp = login(client, key)
        assert resp.status_code == status
        assert 'role="alert"' in resp.text
        assert "tc_dash=" not in resp.headers.get("set-cookie", "")


def test_open_redirect_after_login_is_refused(fleet: Fleet) -> None:
    with httpx.Client(base_url=fleet.url) as client:
        resp = login(client, fleet.a.keys["admin"], next_path="https://evil.example/dashboard")
        assert resp.headers["location"] == "/dashboard/fleet"


def test_fleet_shows_own_hosts_and_status(fleet: Fleet, client_for) -> None:
    client = client_for(fleet.a.keys["technician"])
    resp = client.get("/dashboard/fleet")
    assert resp.status_code == 200
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert resp.headers["cache-control"] == "no-store"
    assert _rows(resp.text) == sorted(fleet.hosts_a)
    assert 'id="count-total">25<' in resp.text
    assert 'id="count-problems">4<' in resp.text  # firewall off, antivirus off, disk 97 %, SMART failing
    assert 'http-equiv="refresh"' in resp.text
    for secret in fleet.hosts_b:
        assert secret not in resp.text


def test_tenant_isolation_everywhere(fleet: Fleet, client_for) -> None:
    a, b = client_for(fleet.a.keys["technician"]), client_for(fleet.b.keys["admin"])
    page_b = b.get("/dashboard/fleet").text
    assert _rows(page_b) == fleet.hosts_b and "alpha-pc" not in page_b
    assert a.get(f"/dashboard/hosts/{fleet.hosts_b[0]}").status_code == 404
    assert b.get("/dashboard/hosts/alpha-pc-00").status_code == 404
    alerts_a = a.get("/dashboard/alerts").text
    assert "alpha-pc-01" in alerts_a and "beta-secret" not in alerts_a
    assert "beta-secret" in b.get("/dashboard/alerts").text
    logs_a = a.get("/dashboard/changelogs").text
    assert fleet.session_a in logs_a and fleet.session_b not in logs_a and "Bert Beta" not in logs_a
    assert a.get(f"/dashboard/changelogs/{fleet.session_b}").status_code == 404
    assert b.get(f"/dashboard/changelogs/{fleet.session_a}").status_code == 404
    cases_a = a.get("/dashboard/cases").text
    assert "Windows Update hängt" in cases_a and "geheimes" not in cases_a
    assert "geheimes" in b.get("/dashboard/cases").text
    assert "beta-secret" not in a.get("/dashboard/fleet?q=beta").text


def test_fleet_filters_sorting_and_pages(fleet: Fleet, client_for) -> None:
    client = client_for(fleet.a.keys["admin"])
    page1 = client.get("/dashboard/fleet?per_page=10").text
    page3 = client.get("/dashboard/fleet?per_page=10&page=3").text
    assert _rows(page1) == sorted(fleet.hosts_a)[:10] and _rows(page3) == sorted(fleet.hosts_a)[20:]
    assert "Seite 1 von 3" in page1 and 'rel="next"' in page1 and 'rel="next"' not in page3
    assert set(_rows(client.get("/dashboard/fleet?status=problems").text)) == {
        "alpha-pc-01", "alpha-pc-02", "alpha-pc-03", "alpha-pc-04"}
    assert _rows(client.get("/dashboard/fleet?q=pc-1").text) == [f"alpha-pc-{i}" for i in range(10, 20)]
    assert _rows(client.get("/dashboard/fleet?status=overdue").text) == []
    by_disk = _rows(client.get("/dashboard/fleet?sort=disk&dir=desc").text)
    assert by_disk[0] == "alpha-pc-03" and by_disk[1] == "alpha-pc-24"
    # Nonsense parameters fall back to defaults instead of failing.
    assert client.get("/dashboard/fleet?page=abc&per_page=-5&sort=x;drop&status=zzz").status_code == 200
    assert client.get("/dashboard/fleet?q=%25_%5C").status_code == 200


def test_host_detail_with_history_and_range(fleet: Fleet, client_for) -> None:
    client = client_for(fleet.a.keys["technician"])
    resp = client.get("/dashboard/hosts/alpha-pc-04?range=1h")
    assert resp.status_code == 200
    series = re.search(r'<script type="application/json" id="series">(.*?)</script>', resp.text, re.DOTALL).group(1)
    import json
    data = json.loads(series)
    assert data["samples"] == 12 and len(data["t"]) == len(data["cpu"]) == 12
    assert data["t"] == sorted(data["t"]) and data["disk"][0] == 44.0
    assert "failing" in resp.text and "Samsung SSD 870" in resp.text
    assert "uPlot.iife.min.js" in resp.text
    bad = client.get("/dashboard/hosts/alpha-pc-04?range=5y")
    assert bad.status_code == 422 and "1h, 6h, 24h, 7d, 30d" in bad.text


def test_english_on_request(fleet: Fleet, client_for) -> None:
    client = client_for(fleet.a.keys["admin"])
    resp = client.get("/dashboard/fleet?lang=en")
    assert "Log out" in resp.text and "with problems" in resp.text
    assert "Log out" in client.get("/dashboard/alerts").text  # the choice is remembered
    assert "Abmelden" in client.get("/dashboard/alerts", params={"lang": "de"}).text


def test_logout_needs_the_form_token_and_kills_the_cookie(fleet: Fleet, client_for) -> None:
    client = client_for(fleet.a.keys["admin"])
    cookie = client.cookies.get("tc_dash")
    page = client.get("/dashboard/fleet").text
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert client.post("/dashboard/logout", data={"csrf": "nope"}, headers={"Origin": fleet.url}).status_code == 403
    assert client.get("/dashboard/fleet").status_code == 200
    resp = client.post("/dashboard/logout", data={"csrf": token}, headers={"Origin": fleet.url})
    assert resp.status_code == 303
    with httpx.Client(base_url=fleet.url, cookies={"tc_dash": cookie}) as replay:  # a copied cookie is dead too
        assert replay.get("/dashboard/fleet").status_code == 303


def test_revoking_the_key_ends_the_session(fleet: Fleet, client_for) -> None:
    created = httpx.post(f"{fleet.url}/api/admin/organisations/{fleet.a.organisation_id}/api-keys",
                         headers=fleet.backend.headers(), json={"name": "temp", "role": "technician",
                                                                "technician_name": "Temp"}).json()
    client = client_for(created["key"])
    assert client.get("/dashboard/fleet").status_code == 200
    resp = httpx.delete(f"{fleet.url}/api/keys/{created['id']}", headers=fleet.a.headers("admin"))
    assert resp.status_code in (200, 204), resp.text
    deadline = time.monotonic() + 5
    while client.get("/dashboard/fleet").status_code != 303:
        assert time.monotonic() < deadline, "the session outlived its revoked key"
        time.sleep(0.1)


def test_static_chart_library_is_served_locally(fleet: Fleet) -> None:
    js = httpx.get(fleet.url + "/dashboard/static/vendor/uplot/uPlot.iife.min.js")
    assert js.status_code == 200 and "uPlot" in js.text[:2000]
    assert httpx.get(fleet.url + "/dashboard/static/dashboard.js").status_code == 200
    assert httpx.get(fleet.url + "/dashboard/static/../models.py").status_code == 404


def test_alerts_page_matches_the_api_rules(fleet: Fleet, client_for) -> None:
    """The dashboard filters alert candidates in SQL; it must list exactly what /api/monitoring/alerts lists."""
    api = httpx.get(fleet.url + "/api/monitoring/alerts", headers=fleet.a.headers("admin")).json()
    page = client_for(fleet.a.keys["admin"]).get("/dashboard/alerts").text
    shown = re.findall(r'<a href="/dashboard/hosts/([^"]+)">[^<]+</a></td>\s*<td><code>([a-z_]+)</code>', page)
    assert shown == [(a["hostname"], a["rule"]) for a in api]
    assert {r for _, r in shown} == {"firewall_off", "antivirus_off", "smart_failing", "disk_critical"}


def test_overdue_hosts_alert_and_filter(fleet: Fleet, client_for, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta

    from sqlalchemy import update
    from techcare_backend.models import Host

    ctx = fleet.backend.app.state.ctx
    old = datetime.now(UTC) - timedelta(hours=2)
    with ctx.sessionmaker() as db:  # a host that stopped reporting two hours ago
        db.execute(update(Host).where(Host.organisation_id == fleet.a.organisation_id,
                                      Host.hostname == "alpha-pc-20").values(last_seen=old))
        db.commit()
    seen = {h: datetime.now(UTC).timestamp() for h in fleet.hosts_a if h != "alpha-pc-20"}
    monkeypatch.setattr(ctx.cache, "get_last_seen", lambda org: seen if org == fleet.a.organisation_id else {})
    try:
        client = client_for(fleet.a.keys["admin"])
        assert _rows(client.get("/dashboard/fleet?status=overdue").text) == ["alpha-pc-20"]
        alerts = client.get("/dashboard/alerts").text
        assert "host_overdue" in alerts
        api = httpx.get(fleet.url + "/api/monitoring/alerts", headers=fleet.a.headers("admin")).json()
        page_pairs = re.findall(r'<a href="/dashboard/hosts/([^"]+)">[^<]+</a></td>\s*<td><code>([a-z_]+)</code>',
                                alerts)
        assert page_pairs == [(a["hostname"], a["rule"]) for a in api]
    finally:
        with ctx.sessionmaker() as db:
            db.execute(update(Host).where(Host.organisation_id == fleet.a.organisation_id,
                                          Host.hostname == "alpha-pc-20").values(last_seen=datetime.now(UTC)))
            db.commit()


def test_long_ranges_are_averaged_into_few_points(fleet: Fleet) -> None:
    from datetime import datetime, timedelta

    from dashboard_helpers import make_sample, post_samples
    from techcare_backend.dashboard import queries
    from techcare_backend.testing import seed

    org = seed(fleet.backend, edition="enterprise")  # its own organisation: the shared fleet stays as seeded
    now = datetime.now(UTC).replace(microsecond=0)
    host = "dense-host"
    samples = [make_sample(host, ts=now - timedelta(minutes=1000 - k), cpu=float(k % 10 * 10)) for k in range(1000)]
    post_samples(fleet.url, org.keys["sensor"], samples)
    ctx = fleet.backend.app.state.ctx
    with ctx.sessionmaker() as db:
        series = queries.host_series(db, organisation_id=org.organisation_id, hostname=host,
                                     since=now - timedelta(days=1), max_points=50)
        recent = queries.host_series(db, organisation_id=org.organisation_id, hostname=host,
                                     since=now - timedelta(minutes=30), max_points=50)
        other = queries.host_series(db, organisation_id=fleet.a.organisation_id, hostname=host,
                                    since=now - timedelta(days=1))
    assert series["samples"] == 1000 and 40 <= len(series["t"]) <= 50
    assert series["t"] == sorted(series["t"])
    assert abs(sum(series["cpu"]) / len(series["cpu"]) - 45.0) < 2.0  # averages, not picks
    assert recent["samples"] == 30 and len(recent["t"]) == 30  # short ranges keep every sample
    assert other["samples"] == 0  # another organisation's history is invisible
    client = httpx.Client(base_url=fleet.url)
    login(client, org.keys["admin"])
    page = client.get(f"/dashboard/hosts/{host}?range=24h").text
    assert "1000 Messwerte" in page
    client.close()


def test_login_attempts_are_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    from techcare_backend.dashboard import routes
    from techcare_backend.testing import start_backend

    monkeypatch.setattr(routes, "LOGIN_ATTEMPTS_PER_MINUTE", 3)
    with start_backend() as backend, httpx.Client(base_url=backend.url) as client:
        statuses = [login(client, "tck_" + "g" * 40).status_code for _ in range(5)]
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
        last = login(client, "tck_" + "g" * 40)
        assert int(last.headers["retry-after"]) > 0 and "Zu viele Anmeldeversuche" in last.text
