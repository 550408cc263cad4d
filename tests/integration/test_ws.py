"""``WS /ws`` for prices, against a real uvicorn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from dashboard.accounts import tokens
from dashboard.models import Audience
from tests.conftest import LiveServer, wait_until
from tests.factories import add_notification, add_tick, make_instrument, make_user
from tests.ws_client import receive_json, until_ready


def ws_url(server: LiveServer, query: str = "") -> str:
    return server.base_url.replace("http://", "ws://") + "/ws" + query


def receive_until(
    ws: ClientConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    while True:
        message = receive_json(ws, timeout)
        seen.append(message)
        if predicate(message):
            return message, seen


def test_subscribe_receives_only_the_subscribed_symbols(
    live_server: LiveServer, session: Session
) -> None:
    acme, globex = make_instrument(session, "ACME"), make_instrument(session, "GLBX")
    live_server.runtime.price_poller.wake()
    with connect(ws_url(live_server)) as ws:
        assert until_ready(ws) == []  # no symbols yet, and anonymous: nothing to replay
        ws.send(json.dumps({"type": "subscribe", "symbols": ["ACME"]}))
        ack = receive_json(ws)
        assert ack == {"type": "subscribed", "symbols": ["ACME"], "all": ["ACME"]}
        add_tick(session, globex, 5.0)
        tick = add_tick(session, acme, 10.5)
        got, seen = receive_until(ws, lambda m: m.get("tick_id") == tick.id)
        assert got["type"] == "price" and got["symbol"] == "ACME" and got["price"] == 10.5
        assert got["ts"].endswith("+00:00")
        assert all(m.get("symbol") != "GLBX" for m in seen)

        ws.send(json.dumps({"type": "unsubscribe", "symbols": ["ACME"]}))
        receive_until(ws, lambda m: m.get("type") == "unsubscribed")
        ws.send(json.dumps({"type": "subscribe", "symbols": ["GLBX"]}))
        receive_until(ws, lambda m: m.get("type") == "subscribed")
        add_tick(session, acme, 11.0)
        barrier = add_tick(session, globex, 6.0)
        _, seen = receive_until(ws, lambda m: m.get("tick_id") == barrier.id)
        assert all(m.get("symbol") != "ACME" for m in seen)


@pytest.mark.parametrize(
    ("sent", "detail"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "dance"}', "unknown message type"),
        ('{"type": "subscribe", "symbols": "ACME"}', "list of up to"),
        ('{"type": "subscribe", "symbols": ["NOPE"]}', "unknown symbols: NOPE"),
    ],
)
def test_bad_messages_get_an_error_and_the_socket_stays_open(
    live_server: LiveServer, session: Session, sent: str, detail: str
) -> None:
    make_instrument(session, "ACME")
    with connect(ws_url(live_server)) as ws:
        assert until_ready(ws) == []  # no symbols yet, and anonymous: nothing to replay
        ws.send(sent)
        error = receive_json(ws)
        assert error["type"] == "error" and detail in error["detail"]
        ws.send(json.dumps({"type": "ping"}))
        assert receive_json(ws) == {"type": "pong"}
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"


def test_a_bad_token_closes_with_1008_and_a_good_one_is_served(
    live_server: LiveServer, session: Session
) -> None:
    with (
        connect(ws_url(live_server, "?token=dash_wrong")) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

    alice = make_user(session, "alice")
    assert alice.id is not None
    row, token = tokens.issue(session=session, user_id=alice.id, name="bot")
    with connect(ws_url(live_server, f"?token={token}")) as ws:
        until_ready(ws)
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"
    tokens.revoke(session=session, user_id=alice.id, token_id=row.id or 0)
    with (
        connect(ws_url(live_server, f"?token={token}")) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.parametrize("way", ["header", "subprotocol"])
def test_a_token_in_a_header_or_a_subprotocol_signs_the_socket_in(
    live_server: LiveServer, session: Session, way: str
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    token = tokens.issue(session=session, user_id=alice.id, name="bot")[1]
    note = add_notification(session, "for alice", audience=Audience.user, user=alice)

    def open_with(secret: str) -> ClientConnection:
        if way == "header":
            return connect(
                ws_url(live_server, "?after=0"),
                additional_headers={"Authorization": f"Bearer {secret}"},
            )
        offered = [Subprotocol("dashboard"), Subprotocol(f"bearer.{secret}")]
        return connect(ws_url(live_server, "?after=0"), subprotocols=offered)

    with open_with(token) as ws:
        replayed = until_ready(ws)
        assert [f["id"] for f in replayed if f["type"] == "notification"] == [note.id]
        # A browser fails a socket whose answer names no subprotocol it offered.
        assert ws.subprotocol == ("dashboard" if way == "subprotocol" else None)
    with open_with(token + "x") as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_regression_a_cookie_socket_from_another_origin_is_refused(
    live_server: LiveServer, session: Session
) -> None:
    # Found in review: a page on another origin could read alice's notifications.
    make_user(session, "alice")
    client = live_server.login("alice")
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    url = ws_url(live_server, "?after=0")
    evil = {"Cookie": cookie, "Origin": "https://evil.example"}
    with connect(url, additional_headers=evil) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    same = {"Cookie": cookie, "Origin": live_server.base_url}
    with connect(url, additional_headers=same) as ws:
        until_ready(ws)
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"
    client.close()


def test_binary_frames_and_impossible_ids_get_an_error_and_the_socket_stays(
    live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    token = tokens.issue(session=session, user_id=alice.id, name="t")[1]
    with connect(ws_url(live_server, f"?token={token}")) as ws:
        until_ready(ws)
        ws.send(b"\x00\x01")
        assert "not binary" in receive_json(ws)["detail"]
        for bad in (2**63, 0, -1, True, "7"):
            ws.send(json.dumps({"type": "read", "id": bad}))
            assert receive_json(ws) == {"type": "error", "detail": '"id" must be a notification id'}
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"


def test_a_socket_the_stall_watchdog_cuts_off_ends_and_leaves_the_hub(
    live_server: LiveServer, session: Session
) -> None:
    # The WebSocket obeys the same stall rule as the page's stream (issue 18, item 11). A
    # real frozen socket takes minutes to fill loopback's buffers, so the test makes the
    # watchdog see one stuck in a send and checks what cutting it off does.
    hub = live_server.runtime.hub
    with connect(ws_url(live_server)) as ws:
        until_ready(ws)
        wait_until(lambda: hub.connection_count == 1)
        [connection] = list(hub._connections)
        assert connection.stream_task is not None  # the sender is watched, as SSE's is
        assert hub.loop is not None

        def stuck_in_a_send() -> int:
            connection.busy_since = 1.0
            return hub.cut_off_stalled(0.5, now=100.0)

        async def on_the_loop() -> int:
            return stuck_in_a_send()

        assert asyncio.run_coroutine_threadsafe(on_the_loop(), hub.loop).result(5) == 1
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "stalled")
    wait_until(lambda: hub.connection_count == 0)
