"""The NDJSON encoder: one wire object per line, a blank line as the keep-alive."""

from __future__ import annotations

import json

from dashboard.inbox.queries import Badge
from dashboard.live import ndjson
from dashboard.live.session import KEEPALIVE, End, Event, Notice, Prices, ReadState, Ready
from tests.live.scripted import collect, notification, scripted, shared_notice


def lines(*events: Event) -> list[bytes]:
    return collect(ndjson.lines(scripted(events)))


def test_each_quote_is_a_line_and_one_batch_is_one_write() -> None:
    quotes = [b'{"type":"price","symbol":"A"}', b'{"type":"price","symbol":"B"}']
    assert lines(Prices(quotes=quotes)) == [
        b'{"type":"price","symbol":"A"}\n{"type":"price","symbol":"B"}\n'
    ]


def test_a_keepalive_is_a_blank_line() -> None:
    assert lines(KEEPALIVE) == [b"\n"]
    assert ndjson.KEEPALIVE_LINE == b"\n"


def test_a_live_notice_is_its_shared_json_on_a_line() -> None:
    shared = shared_notice(8)
    event = Notice(
        notification=shared.notification,
        read=False,
        replayed=False,
        badge=Badge(version=1, cursor=8, count=1),
        shared=shared,
    )
    assert lines(event) == [b'{"shared":8}\n']


def test_a_replayed_notice_is_its_notification_object_on_a_line() -> None:
    sent = lines(Notice(notification=notification(5, "Backup done"), read=True, replayed=True))
    assert len(sent) == 1 and sent[0].endswith(b"}\n") and sent[0].count(b"\n") == 1
    assert json.loads(sent[0]) == {
        "type": "notification",
        "id": 5,
        "title": "Backup done",
        "body": "All green.",
        "severity": "info",
        "created_at": "2026-11-21T12:00:05+00:00",
        "link": None,
        "read": True,
    }


def test_a_whole_stream_line_by_line() -> None:
    sent = lines(
        Prices(quotes=[b'{"q":1}']),
        Ready(after=5, badge=Badge(version=0, cursor=5, count=0)),
        ReadState(
            badge=Badge(version=2, cursor=5, count=0),
            read=(notification(5),),
            archived_ids=frozenset(),
        ),
        KEEPALIVE,
        End("revoked"),
    )
    assert sent == [
        b'{"q":1}\n',
        b'{"type":"ready","after":5}\n',
        b'{"type":"unread","count":0,"version":"2.5","read":[5],"archived":[],"unread":[]}\n',
        b"\n",
        b'{"type":"end","reason":"revoked"}\n',
    ]


def test_a_line_never_holds_a_raw_newline_even_for_text_with_newlines() -> None:
    stored = notification(5, "two\nlines")
    (sent,) = lines(Notice(notification=stored, read=False, replayed=True))
    assert sent.count(b"\n") == 1 and json.loads(sent)["title"] == "two\nlines"


def test_the_response_is_uncached_unbuffered_ndjson() -> None:
    response = ndjson.response(scripted([KEEPALIVE, End("shutdown")]))
    assert response.media_type == "application/x-ndjson"
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert collect(response.body_iterator) == [b"\n", b'{"type":"end","reason":"shutdown"}\n']
