"""Baseline (a): the naive pattern from SSE tutorials, for comparison in `bench/fanout.py`.

Each connection loops on its own: sleep 0.1 s, query the database for new ticks, render
each one, send it. No shared poller, no render-once, no conflation. Run with uvicorn:

    DASHBOARD_DATABASE_URL=sqlite:///bench.db uvicorn bench.baselines.naive_sse:app
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sse_starlette import EventSourceResponse

DATABASE = os.environ["DASHBOARD_DATABASE_URL"].removeprefix("sqlite:///")

app = FastAPI()


@app.get("/events")
async def events() -> EventSourceResponse:
    return EventSourceResponse(_ticks())


async def _ticks() -> AsyncIterator[str]:
    connection = sqlite3.connect(DATABASE)
    try:
        (cursor,) = connection.execute("SELECT coalesce(max(id), 0) FROM tick").fetchone()
        while True:
            await asyncio.sleep(0.1)
            rows = connection.execute(
                "SELECT tick.id, instrument.symbol, tick.price FROM tick"
                " JOIN instrument ON instrument.id = tick.instrument_id"
                " WHERE tick.id > ? ORDER BY tick.id",
                (cursor,),
            ).fetchall()
            for tick_id, symbol, price in rows:
                cursor = tick_id
                yield (
                    f'<article id="tile-{symbol}" data-tick-id="{tick_id}" hx-swap-oob="true">'
                    f'<span class="tile-price">{price:.2f}</span></article>'
                )
    finally:
        connection.close()
