"""A fake Anthropic Messages API for tests, notebooks and offline demos.

A stdlib :class:`~http.server.ThreadingHTTPServer` on ``127.0.0.1:0`` answers ``POST /v1/messages`` with scripted
responses, as JSON or — when the request asks for ``"stream": true`` — as server-sent events, exactly in the
shapes the real API uses. The real ``anthropic`` SDK talks to it through ``base_url``::

    from techcare.assistant.testing import FakeMessagesServer, text, tool_use, error

    with FakeMessagesServer() as server:
        server.enqueue(tool_use("get_findings", {"severity": "problems"}))
        server.enqueue(text("Die Firewall ist aus. Vorschlag: ..."))
        assistant = techcare.Assistant(api_key="test", base_url=server.url)
        reply = assistant.ask("Ist der Rechner sicher?")
        server.requests[1]["body"]["messages"]      # what the SDK sent back (tool_result blocks)

``error(529)`` scripts an HTTP error (with ``retry-after-ms`` so SDK retries stay fast). When the queue is
empty the server answers 500 with a message saying so, which makes a missing script obvious in a test.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["FakeError", "FakeMessagesServer", "error", "message", "text", "tool_use"]

_ids = itertools.count(1)
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                529: "overloaded_error"}


@dataclass
class FakeError:
    status: int
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(self.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.message or kind.replace("_", " ")},
                "request_id": f"req_fake{next(_ids):04d}"}


def error(status: int, message: str = "", *, retry_after_ms: int | None = 1, headers: dict[str, str] | None = None) -> FakeError:
    """A scripted HTTP error. ``retry_after_ms`` sets the header the SDK honours for its retry delay."""
    hdrs = dict(headers or {})
    if retry_after_ms is not None:
        hdrs.setdefault("retry-after-ms", str(retry_after_ms))
    return FakeError(status, message, hdrs)


def message(content: list[dict[str, Any]], *, stop_reason: str | None = None, model: str = "claude-sonnet-5-5",
            usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A complete Messages API response object."""
    if stop_reason is None:
        stop_reason = "tool_use" if any(b.get("type") == "tool_use" for b in content) else "end_turn"
    return {"id": f"msg_fake{next(_ids):06d}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": usage or {"input_tokens": 10, "output_tokens": 10}}


def text(value: str, **kwargs: Any) -> dict[str, Any]:
    """A response with one text block that ends the turn."""
    return message([{"type": "text", "text": value}], **kwargs)


def tool_use(name: str, arguments: dict[str, Any] | None = None, *, preface: str | None = None,
             more: list[tuple[str, dict[str, Any]]] = (), **kwargs: Any) -> dict[str, Any]:
    """A response asking for one (or more) tool calls, optionally preceded by text."""
    blocks: list[dict[str, Any]] = []
    if preface:
        blocks.append({"type": "text", "text": preface})
    for tool, args in [(name, arguments or {}), *more]:
        blocks.append({"type": "tool_use", "id": f"toolu_fake{next(_ids):06d}", "name": tool, "input": args})
    return message(blocks, **kwargs)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def sse_events(msg: dict[str, Any], chunk: int = 12) -> list[bytes]:
    """The server-sent events the real API streams for ``msg`` (text and tool input split into deltas)."""
    start = {**msg, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": msg["usage"].get("input_tokens", 0), "output_tokens": 1}}
    out = [_sse("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(msg["content"]):
        if block["type"] == "text":
            out.append(_sse("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {"type": "text", "text": ""}}))
            body = block["text"]
            for i in range(0, len(body), chunk):
                out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "text_delta", "text": body[i:i + chunk]}}))
        elif block["type"] == "tool_use":
            out.append(_sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            body = json.dumps(block["input"])
            for i in range(0, len(body), chunk):
                out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "input_json_delta", "partial_json": body[i:i + chunk]}}))
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(_sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": msg["stop_reason"],
                                                                         "stop_sequence": None},
                                      "usage": {"output_tokens": msg["usage"].get("output_tokens", 0)}}))
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


class FakeMessagesServer:
    """Scripted ``/v1/messages`` endpoint on 127.0.0.1 (random port). Use as a context manager or start()/stop().

    ``requests`` lists every request received: ``{"path", "headers", "body"}`` (body parsed from JSON).
    """

    def __init__(self, responses: list[dict[str, Any] | FakeError] | None = None) -> None:
        self._queue: deque[dict[str, Any] | FakeError] = deque(responses or [])
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- script --------------------------------------------------------------------------------------------
    def enqueue(self, *responses: dict[str, Any] | FakeError) -> Self:
        with self._lock:
            self._queue.extend(responses)
        return self

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _next(self) -> dict[str, Any] | FakeError:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return FakeError(500, "FakeMessagesServer: no scripted response left", {"retry-after-ms": "1"})

    # ---- lifecycle -----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._server is not None:
            return self
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                owner.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": body})
                if not self.path.split("?")[0].endswith("/v1/messages"):
                    return self._json(404, FakeError(404, f"unknown path {self.path}").body(), {})
                scripted = owner._next()
                if isinstance(scripted, FakeError):
                    return self._json(scripted.status, scripted.body(), scripted.headers)
                if body.get("stream"):
                    return self._stream(scripted)
                return self._json(200, scripted, {})

            def _json(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", f"req_fake{next(_ids):04d}")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, msg: dict[str, Any]) -> None:
                data = b"".join(sse_events(msg))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-messages-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
