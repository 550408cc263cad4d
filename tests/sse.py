"""A small SSE test client: reads a real stream in a thread; tests wait with deadlines."""

from __future__ import annotations

import contextlib
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Message:
    data: str
    id: str | None
    event: str | None

    def shows_price(self, symbol: str, price: str) -> bool:
        """Whether this message puts ``price`` (as tiles format it: "1,234.50") on
        ``symbol``'s tile, in a quote part or in the whole tile."""
        quote = rf"<p id=q-{re.escape(symbol)}(?: [^>]*)?><b[^>]*>{re.escape(price)}</b>"
        return re.search(quote, self.data) is not None


class SSEReader:
    """Opens ``path`` on ``client`` and parses messages as they arrive."""

    def __init__(
        self,
        client: httpx.Client,
        path: str,
        headers: Mapping[str, str] | Mapping[bytes, bytes] | None = None,
    ) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.seen: list[Message] = []
        self.comments = 0
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self._client = client
        self._path = path
        self._request_headers = headers or {}
        self._stop = threading.Event()
        self._response: httpx.Response | None = None
        self._opened = threading.Event()
        self.ended = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._opened.wait(10):
            raise AssertionError(f"{path} did not answer within 10 s")
        if self.error is not None:
            raise AssertionError(f"{path} failed: {self.error!r}") from self.error

    def _run(self) -> None:
        try:
            with self._client.stream(
                "GET",
                self._path,
                headers=self._request_headers,
                timeout=httpx.Timeout(10, read=None),
            ) as response:
                self._response = response
                self.status = response.status_code
                self.headers = response.headers
                self._opened.set()
                data: list[str] = []
                event_id: str | None = None
                event: str | None = None
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line == "":
                        if data or event_id is not None:
                            self.messages.put(Message("\n".join(data), event_id, event))
                        data, event_id, event = [], None, None
                    elif line.startswith(":"):
                        self.comments += 1
                    else:
                        field, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if field == "data":
                            data.append(value)
                        elif field == "id":
                            event_id = value
                        elif field == "event":
                            event = value
        except httpx.HTTPError as error:
            if not self._stop.is_set():
                self.error = error
        except Exception as error:  # surfaced to the test by __init__ or wait_for
            self.error = error
        finally:
            self._opened.set()
            self.ended.set()

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float = 10.0) -> Message:
        """The first message (from now on, or already queued) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if self.error is not None:
                raise AssertionError(f"the stream failed: {self.error!r}") from self.error
            if remaining <= 0:
                raise AssertionError(f"no matching message within {timeout} s")
            try:
                message = self.messages.get(timeout=min(remaining, 0.1))
            except queue.Empty:
                continue
            self.seen.append(message)
            if predicate(message):
                return message

    def close(self) -> None:
        """Hang up now, as a browser closing its tab would."""
        self._stop.set()
        if self._response is not None:
            # Closing the response from this thread does not wake a read blocked in the
            # reader thread; shutting the socket down does.
            stream = self._response.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the SSE reader did not stop"
