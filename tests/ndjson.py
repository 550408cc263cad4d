"""A small NDJSON test client: reads ``GET /api/stream`` in a thread; tests wait with deadlines."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

import httpx


class Server(Protocol):
    """A server under test (a LiveServer in a thread or a ServeProcess)."""

    @property
    def base_url(self) -> str: ...


class NdjsonReader:
    """Reads /api/stream lines in a thread into a queue."""

    def __init__(self, server: Server, path: str, token: str | None = None) -> None:
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.keepalives = 0
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=server.base_url, timeout=httpx.Timeout(10, read=None))
        self._response = self._client.send(
            self._client.build_request("GET", path, headers=headers), stream=True
        )
        self.status = self._response.status_code
        self.content_type = self._response.headers.get("content-type", "")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._response.iter_lines():
                if line.strip():
                    self.lines.put(json.loads(line))
                else:
                    self.keepalives += 1
        except (httpx.HTTPError, RuntimeError):
            pass

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        seen: list[dict[str, Any]] = []
        while True:
            line = self.lines.get(timeout=timeout)
            seen.append(line)
            if predicate(line):
                return line, seen

    def close(self) -> None:
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            # Closing the response from this thread does not wake the reader's blocked
            # read; shutting the socket down does.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self._response.close()
        self._client.close()
