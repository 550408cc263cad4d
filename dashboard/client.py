"""A Python client for ``GET /api/stream``: typed events, reconnects, resumes without loss.

    from dashboard.client import StreamClient

    for event in StreamClient("http://127.0.0.1:8000", token="dash_…", symbols=["BTC-USD"]):
        print(event)

Each notification is yielded once: the client remembers the newest notification id it
has seen and reconnects with ``?after=`` that id, with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import httpx

from dashboard.live import wire
from dashboard.live.wire import NotificationEvent, PriceEvent

__all__ = [
    "Event",
    "NotificationEvent",
    "PriceEvent",
    "StreamClient",
    "StreamRefused",
    "parse_line",
]

logger = logging.getLogger(__name__)

# The server sends a keep-alive line every 15 s; silence for this long means a dead link.
READ_TIMEOUT = 45.0


Event = PriceEvent | NotificationEvent
"""What the client yields: the wire objects of dashboard.live.wire."""


class StreamRefused(Exception):
    """The server refused the stream for good (bad token, unknown symbols): no retry."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail


def parse_line(line: str | bytes) -> wire.WireEvent | None:
    """One NDJSON line as its wire object; None for a keep-alive or a type this version
    does not know (a newer server may add types; the client skips them)."""
    text = line.decode() if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        return wire.decode(text)
    except wire.UnknownMessage:
        logger.debug("skipping a message of a type this client does not know: %s", text)
        return None


class StreamClient:
    """Iterate (sync or async) over the live stream, reconnecting as long as it runs."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        symbols: Sequence[str] | None = None,
        after: int | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.symbols = list(symbols) if symbols else None
        self.after = after
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.connections = 0
        self._closed = False

    def close(self) -> None:
        """Stop iterating at the next line, keep-alive or reconnect attempt."""
        self._closed = True

    def _request(self) -> tuple[str, dict[str, str], dict[str, str]]:
        params: dict[str, str] = {}
        if self.symbols:
            params["symbols"] = ",".join(self.symbols)
        if self.after is not None:
            params["after"] = str(self.after)
        headers = {"Accept": "application/x-ndjson"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return f"{self.base_url}/api/stream", params, headers

    def _delay(self, attempt: int) -> float:
        delay = min(self.max_backoff, self.backoff * 2.0 ** max(0, attempt - 1))
        return delay * random.uniform(0.7, 1.3)

    def _accept(self, item: wire.WireEvent | None) -> Event | None:
        """Track the cursor; drop a notification already seen (a replay racing live)."""
        if isinstance(item, NotificationEvent):
            if self.after is not None and item.id <= self.after:
                return None
            self.after = item.id
            return item
        if isinstance(item, wire.ReadyEvent):
            if self.after is None and item.after is not None:
                self.after = item.after
            return None
        if isinstance(item, PriceEvent):
            return item
        return None  # read-state changes and the end of a stream: not events of this client

    @staticmethod
    def _failure(response: httpx.Response, body: bytes) -> Exception:
        """What a non-200 answer means: refused for good, or worth another try."""
        if response.status_code in (401, 403, 404, 422):
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            # A proxy in front may answer with text, or JSON that is not our {"detail": …}.
            if isinstance(payload, dict) and "detail" in payload:
                detail = str(payload["detail"])
            else:
                detail = body.decode(errors="replace")
            return StreamRefused(response.status_code, detail)
        return httpx.HTTPStatusError(
            f"status {response.status_code}", request=response.request, response=response
        )

    def __iter__(self) -> Iterator[Event]:
        attempt = 0
        timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
        with httpx.Client(timeout=timeout) as client:
            while not self._closed:
                url, params, headers = self._request()
                try:
                    with client.stream("GET", url, params=params, headers=headers) as response:
                        if response.status_code != 200:
                            raise self._failure(response, response.read())
                        attempt = 0
                        self.connections += 1
                        for line in response.iter_lines():
                            if self._closed:
                                return
                            event = self._accept(parse_line(line))
                            if event is not None:
                                yield event
                except httpx.HTTPError as error:
                    logger.info("stream interrupted (%s); reconnecting", error)
                attempt += 1
                time.sleep(self._delay(attempt))

    async def __aiter__(self) -> AsyncIterator[Event]:
        attempt = 0
        timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
        async with httpx.AsyncClient(timeout=timeout) as client:
            while not self._closed:
                url, params, headers = self._request()
                try:
                    async with client.stream(
                        "GET", url, params=params, headers=headers
                    ) as response:
                        if response.status_code != 200:
                            raise self._failure(response, await response.aread())
                        attempt = 0
                        self.connections += 1
                        async for line in response.aiter_lines():
                            if self._closed:
                                return
                            event = self._accept(parse_line(line))
                            if event is not None:
                                yield event
                except httpx.HTTPError as error:
                    logger.info("stream interrupted (%s); reconnecting", error)
                attempt += 1
                await asyncio.sleep(self._delay(attempt))
