"""A scripted server that speaks the OpenAI chat-completions protocol on 127.0.0.1.

For deterministic tests and benchmarks of anything that talks to an LLM endpoint: each request
to ``POST /v1/chat/completions`` takes the next step of a script (or the default step when the
script is spent), and every request is recorded. A step is one of:

- ``Reply(text)`` (optionally after ``delay`` seconds): a 200 with a ``chat.completion`` body,
  whose usage counts the prompt's and the reply's whitespace-separated words;
- ``Status(code)``: an error status with an OpenAI-style error body (``Retry-After: 0`` on 429);
- ``Slow(seconds)``: nothing for that long, then a reply (a client timeout fires first);
- ``Drop()``: the connection is closed without a response.

``reply`` may also be a function of the request's messages, for echo-like servers.

    with ScriptedServer([Status(429), Reply("hi")]) as server:
        LLMClient(base_url=server.url, model="scripted").complete([...])
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence


@dataclass(frozen=True)
class Reply:
    text: str | Callable[[list[dict]], str]
    delay: float = 0.0


@dataclass(frozen=True)
class Status:
    code: int


@dataclass(frozen=True)
class Slow:
    seconds: float


@dataclass(frozen=True)
class Drop:
    pass


Step = Reply | Status | Slow | Drop


class ScriptedServer:
    """An OpenAI-compatible chat-completions server on 127.0.0.1 that follows a script."""

    def __init__(self, script: Sequence[Step] = (), default: Step = Reply("ok"), latency: float = 0.0) -> None:
        self.script = list(script)
        self.default = default
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "ScriptedServer":
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle's algorithm and the
                # client's delayed ACK hold the body back ~40 ms, which a latency benchmark would count
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with owner._lock:
                    owner.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                    step = owner.script.pop(0) if owner.script else owner.default
                    owner.in_flight += 1
                    owner.max_in_flight = max(owner.max_in_flight, owner.in_flight)
                try:
                    owner._answer(self, body, step)
                finally:
                    with owner._lock:
                        owner.in_flight -= 1

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict, step: Step) -> None:
        if self.latency:
            time.sleep(self.latency)
        if handler.path.rstrip("/") != "/v1/chat/completions":
            return _send(handler, 404, {"error": {"message": f"no route {handler.path}", "type": "not_found"}})
        if isinstance(step, Drop):
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return None
        if isinstance(step, Status):
            headers = {"retry-after": "0"} if step.code == 429 else {}
            return _send(handler, step.code, {"error": {"message": f"scripted {step.code}", "type": "scripted"}}, headers)
        if isinstance(step, Slow):
            time.sleep(step.seconds)
            step = Reply("late")
        if step.delay:
            time.sleep(step.delay)
        messages = body.get("messages", [])
        text = step.text(messages) if callable(step.text) else step.text
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = len(text.split())
        return _send(handler, 200, {
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })


def _send(handler: BaseHTTPRequestHandler, code: int, payload: dict, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(payload).encode()
    try:
        handler.send_response(code)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
        pass
