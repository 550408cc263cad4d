"""SIGTERM with open streams: the real `dashboard serve` exits promptly and ends them cleanly.

sse-starlette streams under uvicorn used to hang shutdown; here every stream is closed by
one shared shutdown event and finishes its response (no "returned without completing").
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from dashboard.accounts import tokens
from dashboard.store import schema
from tests.conftest import free_port, wait_until
from tests.factories import make_instrument, make_user
from tests.ndjson import NdjsonReader
from tests.servers import ServeProcess
from tests.sse import SSEReader


def test_sigterm_with_open_streams_exits_promptly_and_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    schema.upgrade(url)
    port = free_port()
    env = {
        **os.environ,
        "DASHBOARD_DATABASE_URL": url,
        "DASHBOARD_SECRET_KEY": "shutdown-test-secret-key",
        "DASHBOARD_FEED_ENABLED": "false",
    }
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/api/instruments", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=20)
        clients = [httpx.Client(base_url=base, timeout=10) for _ in range(10)]
        streams = [SSEReader(client, "/events") for client in clients]
        for stream in streams:
            stream.wait_for(lambda m: True)  # connected and got the snapshot
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal it caught once its graceful shutdown is done.
        assert server.wait(timeout=10) in (0, -signal.SIGTERM)
        took = time.monotonic() - started
        for stream in streams:
            assert stream.ended.wait(5)
            assert stream.error is None  # the response was finished, not cut
            stream.close()
        for client in clients:
            client.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    output = log.read_text()
    assert "returned without completing response" not in output
    assert "Application shutdown complete" in output
    print(f"exit after SIGTERM with 10 open streams: {took:.2f} s")


def test_sigterm_with_two_workers_closes_every_kind_of_stream_cleanly(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    # Was: a worker's shutdown sometimes waited for good on a poller that swallowed its
    # cancel (Python 3.11's wait_for), and sockets the server had closed logged ERROR
    # tracebacks; with the feed running, so pollers are woken all the time.
    alice = make_user(session, "alice")
    assert alice.id is not None
    token = tokens.issue(session=session, user_id=alice.id, name="bot")[1]
    for symbol in ("SIM1", "SIM2", "SIM3"):  # for the feed to write to, all the time
        make_instrument(session, symbol, simulated=True)
    server = ServeProcess(
        tmp_path,
        "workers",
        {"DASHBOARD_DATABASE_URL": database_url, "DASHBOARD_FEED_ENABLED": "true"},
        "--workers",
        "2",
    )
    clients = [server.client() for _ in range(4)]
    pages = [SSEReader(client, "/events") for client in clients]
    programs = [NdjsonReader(server, "/api/stream", token=token) for _ in range(4)]
    ws_url = server.base_url.replace("http", "ws") + "/ws"
    closes: list[tuple[int, str] | None] = []

    def read_until_closed(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                ws.recv(timeout=30)
        closes.append(None if ws.close_code is None else (ws.close_code, ws.close_reason or ""))

    auth = {"Authorization": f"Bearer {token}"}
    try:
        with contextlib.ExitStack() as open_sockets:
            sockets = [
                open_sockets.enter_context(connect(ws_url, additional_headers=auth))
                for _ in range(4)
            ]
            for page in pages:
                page.wait_for(lambda m: True)
            for program in programs:
                program.wait_for(lambda line: line["type"] == "ready")
            readers = [threading.Thread(target=read_until_closed, args=(ws,)) for ws in sockets]
            for reader in readers:
                reader.start()
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
            for reader in readers:
                reader.join(10)
    finally:
        server.stop()
        for stream in pages:
            stream.close()
        for program in programs:
            program.close()
        for client in clients:
            client.close()
    assert [close[0] if close else None for close in closes] == [1012] * 4
    log = server.log.read_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert log.count("Application shutdown complete") == 2


def test_regression_ndjson_streams_end_with_shutdown_in_a_process_without_sse_streams(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    # Was: only sse-starlette noticed the exit, and only in a process with an /events
    # stream open; a worker holding NDJSON streams alone waited out uvicorn's graceful
    # timeout (5 s) and then had them cancelled, with an ERROR traceback and no `end`.
    alice = make_user(session, "alice")
    assert alice.id is not None
    token = tokens.issue(session=session, user_id=alice.id, name="bot")[1]
    server = ServeProcess(tmp_path, "ndjson-only", {"DASHBOARD_DATABASE_URL": database_url})
    programs = [NdjsonReader(server, "/api/stream", token=token) for _ in range(3)]
    try:
        for program in programs:
            program.wait_for(lambda line: line["type"] == "ready")
        server.process.send_signal(signal.SIGTERM)
        for program in programs:
            assert program.wait_for(lambda line: line["type"] == "end")[0] == {
                "type": "end",
                "reason": "shutdown",
            }
        assert server.process.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        server.stop()
        for program in programs:
            program.close()
    log = server.log.read_text()
    assert "Traceback" not in log and "graceful shutdown exceeded" not in log, log[-3000:]
