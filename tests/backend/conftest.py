"""Backend fixtures: the same suite runs on PostgreSQL + real Redis and on the embedded SQLite default.

``backend_settings`` is parametrised (``postgres``, ``sqlite``); everything built on it (``app``, ``client``,
``make_org``) runs once per backend. Organisations are unique per test, so tests share one database per session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from service_helpers import FAST, drop_redis_prefix, require_redis

REDIS_URL = "redis://127.0.0.1:6379/0"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")






@pytest.fixture(scope="session", params=["postgres", "sqlite"])
def backend_settings(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from techcare_backend.core.db import migrate
    from techcare_backend.testing import make_settings

    data_dir = tmp_path_factory.mktemp(f"backend-{request.param}")
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        require_redis()
        prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
        settings = make_settings(url, REDIS_URL, data_dir=data_dir, redis_prefix=prefix, **FAST)
        migrate(settings.sqlalchemy_url)
        yield settings
        drop_redis_prefix(prefix)
    else:
        settings = make_settings(None, None, data_dir=data_dir, **FAST)
        migrate(settings.sqlalchemy_url)
        yield settings


@pytest.fixture(scope="session")
def backend_kind(backend_settings: Any) -> str:
    return "sqlite" if backend_settings.embedded else "postgres"


@pytest.fixture(scope="session")
def app(backend_settings: Any) -> Any:
    from techcare_backend.main import create_app

    return create_app(backend_settings)


@pytest.fixture(scope="session")
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def admin_headers(backend_settings: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {backend_settings.admin_token}"}


@pytest.fixture
def make_org(client: Any, backend_settings: Any) -> Callable[..., Any]:
    """``make_org(edition="enterprise", **seed_kwargs)`` -> ``techcare_backend.testing.Seeded``."""
    from techcare_backend.testing import seed

    def make(edition: str = "enterprise", **kwargs: Any) -> Any:
        return seed(client, edition=edition, admin_token=backend_settings.admin_token, **kwargs)

    return make


@pytest.fixture
def jwks(client: Any) -> dict[str, Any]:
    return client.get("/api/licenses/public-keys").json()
