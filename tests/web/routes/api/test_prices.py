"""``/api/prices``: the newest price per symbol and a symbol's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.models import utcnow
from dashboard.prices import bars
from tests.conftest import wait_until
from tests.factories import add_tick, make_instrument


def test_regression_history_is_oldest_first_by_event_time_whatever_the_write_order(
    client: TestClient, session: Session
) -> None:
    # Was: ordered by id, so a file listed newest first came back in descending time.
    acme = make_instrument(session, "ACME")
    now = utcnow()
    for days, price in ((0, 103.0), (1, 102.0), (2, 101.0), (3, 100.0)):  # newest first
        add_tick(session, acme, price, ts=now - timedelta(days=days))
    history = client.get("/api/prices/ACME/history").json()
    assert [p["price"] for p in history] == [100.0, 101.0, 102.0, 103.0]
    newest_two = client.get("/api/prices/ACME/history?limit=2").json()
    assert [p["price"] for p in newest_two] == [102.0, 103.0]


def test_regression_latest_prices_give_change_as_the_tile_shows_it(
    client: TestClient, session: Session
) -> None:
    # Was: "change": -1.8100000000000023, a floating-point remainder of 121.72 - 119.91.
    sap = make_instrument(session, "SAP")
    add_tick(session, sap, 121.72, ts=utcnow() - timedelta(hours=30))
    add_tick(session, sap, 119.91, ts=utcnow() - timedelta(minutes=1))
    poller = client.app.state.runtime.price_poller  # type: ignore[attr-defined]
    poller.wake()
    wait_until(lambda: "SAP" in poller.states and poller.states["SAP"].price == 119.91)
    (price,) = [p for p in client.get("/api/prices").json() if p["symbol"] == "SAP"]
    assert price["change"] == -1.81
    assert price["change_percent"] == -1.48701938876  # 12 significant digits
    tiny = make_instrument(session, "TINY")  # a change far below 2 decimals is kept
    add_tick(session, tiny, 0.0000121, ts=utcnow() - timedelta(hours=30))
    add_tick(session, tiny, 0.000011, ts=utcnow() - timedelta(minutes=1))
    poller.wake()
    wait_until(lambda: "TINY" in poller.states and poller.states["TINY"].price == 0.000011)
    (tiny_price,) = [p for p in client.get("/api/prices").json() if p["symbol"] == "TINY"]
    assert tiny_price["change"] == -0.0000011


def test_bars_come_oldest_first_with_ohlc_per_bucket(client: TestClient, session: Session) -> None:
    acme = make_instrument(session, "ACME")
    t0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    for seconds, price in ((0, 10.0), (30, 12.0), (45, 9.0), (70, 11.0), (3600, 20.0)):
        add_tick(session, acme, price, ts=t0 + timedelta(seconds=seconds))
    bars.roll_up(session=session)
    add_tick(session, acme, 21.0, ts=t0 + timedelta(seconds=3601))  # not rolled up yet

    minutes = client.get("/api/prices/ACME/bars?resolution=1m").json()
    assert [
        (b["start"], b["open"], b["high"], b["low"], b["close"], b["ticks"]) for b in minutes
    ] == [
        ("2026-11-27T10:00:00Z", 10.0, 12.0, 9.0, 9.0, 3),
        ("2026-11-27T10:01:00Z", 11.0, 11.0, 11.0, 11.0, 1),
        ("2026-11-27T11:00:00Z", 20.0, 21.0, 20.0, 21.0, 2),
    ]
    hours = client.get(
        "/api/prices/ACME/bars",
        params={"resolution": "1h", "from": "2026-11-27T10:30:00Z", "to": "2026-11-27T12:00:00Z"},
    ).json()
    assert [(b["start"], b["open"], b["close"], b["ticks"]) for b in hours] == [
        ("2026-11-27T10:00:00Z", 10.0, 11.0, 4),
        ("2026-11-27T11:00:00Z", 20.0, 21.0, 2),
    ]
    assert client.get("/api/prices/ACME/history").json()[0]["received_at"] is not None
    # A date alone, or a time without a zone, is UTC (was a 422 asking for a zone).
    by_date = client.get("/api/prices/ACME/bars?resolution=1h&from=2026-11-27&to=2026-11-27T11:00")
    assert [b["start"] for b in by_date.json()] == ["2026-11-27T10:00:00Z"]


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        ("resolution=2m", 422, "1m"),
        ("from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z", 422, "before"),
        ("limit=0", 422, "greater than or equal to 1"),
    ],
)
def test_bad_bar_queries_are_a_clear_422(
    client: TestClient, session: Session, query: str, status: int, detail: str
) -> None:
    make_instrument(session, "ACME")
    response = client.get(f"/api/prices/ACME/bars?{query}")
    assert response.status_code == status and detail in response.text, response.text
    assert client.get("/api/prices/NOPE/bars").status_code == 404
