"""Engine, sessions and migrations for PostgreSQL (psycopg) and the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["make_engine", "make_sessionmaker", "migrate", "ping"]

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"
# the oldest PostgreSQL the schema and the metrics maintenance pass run on (date_bin is 14's; compose.yaml runs 16)
MIN_POSTGRES = (14, 140000)


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
                _check_version(conn.execute(text("SHOW server_version_num")).scalar_one(),
                               conn.execute(text("SHOW server_version")).scalar_one())
                conn.execute(text("SELECT pg_advisory_xact_lock(72210412)"))
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def _check_version(number: str, shown: str) -> None:
    """Refuse a PostgreSQL older than :data:`MIN_POSTGRES` before migrating, with what to do (a plain SQL error
    about a missing function later, in the maintenance pass, would not say it)."""
    from techcare.errors import ConfigError
    from techcare.i18n import tr

    if int(number) < MIN_POSTGRES[1]:
        raise ConfigError(tr(
            "PostgreSQL {v} ist zu alt: TechCare braucht PostgreSQL {m} oder neuer (compose.yaml nutzt 16). Bitte "
            "den Datenbankserver aktualisieren oder DATABASE_URL auf einen neueren zeigen lassen.",
            "PostgreSQL {v} is too old: TechCare needs PostgreSQL {m} or newer (compose.yaml runs 16). Upgrade the "
            "database server or point DATABASE_URL at a newer one.", v=shown.split()[0], m=MIN_POSTGRES[0]))


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
