"""Engine, sessions and migrations for PostgreSQL (psycopg) and the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["async_engine_for", "run_idempotent", "make_engine", "make_sessionmaker", "migrate", "ping"]

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True,
                         pool_recycle=1800)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """``alembic upgrade head`` (PostgreSQL: under an advisory lock, so parallel instances do not race)."""
    from alembic import command

    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(72210412)"))
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def async_engine_for(engine: Engine) -> Any:
    """An async (psycopg) engine on the same PostgreSQL URL and pool settings as ``engine``, for the hot paths that
    run on the event loop without a thread-pool hop. One per event loop (a test client's new loop gets its own)."""
    import asyncio

    from sqlalchemy.ext.asyncio import create_async_engine

    loop = asyncio.get_running_loop()
    cached = _ASYNC_ENGINES.get(id(engine))
    if cached is not None and cached[0] is loop:
        return cached[1]
    pool = engine.pool
    size = getattr(pool, "size", lambda: 10)()
    # Autocommit: the hot-path statements are single statements (atomic on their own), so a request is one round
    # trip instead of BEGIN + statement + COMMIT. No pre-ping (another round trip per checkout): callers retry once
    # on a dropped connection instead (their statements are idempotent), see ``run_idempotent``.
    aengine = create_async_engine(engine.url, pool_size=size, max_overflow=size * 2, pool_recycle=1800,
                                  isolation_level="AUTOCOMMIT")
    _ASYNC_ENGINES[id(engine)] = (loop, aengine)
    return aengine


async def dispose_async_engine(engine: Engine) -> None:
    cached = _ASYNC_ENGINES.pop(id(engine), None)
    if cached is not None:
        await cached[1].dispose()


_ASYNC_ENGINES: dict[int, tuple[Any, Any]] = {}


async def run_idempotent(engine: Engine, work: Any) -> Any:
    """``await work(raw)`` with a raw async psycopg connection (autocommit) of ``engine``'s async twin. A connection
    that turns out dead (PostgreSQL restarted) is discarded and the work retried once on a fresh one, so the first
    request after a restart does not fail; ``work`` must be idempotent."""
    import psycopg
    from sqlalchemy.exc import DBAPIError

    aengine = async_engine_for(engine)
    for attempt in (1, 2):
        async with aengine.connect() as conn:
            fairy = await conn.get_raw_connection()
            try:
                return await work(fairy.driver_connection)
            except (psycopg.OperationalError, DBAPIError) as exc:
                if attempt == 2 or not fairy.driver_connection.closed:
                    raise
                # like SQLAlchemy's own disconnect handling: every connection of this generation is stale
                aengine.sync_engine.pool._invalidate(fairy, exc)
    raise AssertionError("unreachable")  # pragma: no cover
