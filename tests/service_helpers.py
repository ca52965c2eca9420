"""Helpers for tests that use the real Redis (imported as ``service_helpers``; tests/ is on sys.path)."""

from __future__ import annotations

import os
import socket

import pytest

REDIS_URL = "redis://127.0.0.1:6379/0"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_redis() -> None:
    """Skip locally, fail in CI (CI=true: service tests must run, never skip)."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1.0).close()
    except OSError:
        if IN_CI:
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (CI=true: service tests must run, never skip)")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")


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
