"""``GET /events`` against a real uvicorn and a real SQLite file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TypedDict

import httpx
import pytest
from sqlmodel import Session

from dashboard.models import Audience, Topic, User
from dashboard.settings import Settings
from tests.conftest import LiveServer, csrf_from, wait_until
from tests.factories import (
    add_notification,
    add_tick,
    make_instrument,
    make_topic,
    make_user,
    subscribe,
)
from tests.sse import Message, SSEReader


def has_notification(notification_id: int | None) -> Callable[[Message], bool]:
    return lambda m: f'id="notification-{notification_id}"' in m.data


def post_as_admin(admin: httpx.Client, **fields: str) -> int:
    token = csrf_from(admin.get("/admin").text)
    response = admin.post("/admin/notifications", data={"csrf_token": token, **fields})
    assert response.status_code == 303, response.text
    match = re.search(r"sent=(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


class People(TypedDict):
    admin: User
    alice: User
    bob: User
    markets: Topic


@pytest.fixture
def people(session: Session) -> People:
    admin = make_user(session, "admin", is_admin=True)
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    markets = make_topic(session, "markets")
    subscribe(session, alice, markets)
    return {"admin": admin, "alice": alice, "bob": bob, "markets": markets}


def test_a_tick_from_another_writer_reaches_an_anonymous_stream(
    session: Session, settings: Settings
) -> None:
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 10.0)
    from dashboard.web.app import create_app

    server = LiveServer(lambda: create_app(settings))
    server.start()
    try:
        with server.client() as client:
            stream = SSEReader(client, "/events")
            assert stream.status == 200
            assert stream.headers is not None
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["x-accel-buffering"] == "no"
            snapshot = stream.wait_for(lambda m: 'id="tile-ACME"' in m.data)
            assert snapshot.id is None
            tick = add_tick(session, acme, 12.34)  # written through another connection
            assert tick.id
            update = stream.wait_for(lambda m: m.shows_price("ACME", "12.34"))
            assert update.id is None  # price messages carry no id: they must not move the cursor
            assert "<p id=q-ACME" in update.data and "hx-swap-oob=true" in update.data
            assert "notification-" not in "".join(m.data for m in stream.seen)
            stream.close()
    finally:
        server.stop()


def test_the_instrument_pages_stream_carries_its_charts_prices_as_named_events(
    live_server: LiveServer, session: Session
) -> None:
    # One stream per page: the chart's prices come with the page's inbox, not over a
    # WebSocket of their own.
    acme, glbx = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    add_tick(session, acme, 10.0)
    with live_server.client() as client:
        stream = SSEReader(client, "/events?view=inbox&chart=ACME")
        first = stream.wait_for(lambda m: m.event == "price")
        assert json.loads(first.data)["price"] == 10.0  # the snapshot
        add_tick(session, glbx, 7.0)  # not this chart's symbol
        tick = add_tick(session, acme, 11.5)
        live_server.runtime.price_poller.wake()
        live = stream.wait_for(lambda m: m.event == "price" and '"price":11.5' in m.data)
        price = json.loads(live.data)
        assert (price["type"], price["symbol"], price["tick_id"]) == ("price", "ACME", tick.id)
        assert all(
            json.loads(m.data)["symbol"] == "ACME" for m in stream.seen if m.event == "price"
        )
        assert not any("<p id=q-" in m.data or "tile-" in m.data for m in stream.seen)
        stream.close()


def test_an_admin_post_to_a_topic_reaches_subscribers_only(
    live_server: LiveServer, people: People
) -> None:
    admin = live_server.login("admin")
    alice, bob = live_server.login("alice"), live_server.login("bob")
    alice_stream = SSEReader(alice, "/events?after=0")
    bob_stream = SSEReader(bob, "/events?after=0")
    wait_until(lambda: len(live_server.runtime.hub.online_user_ids()) == 2)

    topical = post_as_admin(admin, title="Markets open", audience="topic", topic="markets")
    got = alice_stream.wait_for(has_notification(topical))
    assert got.id == str(topical)
    assert "Markets open" in got.data
    alice_stream.wait_for(lambda m: 'id="unread-count"' in m.data and ">1</span>" in m.data)

    # A barrier everyone receives after the topic post: bob's stream is ordered, so if the
    # topic notification had been sent to him it would have come first.
    barrier = post_as_admin(admin, title="Barrier", audience="everyone")
    bob_stream.wait_for(has_notification(barrier))
    assert not any(f"notification-{topical}" in m.data for m in bob_stream.seen)
    alice_stream.wait_for(has_notification(barrier))

    private = post_as_admin(admin, title="Just bob", audience="user", username="bob")
    bob_stream.wait_for(has_notification(private))
    second_barrier = post_as_admin(admin, title="Barrier 2", audience="everyone")
    alice_stream.wait_for(has_notification(second_barrier))
    assert not any(f"notification-{private}" in m.data for m in alice_stream.seen)
    for stream in (alice_stream, bob_stream):
        stream.close()
    for client in (admin, alice, bob):
        client.close()


def test_a_reconnect_with_last_event_id_replays_exactly_the_missed_ones(
    live_server: LiveServer, people: People, session: Session
) -> None:
    alice_user, bob_user = people["alice"], people["bob"]
    first = add_notification(session, "before")
    alice = live_server.login("alice")
    stream = SSEReader(alice, f"/events?after={first.id}")
    seen = add_notification(session, "seen live")
    stream.wait_for(has_notification(seen.id))
    stream.close()

    missed = [
        add_notification(session, "missed 1"),
        add_notification(session, "bob only", audience=Audience.user, user=bob_user),
        add_notification(session, "missed 2", audience=Audience.user, user=alice_user),
        add_notification(session, "missed 3", audience=Audience.topic, topic=people["markets"]),
    ]
    # The page's ?after= is older; Last-Event-ID (what the browser saw last) wins.
    resumed = SSEReader(alice, f"/events?after={first.id}", headers={"Last-Event-ID": str(seen.id)})
    expected = [missed[0].id, missed[2].id, missed[3].id]
    got: list[Message] = []
    for notification_id in expected:
        got.append(resumed.wait_for(has_notification(notification_id)))
    assert [m.id for m in got] == [str(i) for i in expected]
    replayed = [m for m in resumed.seen if m.id is not None]
    assert [m.id for m in replayed] == [str(i) for i in expected]  # once each, oldest first
    badge = resumed.wait_for(lambda m: 'id="unread-count"' in m.data)
    assert ">5</span>" in badge.data  # before, seen live, and the three missed
    resumed.close()
    alice.close()


@pytest.mark.parametrize(
    "cursor",
    ["abc", "-1", "1e9", "", "9" * 40, "\u0661\u0662", "1;DROP TABLE notification"],
)
def test_a_malformed_cursor_is_treated_as_absent(
    live_server: LiveServer, people: People, session: Session, cursor: str
) -> None:
    add_notification(session, "old news")
    alice = live_server.login("alice")
    stream = SSEReader(alice, "/events", headers={b"Last-Event-ID": cursor.encode()})
    assert stream.status == 200
    stream.wait_for(lambda m: 'id="unread-count"' in m.data)  # the replay is done by now
    assert not any(m.id for m in stream.seen)  # absent cursor: nothing replayed
    live = add_notification(session, "new")
    stream.wait_for(has_notification(live.id))
    stream.close()
    with live_server.client() as client:
        from urllib.parse import quote

        other = SSEReader(client, f"/events?after={quote(cursor)}")
        assert other.status == 200
        other.close()
    alice.close()


def test_a_cursor_from_the_future_does_not_hide_new_notifications(
    live_server: LiveServer, people: People, session: Session
) -> None:
    alice = live_server.login("alice")
    stream = SSEReader(alice, "/events?after=999999")
    stream.wait_for(lambda m: 'id="unread-count"' in m.data)
    live = add_notification(session, "new")
    stream.wait_for(has_notification(live.id))
    stream.close()
    alice.close()
