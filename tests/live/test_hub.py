from __future__ import annotations

import asyncio

import pytest

from dashboard.live.hub import WAKE_SLICE, Audience, Hub
from tests.live.messages import batch, encode, notice


def test_a_ready_reader_gets_the_shared_batch_bytes_not_a_copy() -> None:
    hub = Hub(mailbox_size=4)
    a, b = hub.connect(user_id=None), hub.connect(user_id=None)
    published = batch(X="x1", Y="y1")
    hub.publish_prices(published)
    assert a.take_prices(encode) is published.message
    assert b.take_prices(encode) is published.message


def test_a_slow_reader_gets_the_latest_tile_per_symbol_in_one_message() -> None:
    hub = Hub(mailbox_size=4)
    slow = hub.connect(user_id=None)
    hub.publish_prices(batch(X="x1", Y="y1"))
    hub.publish_prices(batch(X="x2"))
    hub.publish_prices(batch(X="x3", Z="z1"))
    assert slow.take_prices(encode) == b"tile-X=x3|tile-Y=y1|tile-Z=z1"
    assert slow.take_prices(encode) is None


def test_a_connection_only_gets_its_symbols() -> None:
    hub = Hub(mailbox_size=4)
    only_x = hub.connect(user_id=None, symbols=["X"])
    only_q = hub.connect(user_id=None, symbols=["Q"])
    hub.publish_prices(batch(X="x1", Y="y1"))
    assert only_x.take_prices(encode) == b"tile-X=x1"
    assert only_q.take_prices(encode) is None
    assert hub.snapshot(["Y", "Q"]) == {"Y": "y1"}


def test_notices_reach_exactly_their_audience() -> None:
    hub = Hub(mailbox_size=4)
    alice, bob, anonymous = (
        hub.connect(user_id=1),
        hub.connect(user_id=2),
        hub.connect(user_id=None),
    )
    alice_tab2 = hub.connect(user_id=1)
    private = notice(1, b"for alice")
    assert hub.publish_notice(private, Audience(user_ids=frozenset({1}))) == 2
    broadcast = notice(2, b"for all")
    assert hub.publish_notice(broadcast, Audience(everyone=True)) == 3
    assert list(alice.notices) == [private, broadcast]
    assert list(alice_tab2.notices) == [private, broadcast]
    assert list(bob.notices) == [broadcast]
    assert not anonymous.notices
    assert hub.online_user_ids() == {1, 2}


def test_a_full_mailbox_closes_its_connection_and_keeps_what_was_queued() -> None:
    hub = Hub(mailbox_size=2)
    reader = hub.connect(user_id=7)
    for i in range(3):
        hub.publish_notice(notice(i, b"n"), Audience(everyone=True))
    assert reader.closed and reader.overflowed
    assert [n.id for n in reader.notices] == [0, 1]
    hub.disconnect(reader)
    assert hub.overflows == 1
    assert hub.connection_count == 0
    assert hub.online_user_ids() == set()


def test_regression_readers_of_one_watchlist_share_one_encoded_message() -> None:
    # Found in review: each connection showing a strict subset encoded its own message.
    encodes: list[object] = []

    def counting_encode(tiles: object) -> bytes:
        encodes.append(tiles)
        return encode(tiles)

    hub = Hub(mailbox_size=4, encode_tiles=counting_encode)
    readers = [hub.connect(user_id=None, symbols=["X"]) for _ in range(100)]
    hub.publish_prices(batch(X="x1", Y="y1"))
    messages = {id(r.take_prices(counting_encode)) for r in readers}
    assert len(encodes) == 1 and len(messages) == 1


def test_the_snapshot_message_is_one_shared_object_until_prices_change() -> None:
    # An idle stream holds on to the last message it sent: a private copy of every tile
    # per connection cost ~14 KiB each (found with tracemalloc).
    hub = Hub(mailbox_size=8, encode_tiles=lambda tiles: "".join(tiles.values()).encode())
    hub.set_latest({"A": "a0", "B": "b0"}, {})
    first = hub.snapshot_message()
    assert hub.snapshot_message() is first and first == b"a0b0"
    assert hub.snapshot_message(["B"]) is hub.snapshot_message(["B"])
    hub.publish_prices(batch(A="a1"))
    assert hub.snapshot_message() == b"a1b0"


def test_many_readers_are_woken_a_slice_per_turn_of_the_loop() -> None:
    # A round of sends to 10,000 streams outlasts the poll interval: woken all at once,
    # nobody could take the next batch until everybody had sent the previous one.
    async def scenario() -> tuple[int, int]:
        hub = Hub(mailbox_size=4)
        hub.loop = asyncio.get_running_loop()
        readers = [hub.connect(user_id=None) for _ in range(WAKE_SLICE * 2)]
        hub.publish_prices(batch(X="x1"))
        assert not any(r.woken for r in readers)
        await asyncio.sleep(0)
        after_one_turn = sum(r.woken for r in readers)
        await asyncio.sleep(0)
        return after_one_turn, sum(r.woken for r in readers)

    assert asyncio.run(scenario()) == (WAKE_SLICE, 2 * WAKE_SLICE)


def test_the_watchdog_cancels_only_watched_streams_stuck_sending_past_the_timeout() -> None:
    async def scenario() -> None:
        hub = Hub(mailbox_size=4)
        never = asyncio.get_running_loop().create_future()

        async def stream() -> None:
            await never

        stuck, slow, waiting, unwatched = (asyncio.create_task(stream()) for _ in range(4))
        connections = [hub.connect(user_id=None) for _ in range(4)]
        for connection, task in zip(connections[:3], (stuck, slow, waiting), strict=True):
            connection.watch(task)
        connections[0].busy_since = 100.0  # busy 31 s at now=131
        connections[1].busy_since = 110.0  # busy 21 s
        connections[2].busy_since = 0.0  # waiting for its next message
        connections[3].busy_since = 100.0  # a stream the watchdog does not own (ws, ndjson)
        assert hub.cut_off_stalled(30.0, now=131.0) == 1
        await asyncio.sleep(0)
        assert stuck.cancelled()
        assert not any(t.done() for t in (slow, waiting, unwatched))
        assert hub.stalled_cut_offs == 1
        # Already cut off: a later sweep does not count it again.
        assert hub.cut_off_stalled(30.0, now=140.0) == 0
        assert hub.cut_off_stalled(30.0, now=141.0) == 1  # the slow one, now 31 s busy
        for task in (slow, waiting, unwatched):
            task.cancel()

    asyncio.run(scenario())


def test_a_broadcast_skips_the_excluded_users_streams() -> None:
    hub = Hub(mailbox_size=4)
    muted, other = hub.connect(user_id=1), hub.connect(user_id=2)
    event = notice(1, b"announcement")
    assert hub.publish_notice(event, Audience(everyone=True, excluded=frozenset({1}))) == 1
    assert not muted.notices and list(other.notices) == [event]


def test_end_closes_the_streams_of_a_user_a_login_session_or_a_token_with_a_reason() -> None:
    hub = Hub(mailbox_size=4)
    cookie = hub.connect(user_id=1, login_session=11)
    program = hub.connect(user_id=1, token_id=5)
    other = hub.connect(user_id=2, login_session=12, token_id=6)
    assert hub.open_logins() == {11, 12}
    assert hub.end(token_id=5, reason="revoked") == 1
    assert (program.closed, program.end_reason) == (True, "revoked")
    assert not cookie.closed
    assert hub.end(login_session=11, reason="signed-out") == 1
    assert cookie.end_reason == "signed-out"
    assert hub.end(user_id=2, reason="signed-out") == 1 and other.closed
    with pytest.raises(ValueError):
        hub.end(reason="revoked")


def test_the_first_reason_wins_and_shutdown_and_overflow_say_so() -> None:
    hub = Hub(mailbox_size=1)
    overflowing, idle = hub.connect(user_id=1), hub.connect(user_id=None)
    for i in range(2):
        hub.publish_notice(notice(i + 1, b"n"), Audience(everyone=True))
    assert overflowing.end_reason == "overflow"
    hub.close_all()
    assert (overflowing.end_reason, idle.end_reason) == ("overflow", "shutdown")


def test_the_hub_counts_open_streams_per_user_and_per_address() -> None:
    hub = Hub(mailbox_size=4)
    first = hub.connect(user_id=1, address="10.0.0.1")
    second = hub.connect(user_id=1, address="10.0.0.2")
    anonymous = hub.connect(user_id=None, address="10.0.0.1")
    hub.connect(user_id=2)  # no address: not counted by address
    assert (hub.streams_of(1), hub.streams_of(2), hub.streams_of(3)) == (2, 1, 0)
    assert (hub.streams_from("10.0.0.1"), hub.streams_from("10.0.0.2")) == (2, 1)
    hub.disconnect(first)
    hub.disconnect(first)  # twice: counted once
    hub.disconnect(anonymous)
    assert hub.streams_of(1) == 1 and hub.streams_from("10.0.0.1") == 0
    hub.disconnect(second)
    assert hub.streams_from("10.0.0.2") == 0 and hub.streams_of(1) == 0
