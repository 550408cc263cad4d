"""The bounded httptools protocol in a real uvicorn (in this process): heads over the size
limit get 431, heads that do not arrive in time get 408, the rest is served as before."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dashboard.settings import Settings
from dashboard.web import http_protocol
from dashboard.web.app import create_app
from dashboard.web.http_protocol import BoundedHttpToolsProtocol
from tests.conftest import LiveServer

LIMIT, TIMEOUT = 4096, 0.5


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setattr(http_protocol, "_limits", lambda: (LIMIT, TIMEOUT))
    served = LiveServer(lambda: create_app(settings), http=BoundedHttpToolsProtocol)
    served.start()
    yield served
    served.stop()


def exchange(server: LiveServer, *parts: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for part in parts:
            sock.sendall(part)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_the_limits_come_from_the_settings_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHBOARD_MAX_REQUEST_HEAD_BYTES", "5000")
    monkeypatch.setenv("DASHBOARD_REQUEST_HEAD_TIMEOUT", "3")
    http_protocol._limits.cache_clear()
    try:
        assert http_protocol._limits() == (5000, 3.0)
    finally:
        http_protocol._limits.cache_clear()


def test_a_head_over_the_limit_gets_431_and_the_connection_ends(server: LiveServer) -> None:
    answer = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * LIMIT)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in answer


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\n"])
def test_a_head_that_does_not_arrive_in_time_gets_408(server: LiveServer, sent: bytes) -> None:
    assert exchange(server, sent).startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_requests_under_the_limit_are_served_one_after_another(server: LiveServer) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * (LIMIT // 2) + b"\r\n\r\n"
    last = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    answer = exchange(server, request, request, last)
    assert answer.count(b"HTTP/1.1 200 OK") == 3
