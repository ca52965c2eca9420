"""nbval setup for the runbooks: ``pytest --nbval notebooks`` (``scripts/test`` runs it).

nbval starts one Jupyter kernel per notebook in ``IPyNbFile.setup``, and the kernel inherits ``os.environ`` of
this pytest process *at that moment*; nbval's cell items take no pytest fixtures. So the environment is prepared
in ``pytest_runtest_setup`` (``tryfirst``: before the notebook's kernel starts):

- once per session a live backend (``techcare_backend.testing.start_backend``) on a fresh PostgreSQL database
  with the real Redis (an embedded SQLite backend when PostgreSQL is not reachable outside CI; with ``CI=true``
  a missing service fails, it never skips) -> ``BACKEND_URL`` and ``ADMIN_TOKEN``;
- per notebook an isolated ``TECHCARE_HOME`` / ``TECHCARE_DATA_DIR`` / ``.env`` in a temporary directory,
  German answers (``TECHCARE_LANG=de``) and no Anthropic key or URL (the runbooks run offline).

``pytest_configure`` makes nbval use this interpreter's kernel and the sanitize file beside this conftest,
unless the command line says otherwise. ``python notebooks/conftest.py [NOTEBOOK ...]`` executes the runbooks
in the same environment and stores their outputs (run it after editing a runbook).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SANITIZE_FILE = HERE / "nbval-sanitize.cfg"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)

# Never inherited by a runbook kernel: a developer's real keys, license, backend or language.
CLEARED = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "BACKEND_URL", "ADMIN_TOKEN", "LICENSE_KEY", "EDITION",
           "TECHCARE_API_KEY", "TECHNICIAN_PASSWORD_HASH", "SESSION_TIMEOUT", "SENSOR_INTERVAL", "NETWORK_METHOD",
           "TECHCARE_LANG", "LEARNING_DB_URL", "TECHNICIAN_NAME", "COMPANY", "TECHCARE_MODEL", "DATABASE_URL",
           "REDIS_URL", "TECHCARE_ENV", "TECHCARE_BRIEFING")


def _reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1.0):
            return True
    except OSError:
        return False


class RunbookEnvironment:
    """The live backend of the session and one isolated TechCare home per notebook."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="techcare-runbooks-"))
        self.backend: Any = None
        self.pg_database: str | None = None
        self.redis_prefix = f"techcare-runbooks-{uuid.uuid4().hex[:10]}:"
        self.redis_url: str | None = None
        self.current: str | None = None

    # ---- backend -----------------------------------------------------------------------------------------------
    def start_backend(self) -> None:
        if self.backend is not None:
            return
        from techcare_backend.testing import start_backend

        database_url = None
        if _reachable(PG):
            import psycopg

            self.pg_database = f"techcare_runbooks_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(f"host={PG[0]} port={PG[1]} user=postgres dbname=postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_database}"')
            database_url = f"postgresql+psycopg://postgres@{PG[0]}:{PG[1]}/{self.pg_database}"
        elif IN_CI:
            raise RuntimeError(f"PostgreSQL is not reachable on {PG[0]}:{PG[1]} (CI=true: the runbooks must run "
                               "against the real database, never skip)")
        if _reachable(REDIS):
            self.redis_url = f"redis://{REDIS[0]}:{REDIS[1]}/0"
        elif IN_CI:
            raise RuntimeError(f"Redis is not reachable on {REDIS[0]}:{REDIS[1]} (CI=true)")
        self.backend = start_backend(database_url=database_url, redis_url=self.redis_url,
                                     redis_prefix=self.redis_prefix, data_dir=self.root / "backend",
                                     rate_limit_ip_per_minute=100_000)

    # ---- per notebook --------------------------------------------------------------------------------------------
    def prepare(self, notebook: str) -> None:
        """Environment for the kernel of ``notebook`` (called before nbval starts it)."""
        if self.current == notebook:
            return
        self.current = notebook
        self.start_backend()
        home = self.root / Path(notebook).stem
        shutil.rmtree(home, ignore_errors=True)
        (home / "data").mkdir(parents=True)
        (home / "test.env").write_text("")
        for key in CLEARED:
            os.environ.pop(key, None)
        os.environ.update({
            "TECHCARE_HOME": str(home / "home"), "TECHCARE_DATA_DIR": str(home / "data"),
            "TECHCARE_ENV_FILE": str(home / "test.env"), "TECHCARE_LANG": "de",
            "BACKEND_URL": self.backend.url, "ADMIN_TOKEN": self.backend.admin_token,
            "PYDEVD_DISABLE_FILE_VALIDATION": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        })

    def close(self) -> None:
        if self.backend is not None:
            self.backend.stop()
            self.backend = None
        if self.pg_database:
            import psycopg

            with psycopg.connect(f"host={PG[0]} port={PG[1]} user=postgres dbname=postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
            self.pg_database = None
        if self.redis_url:
            import redis

            client = redis.Redis.from_url(self.redis_url)
            try:
                keys = list(client.scan_iter(match=self.redis_prefix + "*", count=1000))
                if keys:
                    client.delete(*keys)
            finally:
                client.close()
        shutil.rmtree(self.root, ignore_errors=True)


_env: RunbookEnvironment | None = None


def _is_nbval_item(item: Any) -> bool:
    return type(item).__name__ == "IPyNbCell" and str(getattr(item, "fspath", "")).endswith(".ipynb")


def pytest_configure(config: Any) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # a pytest-xdist worker starts with COLUMNS=80 and LINES=24: the
        os.environ.pop("COLUMNS", None)  # kernels see what a plain run gives them
        os.environ.pop("LINES", None)
    option = config.option
    if getattr(option, "nbval", False) or getattr(option, "nbval_lax", False):
        if not getattr(option, "nbval_kernel_name", None):
            option.nbval_current_env = True
        if getattr(option, "nbval_sanitize_with", None) is None and not getattr(option, "sanitize_with", None):
            option.nbval_sanitize_with = str(SANITIZE_FILE)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    global _env
    if not _is_nbval_item(item):
        return
    if _env is None:
        _env = RunbookEnvironment()
    _env.prepare(str(item.fspath))



def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    global _env
    if _env is not None:
        _env.close()
        _env = None


# ---- storing outputs ---------------------------------------------------------------------------------------------

def execute(paths: list[str]) -> int:
    """Execute runbooks in the test environment and store their outputs in place."""
    import nbformat
    from nbclient import NotebookClient

    env = RunbookEnvironment()
    try:
        for path in paths:
            nb_path = Path(path).resolve()
            env.prepare(str(nb_path))
            nb = nbformat.read(nb_path, as_version=4)
            client = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=False,
                                    resources={"metadata": {"path": str(nb_path.parent)}})
            client.execute()
            nb.metadata.pop("widgets", None)
            nbformat.write(nb, nb_path)
            print(f"executed {nb_path.name}")
    finally:
        env.close()
    return 0


if __name__ == "__main__":
    sys.exit(execute(sys.argv[1:] or sorted(str(p) for p in HERE.glob("[0-9][0-9]-*.ipynb"))))
