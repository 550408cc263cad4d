"""The SSE encoder: each session event as the exact bytes one write sends to the page."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import anyio
import pytest
import sse_starlette
from starlette.types import Message

from dashboard.inbox.queries import Badge
from dashboard.live import sse
from dashboard.live.fragments import Renderer
from dashboard.live.session import KEEPALIVE, End, Event, Notice, Prices, ReadState, Ready
from dashboard.runtime import Runtime
from tests.live.renderers import make_renderer
from tests.live.scripted import collect, notification, scripted, shared_notice

BADGE = Badge(version=4, cursor=9, count=3)
PING = b": ping\r\nevent: ping\r\n\r\n"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return make_renderer()


def messages(renderer: Renderer, *events: Event) -> list[bytes]:
    return collect(sse.messages(scripted(events), renderer))


def test_prices_are_the_shared_batch_message_itself(renderer: Renderer) -> None:
    batch = b"data: <div hx-swap-oob='true'>tiles</div>\r\n\r\n"
    sent = messages(renderer, Prices(message=batch))
    assert sent == [batch] and sent[0] is batch


def test_a_charts_prices_are_named_price_events(renderer: Renderer) -> None:
    # /events?chart=SYMBOL: wire price objects for the instrument page's chart.
    sent = messages(renderer, Prices(quotes=[b'{"type":"price"}', b'{"type":"price","x":1}']))
    assert sent == [
        b'event: price\r\ndata: {"type":"price"}\r\n\r\n'
        b'event: price\r\ndata: {"type":"price","x":1}\r\n\r\n'
    ]
    assert messages(renderer, Prices()) == []


@pytest.mark.parametrize("read", [False, True])
def test_a_replayed_notice_is_rendered_for_this_reader_with_its_cursor(
    renderer: Renderer, read: bool
) -> None:
    stored = notification(5, "Backup done")
    sent = messages(renderer, Notice(notification=stored, read=read, replayed=True))
    assert sent == [renderer.notice_message(stored, read=read)]
    assert sent[0].startswith(b"id: 5\r\n") and b"Backup done" in sent[0]


def test_a_live_notice_is_the_shared_message_plus_the_badge_in_one_write(
    renderer: Renderer,
) -> None:
    shared = shared_notice(8)
    event = Notice(
        notification=shared.notification, read=False, replayed=False, badge=BADGE, shared=shared
    )
    sent = messages(renderer, event)
    badge = renderer.unread_badge_message(BADGE)
    assert sent == [b"data: shared sse 8\r\n\r\n" + badge]
    assert b'data-version="4" data-cursor="9"' in badge and b'aria-label="3 unread"' in badge


def test_a_live_notice_without_a_badge_is_the_shared_message_alone(renderer: Renderer) -> None:
    shared = shared_notice(8)
    event = Notice(notification=shared.notification, read=False, replayed=False, shared=shared)
    sent = messages(renderer, event)
    assert sent == [shared.message] and sent[0] is shared.message


def test_a_notice_without_shared_bytes_but_with_a_badge_is_rendered_then_badged(
    renderer: Renderer,
) -> None:
    stored = notification(6)
    sent = messages(renderer, Notice(notification=stored, read=False, replayed=False, badge=BADGE))
    assert sent == [renderer.notice_message(stored) + renderer.unread_badge_message(BADGE)]


def test_a_read_state_change_restyles_then_updates_the_badge(renderer: Renderer) -> None:
    read = (notification(4), notification(9))
    event = ReadState(badge=BADGE, read=read, archived_ids=frozenset({2}))
    sent = messages(renderer, event)
    assert sent == [
        renderer.read_state_message(read, frozenset({2})) + renderer.unread_badge_message(BADGE)
    ]
    assert b"notification-4" in sent[0] and b"delete:#inbox > #notification-2" in sent[0]


def test_ready_with_a_badge_sends_the_badge_then_the_named_ready_event(
    renderer: Renderer,
) -> None:
    sent = messages(renderer, Ready(after=7, badge=BADGE))
    assert sent == [
        renderer.unread_badge_message(BADGE)
        + b'event: ready\r\ndata: {"type":"ready","after":7}\r\n\r\n'
    ]


def test_an_anonymous_ready_is_the_named_event_alone(renderer: Renderer) -> None:
    assert messages(renderer, Ready(after=None, badge=None)) == [
        b'event: ready\r\ndata: {"type":"ready","after":null}\r\n\r\n'
    ]


def test_a_keepalive_is_a_named_ping_event_without_data(renderer: Renderer) -> None:
    # htmx's SSE extension drops a comment unseen but dispatches a named event (the page's
    # watchdog needs to see it); without a data line there is nothing to swap. The comment
    # keeps it a keep-alive for readers that count comments.
    assert messages(renderer, KEEPALIVE) == [PING]
    assert sse.KEEPALIVE == PING


@pytest.mark.parametrize("reason", ["shutdown", "overflow", "signed-out", "revoked"])
def test_end_is_the_named_end_event_with_its_reason(renderer: Renderer, reason: str) -> None:
    assert messages(renderer, End(reason)) == [
        f'event: end\r\ndata: {{"type":"end","reason":"{reason}"}}\r\n\r\n'.encode()
    ]


def test_a_whole_stream_is_one_write_per_event_in_order(renderer: Renderer) -> None:
    replayed = notification(3)
    sent = messages(
        renderer,
        Prices(message=b"data: tiles\r\n\r\n"),
        Notice(notification=replayed, read=False, replayed=True),
        Ready(after=3, badge=None),
        KEEPALIVE,
        End("shutdown"),
    )
    assert sent == [
        b"data: tiles\r\n\r\n",
        renderer.notice_message(replayed),
        b'event: ready\r\ndata: {"type":"ready","after":3}\r\n\r\n',
        PING,
        b'event: end\r\ndata: {"type":"end","reason":"shutdown"}\r\n\r\n',
    ]


def test_the_response_streams_the_messages_without_its_own_timers(renderer: Renderer) -> None:
    runtime = cast(Runtime, SimpleNamespace(renderer=renderer, shutdown_event=None))
    response = sse.response(scripted([KEEPALIVE, End("overflow")]), runtime)
    assert response.media_type == "text/event-stream"
    assert response.headers["cache-control"] == "no-store"
    assert response.ping_interval == 0
    assert response.send_timeout is None
    assert collect(response.body_iterator) == [
        PING,
        b'event: end\r\ndata: {"type":"end","reason":"overflow"}\r\n\r\n',
    ]


def test_regression_a_stream_sends_without_a_cancel_scope_per_send(
    renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # anyio's move_on_after(None) around every send cost 6-7 µs of a 0.3 µs send.
    scopes: list[float | None] = []
    real_move_on_after = anyio.move_on_after  # as sse_starlette calls it: anyio.move_on_after

    def counted(delay: float | None, shield: bool = False) -> anyio.CancelScope:
        scopes.append(delay)
        return real_move_on_after(delay, shield=shield)

    monkeypatch.setattr(anyio, "move_on_after", counted)
    runtime = cast(Runtime, SimpleNamespace(renderer=renderer, shutdown_event=None))
    response = sse.response(scripted([KEEPALIVE, KEEPALIVE, End("overflow")]), runtime)
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client never leaves: the stream ends itself
        raise AssertionError("unreachable")

    scope = {"type": "http", "method": "GET", "headers": [], "path": "/events"}
    asyncio.run(asyncio.wait_for(response(scope, receive, send), 10))
    bodies = [m.get("body") for m in sent if m["type"] == "http.response.body"]
    assert bodies == [
        PING,
        PING,
        b'event: end\r\ndata: {"type":"end","reason":"overflow"}\r\n\r\n',
        b"",
    ]
    assert scopes == []


def test_a_send_that_fails_is_marked_as_the_library_marks_it(renderer: Renderer) -> None:
    # The override leans on two of sse-starlette's own names: fail here if they change.
    assert "_send_with_timeout" in vars(sse_starlette.EventSourceResponse)
    runtime = cast(Runtime, SimpleNamespace(renderer=renderer, shutdown_event=None))
    response = sse.response(scripted([]), runtime)
    assert response._send_interrupted is False

    async def broken(message: Message) -> None:
        raise OSError("the socket is gone")

    message: Message = {"type": "http.response.body", "body": PING, "more_body": True}
    with pytest.raises(OSError):
        asyncio.run(response._send_with_timeout(broken, message))
    assert response._send_interrupted is True
