"""Health, settings (no default secrets outside development), CLI, Redis outage, embedded default, live helper."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys

import httpx
import pytest
from backend_helpers import new_fingerprint, new_nonce, sample
from fastapi.testclient import TestClient
from techcare_backend.cli import main as cli_main
from techcare_backend.core.config import generate_secrets, load_backend_settings
from techcare_backend.main import create_app
from techcare_backend.testing import make_settings, seed, start_backend

from techcare.errors import ConfigError


def test_health(client, backend_kind) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["cache"] == "ok"
    assert body["cache_backend"] == ("redis" if backend_kind == "postgres" else "memory")
    assert body["version"] and isinstance(body["ts"], int)


def test_openapi_docs(client) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/licenses/validate" in schema["paths"] and "/api/monitoring/metrics/batch" in schema["paths"]
    assert client.get("/docs").status_code == 200


# ---- settings -----------------------------------------------------------------------------------------------
def test_production_refuses_missing_and_default_secrets(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TECHCARE_LANG", "en")
    with pytest.raises(ConfigError, match="ADMIN_TOKEN") as err:
        load_backend_settings()
    assert "keys generate" in str(err.value)
    good = generate_secrets()
    for key, value in good.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ADMIN_TOKEN", "changeme")
    with pytest.raises(ConfigError, match="ADMIN_TOKEN"):
        load_backend_settings()
    monkeypatch.setenv("ADMIN_TOKEN", "short")
    with pytest.raises(ConfigError, match="shorter"):
        load_backend_settings()
    monkeypatch.setenv("ADMIN_TOKEN", good["ADMIN_TOKEN"])
    monkeypatch.setenv("JWT_SIGNING_KEY", "not-a-key-not-a-key-not-a-key")
    with pytest.raises(ConfigError, match="JWT_SIGNING_KEY"):
        load_backend_settings()
    monkeypatch.setenv("JWT_SIGNING_KEY", good["JWT_SIGNING_KEY"])
    settings = load_backend_settings()
    assert settings.admin_token == good["ADMIN_TOKEN"] and settings.embedded
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_backend_settings()


def test_development_generates_and_keeps_throwaway_secrets(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("TECHCARE_ENV", "development")
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path))
    first = load_backend_settings()
    assert "THROWAWAY" in caplog.text
    stored = tmp_path / "backend-dev-secrets.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    second = load_backend_settings()
    assert first.admin_token == second.admin_token and first.signing_kid == second.signing_kid


def test_pem_signing_key_and_extra_public_keys(tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from techcare_backend.core.config import public_key_b64

    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()).decode()
    nxt = public_key_b64(Ed25519PrivateKey.generate().public_key())
    settings = make_settings(data_dir=tmp_path, jwt_signing_key=pem, jwt_extra_public_keys=nxt)
    assert len(settings.verification_keys) == 2 and nxt in settings.verification_keys.values()
    with TestClient(create_app(settings)) as client:
        keys = client.get("/api/licenses/public-keys").json()["keys"]
    assert [k["kid"] for k in keys][0] == settings.signing_kid and keys[1]["x"] == nxt


# ---- CLI ----------------------------------------------------------------------------------------------------
def test_cli_keys_generate_writes_env_file(tmp_path, capsys) -> None:
    env = tmp_path / "backend.env"
    assert cli_main(["keys", "generate", "--env-file", str(env)]) == 0
    text = env.read_text()
    assert {"ADMIN_TOKEN", "JWT_SIGNING_KEY", "LICENSE_KEY_SECRET"} <= {ln.split("=")[0] for ln in text.splitlines()}
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert cli_main(["keys", "generate"]) == 0
    assert capsys.readouterr().out.count("=") >= 3


def test_cli_refuses_unsafe_config_without_traceback(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TECHCARE_LANG", "en")
    assert cli_main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "Unsafe backend configuration" in err and "Traceback" not in err


def test_cli_migrate_embedded(tmp_path, monkeypatch, capsys, caplog) -> None:
    for key, value in generate_secrets().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TECHCARE_DATA_DIR", str(tmp_path))
    with caplog.at_level(logging.INFO):
        assert cli_main(["migrate"]) == 0
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Running upgrade") for m in said), said  # the steps show, alembic's plugin noise not
    assert not [m for m in said if m.startswith("setup plugin")], said
    assert (tmp_path / "techcare-backend.sqlite3").exists()
    assert cli_main(["migrate"]) == 0  # idempotent


@pytest.mark.slow
def test_cli_serve_on_a_fresh_machine(tmp_path) -> None:
    """`techcare-backend serve` with no database or Redis configured: embedded SQLite, migrations applied."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **generate_secrets(), "TECHCARE_DATA_DIR": str(tmp_path), "TECHCARE_ENV_FILE": "/nonexistent"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "techcare_backend.cli", "serve", "--port", str(port),
                             "--workers", "2", "--log-level", "warning"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).json()
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.2)
        assert body["status"] == "ok" and body["cache_backend"] == "memory"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "--workers" in err  # told that embedded mode runs one worker


# ---- Redis outage ----------------------------------------------------------------------------------------------
def test_redis_down_keeps_serving_degraded(tmp_path, backend_settings, caplog) -> None:
    """Redis unreachable (closed port): health says degraded, everything else still answers, never a 500."""
    settings = backend_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(settings)) as client:
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["cache"] == "degraded"
        assert health.json()["status"] == "degraded" and health.json()["database"] == "ok"
        org = seed(client, edition="enterprise", admin_token=settings.admin_token)
        r = client.post("/api/licenses/validate", json={"key": org.license_key, "fingerprint": new_fingerprint(),
                                                        "nonce": new_nonce()})
        assert r.status_code == 200 and r.json()["code"] == "VALID"
        assert client.post("/api/monitoring/metrics", json=sample(), headers=org.headers("sensor")).status_code == 201
        assert client.get("/api/monitoring/hosts", headers=org.headers()).status_code == 200
        client.post(f"/api/admin/licenses/{org.license_id}/suspend", headers={
            "Authorization": f"Bearer {settings.admin_token}"})
        r = client.post("/api/licenses/validate", json={"key": org.license_key, "fingerprint": new_fingerprint(),
                                                        "nonce": new_nonce()})
        assert r.json()["code"] == "SUSPENDED"  # no stale cache while Redis is away
    assert "Redis unavailable" in caplog.text


def test_redis_keys_carry_the_prefix(backend_settings, backend_kind, client, make_org, app) -> None:
    org = make_org("pro")
    fp = new_fingerprint()
    for _ in range(2):  # the first call activates the machine (and drops the cached state), the second caches it
        client.post("/api/licenses/validate", json={"key": org.license_key, "fingerprint": fp, "nonce": new_nonce()})
    if backend_kind == "sqlite":  # the embedded default keeps all of it in process
        assert app.state.ctx.cache.backend == "memory"
        return
    import redis

    app.state.ctx.cache.flush()  # rate-limit counts reach Redis in the background (~50 ms); send them now
    redis_client = redis.Redis.from_url(backend_settings.redis_url)
    try:
        keys = [k.decode() for k in redis_client.scan_iter(match=backend_settings.redis_prefix + "*", count=1000)]
    finally:
        redis_client.close()
    assert any(k.startswith(backend_settings.redis_prefix + "lic:") for k in keys)
    assert any(k.startswith(backend_settings.redis_prefix + "rl:ip:") for k in keys)


# ---- live helper ------------------------------------------------------------------------------------------------
def test_start_backend_and_seed(tmp_path) -> None:
    with start_backend(data_dir=tmp_path) as live:
        assert httpx.get(live.url + "/api/health").json()["status"] == "ok"
        org = seed(live, edition="pro_business")
        me = httpx.get(live.url + "/api/me", headers=org.headers("technician")).json()
        assert me["edition"] == "pro_business" and "sensor_mode" in me["entitlements"]
        assert set(org.keys) == {"admin", "technician", "sensor"}
        assert org.license_key.startswith("TECHCARE-PRO-BUSINESS-")
    with pytest.raises(httpx.HTTPError):
        httpx.get(live.url + "/api/health", timeout=1)
    assert json.loads(json.dumps(org.license))["edition"] == "pro_business"
