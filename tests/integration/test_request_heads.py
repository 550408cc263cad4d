"""Bounded request heads on the real ``dashboard serve``: too large gets 431, too slow
gets 408, and neither touches a normal request or a long-lived stream."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from dashboard.store import schema
from tests.conftest import wait_until
from tests.servers import ServeProcess
from tests.sse import SSEReader
from tests.ws_client import until_ready

HEAD_TIMEOUT = 1.0
KEEPALIVE = 0.4


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    # One server for the module: the limits do not depend on the store or on earlier tests.
    workdir = tmp_path_factory.mktemp("heads")
    url = f"sqlite:///{workdir / 'heads.db'}"
    schema.upgrade(url)
    served = ServeProcess(
        workdir,
        "heads",
        {
            "DASHBOARD_DATABASE_URL": url,
            "DASHBOARD_REQUEST_HEAD_TIMEOUT": str(HEAD_TIMEOUT),
            # Keep-alive comments are the test's clock: a stream that got them for longer
            # than the head timeout has outlived it.
            "DASHBOARD_KEEPALIVE_INTERVAL": str(KEEPALIVE),
            "DASHBOARD_MAX_REQUEST_HEAD_BYTES": "8192",
        },
    )
    yield served
    served.stop()


def answer(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_regression_a_huge_head_is_cut_off_while_it_is_still_coming(
    server: ServeProcess,
) -> None:
    # Was: no limit; 8 MB Last-Event-ID headers took the process from 142 to 332 MB.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: t\r\nLast-Event-ID: ")
        # Sent until the server's close is felt (it reads no more), with a deadline.
        deadline = time.monotonic() + 10
        with pytest.raises(OSError):
            while time.monotonic() < deadline:
                sock.sendall(b"a" * 65536)
    wait_until(lambda: "refused a request head: 431" in server.log.read_text())


def test_a_head_over_the_limit_is_answered_431(server: ServeProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Padding: " + b"a" * 20_000)
        assert answer(sock).startswith(b"HTTP/1.1 431 Request Header Fields Too Large")


def test_a_head_just_under_the_limit_is_served(server: ServeProcess) -> None:
    with server.client() as client:
        assert client.get("/healthz", headers={"X-Padding": "a" * 7000}).status_code == 200


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: t\r\n"])
def test_regression_a_head_not_complete_in_time_is_closed_with_408(
    server: ServeProcess, sent: bytes
) -> None:
    # Was: a client sending a byte every few seconds (or nothing) held its connection forever.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(sent)
        assert answer(sock).startswith(b"HTTP/1.1 408 Request Timeout")


def test_streams_and_keep_alive_outlive_the_head_timeout(server: ServeProcess) -> None:
    with server.client() as client:
        stream = SSEReader(client, "/events")
        stream.wait_for(lambda m: m.event == "ready")
        with connect(server.base_url.replace("http", "ws") + "/ws") as ws:
            until_ready(ws)
            assert client.get("/healthz").status_code == 200  # opens a kept-alive connection
            outlived = math.ceil(2 * HEAD_TIMEOUT / KEEPALIVE)
            wait_until(lambda: stream.comments >= outlived)
            assert client.get("/healthz").status_code == 200  # the same connection, idle since
            ws.send("ping")
            assert ws.recv(timeout=5) == "pong"
        assert not stream.ended.is_set() and stream.error is None
        stream.close()
