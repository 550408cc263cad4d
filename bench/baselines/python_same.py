"""The floor of the customer's stack, for `bench/fanout.py` ("python-same").

bench/baselines/node/fanout.js ("node-same") written on the stack the dashboard must use:
FastAPI, uvicorn (uvloop, httptools) and sse-starlette's ``EventSourceResponse`` with its
lightest settings (and the one saving inside it that the dashboard makes). One task reads
the same SQLite store every 100 ms, keeps the newest tick of each symbol, and encodes ONE
message per poll, holding one quote per changed symbol in the markup node-same sends (the
same bytes), which every open ``/events`` stream sends. Nothing else: no login, no
middleware of its own, no per-stream state but its messages still to send and the
future it waits on, no replay, no conflation, no watchdog.

What the dashboard costs above this is the dashboard's own code; what this costs above
node-same is the price of the required stack (issue 19 in docs/benchmarks.md).

    DASHBOARD_DATABASE_URL=sqlite:///bench.db uvicorn bench.baselines.python_same:app
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sse_starlette import EventSourceResponse
from starlette.types import Message, Send

DATABASE = os.environ["DASHBOARD_DATABASE_URL"].removeprefix("sqlite:///")
POLL_SECONDS = 0.1
NEW_TICKS = (
    "SELECT t.id, t.price, i.symbol FROM tick t JOIN instrument i ON i.id = t.instrument_id"
    " WHERE t.id > ? ORDER BY t.id LIMIT 10000"
)
MINUS = "\u2212"


class Stream:
    """One open ``/events`` stream: the messages it has still to send, and the future it
    waits on when it has none (its own: cancelling a stream whose client left must not
    cancel what the others wait on)."""

    __slots__ = ("pending", "waiter")

    def __init__(self) -> None:
        self.pending: deque[bytes] = deque()
        self.waiter: asyncio.Future[None] | None = None


class Streams:
    """Every open stream; each poll's message is encoded once and given to each, as
    node-same writes its one buffer to each client."""

    def __init__(self) -> None:
        self.open: set[Stream] = set()
        self.latest: dict[str, bytes] = {}  # symbol -> its quote, for a stream's first message

    def publish(self, message: bytes) -> None:
        for stream in self.open:
            stream.pending.append(message)
            waiter = stream.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)


streams = Streams()


def _signed(value: float, text: str) -> str:
    return f"+{text}" if value > 0 else f"{MINUS}{text}" if value < 0 else text


def quote(symbol: str, price: float, reference: float) -> bytes:
    """node-same's quote markup, byte for byte (its 2-decimal en-US number rules)."""
    change = price - reference
    percent = change / reference * 100
    trend = " class=up" if change > 0 else " class=down" if change < 0 else ""
    return (
        f"<p id=q-{symbol}{trend} hx-swap-oob=true><b>{price:,.2f}</b>"
        f"<i>{_signed(change, f'{abs(change):,.2f}')}</i>"
        f"<i>{_signed(percent, f'{abs(percent):.2f}%')}</i></p>"
    ).encode()


async def poll() -> None:
    """Every 100 ms: the store's new ticks, one message of the changed symbols' quotes."""
    connection = sqlite3.connect(DATABASE)
    connection.execute("PRAGMA busy_timeout = 1000")
    (cursor,) = connection.execute("SELECT coalesce(max(id), 0) FROM tick").fetchone()
    reference: dict[str, float] = {}
    try:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            rows = connection.execute(NEW_TICKS, (cursor,)).fetchall()
            if not rows:
                continue
            cursor = rows[-1][0]
            changed: dict[str, float] = {}
            for _, price, symbol in rows:
                reference.setdefault(symbol, price)
                changed[symbol] = price
            parts = []
            for symbol, price in changed.items():
                streams.latest[symbol] = part = quote(symbol, price, reference[symbol])
                parts.append(part)
            streams.publish(b"data: " + b"".join(parts) + b"\n\n")
    finally:
        connection.close()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    poller = asyncio.create_task(poll())
    yield
    poller.cancel()


app = FastAPI(lifespan=lifespan)


async def _messages() -> AsyncIterator[bytes]:
    stream = Stream()
    streams.open.add(stream)
    loop = asyncio.get_running_loop()
    try:
        yield b"data: " + b"".join(streams.latest.values()) + b"\n\n"
        while True:
            if not stream.pending:
                stream.waiter = loop.create_future()
                await stream.waiter
            yield stream.pending.popleft()
    finally:
        streams.open.discard(stream)


class LightEventSourceResponse(EventSourceResponse):
    """Without the library's cancel scope around each send when there is no send timeout
    (6-7 µs a send): the one saving the dashboard makes inside the library
    (dashboard/live/sse.py), so that this floor is the lightest the stack allows."""

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        try:
            await send(message)
        except BaseException:
            self._send_interrupted = True
            raise


@app.get("/events")
async def events() -> EventSourceResponse:
    # The lightest settings the library offers: no keep-alive task, no send timeout.
    return LightEventSourceResponse(_messages(), ping=0, send_timeout=None)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
