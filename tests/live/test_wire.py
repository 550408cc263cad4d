"""The wire objects: one encoding for the server, one decoding for the client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from dashboard.live import wire

WHEN = datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)

EVERY_OBJECT: list[wire.WireEvent] = [
    wire.PriceEvent(symbol="BTC-USD", price=97_000.5, ts=WHEN, tick_id=42, stale=False),
    wire.PriceEvent(symbol="NEW", price=None, ts=None, tick_id=0, stale=True),
    wire.NotificationEvent(
        id=7,
        title="<b>Ünïcode</b> & co",
        body="",
        severity="critical",
        created_at=WHEN,
        link=None,
        read=True,
    ),
    wire.UnreadEvent(count=3, version="4.7", read=(5, 7), archived=(6,)),
    wire.ReadyEvent(after=7),
    wire.ReadyEvent(after=None),
    wire.EndEvent(reason="revoked"),
    wire.PongEvent(),
    wire.SubscribedEvent(symbols=("A",), all=("A", "B")),
    wire.UnsubscribedEvent(symbols=("A",), all=("B",)),
    wire.MarkedReadEvent(id=7, unread=2, version="5.7"),
    wire.ErrorEvent(detail="unknown message type 'x'"),
]


@pytest.mark.parametrize("event", EVERY_OBJECT, ids=lambda e: type(e).__name__)
def test_every_object_round_trips_through_its_json(event: wire.WireEvent) -> None:
    encoded = wire.encode(event)
    assert b"\n" not in encoded  # one object per NDJSON line
    assert wire.decode(encoded) == event
    assert json.loads(encoded)["type"] == event.type


def test_the_encoding_is_the_documented_shape() -> None:
    price = wire.PriceEvent(
        symbol="ACME", price=183.4, ts=WHEN, tick_id=9, stale=False, reference_price=180.0
    )
    assert wire.encode(price) == (
        b'{"type":"price","symbol":"ACME","price":183.4,'
        b'"ts":"2026-11-21T12:00:05+00:00","tick_id":9,"stale":false,"reference_price":180.0}'
    )
    # An object from an older server, without reference_price, still reads.
    older = b'{"type":"price","symbol":"ACME","price":1.0,"ts":null,"tick_id":1,"stale":true}'
    assert wire.decode(older) == wire.PriceEvent(
        symbol="ACME", price=1.0, ts=None, tick_id=1, stale=True
    )
    unread = wire.UnreadEvent(count=1, version="2.9", read=(9,))
    assert json.loads(wire.encode(unread)) == {
        "type": "unread",
        "count": 1,
        "version": "2.9",
        "read": [9],
        "archived": [],
        "unread": [],
    }
    # Text is UTF-8, not \\u escapes, and markup is data: escaping is the reader's job.
    note = EVERY_OBJECT[2]
    assert "<b>Ünïcode</b> & co".encode() in wire.encode(note)


def test_every_type_is_known_to_the_decoder() -> None:
    assert {type(e) for e in EVERY_OBJECT} == set(wire._TYPES.values())


def test_an_unknown_type_is_its_own_error_and_malformed_objects_are_refused() -> None:
    with pytest.raises(wire.UnknownMessage):
        wire.decode('{"type": "from-the-future", "x": 1}')
    with pytest.raises(ValueError):
        wire.decode("[1, 2]")
    with pytest.raises(TypeError):
        wire.decode('{"type": "ready"}')  # "after" is required
    with pytest.raises(ValueError):
        wire.decode("not json")
