"""``/api/prices``: the newest price per symbol and a symbol's history."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.models import utcnow
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
