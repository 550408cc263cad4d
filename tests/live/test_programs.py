"""Session events as the program transports' wire objects (NDJSON and WebSocket)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from dashboard.inbox.queries import Badge
from dashboard.live import wire
from dashboard.live.programs import notification_event, price_event, wire_messages
from dashboard.live.session import KEEPALIVE, End, Notice, Prices, ReadState, Ready
from dashboard.models import Audience, Notification, Severity
from dashboard.prices.tiles import Sparkline, TileState
from tests.live.scripted import WHEN, notification, shared_notice

BADGE = Badge(version=4, cursor=9, count=3)


def tile(*prices: float) -> TileState:
    """ACME's tile after a tick per price, a second apart from WHEN, ids 10, 20, …"""
    state = TileState(
        symbol="ACME",
        name="Acme",
        kind="equity",
        decimals=2,
        ttl_seconds=30,
        sparkline=Sparkline(resolution=60, count=5),
    )
    for n, price in enumerate(prices, start=1):
        state.apply_tick(tick_id=n * 10, price=price, ts=WHEN + timedelta(seconds=n))
    return state


# price_event


def test_a_price_event_is_the_tiles_newest_tick() -> None:
    state = tile(10.0, 12.5)
    state.refresh_staleness(WHEN + timedelta(seconds=3))
    assert price_event(state) == wire.PriceEvent(
        symbol="ACME",
        price=12.5,
        ts=WHEN + timedelta(seconds=2),
        tick_id=20,
        stale=False,
        reference_price=10.0,  # what the change is against
    )


def test_a_tile_before_its_first_tick_is_a_stale_price_without_a_value() -> None:
    assert price_event(tile()) == wire.PriceEvent(
        symbol="ACME", price=None, ts=None, tick_id=0, stale=True
    )


def test_a_stale_tile_says_so() -> None:
    state = tile(10.0)
    state.refresh_staleness(WHEN + timedelta(minutes=5))
    event = price_event(state)
    assert event.stale is True and event.price == 10.0


# notification_event


@pytest.mark.parametrize("read", [False, True])
def test_a_notification_event_carries_every_field_and_the_readers_state(read: bool) -> None:
    stored = notification(12, "Disk full", severity=Severity.critical, link="/hosts/db1")
    assert notification_event(stored, read=read) == wire.NotificationEvent(
        id=12,
        title="Disk full",
        body="All green.",
        severity="critical",
        created_at=WHEN,
        link="/hosts/db1",
        read=read,
    )


def test_the_severity_is_sent_as_its_plain_string() -> None:
    event = notification_event(notification(1, severity=Severity.warning), read=False)
    assert type(event.severity) is str and event.severity == "warning"


def test_an_unsaved_notification_has_no_event() -> None:
    with pytest.raises(AssertionError):
        notification_event(Notification(title="draft", audience=Audience.everyone), read=False)


# wire_messages


def test_prices_are_their_shared_quotes_as_they_are() -> None:
    quotes = [b'{"type":"price","symbol":"A"}', b'{"type":"price","symbol":"B"}']
    messages = wire_messages(Prices(quotes=quotes))
    assert messages == quotes
    assert all(got is sent for got, sent in zip(messages, quotes, strict=True))


def test_prices_for_pages_only_carry_nothing_to_programs() -> None:
    assert wire_messages(Prices(message=b"data: <div>\r\n\r\n")) == []


@pytest.mark.parametrize("read", [False, True])
def test_a_replayed_notice_is_encoded_for_this_reader(read: bool) -> None:
    stored = notification(5, "Backup done")
    messages = wire_messages(Notice(notification=stored, read=read, replayed=True))
    assert messages == [wire.encode(notification_event(stored, read=read))]
    assert json.loads(messages[0]) == {
        "type": "notification",
        "id": 5,
        "title": "Backup done",
        "body": "All green.",
        "severity": "info",
        "created_at": "2026-11-21T12:00:05+00:00",
        "link": None,
        "read": read,
    }


def test_a_live_notice_is_the_pollers_shared_json_not_a_new_encoding() -> None:
    shared = shared_notice(8)
    event = Notice(
        notification=shared.notification, read=False, replayed=False, badge=BADGE, shared=shared
    )
    messages = wire_messages(event)
    assert messages == [b'{"shared":8}']
    assert messages[0] is shared.json


def test_a_read_state_change_is_one_unread_object_with_sorted_ids() -> None:
    event = ReadState(
        badge=BADGE,
        read=(
            notification(9),
            notification(4),
            Notification(title="unsaved", audience=Audience.everyone),
        ),
        archived_ids=frozenset({7, 2, 5}),
    )
    assert wire_messages(event) == [
        b'{"type":"unread","count":3,"version":"4.9","read":[4,9],"archived":[2,5,7],"unread":[]}'
    ]


def test_notifications_marked_unread_again_are_listed_as_unread() -> None:
    event = ReadState(
        badge=BADGE, read=(), archived_ids=frozenset(), unread=(notification(8), notification(3))
    )
    assert wire_messages(event) == [
        b'{"type":"unread","count":3,"version":"4.9","read":[],"archived":[],"unread":[3,8]}'
    ]


def test_a_read_state_change_with_nothing_to_restyle() -> None:
    event = ReadState(badge=Badge(version=1, cursor=0, count=0), read=(), archived_ids=frozenset())
    assert wire_messages(event) == [
        b'{"type":"unread","count":0,"version":"1.0","read":[],"archived":[],"unread":[]}'
    ]


@pytest.mark.parametrize(
    ("after", "encoded"),
    [(17, b'{"type":"ready","after":17}'), (None, b'{"type":"ready","after":null}')],
)
def test_ready_is_the_resume_cursor_without_the_badge(after: int | None, encoded: bytes) -> None:
    assert wire_messages(Ready(after=after, badge=BADGE)) == [encoded]


@pytest.mark.parametrize("reason", wire.END_REASONS)
def test_end_says_why(reason: str) -> None:
    assert wire_messages(End(reason)) == [
        f'{{"type":"end","reason":"{reason}"}}'.encode(),
    ]


def test_a_keepalive_has_no_wire_object() -> None:
    assert wire_messages(KEEPALIVE) == []
