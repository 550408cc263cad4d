"""uvicorn's httptools protocol with the two bounds httptools lacks: how large a request's
head (request line and headers) may be, and how long it may take to arrive.

httptools buffers a header until it is complete, with no limit: one anonymous client sent
8 MB ``Last-Event-ID`` headers and the process kept hundreds of MB. A client that sends a
byte every few seconds (slowloris) kept a connection forever. uvicorn's h11 protocol has a
size limit (``h11_max_incomplete_event_size``) but no time limit and costs more CPU per
request, so the faster parser is kept and bounded here:

- a head larger than ``max_head_bytes`` is answered ``431 Request Header Fields Too
  Large`` (RFC 6585, section 5) and the connection closed, before more is buffered;
- a head not complete ``head_timeout`` seconds after its first byte (or after the
  connection opened) is answered ``408 Request Timeout`` (RFC 9110, section 15.5.9) and
  the connection closed.

The count is per read from the socket, so a head is cut off within one read (at most
64 KiB) of the limit.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from dashboard.settings import Settings


@cache
def _limits() -> tuple[int, float]:
    # Read once per worker process: uvicorn builds the protocol from its own config.
    settings = Settings()
    return settings.max_request_head_bytes, settings.request_head_timeout


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` with a size and a time limit on each request head."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.max_head_bytes, self.head_timeout = _limits()
        # True from the connection's start, and again after each request's message ends,
        # until the next request's headers are complete.
        self._awaiting_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that opens and sends nothing is held no longer than a slow head.
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_bytes += len(data)
            if self._head_timer is None:
                self._arm_head_timer()
        super().data_received(data)
        if self._awaiting_head and self._head_bytes > self.max_head_bytes:
            self._refuse(431, "Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        # The next bytes on this connection are the next request's head; its timer starts
        # with its first byte (an idle keep-alive connection is uvicorn's to close).
        self._awaiting_head = True
        super().on_message_complete()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        # Not while a response is still being sent: the timer may have been started by a
        # pipelined request's first byte during a long response (a stream).
        in_flight = self.cycle is not None and not self.cycle.response_complete
        if self._awaiting_head and not in_flight:
            self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, phrase: str) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        body = f"{phrase}\n".encode()
        self.transport.write(
            f"HTTP/1.1 {status} {phrase}\r\n".encode()
            + b"content-type: text/plain; charset=utf-8\r\n"
            + f"content-length: {len(body)}\r\n".encode()
            + b"connection: close\r\n\r\n"
            + body
        )
        self.transport.close()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        self.logger.info("%s - refused a request head: %d %s", client, status, phrase)
