"""Interfaces for programs against a real uvicorn: NDJSON stream, WebSocket, the client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import AsyncGenerator

import pytest
from sqlmodel import Session
from sse_starlette import EventSourceResponse
from websockets.sync.client import connect

from dashboard.accounts import tokens
from dashboard.client import NotificationEvent, PriceEvent, StreamClient
from dashboard.live.hub import run_keepalive
from dashboard.live.session import Event, LiveSession
from dashboard.models import Audience
from dashboard.settings import Settings
from tests.conftest import LiveServer, wait_until, wait_until_async
from tests.factories import add_notification, add_tick, make_instrument, make_user
from tests.ndjson import NdjsonReader
from tests.ws_client import until_ready


def token_for(session: Session, username: str, *, is_admin: bool = False) -> str:
    user = make_user(session, username, is_admin=is_admin)
    assert user.id is not None
    return tokens.issue(session=session, user_id=user.id, name="test")[1]


def test_ndjson_stream_filters_symbols_and_carries_only_my_notifications(
    live_server: LiveServer, session: Session
) -> None:
    acme, globex = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    add_tick(session, acme, 1.0)
    alice_token = token_for(session, "alice")
    bob = make_user(session, "bob")
    reader = NdjsonReader(live_server, "/api/stream?symbols=ACME", alice_token)
    assert reader.status == 200 and reader.content_type.startswith("application/x-ndjson")
    ready, _ = reader.wait_for(lambda line: line["type"] == "ready")
    assert isinstance(ready["after"], int)
    add_tick(session, globex, 5.0)
    tick = add_tick(session, acme, 2.5)
    price, seen = reader.wait_for(lambda line: line.get("tick_id") == tick.id)
    assert price == {
        "type": "price",
        "symbol": "ACME",
        "price": 2.5,
        "ts": price["ts"],
        "tick_id": tick.id,
        "stale": False,
        "reference_price": 1.0,  # ACME's first tick, before this one
    }
    assert all(line.get("symbol") != "GLBX" for line in seen)
    add_notification(session, "for bob", audience=Audience.user, user=bob)
    mine = add_notification(session, "<b>hi</b> & bye")
    got, seen = reader.wait_for(lambda line: line["type"] == "notification")
    assert got["id"] == mine.id and got["title"] == "<b>hi</b> & bye"  # JSON carries text as text
    assert set(got) == {"type", "id", "title", "body", "severity", "created_at", "link", "read"}
    reader.close()


def test_ndjson_stream_errors(live_server: LiveServer, session: Session) -> None:
    make_instrument(session, "ACME")
    with live_server.client() as client:
        assert client.get("/api/stream?symbols=NOPE").status_code == 422
        bad = client.get("/api/stream", headers={"Authorization": "Bearer dash_nope"})
        assert bad.status_code == 401 and bad.json()["detail"] == "Invalid or revoked API token."


def test_ndjson_resumes_across_a_restart_with_each_notification_once(
    live_server: LiveServer, session: Session
) -> None:
    token = token_for(session, "alice")
    first = add_notification(session, "before")
    reader = NdjsonReader(live_server, f"/api/stream?after={first.id}", token)
    seen_live = add_notification(session, "live")
    reader.wait_for(lambda line: line.get("id") == seen_live.id)
    reader.close()
    live_server.stop()
    missed = [add_notification(session, f"while down {i}") for i in range(3)]
    live_server.start()
    resumed = NdjsonReader(live_server, f"/api/stream?after={seen_live.id}", token)
    _, seen = resumed.wait_for(lambda line: line["type"] == "ready")
    assert [line["id"] for line in seen if line["type"] == "notification"] == [n.id for n in missed]
    resumed.close()


def test_websocket_delivers_my_notifications_and_marks_them_read(
    live_server: LiveServer, session: Session
) -> None:
    token = token_for(session, "alice")
    bob = make_user(session, "bob")
    old = add_notification(session, "old")
    url = live_server.base_url.replace("http", "ws") + f"/ws?token={token}&after=0"
    with connect(url) as ws:
        [replayed] = until_ready(ws)
        assert (
            replayed["type"] == "notification"
            and replayed["id"] == old.id
            and replayed["read"] is False
        )
        add_notification(session, "bob's", audience=Audience.user, user=bob)
        new = add_notification(session, "new")
        live = json.loads(ws.recv(timeout=10))
        assert live["id"] == new.id  # bob's came first in the store, but is not alice's
        ws.send(json.dumps({"type": "read", "id": new.id}))
        replies = [json.loads(ws.recv(timeout=10)) for _ in range(2)]
        read_reply = {"type": "read", "id": new.id, "unread": 1, "version": f"1.{new.id}"}
        assert read_reply in replies
        # The socket's own stream hears of the change too (as every other tab does).
        pushed = {
            "type": "unread",
            "count": 1,
            "version": f"1.{new.id}",
            "read": [new.id],
            "archived": [],
            "unread": [],
        }
        assert pushed in replies
        ws.send(json.dumps({"type": "read", "id": 999}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "error", "detail": "no notification 999"}
    anonymous = live_server.base_url.replace("http", "ws") + "/ws"
    with connect(anonymous) as ws:
        assert until_ready(ws) == []
        ws.send(json.dumps({"type": "read", "id": old.id}))
        assert "log in" in json.loads(ws.recv(timeout=10))["detail"]


def test_the_client_reconnects_and_resumes_without_loss_or_duplicates(
    live_server: LiveServer, session: Session
) -> None:
    acme = make_instrument(session, "ACME")
    token = token_for(session, "alice")
    events: queue.Queue[object] = queue.Queue()
    client = StreamClient(
        live_server.base_url, token=token, symbols=["ACME"], backoff=0.05, max_backoff=0.2
    )

    def run() -> None:
        for event in client:
            events.put(event)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_until(lambda: client.connections == 1 and client.after is not None)
    before = add_notification(session, "before the restart")
    got = events.get(timeout=10)
    assert isinstance(got, NotificationEvent) and got.id == before.id

    live_server.stop()
    missed = [add_notification(session, f"while down {i}") for i in range(3)]
    live_server.start()
    wait_until(lambda: client.connections == 2, timeout=20)
    after = add_notification(session, "after")
    received: list[int] = []
    while len(received) < 4:
        event = events.get(timeout=10)
        if isinstance(event, NotificationEvent):
            received.append(event.id)
        else:
            assert isinstance(event, PriceEvent)
    assert received == [n.id for n in missed] + [after.id]
    client.close()
    add_tick(session, acme, 1.0)  # the next line it reads lets it notice
    thread.join(10)
    assert not thread.is_alive()


def test_the_async_client_yields_the_same_events(live_server: LiveServer, session: Session) -> None:
    import asyncio

    token = token_for(session, "alice")

    async def scenario() -> list[int]:
        client = StreamClient(live_server.base_url, token=token, backoff=0.05)
        got: list[int] = []

        async def consume() -> None:
            async for event in client:
                if isinstance(event, NotificationEvent):
                    got.append(event.id)
                    if len(got) == 2:
                        client.close()
                        return

        consumer = asyncio.create_task(consume())
        await wait_until_async(lambda: client.after is not None)  # connected, caught up
        first = await asyncio.to_thread(add_notification, session, "one")
        second = await asyncio.to_thread(add_notification, session, "two")
        await asyncio.wait_for(consumer, 10)
        assert got == [first.id, second.id]
        return got

    assert len(asyncio.run(scenario())) == 2


def test_tail_prints_events_and_refuses_a_bad_token(live_server: LiveServer) -> None:
    from datetime import UTC, datetime

    from typer.testing import CliRunner

    from dashboard.cli import _json_line, _pretty, app

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    price = PriceEvent(symbol="ACME", price=12.5, ts=when, tick_id=7, stale=False)
    notice = NotificationEvent(
        id=3, title="Hi", body="there", severity="warning", created_at=when, link=None
    )
    assert _pretty(price) == "03:04:05  ACME       12.5"
    assert _pretty(notice) == "03:04:05  [warning] #3 Hi - there"
    assert json.loads(_json_line(price)) == {
        "type": "price",
        "symbol": "ACME",
        "price": 12.5,
        "ts": when.isoformat(),
        "tick_id": 7,
        "stale": False,
        "reference_price": None,
    }
    assert json.loads(_json_line(notice))["type"] == "notification"
    refused = CliRunner().invoke(
        app, ["tail", "--url", live_server.base_url, "--token", "dash_wrong"]
    )
    assert refused.exit_code == 1
    assert "401: Invalid or revoked API token." in refused.output


def test_idle_streams_get_keepalives_from_one_shared_timer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.web.app import create_app
    from tests.sse import SSEReader

    interval = 0.05
    # Should a page stream leave sse-starlette's own timer on, it pings at this interval too.
    monkeypatch.setattr(EventSourceResponse, "DEFAULT_PING_INTERVAL", interval)
    server = LiveServer(
        lambda: create_app(settings.model_copy(update={"keepalive_interval": interval}))
    )
    server.start()
    hub = server.runtime.hub
    # The shared timer keeps ticking, but a tick reaches the hub only when the test lets
    # one through: whatever keep-alive a stream sends otherwise has another source.
    ticks = 0
    let_through: queue.Queue[None] = queue.Queue()
    hub_keepalive = hub.keepalive

    def held_keepalive() -> None:
        nonlocal ticks
        ticks += 1
        with contextlib.suppress(queue.Empty):
            let_through.get_nowait()
            hub_keepalive()

    monkeypatch.setattr(hub, "keepalive", held_keepalive)

    async def keepalive_timers() -> int:
        return sum(
            getattr(task.get_coro(), "__qualname__", None) == run_keepalive.__qualname__
            for task in asyncio.all_tasks()
        )

    def ticks_go_by(count: int) -> None:
        seen = ticks
        wait_until(lambda: ticks >= seen + count)

    try:
        ndjson = NdjsonReader(server, "/api/stream")
        with server.client() as first, server.client() as second:
            pages = [SSEReader(first, "/events"), SSEReader(second, "/events")]
            wait_until(lambda: hub.connection_count == 3)

            def keepalives() -> list[int]:
                return [ndjson.keepalives, *(page.comments for page in pages)]

            assert hub.loop is not None
            assert asyncio.run_coroutine_threadsafe(keepalive_timers(), hub.loop).result(5) == 1
            ticks_go_by(5)
            assert keepalives() == [0, 0, 0]  # no stream has a timer of its own

            def let_one_tick_through(total: int) -> None:
                let_through.put(None)
                wait_until(lambda: keepalives() == [total] * 3)  # one more on every stream
                ticks_go_by(5)
                assert keepalives() == [total] * 3  # and nothing else

            let_one_tick_through(1)
            let_one_tick_through(2)
            for page in pages:
                page.close()
        ndjson.close()
    finally:
        server.stop()


def test_regression_a_stream_from_now_gets_what_is_published_while_it_starts(
    live_server: LiveServer, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream without a cursor starts "from now", as of its request: a notification
    published after the client saw the response start and before the stream had
    registered (when `dashboard tail` printed "connected") was lost."""
    token = token_for(session, "alice")
    runtime = live_server.runtime
    written: list[int] = []
    starts = LiveSession.events

    async def published_while_starting(self: LiveSession) -> AsyncGenerator[Event, None]:
        if not written:
            note = add_notification(session, "in between")
            assert note.id is not None
            written.append(note.id)
            await runtime.notification_poller.poll_once()  # published to no stream yet
        async for event in starts(self):
            yield event

    monkeypatch.setattr(LiveSession, "events", published_while_starting)
    reader = NdjsonReader(live_server, "/api/stream", token)
    got, _ = reader.wait_for(lambda line: line["type"] == "notification")
    assert got["id"] == written[0] and got["title"] == "in between"
    reader.close()
