"""Dashboard fixtures: a live backend (PostgreSQL + real Redis, and the embedded SQLite default) with two seeded
organisations, and clients logged in through the real login form."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dashboard_helpers import FAST, REDIS_URL, Fleet, login, seed_fleet
from service_helpers import drop_redis_prefix as drop_prefix
from service_helpers import require_redis


@pytest.fixture(scope="module", params=["postgres", "sqlite"])
def fleet(request: pytest.FixtureRequest) -> Iterator[Fleet]:
    """A live backend with organisations Alpha (25 hosts) and Beta (3 hosts), changelogs and cases."""
    from techcare_backend.testing import start_backend

    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        require_redis()
        prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
        backend = start_backend(url, REDIS_URL, redis_prefix=prefix, **FAST)
    else:
        prefix = None
        backend = start_backend(**FAST)
    try:
        yield seed_fleet(backend, request.param)
    finally:
        backend.stop()
        if prefix:
            drop_prefix(prefix)


@pytest.fixture
def client_for(fleet: Fleet) -> Iterator[Any]:
    """``client_for(key)``: an httpx client logged into the dashboard with ``key`` (or anonymous with None)."""
    clients: list[httpx.Client] = []

    def make(key: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=fleet.url, timeout=30, follow_redirects=False)
        clients.append(client)
        if key:
            resp = login(client, key)
            assert resp.status_code == 303, resp.text
        return client

    yield make
    for c in clients:
        c.close()
