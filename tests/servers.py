"""The real ``dashboard serve`` in a child process, for tests that need whole processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import free_port, wait_until


class ServeProcess:
    """``dashboard serve`` on a free port with the given settings (environment variables)."""

    def __init__(
        self, log_dir: Path, name: str, env: dict[str, str], *args: str, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        full_env = {
            **os.environ,
            "DASHBOARD_SECRET_KEY": "process-test-secret-key",
            "DASHBOARD_FEED_ENABLED": "false",
            **env,
        }
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(self.port), *args],
                env=full_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_until(self._up, timeout=30)
        except BaseException:
            self.process.kill()  # a server that never came up must not outlive the test
            self.process.wait()
            raise

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{self.log.read_text()}")
        try:
            return httpx.get(f"{self.base_url}/api/instruments", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no lease release, nothing."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
