"""Shared fixtures: an isolated TechCare home per test, and real PostgreSQL / Redis / MariaDB databases.

Service fixtures create their own database for the test run and drop it afterwards. Outside CI a missing
service skips the test; with ``CI=true`` it fails, because CI must run every test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_helpers import require_service

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306

_CLEARED = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "BACKEND_URL", "LICENSE_KEY", "EDITION", "TECHCARE_API_KEY",
            "TECHNICIAN_PASSWORD_HASH", "TECHCARE_PASSWORD", "SESSION_TIMEOUT", "SENSOR_INTERVAL", "NETWORK_METHOD",
            "TECHCARE_LANG", "LEARNING_DB_URL", "TECHNICIAN_NAME", "COMPANY", "TECHCARE_MODEL", "DATABASE_URL",
            "REDIS_URL", "TECHCARE_ENV", "TECHCARE_BRIEFING")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``scripts/test`` runs the suite on every core) a worker starts with ``COLUMNS=80`` and
    ``LINES=24`` set; tests see the same environment as a plain run (a terminal test's own size, rich's default)."""
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.pop("COLUMNS", None)
        os.environ.pop("LINES", None)


@pytest.fixture(autouse=True)
def techcare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own TECHCARE_HOME, data directory and (absent) .env; settings are reloaded."""
    for key in _CLEARED:
        monkeypatch.delenv(key, raising=False)
    home = tmp_path / "techcare-home"
    monkeypatch.setenv("TECHCARE_HOME", str(home))
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TECHCARE_ENV_FILE", str(tmp_path / "test.env"))
    (tmp_path / "test.env").write_text("")
    from techcare import config, i18n, license

    config.reset_settings()
    i18n.set_language(None)
    license.set_current(None)
    yield tmp_path
    config.reset_settings()
    i18n.set_language(None)
    license.set_current(None)


@pytest.fixture
def licensed(monkeypatch: pytest.MonkeyPatch):
    """``licensed("enterprise")``: configure an edition AND activate its verified entitlements, as a successful
    license check would (the edition in the settings alone grants nothing)."""
    from techcare import config, editions, license

    def activate(edition: str) -> None:
        monkeypatch.setenv("EDITION", edition)
        config.reset_settings()
        license.set_current(license.LicenseStatus("VALID", ok=True, edition=edition,
                                                  entitlements=list(editions.ENTITLEMENTS[edition])))

    return activate


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> str:
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    return f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"


def _create_pg_database(admin_dsn: str) -> str:
    import psycopg

    name = f"techcare_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_pg_database(admin_dsn: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (SQLAlchemy URL), dropped afterwards."""
    name = _create_pg_database(postgres_admin_dsn)
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _drop_pg_database(postgres_admin_dsn, name)


@pytest.fixture
def fresh_postgres_url(postgres_admin_dsn: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = _create_pg_database(postgres_admin_dsn)
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        _drop_pg_database(postgres_admin_dsn, name)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The real Redis with a unique key prefix in ``?prefix=``-free form: use ``redis_prefix`` for keys.

    Everything under the prefix is deleted afterwards.
    """
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    import redis

    prefix = f"techcare-test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh MariaDB database (SQLAlchemy URL with PyMySQL), dropped afterwards."""
    require_service("MariaDB", MARIADB_HOST, MARIADB_PORT)
    import pymysql

    name = f"techcare_test_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/{name}?charset=utf8mb4"
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
