"""Price-side behaviour over real streams: stale pushed by the server, alerts delivered."""

from __future__ import annotations

from sqlmodel import Session

from dashboard.accounts import tokens
from dashboard.prices import alerts
from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.conftest import LiveServer, wait_until
from tests.factories import add_tick, make_instrument, make_user
from tests.sse import SSEReader


def test_the_stale_marker_is_pushed_without_a_new_tick(
    session: Session, settings: Settings
) -> None:
    # Fresh for 4 s: a loaded machine took more than the 0.8 s a 1-s time-to-live left
    # between the server's start and the stream's first message.
    acme = make_instrument(session, "ACME", ttl_seconds=4)
    add_tick(session, acme, 10.0)
    server = LiveServer(lambda: create_app(settings))
    server.start()
    try:
        with server.client() as client:
            stream = SSEReader(client, "/events")
            fresh = stream.wait_for(lambda m: 'id="tile-ACME"' in m.data)
            assert "is-stale" not in fresh.data
            # No tick is written; about 4 s after it, the server says the tile is stale.
            stale = stream.wait_for(
                lambda m: 'id="tile-ACME"' in m.data and "is-stale" in m.data, timeout=15
            )
            assert '>stale<span class="stale-age"> · <time' in stale.data  # with its age
            tick = add_tick(session, acme, 10.5)
            again = stream.wait_for(lambda m: f'data-tick-id="{tick.id}"' in m.data)
            assert "is-stale" not in again.data  # fresh again: the whole tile
            stream.close()
    finally:
        server.stop()


def test_a_crossed_alert_reaches_the_users_stream(
    live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 99.0)
    assert alice.id is not None
    alerts.create(
        limit=100, session=session, user_id=alice.id, symbol="ACME", direction="above", level="100"
    )
    client = live_server.login("alice")
    stream = SSEReader(client, "/events?after=0")
    stream.wait_for(lambda m: m.shows_price("ACME", "99.00"))
    add_tick(session, acme, 100.5)
    got = stream.wait_for(lambda m: "ACME crossed above 100.00" in m.data)
    assert got.id is not None
    stream.wait_for(lambda m: 'id="unread-count"' in m.data and ">1</span>" in m.data)
    stream.close()
    client.close()


def test_the_stream_sends_only_the_tiles_of_the_users_watchlist(
    live_server: LiveServer, session: Session
) -> None:
    from dashboard.prices import watchlists

    alice = make_user(session, "alice")
    shown, hidden = make_instrument(session, "SHOWN"), make_instrument(session, "HIDDEN")
    assert alice.id is not None
    watchlists.save(session=session, user_id=alice.id, symbols=["SHOWN"])
    client = live_server.login("alice")
    stream = SSEReader(client, "/events?after=0")
    add_tick(session, hidden, 1.0)
    barrier = add_tick(session, shown, 2.0)
    assert barrier.id
    stream.wait_for(lambda m: m.shows_price("SHOWN", "2.00"))
    assert not any("tile-HIDDEN" in m.data for m in stream.seen)
    stream.close()
    client.close()


def test_an_instrument_added_changed_and_retired_through_the_api_reaches_open_pages(
    live_server: LiveServer, session: Session
) -> None:
    admin = make_user(session, "admin", is_admin=True)
    assert admin.id is not None
    auth = {
        "Authorization": f"Bearer {tokens.issue(session=session, user_id=admin.id, name='t')[1]}"
    }
    make_instrument(session, "GLBX")
    with live_server.client() as client:
        stream = SSEReader(client, "/events")
        stream.wait_for(lambda m: m.event == "ready")
        added = client.post(
            "/api/instruments", json={"symbol": "MSFT", "name": "Microsoft"}, headers=auth
        )
        assert added.status_code == 201
        client.post("/api/ticks", json=[{"symbol": "MSFT", "price": 400.25}], headers=auth)
        stream.wait_for(lambda m: 'id="tile-MSFT"' in m.data and "400.25" in m.data)
        renamed = client.patch(
            "/api/instruments/MSFT", json={"name": "Microsoft Corp", "decimals": 3}, headers=auth
        )
        assert renamed.status_code == 200
        # Re-rendered at once with the new name and decimals, without a new tick.
        stream.wait_for(lambda m: "Microsoft Corp" in m.data and "400.250" in m.data)
        client.patch("/api/instruments/MSFT", json={"retired": True}, headers=auth)
        wait_until(lambda: "tile-MSFT" not in client.get("/").text)
        assert "tile-GLBX" in client.get("/").text
        stream.close()
