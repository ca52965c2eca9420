"""Accepted connections get TCP_NODELAY even on a listening socket with proto 0 (uvicorn --workers binds so)."""

from __future__ import annotations

import asyncio
import socket

from techcare_backend.core.tcp import ensure_tcp_nodelay


def _accepted_nodelay() -> int:
    async def main() -> int:
        listener = socket.socket(family=socket.AF_INET)  # proto 0, like uvicorn's Config.bind_socket
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        value = await asyncio.wait_for(seen, 5)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        return value

    return asyncio.run(main())


def test_create_app_path_sets_nodelay_on_proto_0_listeners() -> None:
    ensure_tcp_nodelay()
    ensure_tcp_nodelay()  # idempotent
    assert _accepted_nodelay() != 0


def test_the_app_installs_it(app) -> None:
    import asyncio.base_events as base_events

    from techcare_backend.core import tcp

    assert app is not None and base_events._set_nodelay is tcp._set_nodelay
