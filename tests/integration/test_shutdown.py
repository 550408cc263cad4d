"""SIGTERM with open streams: the real `dashboard serve` exits promptly and ends them cleanly.

sse-starlette streams under uvicorn used to hang shutdown; here every stream is closed by
one shared shutdown event and finishes its response (no "returned without completing").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dashboard.store import schema
from tests.conftest import free_port, wait_until
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
