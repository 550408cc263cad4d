"""The WebSocket sender: one wire object per text frame, then a close code saying why."""

from __future__ import annotations

import asyncio
import logging
from typing import cast

import pytest
from fastapi import WebSocket, WebSocketDisconnect

from dashboard.inbox.queries import Badge
from dashboard.live import wire
from dashboard.live.session import KEEPALIVE, End, Event, Notice, Prices, Ready
from dashboard.live.websocket import CLOSE_CODES, SocketWriter, send_session
from tests.live.scripted import notification, scripted, shared_notice


class RecordingSocket:
    """Stands in for a WebSocket: records the text frames sent and how it was closed."""

    def __init__(
        self, *, fail_on_send: int | None = None, failure: Exception | None = None
    ) -> None:
        self.frames: list[str] = []
        self.closed: tuple[int, str | None] | None = None
        self._fail_on_send = fail_on_send
        self._failure = failure or ConnectionResetError("client went away")
        self.sending = 0
        self.most_at_once = 0

    async def send_text(self, data: str) -> None:
        if self._fail_on_send is not None and len(self.frames) == self._fail_on_send:
            raise self._failure
        self.sending += 1
        self.most_at_once = max(self.most_at_once, self.sending)
        for _ in range(3):  # give any other sender a chance to run meanwhile
            await asyncio.sleep(0)
        self.frames.append(data)
        self.sending -= 1

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        assert self.closed is None, "closed twice"
        self.closed = (code, reason)


def writer_for(socket: RecordingSocket) -> SocketWriter:
    return SocketWriter(cast(WebSocket, socket))


def run(events: list[Event], *, error: Exception | None = None) -> RecordingSocket:
    socket = RecordingSocket()
    asyncio.run(send_session(scripted(events, user_id=42, error=error), writer_for(socket)))
    return socket


def test_every_end_reason_has_a_close_code() -> None:
    assert set(CLOSE_CODES) == set(wire.END_REASONS)


@pytest.mark.parametrize(
    ("reason", "code"),
    [("shutdown", 1012), ("overflow", 1013), ("signed-out", 1008), ("revoked", 1008)],
)
def test_the_socket_is_closed_with_the_code_of_the_end_reason(reason: str, code: int) -> None:
    socket = run([Ready(after=3, badge=None), End(reason)])
    assert socket.frames == [
        '{"type":"ready","after":3}',
        f'{{"type":"end","reason":"{reason}"}}',
    ]
    assert socket.closed == (code, reason)


def test_each_wire_object_is_its_own_text_frame_and_keepalives_send_nothing() -> None:
    shared = shared_notice(8)
    socket = run(
        [
            Prices(quotes=[b'{"q":"A"}', b'{"q":"B"}']),
            Notice(notification=notification(5), read=True, replayed=True),
            Ready(after=5, badge=Badge(version=0, cursor=5, count=0)),
            KEEPALIVE,
            Notice(
                notification=shared.notification,
                read=False,
                replayed=False,
                badge=Badge(version=0, cursor=8, count=1),
                shared=shared,
            ),
            End("shutdown"),
        ]
    )
    assert socket.frames[:2] == ['{"q":"A"}', '{"q":"B"}']
    assert wire.decode(socket.frames[2]) == wire.NotificationEvent(
        id=5,
        title="Deploy finished",
        body="All green.",
        severity="info",
        created_at=notification(5).created_at,
        link=None,
        read=True,
    )
    assert socket.frames[3:] == [
        '{"type":"ready","after":5}',
        '{"shared":8}',
        '{"type":"end","reason":"shutdown"}',
    ]
    assert socket.closed == (1012, "shutdown")


def test_a_failing_session_closes_with_1011_after_what_it_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="dashboard.live.websocket"):
        socket = run([Ready(after=0, badge=None)], error=RuntimeError("store down"))
    assert socket.frames == ['{"type":"ready","after":0}']
    assert socket.closed == (1011, "error")
    (record,) = caplog.records
    assert record.getMessage() == "WebSocket session of user 42 failed; closing"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


def test_a_session_that_ends_without_saying_why_closes_with_1011() -> None:
    socket = run([Ready(after=0, badge=None), KEEPALIVE])
    assert socket.closed == (1011, "error")


def test_an_unknown_end_reason_is_passed_on_with_1011() -> None:
    socket = run([End("from-the-future")])
    assert socket.frames == ['{"type":"end","reason":"from-the-future"}']
    assert socket.closed == (1011, "from-the-future")


def test_a_failed_send_still_closes_the_socket_with_1011() -> None:
    socket = RecordingSocket(fail_on_send=1)
    session = scripted([Prices(quotes=[b"1", b"2", b"3"]), End("shutdown")], user_id=None)
    asyncio.run(send_session(session, writer_for(socket)))
    assert socket.frames == ["1"]
    assert socket.closed == (1011, "error")


def test_regression_a_session_cut_short_by_shutdown_closes_1012_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: a query cut short by the stop closed the socket 1011 with an ERROR traceback.
    socket = RecordingSocket()
    session = scripted(
        [Ready(after=0, badge=None)], error=RuntimeError("engine disposed"), shutting_down=True
    )
    with caplog.at_level(logging.ERROR, logger="dashboard.live.websocket"):
        asyncio.run(send_session(session, writer_for(socket)))
    assert socket.closed == (1012, "shutdown")
    assert caplog.records == []


def test_regression_a_socket_the_server_closed_on_shutdown_is_left_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Was: uvicorn closed the socket itself (1012) and the next send logged an ERROR
    # traceback ("WebSocket session … failed") for every open socket.
    socket = RecordingSocket(fail_on_send=1, failure=WebSocketDisconnect(code=1006))
    session = scripted([Prices(quotes=[b"1", b"2"])], user_id=None)
    with caplog.at_level(logging.ERROR, logger="dashboard.live.websocket"):
        asyncio.run(send_session(session, writer_for(socket)))
    assert socket.frames == ["1"] and socket.closed is None
    assert caplog.records == []


def test_the_writer_sends_wire_events_as_compact_json_text() -> None:
    socket = RecordingSocket()
    asyncio.run(writer_for(socket).send_event(wire.PongEvent()))
    asyncio.run(writer_for(socket).send_event(wire.ErrorEvent(detail="bad \u00e9")))
    assert socket.frames == ['{"type":"pong"}', '{"type":"error","detail":"bad \u00e9"}']


def test_the_writer_sends_one_frame_at_a_time_from_two_tasks() -> None:
    socket = RecordingSocket()
    writer = writer_for(socket)

    async def two_senders() -> None:
        await asyncio.gather(
            *(writer.send(f"a{n}") for n in range(3)),
            *(writer.send(f"b{n}") for n in range(3)),
        )

    asyncio.run(two_senders())
    assert socket.most_at_once == 1
    assert sorted(socket.frames) == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert socket.sending == 0


def test_the_recording_socket_would_see_overlapping_sends_without_the_lock() -> None:
    # The check above can fail: the stand-in does notice two sends at once.
    socket = RecordingSocket()

    async def unlocked() -> None:
        await asyncio.gather(socket.send_text("a"), socket.send_text("b"))

    asyncio.run(unlocked())
    assert socket.most_at_once == 2
