"""The gateways' HTTP transport against a loopback upstream: keep-alive reuse, a connection the upstream closed,
the wire format of bodies and auth, and failures reported as errors rather than raised from deep inside."""

import base64
import socket
import threading
import time

import pytest

from smsportal.messaging.gateways import transport as transport_module
from smsportal.messaging.gateways.transport import (
    BadRequest,
    Transport,
    TransportError,
    TransportTimeout,
    run_concurrently,
)

from .fakes import Canned, FakeUpstream, closed_port_url


@pytest.fixture
def fake():
    with FakeUpstream("http") as upstream:
        yield upstream


def test_one_connection_serves_many_requests(fake):
    transport = Transport()
    for _ in range(5):
        response = transport.request("POST", f"{fake.url}/send", json={"to": "+61412345678"})
        assert response.status_code == 200 and response.json()["id"].startswith("m-")
    assert fake.connections == 1 and len(fake.requests) == 5


def test_a_connection_the_upstream_closed_is_replaced_not_failed(fake):
    transport = Transport()
    fake.enqueue(Canned(200, {"id": "x"}, headers={"Connection": "close"}))
    assert transport.request("POST", f"{fake.url}/send", json={}).json() == {"id": "x"}
    assert transport.request("POST", f"{fake.url}/send", json={}).status_code == 200
    assert fake.connections == 2


def test_json_form_auth_and_headers_on_the_wire(fake):
    transport = Transport()
    transport.request("POST", f"{fake.url}/send?x=1", json={"body": "Grüße €"}, auth=("user", "pässword"),
                      headers={"X-Key": "k", "Skipped": None})
    transport.request("POST", f"{fake.url}/form", data={"To": "+61412345678", "Body": "a&b=c"})
    sent_json, sent_form = fake.requests
    assert sent_json.path == "/send" and sent_json.query == {"x": "1"}
    assert sent_json.json() == {"body": "Grüße €"}
    assert sent_json.headers["content-type"] == "application/json"
    assert sent_json.headers["authorization"] == "Basic " + base64.b64encode("user:pässword".encode()).decode()
    assert sent_json.headers["x-key"] == "k" and "skipped" not in sent_json.headers
    assert sent_form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent_form.form() == {"To": "+61412345678", "Body": "a&b=c"}


def test_status_headers_and_text_of_an_error_answer(fake):
    fake.enqueue(Canned(429, "slow down", headers={"Retry-After": "7"}))
    response = Transport().request("POST", f"{fake.url}/send", json={})
    assert response.status_code == 429 and response.headers.get("retry-after") == "7"
    assert response.text == "slow down"
    with pytest.raises(ValueError):
        response.json()


def test_failures_are_transport_errors_with_their_code(fake):
    transport = Transport()
    with pytest.raises(TransportError) as refused:
        transport.request("POST", f"{closed_port_url()}/send", json={})
    assert refused.value.code == "connection_error"

    fake.enqueue(Canned(200, {}, delay=1.0))
    with pytest.raises(TransportTimeout) as slow:
        transport.request("POST", f"{fake.url}/send", json={}, timeout=(1, 0.2))
    assert slow.value.code == "timeout"

    with pytest.raises(BadRequest) as bad:
        transport.request("POST", f"{fake.url}/send", json={}, headers={"X-Key": "ключ"})
    assert bad.value.code == "request_error"
    with pytest.raises(TransportError):
        transport.request("POST", "ftp://example.com/x", json={})
    # After all that the transport still works.
    assert transport.request("POST", f"{fake.url}/send", json={}).status_code == 200


def test_run_concurrently_keeps_order_and_limits_concurrency():
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def work(item):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(0.02)
        with lock:
            running[0] -= 1
        return item * 2

    assert run_concurrently(work, list(range(20)), 3) == [i * 2 for i in range(20)]
    assert peak[0] == 3
    assert run_concurrently(work, [5], 8) == [10]
    assert run_concurrently(work, [], 8) == []


def test_an_idle_connection_the_upstream_dropped_is_noticed_before_it_is_used(monkeypatch):
    """Upstreams close idle keep-alive connections without a word; sending on one would lose the request.
    (A connection used within FRESH seconds is trusted without asking; this one has been idle longer.)"""
    monkeypatch.setattr(transport_module, "FRESH", 0.01)
    server = socket.create_server(("127.0.0.1", 0))
    port, accepted = server.getsockname()[1], []

    def serve():
        for _ in range(2):
            conn, _ = server.accept()
            accepted.append(conn)
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
            conn.close()  # idle close, after a keep-alive answer

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    transport = Transport()
    try:
        assert transport.request("POST", f"http://127.0.0.1:{port}/a", json={}).json() == {}
        time.sleep(0.05)  # the server's close reaches the client
        assert transport.request("POST", f"http://127.0.0.1:{port}/b", json={}).json() == {}
        assert len(accepted) == 2
    finally:
        server.close()
