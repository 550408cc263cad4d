"""A Python client for ``GET /api/stream``: typed events, reconnects, resumes without loss.

    from dashboard.client import StreamClient

    for event in StreamClient("http://127.0.0.1:8000", token="dash_…", symbols=["BTC-USD"]):
        print(event)

Each notification is yielded once: the client remembers the newest notification id it
has seen and reconnects with ``?after=`` that id, with exponential backoff and jitter.

The client is honest about its connection: a server it cannot reach, a stream that drops
or goes silent, and the reconnect are each reported at once, as a :class:`StreamStatus`
passed to ``on_status`` (else logged on the ``dashboard.client`` logger) and kept in
:attr:`StreamClient.status`. The server writes something on every stream at least every
``DASHBOARD_KEEPALIVE_INTERVAL`` (15 s): two intervals without a byte mean a dead
stream, which the client drops and reconnects, resuming from its cursor.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx

from dashboard.live import wire
from dashboard.live.wire import NotificationEvent, PriceEvent

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_KEEPALIVE_INTERVAL",
    "Event",
    "NotificationEvent",
    "PriceEvent",
    "Problem",
    "State",
    "StreamClient",
    "StreamRefused",
    "StreamStatus",
    "parse_line",
]

logger = logging.getLogger(__name__)

DEFAULT_KEEPALIVE_INTERVAL = 15.0
"""Seconds: the server's default ``DASHBOARD_KEEPALIVE_INTERVAL`` (a blank line at least
this often on every ``/api/stream``, busy or idle)."""

DEFAULT_CONNECT_TIMEOUT = 3.0
"""Seconds to open a connection (TCP and TLS) before the server counts as unreachable. A
closed port is refused at once; this bounds a host that never answers (a black hole)."""


Event = PriceEvent | NotificationEvent
"""What the client yields: the wire objects of dashboard.live.wire."""

State = Literal["connecting", "connected", "retrying", "closed"]
"""Where a client stands (:attr:`StreamStatus.state`):

- ``connecting``: the first attempt is under way (nothing known yet);
- ``connected``: the server answered 200 and the stream is open;
- ``retrying``: the last attempt failed, or the open stream was lost; the next attempt
  comes after :attr:`StreamStatus.retry_in` seconds;
- ``closed``: iteration is over (:meth:`StreamClient.close`, the consumer stopped, or the
  server refused the stream for good: :class:`StreamRefused`).
"""

Problem = Literal[
    "unreachable", "no-response", "http-error", "silent", "dropped", "ended", "refused"
]
"""Why the link is down (:attr:`StreamStatus.problem`):

- ``unreachable``: no connection (refused, unknown host, no route, TLS failure, or no
  answer to connect within ``connect_timeout``);
- ``no-response``: connected, but no answer to the request within ``silence_limit``;
- ``http-error``: an answer worth another try (429, 5xx, a proxy's error page, …);
- ``silent``: the open stream sent no byte for ``silence_limit``: taken for dead, dropped;
- ``dropped``: the open stream's connection broke (reset, closed mid-stream);
- ``ended``: the server ended the stream: ``reason`` is its ``end`` line's reason
  (``shutdown``, ``overflow``, ``signed-out``, ``revoked``), or ``no end line``;
- ``refused``: refused for good (401, 403, 404, 422): no retry, the state is ``closed``.
"""


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """One change of a :class:`StreamClient`'s connection, as told to ``on_status``.

    Never carries a credential: ``url`` is the server's address without user info or
    query, and ``reason`` is built from error codes and numbers, with the token (should a
    library ever echo it) replaced by ``…``.
    """

    state: State
    url: str
    """The server's address as given, without credentials, e.g. ``http://127.0.0.1:8000``."""
    attempt: int = 0
    """``retrying``: the number of the next attempt since the link was last up (1 is the
    first reconnect after a lost stream; 2 the first retry after a failed first connect).
    ``connected``: the attempt that got through. 0 otherwise."""
    problem: Problem | None = None
    """``retrying`` and ``closed``: why; None when all is well or the consumer closed it."""
    reason: str | None = None
    """A short text for ``problem``, e.g. ``connection refused``, ``no answer within 3 s``,
    ``no data for 30 s``, ``HTTP 503 Service Unavailable``, ``shutdown``."""
    retry_in: float | None = None
    """``retrying``: seconds until the next attempt (backoff with jitter)."""
    down_for: float | None = None
    """Seconds since the link was lost (``retrying``), or that it was down before this
    connection (``connected``; for the first connection, since iteration began). None
    for a first connection made at the first attempt."""
    reconnected: bool = False
    """``connected``: this is not the client's first connection."""

    @property
    def connected(self) -> bool:
        """True while the stream is open."""
        return self.state == "connected"

    @property
    def message(self) -> str:
        """The status as one line for a person, e.g. ``cannot reach http://127.0.0.1:8000:
        connection refused; retrying in 1 s (attempt 2)``."""
        if self.state == "connecting":
            return f"connecting to {self.url}"
        if self.state == "connected":
            if self.down_for is None:
                return f"connected to {self.url}"
            again = " again" if self.reconnected else ""
            return (
                f"connected to {self.url}{again} after {_seconds(self.down_for)} "
                f"(attempt {self.attempt})"
            )
        if self.state == "closed":
            if self.problem == "refused":
                return f"{self.url} refused the stream ({self.reason}); not retrying"
            return f"stopped following {self.url}"
        lead = {
            "unreachable": f"cannot reach {self.url}: {self.reason}",
            "no-response": f"no answer from {self.url}: {self.reason}",
            "http-error": f"{self.url} answered {self.reason}",
            "silent": f"lost the stream from {self.url}: {self.reason}, taken for dead",
            "dropped": f"lost the stream from {self.url}: {self.reason}",
            "ended": f"{self.url} ended the stream: {self.reason}",
        }.get(self.problem or "", f"{self.url}: {self.reason}")
        # Never connected in this effort: retrying; the stream was open: reconnecting.
        verb = "retrying" if self.problem in _BEFORE_THE_STREAM else "reconnecting"
        return f"{lead}; {verb} in {_seconds(self.retry_in or 0.0)} (attempt {self.attempt})"


StatusCallback = Callable[[StreamStatus], None]
"""The type of ``on_status``."""

_BEFORE_THE_STREAM: tuple[Problem | None, ...] = ("unreachable", "no-response", "http-error")


def _seconds(value: float) -> str:
    """``0.05 s``, ``0.5 s``, ``1 s``, ``1.5 s``, ``12 s``: as precise as a person needs."""
    text = f"{value:.0f}" if value >= 10 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} s"


def _shown_url(base_url: str) -> str:
    """``base_url`` as it may be shown: scheme, host, port and path; never user info."""
    url = httpx.URL(base_url)
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path.rstrip('/')}"


def _os_reason(error: BaseException) -> str | None:
    """The operating system's words for the first OS error in ``error``'s chain."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return f"cannot resolve the host name ({current.strerror or 'unknown host'})"
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({current.verify_message})"
        if isinstance(current, ssl.SSLError):
            return f"TLS failed ({current.reason or current.strerror})"
        if isinstance(current, OSError) and current.errno and current.errno > 0:
            return os.strerror(current.errno).lower()
        current = current.__cause__ or current.__context__
    return None


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
    """Iterate (sync or async) over the live stream, reconnecting as long as it runs.

    ``base_url``: the dashboard's address (``http://`` or ``https://``; a ``ValueError``
    otherwise). ``token``: an API token, sent as ``Authorization: Bearer``. ``symbols``:
    only these prices (default: every instrument). ``after``: replay my notifications
    after this id first. ``backoff`` and ``max_backoff``: seconds before the first retry,
    doubling up to the cap, ±30 % jitter.

    ``connect_timeout``: seconds to open a connection before the server counts as
    unreachable (default :data:`DEFAULT_CONNECT_TIMEOUT`, 3 s). ``keepalive_interval``:
    the server's ``DASHBOARD_KEEPALIVE_INTERVAL`` in seconds (default 15 s; the stream
    does not advertise it, so give it when the server's differs). ``silence_limit``:
    seconds without a byte before the open stream is taken for dead, dropped and
    reconnected, and the longest wait for the answer to a request (default: two
    keep-alive intervals, 30 s).

    ``on_status``: called with a :class:`StreamStatus` on every change of connection,
    in the iterating thread or task, before the next event is yielded: once per failed
    attempt (``retrying``, at once: a refused port straight away, a host that never
    answers after ``connect_timeout``), on every connection (``connected``), and when
    iteration ends (``closed``). It should return quickly; what it raises propagates out
    of the iteration. Without it each status is logged on the ``dashboard.client``
    logger (WARNING while the link is down, INFO otherwise). :attr:`status` is always
    the latest.

    Iterating raises :class:`StreamRefused` when the server refuses the stream for good;
    every other failure is retried for as long as the client runs.

    Attributes a program may read: ``status`` (the latest :class:`StreamStatus`),
    ``url`` (the address as statuses show it), ``after`` (the cursor), ``connections``
    (streams opened so far) and ``silence_limit`` (seconds).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        symbols: Sequence[str] | None = None,
        after: int | None = None,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
        silence_limit: float | None = None,
        on_status: StatusCallback | None = None,
    ) -> None:
        unusable = ValueError(
            "the dashboard's address must start with http:// or https:// and name a host, "
            "e.g. http://127.0.0.1:8000"
        )
        try:
            parsed = httpx.URL(base_url)
        except httpx.InvalidURL:
            raise unusable from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise unusable
        if connect_timeout <= 0 or keepalive_interval <= 0:
            raise ValueError("connect_timeout and keepalive_interval must be above 0 seconds")
        if silence_limit is not None and silence_limit <= 0:
            raise ValueError("silence_limit must be above 0 seconds")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.symbols = list(symbols) if symbols else None
        self.after = after
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.silence_limit = (
            silence_limit if silence_limit is not None else 2.0 * keepalive_interval
        )
        self.on_status = on_status
        self.connections = 0
        self.url = _shown_url(self.base_url)
        self._secrets = [
            secret
            for secret in (
                token,
                parsed.password,
                base64.b64encode(f"{parsed.username}:{parsed.password}".encode()).decode()
                if parsed.userinfo
                else None,
            )
            if secret
        ]
        self.status = StreamStatus(state="connecting", url=self.url)
        """The latest :class:`StreamStatus` (replaced, never changed in place)."""
        self._closed = False
        self._tries = 0  # connection attempts since the link was last up
        self._failures = 0  # consecutive failures, for the backoff
        self._lost_at: float | None = None  # monotonic time the link went down

    def close(self) -> None:
        """Stop iterating at the next line, keep-alive or reconnect attempt (at most
        ``silence_limit`` later on a silent stream)."""
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

    def _timeout(self) -> httpx.Timeout:
        """Connecting is bounded by ``connect_timeout``; every read (the answer, then each
        piece of the stream) by ``silence_limit``."""
        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.silence_limit,
            write=self.silence_limit,
            pool=self.connect_timeout,
        )

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

    # The connection's state: one set of transitions for the sync and the async loop.

    def _report(self, status: StreamStatus) -> None:
        self.status = status
        if self.on_status is not None:
            logger.debug("%s", status.message)
            self.on_status(status)
        elif status.state == "retrying" or status.problem == "refused":
            logger.warning("%s", status.message)
        else:
            logger.info("%s", status.message)

    def _begin(self) -> None:
        self.status = StreamStatus(state="connecting", url=self.url)
        self._tries = 0
        self._failures = 0
        self._lost_at = time.monotonic()

    def _attempting(self) -> None:
        self._tries += 1

    def _connected(self) -> None:
        self.connections += 1
        down_for = None
        if self._lost_at is not None and (self._tries > 1 or self.connections > 1):
            down_for = time.monotonic() - self._lost_at
        self._report(
            StreamStatus(
                state="connected",
                url=self.url,
                attempt=self._tries,
                down_for=down_for,
                reconnected=self.connections > 1,
            )
        )
        self._tries = 0
        self._failures = 0
        self._lost_at = None

    def _clean(self, text: str) -> str:
        """``text`` without a credential (the token, the address's password, or the Basic
        header httpx makes of its user info), should any library ever echo one."""
        for secret in self._secrets:
            text = text.replace(secret, "…")
        return text

    def _trouble(self, error: httpx.HTTPError, *, opened: bool) -> tuple[Problem, str]:
        """What went wrong, as a problem and a short reason."""
        if isinstance(error, httpx.HTTPStatusError):
            response = error.response
            phrase = f" {response.reason_phrase}" if response.reason_phrase else ""
            return "http-error", f"HTTP {response.status_code}{phrase}"
        if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
            return "unreachable", f"no answer within {_seconds(self.connect_timeout)}"
        if isinstance(error, httpx.ReadTimeout | httpx.WriteTimeout):
            limit = _seconds(self.silence_limit)
            if opened:
                return "silent", f"no data for {limit}"
            return "no-response", f"no response within {limit}"
        if isinstance(error, httpx.ConnectError):
            return "unreachable", self._clean(_os_reason(error) or str(error) or "connect failed")
        if isinstance(error, httpx.RemoteProtocolError):
            if opened:
                return "dropped", "the connection closed mid-stream"
            return "no-response", "the connection closed without an answer"
        reason = _os_reason(error) or str(error) or type(error).__name__
        return ("dropped" if opened else "unreachable"), self._clean(reason)

    def _retry(self, problem: Problem, reason: str) -> float:
        """Announce the failure and the next attempt; the seconds to wait for it."""
        now = time.monotonic()
        if self._lost_at is None:
            self._lost_at = now
        self._failures += 1
        delay = self._delay(self._failures)
        self._report(
            StreamStatus(
                state="retrying",
                url=self.url,
                attempt=self._tries + 1,
                problem=problem,
                reason=reason,
                retry_in=delay,
                down_for=now - self._lost_at,
            )
        )
        return delay

    def _ended(self, end_reason: str | None) -> tuple[Problem, str]:
        return "ended", self._clean(end_reason[:100]) if end_reason else "no end line"

    def _stopped(self, refused: StreamRefused | None = None) -> None:
        if self.status.state == "closed":
            return
        if refused is None:
            self._report(StreamStatus(state="closed", url=self.url))
        else:
            reason = self._clean(str(refused))
            self._report(
                StreamStatus(state="closed", url=self.url, problem="refused", reason=reason)
            )

    def __iter__(self) -> Iterator[Event]:
        self._begin()
        try:
            with httpx.Client(timeout=self._timeout()) as client:
                while not self._closed:
                    url, params, headers = self._request()
                    self._attempting()
                    opened = False
                    end_reason: str | None = None
                    try:
                        with client.stream("GET", url, params=params, headers=headers) as response:
                            if response.status_code != 200:
                                raise self._failure(response, response.read())
                            opened = True
                            self._connected()
                            for line in response.iter_lines():
                                if self._closed:
                                    return
                                item = parse_line(line)
                                if isinstance(item, wire.EndEvent):
                                    end_reason = item.reason
                                event = self._accept(item)
                                if event is not None:
                                    yield event
                        problem, reason = self._ended(end_reason)
                    except StreamRefused as refused:
                        self._stopped(refused)
                        raise
                    except httpx.HTTPError as error:
                        problem, reason = self._trouble(error, opened=opened)
                    if self._closed:
                        return
                    time.sleep(self._retry(problem, reason))
        finally:
            self._stopped()

    async def __aiter__(self) -> AsyncIterator[Event]:
        self._begin()
        try:
            async with httpx.AsyncClient(timeout=self._timeout()) as client:
                while not self._closed:
                    url, params, headers = self._request()
                    self._attempting()
                    opened = False
                    end_reason: str | None = None
                    try:
                        async with client.stream(
                            "GET", url, params=params, headers=headers
                        ) as response:
                            if response.status_code != 200:
                                raise self._failure(response, await response.aread())
                            opened = True
                            self._connected()
                            async for line in response.aiter_lines():
                                if self._closed:
                                    return
                                item = parse_line(line)
                                if isinstance(item, wire.EndEvent):
                                    end_reason = item.reason
                                event = self._accept(item)
                                if event is not None:
                                    yield event
                        problem, reason = self._ended(end_reason)
                    except StreamRefused as refused:
                        self._stopped(refused)
                        raise
                    except httpx.HTTPError as error:
                        problem, reason = self._trouble(error, opened=opened)
                    if self._closed:
                        return
                    await asyncio.sleep(self._retry(problem, reason))
        finally:
            self._stopped()
