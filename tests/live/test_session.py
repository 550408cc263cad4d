"""LiveSession: one stream's life, with real runtime over a migrated store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import pytest
from sqlmodel import Session
from starlette.requests import HTTPConnection

from dashboard.inbox import read_state
from dashboard.live.mailbox import PriceBatch
from dashboard.live.session import (
    End,
    Event,
    KeepAlive,
    LiveSession,
    Notice,
    Prices,
    ReadState,
    Ready,
    Subscriber,
    authenticate,
)
from dashboard.models import Audience, Severity, User
from dashboard.runtime import Runtime, build_runtime
from dashboard.settings import Settings
from tests.factories import add_notification, add_tick, make_instrument, make_user

Scenario = Callable[[Runtime], Awaitable[None]]


def run(settings: Settings, scenario: Scenario) -> None:
    """Run ``scenario`` with started runtime (pollers, hub, keep-alive) on a fresh loop."""

    async def main() -> None:
        runtime = build_runtime(settings)
        await runtime.start()
        try:
            await asyncio.wait_for(scenario(runtime), 20)
        finally:
            await runtime.stop()

    asyncio.run(main())


async def next_event(events: AsyncGenerator[Event, None], kind: type[Event] | None = None) -> Event:
    """The next event (of ``kind``, skipping keep-alives and others)."""
    while True:
        event = await anext(events)
        if kind is None and not isinstance(event, KeepAlive):
            return event
        if kind is not None and isinstance(event, kind):
            return event


def user_id(user: User) -> int:
    assert user.id is not None
    return user.id


def test_snapshot_then_replay_oldest_first_then_ready_then_live(
    settings: Settings, session: Session
) -> None:
    alice = make_user(session, "alice")
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 10.5)
    first, second = add_notification(session, "first"), add_notification(session, "second")

    async def scenario(runtime: Runtime) -> None:
        live = LiveSession(
            runtime, Subscriber(user_id=user_id(alice)), kind="ndjson", cursor=0, symbols=None
        )
        events = live.events()
        snapshot = await next_event(events)
        assert isinstance(snapshot, Prices) and snapshot.snapshot
        assert b'"symbol":"ACME"' in snapshot.quotes[0]
        replayed = [await next_event(events), await next_event(events)]
        assert [(e.id, e.replayed) for e in replayed if isinstance(e, Notice)] == [
            (first.id, True),
            (second.id, True),
        ]
        ready = await next_event(events)
        assert isinstance(ready, Ready) and ready.after == second.id
        assert ready.badge is not None and ready.badge.count == 2
        third = await asyncio.to_thread(add_notification, session, "third")
        runtime.notification_poller.wake()
        live_notice = await next_event(events, Notice)
        assert isinstance(live_notice, Notice)
        assert (live_notice.id, live_notice.replayed, live_notice.read) == (third.id, False, False)
        assert live_notice.badge is not None and live_notice.badge.count == 3
        await events.aclose()
        assert runtime.hub.connection_count == 0

    run(settings, scenario)


def test_an_anonymous_session_gets_prices_and_a_ready_without_cursor(
    settings: Settings, session: Session
) -> None:
    acme = make_instrument(session, "ACME")
    add_notification(session, "not for strangers")

    async def scenario(runtime: Runtime) -> None:
        events = LiveSession(runtime, Subscriber(user_id=None), kind="sse").events()
        snapshot = await next_event(events)
        assert isinstance(snapshot, Prices) and snapshot.snapshot and snapshot.message
        ready = await next_event(events)
        assert ready == Ready(after=None, badge=None)
        tick = await asyncio.to_thread(add_tick, session, acme, 12.5)
        runtime.price_poller.wake()
        live = await next_event(events, Prices)
        assert isinstance(live, Prices) and not live.snapshot and live.message is not None
        assert tick.id
        assert b"<p id=q-ACME" in live.message and b">12.50</b>" in live.message
        await events.aclose()

    run(settings, scenario)


def test_regression_a_page_that_fell_behind_gets_the_parts_it_missed_not_whole_tiles(
    settings: Settings, session: Session
) -> None:
    # Was: it got the shared snapshot of whole tiles, seven times the bytes of the parts,
    # so under load every reader that fell behind received more and fell further behind.
    make_instrument(session, "ACME")

    async def scenario(runtime: Runtime) -> None:
        events = LiveSession(runtime, Subscriber(user_id=None), kind="sse").events()
        await next_event(events, Ready)
        hub = runtime.hub
        for parts in ({"q-ACME": "<q1/>", "s-ACME": "<s1/>"}, {"q-ACME": "<q2/>"}):
            hub.publish_prices(
                PriceBatch(
                    tiles={"ACME": "<whole/>"},
                    message=runtime.renderer.tiles_message(parts),
                    tile_updates=parts,
                )
            )  # two batches before the reader looks: conflated
        caught_up = await next_event(events, Prices)
        assert isinstance(caught_up, Prices) and caught_up.message is not None
        assert caught_up.message == b"data: <q2/><s1/>\r\n\r\n"
        await events.aclose()

    run(settings, scenario)


def test_regression_a_muted_broadcast_is_not_delivered_live(
    settings: Settings, session: Session
) -> None:
    # Was: hidden on reload (the inbox query) but still delivered to open streams.
    alice = make_user(session, "alice")
    alice.mute_broadcasts = True
    session.add(alice)
    session.commit()

    async def scenario(runtime: Runtime) -> None:
        events = LiveSession(
            runtime, Subscriber(user_id=user_id(alice)), kind="ws", symbols=()
        ).events()
        assert isinstance(await next_event(events), Ready)
        muted = await asyncio.to_thread(add_notification, session, "announcement")
        critical = await asyncio.to_thread(
            add_notification, session, "outage", severity=Severity.critical
        )
        direct = await asyncio.to_thread(
            add_notification, session, "yours", audience=Audience.user, user=alice
        )
        runtime.notification_poller.wake()
        got = [await next_event(events, Notice), await next_event(events, Notice)]
        assert [e.id for e in got if isinstance(e, Notice)] == [critical.id, direct.id]
        assert muted.id is not None and critical.id is not None
        assert muted.id < critical.id  # it was published first
        await events.aclose()

    run(settings, scenario)


@pytest.mark.parametrize("by", ["user", "login_session", "token"])
def test_a_session_can_be_ended_from_outside_and_says_why(
    settings: Settings, session: Session, by: str
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")

    async def scenario(runtime: Runtime) -> None:
        mine = Subscriber(user_id=user_id(alice), login_session=101, token_id=7)
        other = Subscriber(user_id=user_id(bob), login_session=102, token_id=8)
        ending = LiveSession(runtime, mine, kind="ndjson").events()
        staying = LiveSession(runtime, other, kind="ndjson").events()
        for events in (ending, staying):
            await next_event(events, Ready)
        selectors: dict[str, dict[str, Any]] = {
            "user": {"user_id": user_id(alice)},
            "login_session": {"login_session": 101},
            "token": {"token_id": 7},
        }
        assert runtime.hub.end(reason="revoked", **selectors[by]) == 1
        assert await next_event(ending, End) == End("revoked")
        with pytest.raises(StopAsyncIteration):
            await anext(ending)
        assert runtime.hub.connection_count == 1  # bob's stream goes on
        await staying.aclose()

    run(settings, scenario)


def test_read_state_changes_reach_the_session_with_the_new_count(
    settings: Settings, session: Session
) -> None:
    alice = make_user(session, "alice")
    seen = add_notification(session, "seen")

    async def scenario(runtime: Runtime) -> None:
        events = LiveSession(
            runtime, Subscriber(user_id=user_id(alice)), kind="sse", cursor=0, symbols=()
        ).events()
        await next_event(events, Ready)
        runtime.hub.publish_read_state(user_id(alice), changed_ids=[seen.id or 0], archived_ids=[])
        change = await next_event(events, ReadState)
        assert isinstance(change, ReadState)
        # The store was not changed, so the item is still unread: only read ones restyle.
        assert change.read == () and change.badge.count == 1
        await events.aclose()

    run(settings, scenario)


def test_a_stream_without_a_cookie_login_is_anonymous_without_a_worker_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: every stream hopped to a worker thread to look its cookie up, even with none to
    # look up; a reconnect storm of visitors spent 7 % of the server there.
    conn = HTTPConnection({"type": "http", "headers": [], "session": {}, "client": ("10.0.0.9", 1)})
    hops: list[str] = []
    to_thread = asyncio.to_thread

    async def counted(func: Callable[..., Any], /, *args: Any) -> Any:
        hops.append(func.__name__)
        return await to_thread(func, *args)

    async def scenario(runtime: Runtime) -> None:
        with monkeypatch.context() as patch:
            patch.setattr(asyncio, "to_thread", counted)
            subscriber = await authenticate(runtime, conn, token=None)
        assert subscriber == Subscriber(user_id=None, address="10.0.0.9")
        assert "_login_row" not in hops

    run(settings, scenario)


@pytest.mark.parametrize("kind", ["sse", "ndjson"])
def test_a_page_replays_no_notification_archived_meanwhile_a_program_gets_it(
    settings: Settings, session: Session, kind: Any
) -> None:
    # Was: a page away while its reader archived a notification in another tab put it back
    # at the top of its inbox on reconnecting.
    alice = make_user(session, "alice")
    archived, kept = add_notification(session, "archived"), add_notification(session, "kept")
    assert archived.id is not None
    read_state.set_archived(
        session=session, user_id=user_id(alice), notification_id=archived.id, archived=True
    )
    session.commit()

    async def scenario(runtime: Runtime) -> None:
        live = LiveSession(
            runtime, Subscriber(user_id=user_id(alice)), kind=kind, cursor=0, symbols=[]
        )
        events = live.events()
        replayed: list[tuple[int | None, bool]] = []
        while not isinstance(event := await next_event(events), Ready):
            if isinstance(event, Notice):
                replayed.append((event.id, event.read))
        # The cursor moves past it either way: it is not sent later.
        assert event.after == kept.id
        await events.aclose()
        if kind == "sse":
            assert replayed == [(kept.id, False)]
        else:
            assert replayed == [(archived.id, True), (kept.id, False)]

    run(settings, scenario)
