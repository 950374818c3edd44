"""HTTP for gateway submissions: keep-alive HTTP/1.1 connections over the standard library's http.client, one
per thread and upstream, and one process-wide pool of threads that sends a batch's requests side by side.

Why not `requests`: at one message per request its per-call overhead (about 0.8 ms of CPU against 0.15 ms
here) alone would hold a 2-core worker to some 2,500 messages a second. What a gateway needs of HTTP is
small — POST a body with headers, Basic auth, connect and read timeouts, TLS with certificate checks, reuse
the connection — and is all here. A request is never retried at this level: a lost answer is the
dispatcher's decision (it knows whether the upstream dedupes), not the transport's.
"""

from __future__ import annotations

import base64
import http.client
import json as jsonlib
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.message import Message as Headers
from functools import cache, lru_cache
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

USER_AGENT = "smsportal"
MAX_THREADS = 32  # one process-wide pool; a send uses at most its connection's `concurrency` of them

T = TypeVar("T")
R = TypeVar("R")


class TransportError(Exception):
    """The upstream could not be reached or did not answer in HTTP."""

    code = "connection_error"


class TransportTimeout(TransportError):
    code = "timeout"


class BadRequest(TransportError):
    """The request could not be written (a header that is not Latin-1, say): no byte went out."""

    code = "request_error"


class Response:
    def __init__(self, status_code: int, reason: str, headers: Headers, content: bytes):
        self.status_code = status_code
        self.reason = reason
        self.headers = headers  # case-insensitive .get()
        self.content = content

    @property
    def text(self) -> str:
        charset = self.headers.get_content_charset() or "utf-8"
        return self.content.decode(charset, "replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return jsonlib.loads(self.content)


@cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


FRESH = 1.0  # seconds: a connection used this recently is reused without asking the kernel whether it is closed


class _Wire:
    """Header block and body in one send: http.client writes them apart, two syscalls and two chances for
    another thread to take the GIL, on every request."""

    last_used = 0.0

    def _send_output(self, message_body=None, encode_chunked=False):
        if isinstance(message_body, bytes) and not encode_chunked:
            self._buffer.extend((b"", message_body))
            message = b"\r\n".join(self._buffer)
            del self._buffer[:]
            self.send(message)
        else:
            super()._send_output(message_body, encode_chunked)


class _HTTPConnection(_Wire, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Wire, http.client.HTTPSConnection):
    pass


def _dropped(conn) -> bool:
    """An idle keep-alive connection the upstream closed (or wrote to unasked) is readable: do not reuse it."""
    if conn.sock is None:
        return True
    if time.monotonic() - conn.last_used < FRESH:
        return False
    poller = select.poll()
    poller.register(conn.sock, select.POLLIN)
    return bool(poller.poll(0))


@lru_cache(maxsize=256)
def _parsed(url: str):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"Not an http(s) URL: {url!r}")
    return parts, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class Transport:
    def __init__(self):
        self._local = threading.local()
        self._pid = os.getpid()

    def _connections(self) -> dict:
        if self._pid != os.getpid():  # a forked worker must not share its parent's sockets
            self._local, self._pid = threading.local(), os.getpid()
        if not hasattr(self._local, "connections"):
            self._local.connections = {}
        return self._local.connections

    def request(self, method: str, url: str, *, json: Any = None, data: dict | None = None,
                content: bytes | None = None, auth: tuple[str, str] | None = None, headers: dict | None = None,
                timeout: tuple[float, float] = (3.05, 15.0)) -> Response:
        """`content` is a body sent byte for byte (its Content-Type in `headers`): what a signature covers."""
        parts, target = _parsed(url)
        sent_headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
        body = content
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            sent_headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urlencode(data, doseq=True).encode()
            sent_headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth is not None:
            sent_headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        sent_headers.update({k: v for k, v in (headers or {}).items() if v is not None})
        key = (parts.scheme, parts.hostname, parts.port, timeout)
        connections = self._connections()
        conn = connections.pop(key, None)
        if conn is not None and _dropped(conn):
            conn.close()
            conn = None
        try:
            if conn is None:
                conn = self._connect(parts, timeout)
            conn.request(method, target, body=body, headers=sent_headers)
            answer = conn.getresponse()
            content = answer.read()
        except TimeoutError as exc:
            if conn is not None:
                conn.close()
            raise TransportTimeout(f"{exc.__class__.__name__}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            if conn is not None:
                conn.close()
            raise TransportError(f"{exc.__class__.__name__}: {exc}") from exc
        except ValueError as exc:  # raised before anything was sent: an unencodable header or URL
            if conn is not None:
                conn.close()
            raise BadRequest(str(exc)) from exc
        if answer.will_close:
            conn.close()
        else:
            conn.last_used = time.monotonic()
            connections[key] = conn
        return Response(answer.status, answer.reason, answer.msg, content)

    @staticmethod
    def _connect(parts, timeout: tuple[float, float]) -> http.client.HTTPConnection:
        connect_timeout, read_timeout = timeout
        if parts.scheme == "https":
            conn = _HTTPSConnection(parts.hostname, parts.port, timeout=connect_timeout, context=_tls_context())
        else:
            conn = _HTTPConnection(parts.hostname, parts.port, timeout=connect_timeout)
        conn.connect()
        conn.sock.settimeout(read_timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=MAX_THREADS, thread_name_prefix="gateway"))
        return _pool[1]


def run_concurrently(func: Callable[[T], R], items: Sequence[T], concurrency: int) -> list[R]:
    """func over items, at most `concurrency` at a time, results in input order. The threads are kept for the
    process's life: starting a fresh pool per batch cost a worker a fifth of its time."""
    lanes = max(1, min(int(concurrency), MAX_THREADS, len(items)))
    if lanes == 1:
        return [func(item) for item in items]

    def lane(k: int) -> list[R]:
        return [func(item) for item in items[k::lanes]]

    done = [future.result() for future in [_thread_pool().submit(lane, k) for k in range(lanes)]]
    results: list[R] = [None] * len(items)  # type: ignore[list-item]
    for k, lane_results in enumerate(done):
        results[k::lanes] = lane_results
    return results


@cache
def shared_transport() -> Transport:
    return Transport()
