"""Helpers for tests against a live local backend (``techcare_backend.testing``) on the real PostgreSQL + Redis."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from typing import Any

import httpx
import pytest
from service_helpers import require_service

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def need_redis() -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)


def need_backend() -> None:
    try:
        import techcare_backend.testing  # noqa: F401
    except ImportError as exc:  # the backend package is part of this repository: in CI it must be there
        if IN_CI:
            pytest.fail(f"techcare_backend is not importable: {exc}")
        pytest.skip(f"techcare_backend is not importable: {exc}")


def restart_kwargs(backend: Any) -> dict[str, Any]:
    """The settings a restarted backend needs to be the same server (same secrets, same data)."""
    s = backend.settings
    return {"admin_token": s.admin_token, "jwt_signing_key": s.jwt_signing_key,
            "license_key_secret": s.license_key_secret, "redis_prefix": s.redis_prefix}


class ToggleTransport(httpx.BaseTransport):
    """Real HTTP to the live backend, unless a test makes the network fail or answers in its place."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.mode = "ok"                 # ok | down | 429 | 503
        self.rewrite = None              # callable(request, response) -> response
        self.validate_answers: list[httpx.Response] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if self.mode == "429":
            return httpx.Response(429, headers={"Retry-After": "1"}, json={"detail": "rate limited"})
        if self.mode == "503":
            return httpx.Response(503, json={"detail": "maintenance"})
        response = self.inner.handle_request(request)
        response.read()
        if self.rewrite is not None:
            return self.rewrite(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


class Proxy:
    """A TCP proxy in front of the backend. ``hold`` forwards requests but withholds the responses (a send whose
    acknowledgement never arrives); when the backend is down, connections are closed (the client sees an error)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.hold = threading.Event()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            client.close()
            return
        self._conns += [client, upstream]

        def pump(src: socket.socket, dst: socket.socket, hold: bool) -> None:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if hold:
                        while self.hold.is_set() and not self._stop.is_set():
                            self._stop.wait(0.05)
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        pump(upstream, client, True)

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        for s in self._conns:
            try:
                s.close()
            except OSError:
                pass


def unique_host() -> str:
    return f"live-{uuid.uuid4().hex[:8]}"
