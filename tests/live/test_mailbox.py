"""A connection's mailbox as its stream drains it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from dashboard.live.hub import Audience, Hub
from dashboard.live.mailbox import Connection, ReadStateChanged, drain, part_symbol
from tests.live.messages import batch, encode, notice


def test_drain_yields_notices_read_state_prices_and_keepalive_then_ends_on_close() -> None:
    notice_event = notice(5, b"n5")

    async def scenario() -> list[object]:
        hub = Hub(mailbox_size=8)
        connection = hub.connect(user_id=1)
        hub.publish_notice(notice_event, Audience(everyone=True))
        hub.publish_read_state(1, changed_ids=[5])
        hub.publish_read_state(1, changed_ids=[4], archived_ids=[3])
        hub.publish_prices(batch(X="x1"))
        hub.keepalive()
        got: list[object] = []

        async def consume() -> None:
            async for item in drain(connection, encode):
                got.append(item)
                if item is None:
                    connection.close()

        await asyncio.wait_for(consume(), 5)
        return got

    got = asyncio.run(scenario())
    # Two changes before the stream looked arrive as one, holding both.
    change = ReadStateChanged(changed_ids=frozenset({4, 5}), archived_ids=frozenset({3}))
    assert got == [notice_event, change, b"X=x1", None]


def test_drain_restarts_the_watchdog_clock_for_each_message_and_stops_it_while_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(range(100, 200))
    monkeypatch.setattr("dashboard.live.mailbox.monotonic", lambda: float(next(clock)))

    async def scenario() -> None:
        hub = Hub(mailbox_size=4)
        connection = hub.connect(user_id=1)
        connection.watch(None)
        assert connection.busy_since == 100.0  # the snapshot and replay come before drain
        messages = drain(connection, encode)
        waiting = asyncio.ensure_future(messages.__anext__())
        await asyncio.sleep(0)
        assert connection.busy_since == 0.0  # waiting: nothing to send
        for i in (1, 2):
            hub.publish_notice(notice(i, b"n"), Audience(everyone=True))
        assert (await waiting).id == 1
        assert connection.busy_since == 101.0  # handed to the client, not yet back
        assert (await messages.__anext__()).id == 2
        assert connection.busy_since == 102.0  # a second message: the clock restarted
        waiting = asyncio.ensure_future(messages.__anext__())
        await asyncio.sleep(0)
        assert connection.busy_since == 0.0
        hub.disconnect(connection)
        with pytest.raises(StopAsyncIteration):  # closed: the stream ends
            await waiting

    asyncio.run(scenario())


def test_regression_an_overflow_ends_a_stream_stuck_in_a_send_at_once() -> None:
    # Was: the "mailbox overflow … closing" line was logged, but a stream blocked in a send
    # to a client that stopped reading stayed open for good (issue 18, item 11).
    async def scenario() -> bool:
        hub = Hub(mailbox_size=1)
        connection = hub.connect(user_id=1)
        stuck = asyncio.get_running_loop().create_future()

        async def blocked_send() -> None:
            await stuck

        sender = asyncio.create_task(blocked_send())
        connection.watch(sender)  # busy sending from now on
        for i in range(2):
            hub.publish_notice(notice(i + 1, b"n"), Audience(everyone=True))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(sender, 1)
        return sender.cancelled() and connection.end_reason == "overflow"

    assert asyncio.run(scenario())


def test_a_slow_reader_gets_the_newest_of_each_part_of_a_tile() -> None:
    # A reader that has not taken the last batch: its updates are merged by element, not
    # by symbol. Kept per symbol, a quote-only update would have dropped a sparkline still
    # pending from the batch before.
    connection = Connection(user_id=None, symbols=None, mailbox_size=4)
    connection.offer_prices({"q-ACME": "<q1>", "s-ACME": "<s1>"}, b"one")
    connection.offer_prices({"q-ACME": "<q2>"}, b"two")
    assert connection.take_prices(encode) == b"q-ACME=<q2>|s-ACME=<s1>"


def test_a_whole_tile_drops_the_parts_of_it_still_pending() -> None:
    connection = Connection(user_id=None, symbols=None, mailbox_size=4)
    connection.offer_prices({"tile-ACME": "<T1>", "q-GLBX": "<g1>"}, b"one")
    connection.offer_prices({"q-ACME": "<q2>", "s-ACME": "<s2>"}, b"two")
    # A newer whole tile: the older quote and sparkline applied after it would undo it.
    connection.offer_prices({"tile-ACME": "<T3>"}, b"three", frozenset({"ACME"}))
    assert connection.take_prices(encode) == b"q-GLBX=<g1>|tile-ACME=<T3>"
    assert part_symbol("q-BTC-USD") == "BTC-USD"
