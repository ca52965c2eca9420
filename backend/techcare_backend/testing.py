"""A live local backend for tests and notebooks, and ``seed()`` to fill it.

Usage::

    from techcare_backend.testing import start_backend, seed

    backend = start_backend()                 # embedded SQLite in a temp dir + in-process cache, a free port
    # or: start_backend(database_url="postgresql+psycopg://postgres@127.0.0.1:5432/db",
    #                   redis_url="redis://127.0.0.1:6379/0", redis_prefix="mytest:")
    org = seed(backend, edition="pro_business")   # organisation + license + API keys
    org.license_key, org.keys["admin"], org.keys["technician"], org.keys["sensor"], org.organisation_id
    add_hosts(backend, org, ["kasse-01", "buero-pc"])   # hosts that sent a sample: remote jobs may target them
    httpx.get(backend.url + "/api/health")
    backend.stop()                            # also: ``with start_backend() as backend: ...``

``start_backend`` runs uvicorn in a daemon thread of the calling process on a pre-bound socket (``port=0`` picks
a free port), applies the migrations first and returns once the server accepts connections. Real secrets are
generated per backend (``backend.admin_token``; the lease verification keys are at
``backend.url + "/api/licenses/public-keys"``). Keyword arguments not named below become backend settings (for
example ``rate_limit_ip_per_minute=10_000``, ``host_overdue_seconds=60``).
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["LiveBackend", "Seeded", "add_hosts", "make_settings", "seed", "start_backend"]


def make_settings(database_url: str | None = None, redis_url: str | None = None, *, data_dir: str | Path,
                  redis_prefix: str | None = None, **overrides: Any) -> Any:
    """Production-mode settings with freshly generated secrets (nothing read from the environment's secrets)."""
    from .core.config import BackendSettings, generate_secrets

    secrets = generate_secrets()
    values: dict[str, Any] = {
        "techcare_env": "production", "database_url": database_url, "redis_url": redis_url,
        "redis_prefix": redis_prefix or f"techcare-test-{uuid.uuid4().hex[:10]}:",
        "techcare_data_dir": Path(data_dir), "admin_token": secrets["ADMIN_TOKEN"],
        "jwt_signing_key": secrets["JWT_SIGNING_KEY"], "license_key_secret": secrets["LICENSE_KEY_SECRET"],
        "auto_migrate": False,
        # no maintenance pass in the background: tests share a database and store samples of any date (a pass
        # would drop those older than METRICS_RETENTION_DAYS); tests that want it set it
        "metrics_maintenance_seconds": 0,
    }
    values.update(overrides)
    return BackendSettings(_env_file=None, **values)


@dataclass
class LiveBackend:
    url: str
    admin_token: str
    settings: Any = None
    app: Any = None
    _server: Any = None
    _thread: threading.Thread | None = None
    _tmpdir: str | None = None
    _stopped: bool = field(default=False)

    def stop(self) -> None:
        """Stop the server and remove its temporary data directory."""
        if self._stopped:
            return
        self._stopped = True
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> LiveBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_token}"}


def start_backend(database_url: str | None = None, redis_url: str | None = None, port: int = 0, *,
                  host: str = "127.0.0.1", data_dir: str | Path | None = None, redis_prefix: str | None = None,
                  timeout: float = 30.0, **overrides: Any) -> LiveBackend:
    """Start a backend in a background thread; see the module docstring."""
    import uvicorn

    from .core.db import migrate
    from .main import create_app

    tmpdir = None
    if data_dir is None:
        tmpdir = tempfile.mkdtemp(prefix="techcare-backend-")
        data_dir = tmpdir
    settings = make_settings(database_url, redis_url, data_dir=data_dir, redis_prefix=redis_prefix, **overrides)
    migrate(settings.sqlalchemy_url)
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    # stop() ends within seconds even while sensors long-poll (GET /api/sensor/jobs?wait=...): requests still
    # running 3 s after the stop are cancelled (their clients see a dropped connection and retry)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            sock.close()

    thread = threading.Thread(target=run, name=f"techcare-backend-{bound_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if errors or not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            if tmpdir:
                shutil.rmtree(tmpdir, ignore_errors=True)
            raise RuntimeError(f"the backend did not start: {errors[0] if errors else 'timeout'}")
        time.sleep(0.02)
    return LiveBackend(url=f"http://{host}:{bound_port}", admin_token=settings.admin_token, settings=settings,
                       app=app, _server=server, _thread=thread, _tmpdir=tmpdir)


@dataclass
class Seeded:
    organisation_id: str
    organisation: str
    license_id: str
    license_key: str
    edition: str
    keys: dict[str, str]
    key_ids: dict[str, str]
    license: dict[str, Any]

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def seed(target: Any, *, edition: str = "enterprise", organisation: str | None = None,
         expires_at: str | None = None, max_machines: int | None = None, admin_token: str | None = None,
         roles: tuple[str, ...] = ("admin", "technician", "sensor")) -> Seeded:
    """Create an organisation with a license and one API key per role in ``roles``.

    ``target`` is a :class:`LiveBackend` or an HTTP client with ``.post`` relative to the backend (an
    ``httpx.Client(base_url=...)`` or FastAPI's ``TestClient``; then pass ``admin_token``).
    """
    import httpx

    if isinstance(target, LiveBackend):
        client: Any = httpx.Client(base_url=target.url, timeout=30)
        token = admin_token or target.admin_token
        close = True
    else:
        client, token, close = target, admin_token, False
    if not token:
        raise ValueError("seed() needs admin_token when target is not a LiveBackend")
    headers = {"Authorization": f"Bearer {token}"}
    name = organisation or f"Org {uuid.uuid4().hex[:8]}"
    try:
        resp = client.post("/api/admin/licenses", headers=headers, json={
            "edition": edition, "organisation": name, "expires_at": expires_at, "max_machines": max_machines})
        resp.raise_for_status()
        issued = resp.json()
        org_id = issued["license"]["organisation_id"]
        keys, key_ids = {}, {}
        for role in roles:
            body = {"name": f"{role} key", "role": role}
            if role != "sensor":
                body["technician_name"] = f"{role.capitalize()} {name}"
            resp = client.post(f"/api/admin/organisations/{org_id}/api-keys", headers=headers, json=body)
            resp.raise_for_status()
            keys[role], key_ids[role] = resp.json()["key"], resp.json()["id"]
    finally:
        if close:
            client.close()
    return Seeded(organisation_id=org_id, organisation=name, license_id=issued["license"]["id"],
                  license_key=issued["key"], edition=edition, keys=keys, key_ids=key_ids, license=issued["license"])


def add_hosts(target: Any, org: Seeded, hostnames: list[str], *, os_name: str = "windows") -> None:
    """Make ``hostnames`` known to ``org``'s fleet: one sample each, sent with its sensor key (remote jobs can only
    target hosts the organisation has seen). ``target`` as for :func:`seed`; the edition needs sensor mode."""
    import httpx

    if isinstance(target, LiveBackend):
        client: Any = httpx.Client(base_url=target.url, timeout=30)
        close = True
    else:
        client, close = target, False
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    samples = [{"sample_id": str(uuid.uuid4()), "timestamp": now, "hostname": name, "os": os_name,
                "cpu_percent": 5.0, "ram_percent": 30.0, "disks": [], "services": {}, "events": [], "smart": []}
               for name in hostnames]
    try:
        for start in range(0, len(samples), 1000):
            resp = client.post("/api/monitoring/metrics/batch", json={"samples": samples[start:start + 1000]},
                               headers=org.headers("sensor"))
            resp.raise_for_status()
            errors = [r for r in resp.json()["results"] if r["status"] == "error"]
            if errors:
                raise ValueError(f"samples refused: {errors[:3]}")
    finally:
        if close:
            client.close()
