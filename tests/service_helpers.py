"""Helpers for tests that use the real services (imported as ``service_helpers``; tests/ is on sys.path)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

REDIS_URL = "redis://127.0.0.1:6379/0"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# backend settings for tests that are not about rate limits
FAST = {"rate_limit_ip_per_minute": 1_000_000, "rate_limit_key_per_minute": 1_000_000}


def require_service(name: str, host: str, port: int) -> None:
    """Skip locally, fail in CI (CI=true: service tests must run, never skip)."""
    try:
        socket.create_connection((host, port), timeout=1.0).close()
    except OSError:
        message = f"{name} is not reachable on {host}:{port}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: service tests must run, never skip)")
        pytest.skip(message)


def require_redis() -> None:
    require_service("Redis", "127.0.0.1", 6379)


def wait_until(check: Callable[[], Any], timeout: float = 5.0, what: str = "condition", interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy (returned), else fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for: {what}")


def drop_redis_prefix(prefix: str) -> None:
    """Delete every key under ``prefix`` (each test run uses its own prefix)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
