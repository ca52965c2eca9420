"""TCP_NODELAY for every accepted connection, also under ``uvicorn --workers N``.

asyncio sets TCP_NODELAY on a new connection only if its socket says ``proto == IPPROTO_TCP``. With ``--workers``
uvicorn binds the listening socket itself with ``socket.socket(family=...)``, whose ``proto`` is 0, so accepted
connections keep Nagle's algorithm on. h11 writes a response's head and body separately; the body then waits for
the client's delayed ACK (~40 ms on Linux). Measured on the dev VM: a bare endpoint fell from ~2,900 to ~350
requests/s with 2 workers. A SOCK_STREAM socket of an INET family with proto 0 is TCP, so it gets NODELAY too.
"""

from __future__ import annotations

import asyncio.base_events as _base_events
import socket

__all__ = ["ensure_tcp_nodelay"]

_original = _base_events._set_nodelay  # type: ignore[attr-defined]


def _set_nodelay(sock: socket.socket) -> None:
    if (sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
            and sock.proto in (0, socket.IPPROTO_TCP)):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # pragma: no cover - e.g. a socket already closed by the peer
            pass
        return
    _original(sock)


def ensure_tcp_nodelay() -> None:
    """Install the patched check (idempotent)."""
    _base_events._set_nodelay = _set_nodelay  # type: ignore[attr-defined]
