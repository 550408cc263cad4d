"""Rows another program writes that break the store contract: skipped, logged once,
counted and named, never stopping the tiles or the start (docs/store-contract.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlmodel import Session

from dashboard.models import Instrument
from tests.conftest import LiveServer, wait_until
from tests.factories import add_tick, make_instrument
from tests.sse import SSEReader


def bad_rows(session: Session, acme: Instrument) -> list[str]:
    """Insert rows breaking the contract the way an outside writer could on this store."""
    if session.get_bind().dialect.name == "sqlite":
        rows = [
            "(:i, 11, 1795961126)",  # epoch seconds where UTC text belongs
            "(:i, 'abc', '2026-11-29 10:00:01')",
            "(:i, 12, 'yesterday')",
            "(:i, 9e999, '2026-11-29 10:00:02')",
            "(999, 13, '2026-11-29 10:00:03')",  # no such instrument (foreign keys off)
        ]
        session.connection().exec_driver_sql("PRAGMA foreign_keys=OFF")
    else:
        rows = ["(:i, 'NaN', now())", "(:i, 'Infinity', now())", "(:i, -1, now())"]
    for row in rows:
        session.connection().execute(
            text(f"INSERT INTO tick (instrument_id, price, ts) VALUES {row}"), {"i": acme.id}
        )
    session.commit()
    return rows


def test_regression_a_bad_row_neither_freezes_the_tiles_nor_stops_a_restart(
    live_server: LiveServer, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    # Was: a tick whose ts was a number made the price poller fail every second without
    # moving on, /readyz went 503, and after a restart the app refused to start.
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 50.0)
    client = live_server.client()
    stream = SSEReader(client, "/events")
    stream.wait_for(lambda m: "50.00" in m.data)
    with caplog.at_level(logging.WARNING, logger="dashboard.live.price_poller"):
        rows = bad_rows(session, acme)
        after = add_tick(session, acme, 55.5)
        live_server.runtime.price_poller.wake()
        stream.wait_for(lambda m: "55.50" in m.data)
    skipped = [r for r in caplog.records if r.getMessage().startswith("skipped tick")]
    assert len(skipped) == len(rows)  # each logged once, not once a poll
    assert live_server.runtime.price_poller.cursor == after.id
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["ticks"].startswith(f"skipped {len(rows)} rows breaking")
    metrics = client.get("/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("dashboard_ticks_skipped_total{")
    )
    assert counted == len(rows)
    history = client.get("/api/prices/ACME/history")
    assert history.status_code == 200
    assert [p["price"] for p in history.json()] == [50.0, 55.5]
    page = client.get("/instruments/ACME")
    assert page.status_code == 200 and "55.50" in page.text
    stream.close()

    live_server.stop()
    live_server.start()  # primes from the store, bad rows and all
    restarted = live_server.client()
    # Ready once every poller has polled after the start (CI once asked before the first).
    wait_until(lambda: restarted.get("/readyz").status_code == 200)
    tiles: Callable[[], str] = lambda: restarted.get("/").text  # noqa: E731
    wait_until(lambda: "55.50" in tiles())
    client.close()
    restarted.close()
