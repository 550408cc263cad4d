"""Reference for bench/ingest.py: ``POST /api/ticks`` as a bare FastAPI endpoint with the
standard library's ``sqlite3``, into the dashboard's own SQLite file (same schema, WAL).

It does what a lean hand-written endpoint does: checks the bearer token against
``api_token`` (by SHA-256, as the dashboard stores it), reads a JSON array (or one object)
of ``{symbol, price, ts?}``, looks the symbols up and inserts every tick in one
transaction; it answers ``{"ids": [...]}``. No middleware, no ORM, no poller.

    DASHBOARD_BENCH_DB=path.db uvicorn bench.baselines.bare_ticks:app --port 8300
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

app = FastAPI()
_local = threading.local()


def _db() -> sqlite3.Connection:
    connection: sqlite3.Connection | None = getattr(_local, "db", None)
    if connection is None:
        connection = sqlite3.connect(os.environ["DASHBOARD_BENCH_DB"], timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # as the dashboard sets it
        _local.db = connection
    return connection


def _stored(when: datetime) -> str:
    """The store's timestamp text: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _write(token: str, ticks: list[Any]) -> JSONResponse:
    db = _db()
    digest = hashlib.sha256(token.encode()).hexdigest()
    if (
        not token
        or db.execute(
            "SELECT 1 FROM api_token WHERE token_hash = ? AND revoked_at IS NULL", (digest,)
        ).fetchone()
        is None
    ):
        return JSONResponse({}, status_code=401)
    received = _stored(datetime.now(UTC))
    rows = []
    known: dict[str, int] = {}
    for tick in ticks:
        symbol, price = tick.get("symbol"), tick.get("price")
        if not isinstance(symbol, str) or not isinstance(price, int | float) or price <= 0:
            return JSONResponse({"detail": "bad tick"}, status_code=422)
        if symbol not in known:
            row = db.execute(
                "SELECT id FROM instrument WHERE symbol = ? AND retired_at IS NULL", (symbol,)
            ).fetchone()
            if row is None:
                return JSONResponse({"detail": f"unknown symbol {symbol}"}, status_code=422)
            known[symbol] = row[0]
        ts = tick.get("ts")
        when = _stored(datetime.fromisoformat(ts.replace("Z", "+00:00"))) if ts else received
        rows.append((known[symbol], float(price), when, received))
    with db:
        db.executemany(
            "INSERT INTO tick (instrument_id, price, ts, received_at) VALUES (?, ?, ?, ?)", rows
        )
        last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
    # One writer's rows in one transaction on an AUTOINCREMENT table: consecutive ids.
    return JSONResponse({"ids": list(range(last - len(rows) + 1, last + 1))})


@app.post("/api/ticks")
async def ingest_ticks(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        ticks = json.loads(body)
    except ValueError as error:
        return JSONResponse({"detail": str(error)}, status_code=422)
    if not isinstance(ticks, list):
        ticks = [ticks]
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    # A plain sqlite3 call on the event loop: a few hundred microseconds, and no thread hop.
    return _write(token.strip() if scheme.lower() == "bearer" else "", ticks)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
