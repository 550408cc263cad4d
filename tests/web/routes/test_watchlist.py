from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.models import WatchlistItem
from tests.conftest import wait_until
from tests.factories import add_tick, make_instrument, make_user


def tile_order(html: str) -> list[str]:
    return re.findall(r'<article id="tile-([A-Z-]+)"', html)


def test_a_user_chooses_and_orders_their_tiles_and_can_go_back_to_the_default(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    for symbol in ("AAA", "BBB", "CCC"):
        add_tick(session, make_instrument(session, symbol), 1.0)
    make_user(session, "alice")
    token = login_as("alice")
    # The app started before these instruments existed; its poller picks them up.
    wait_until(lambda: tile_order(client.get("/").text) == ["AAA", "BBB", "CCC"])
    saved = client.post(
        "/settings/watchlist",
        data={
            "csrf_token": token,
            "symbol": ["AAA", "BBB", "CCC"],
            "order": ["2", "9", "1"],
            "show": ["CCC", "AAA"],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert tile_order(client.get("/").text) == ["CCC", "AAA"]
    settings = client.get("/settings").text
    assert (
        settings.index('value="CCC"')
        < settings.index('value="AAA"')
        < settings.index('value="BBB"')
    )

    none = client.post(
        "/settings/watchlist", data={"csrf_token": token, "symbol": ["AAA"], "order": ["1"]}
    )
    assert none.status_code == 422 and "Choose at least one instrument" in none.text
    bogus = client.post(
        "/settings/watchlist",
        data={"csrf_token": token, "show": ["ZZZ"], "symbol": ["ZZZ"], "order": ["x"]},
    )
    assert bogus.status_code == 422 and "Unknown instruments: ZZZ" in bogus.text
    assert len(session.exec(select(WatchlistItem)).all()) == 2  # unchanged by the bad posts

    client.post("/settings/watchlist", data={"csrf_token": token, "reset": "default"})
    assert tile_order(client.get("/").text) == ["AAA", "BBB", "CCC"]
    assert session.exec(select(WatchlistItem)).all() == []
