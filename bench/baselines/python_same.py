"""The floor of the customer's stack, for `bench/fanout.py` ("python-same").

bench/baselines/node/fanout.js ("node-same") written on the stack the dashboard must use:
FastAPI, uvicorn (uvloop, httptools) and sse-starlette's ``EventSourceResponse`` with its
lightest settings (and the one saving inside it that the dashboard makes). One task reads
the same SQLite store every 100 ms, keeps the newest tick of each symbol, and encodes ONE
message per poll, holding one quote per changed symbol in the markup node-same sends (the
same bytes), which every open ``/events`` stream sends. Nothing else: no login, no
middleware of its own, no per-stream state but the stream's place in the chain of
messages, no replay, no conflation, no watchdog.

What the dashboard costs above this is the dashboard's own code; what this costs above
node-same is the price of the required stack (issue 19 in docs/benchmarks.md).

    DASHBOARD_DATABASE_URL=sqlite:///bench.db uvicorn bench.baselines.python_same:app
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
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


class Chain:
    """Each poll's message, linked to the next: a stream awaits the newest link's future,
    which the next poll resolves with ``(message, next link)``. One wake-up of every
    waiting stream per poll, the message encoded once."""

    def __init__(self) -> None:
        self.newest: asyncio.Future[tuple[bytes, asyncio.Future[object]]] | None = None
        self.latest: dict[str, bytes] = {}  # symbol -> its quote, for a stream's first message

    def link(self) -> asyncio.Future[tuple[bytes, asyncio.Future[object]]]:
        if self.newest is None:
            self.newest = asyncio.get_running_loop().create_future()
        return self.newest

    def publish(self, message: bytes) -> None:
        following = asyncio.get_running_loop().create_future()
        self.link().set_result((message, following))
        self.newest = following  # type: ignore[assignment]


chain = Chain()


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
                chain.latest[symbol] = part = quote(symbol, price, reference[symbol])
                parts.append(part)
            chain.publish(b"data: " + b"".join(parts) + b"\n\n")
    finally:
        connection.close()


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    poller = asyncio.create_task(poll())
    yield
    poller.cancel()


app = FastAPI(lifespan=lifespan)


async def _messages() -> AsyncIterator[bytes]:
    link = chain.link()
    yield b"data: " + b"".join(chain.latest.values()) + b"\n\n"
    while True:
        # Shielded: a stream whose client left is cancelled, and cancelling the shared
        # future itself would end every other stream waiting on it.
        message, link = await asyncio.shield(link)  # type: ignore[assignment,misc]
        yield message


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
