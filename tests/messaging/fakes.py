"""Loopback fake upstreams for gateway tests and benchmarks.

`FakeUpstream(kind)` serves on 127.0.0.1 (a free port) from a thread, records every request and answers
like the provider (`twilio`, `clicksend`, `http`) unless a test queued canned answers or set a handler:

    with FakeUpstream("twilio") as fake:
        fake.enqueue(Canned(429, {"code": 20429, "message": "Too Many Requests"}, headers={"Retry-After": "7"}))
        ...
        assert fake.requests[0].form()["To"] == "+15550001111"

HTTP/1.1 keep-alive with Content-Length on every answer and TCP_NODELAY, so requests' pooled connections
are reused and a benchmark measures the client, not Nagle's algorithm.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Canned:
    status: int = 200
    body: Any = b""  # bytes and str are sent as they are; anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than the client's read timeout: a timeout)
    drop: bool = False  # close the connection without answering

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, "text/plain"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), "application/json"


Handler = Callable[[Recorded], "Canned | None"]  # None: answer with the default


class FakeUpstream:
    def __init__(self, kind: str = "http", *, handler: Handler | None = None):
        if kind not in ("twilio", "clicksend", "http"):
            raise ValueError(f"unknown kind {kind!r}")
        self.kind = kind
        self.handler = handler
        self.requests: list[Recorded] = []
        self.statuses: dict[str, str] = {}  # clicksend: recipient → per-message status other than SUCCESS
        self.connections = 0  # TCP connections accepted: with keep-alive, far fewer than requests
        self._canned: deque[Canned] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # Lifecycle
    def start(self) -> FakeUpstream:
        self._server = _Server(("127.0.0.1", 0), _RequestHandler)
        self._server.fake = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed answers so they do not outlive the test
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # Scripting
    def enqueue(self, *answers: Canned) -> None:
        """Answers for the next requests, in order; once used up, the default behaviour resumes."""
        with self._lock:
            self._canned.extend(answers)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._canned.clear()

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def answer(self, request: Recorded) -> Canned:
        with self._lock:
            self.requests.append(request)
            canned = self._canned.popleft() if self._canned else None
        if canned is None and self.handler:
            canned = self.handler(request)
        return canned or getattr(self, f"_default_{self.kind}")(request)

    # The providers' happy paths
    def _default_twilio(self, request: Recorded) -> Canned:
        form = request.form()
        sid = f"SM{self.next_id():032x}"
        return Canned(
            201,
            {
                "sid": sid,
                "status": "queued",
                "to": form.get("To"),
                "from": form.get("From"),
                "body": form.get("Body"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
            },
        )

    def _default_clicksend(self, request: Recorded) -> Canned:
        try:
            wanted = request.json()["messages"]
        except (ValueError, KeyError, TypeError):
            return Canned(400, {"http_code": 400, "response_code": "BAD_REQUEST", "response_msg": "No messages."})
        out = []
        for message in wanted:
            status = self.statuses.get(message.get("to"), "SUCCESS")
            out.append(
                {
                    "direction": "out",
                    "to": message.get("to"),
                    "from": message.get("from"),
                    "body": message.get("body"),
                    "custom_string": message.get("custom_string"),
                    "status": status,
                    "message_id": f"CS-{self.next_id():08d}" if status == "SUCCESS" else None,
                }
            )
        queued = sum(m["status"] == "SUCCESS" for m in out)
        data = {"total_count": len(out), "queued_count": queued, "blocked_count": len(out) - queued, "messages": out}
        return Canned(
            200, {"http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued.", "data": data}
        )

    def _default_http(self, request: Recorded) -> Canned:
        try:
            payload = request.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("messages"), list):
            return Canned(200, {"messages": [{"id": f"m-{self.next_id()}"} for _ in payload["messages"]]})
        return Canned(200, {"id": f"m-{self.next_id()}"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # benchmarks open many connections at once
    fake: FakeUpstream


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake.connections += 1

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        fake = self.server.fake
        canned = fake.answer(recorded)
        if canned.delay and fake._stopping.wait(canned.delay):
            self.close_connection = True
            return
        if canned.drop:
            self.close_connection = True
            return
        body, content_type = canned.encoded()
        try:
            self.send_response(canned.status)
            headers = {"Content-Type": content_type, **canned.headers, "Content-Length": str(len(body))}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timed out) and closed: nothing to tell it
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format, *args) -> None:
        pass


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def take_request(buf: bytearray) -> tuple[bytes, bytes] | None:
    """Cut one whole HTTP/1.1 request (head, body) off the front of `buf`, or None while it is still arriving: the
    framing of the asyncio fakes that benchmarks and crash tests run in their own processes."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end])
    at = head.lower().find(b"content-length:")
    length = 0
    if at >= 0:
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15: stop if stop >= 0 else None])
    total = end + 4 + length
    if len(buf) < total:
        return None
    body = bytes(buf[end + 4: total])
    del buf[:total]
    return head, body
