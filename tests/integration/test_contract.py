"""The wire contract: every transport carries the same objects, replayed and live.

One test per wire object. SSE carries notifications as inbox items (HTML), so their
fields are read back from the markup; NDJSON and WebSocket carry the JSON object itself.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from dashboard.accounts import tokens
from dashboard.live import wire
from dashboard.live._loop import call_on_loop
from dashboard.live.programs import notification_event
from dashboard.models import Notification, Severity
from tests.conftest import LiveServer, wait_until
from tests.factories import add_notification, add_tick, make_instrument, make_user
from tests.ndjson import NdjsonReader
from tests.sse import Message, SSEReader
from tests.ws_client import receive_json, until_ready


@dataclass
class Transports:
    """One signed-in reader of each transport, all for alice and resuming from 0."""

    sse: SSEReader
    ndjson: NdjsonReader
    ws: ClientConnection
    browser: httpx.Client
    token: str
    user_id: int


@pytest.fixture
def alice(live_server: LiveServer, session: Session) -> Iterator[Transports]:
    user = make_user(session, "alice")
    assert user.id is not None
    token = tokens.issue(session=session, user_id=user.id, name="contract")[1]
    browser = live_server.login("alice")
    sse = SSEReader(browser, "/events?after=0")
    ndjson = NdjsonReader(live_server, "/api/stream?after=0", token=token)
    ws_url = live_server.base_url.replace("http", "ws") + f"/ws?token={token}&after=0"
    with connect(ws_url) as ws:
        yield Transports(sse, ndjson, ws, browser, token, user.id)
    sse.close()
    ndjson.close()
    browser.close()


BODY_HTML = re.compile(r'<p class="notification-body">(.*?)</p>', re.DOTALL)
NOTIFICATION_HTML = re.compile(
    r'<li id="notification-(?P<id>\d+)" class="notification severity-(?P<severity>\w+)'
    r'(?P<unread> is-unread)?".*?class="notification-title"[^>]*>(?P<title>.*?)</a>'
    r'.*?datetime="(?P<created_at>[^"]+)"'
    r"(?P<rest>.*?)</li>",
    re.DOTALL,
)


def fields_from_item(message: Message) -> dict[str, Any]:
    """The wire fields an inbox item shows (the link as "has one": the item links to
    /notifications/N/open, which redirects after checking it)."""
    match = NOTIFICATION_HTML.search(message.data)
    assert match is not None, message.data
    return {
        "id": int(match["id"]),
        "title": html.unescape(match["title"]),
        "body": html.unescape(body[1]) if (body := BODY_HTML.search(match[0])) else "",
        "severity": match["severity"],
        "created_at": match["created_at"],
        "link": "/open" in match["rest"],
        "read": match["unread"] is None,
    }


def expected(notification: Notification, *, read: bool) -> dict[str, Any]:
    return wire.as_dict(notification_event(notification, read=read))


def as_shown_by_sse(payload: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in payload.items() if k != "type"}
    shown["link"] = payload["link"] is not None
    return shown


def ndjson_until(reader: NdjsonReader, kind: str, **match: object) -> dict[str, Any]:
    line, _ = reader.wait_for(
        lambda item: item.get("type") == kind and all(item.get(k) == v for k, v in match.items())
    )
    return line


def ws_until(ws: ClientConnection, kind: str, **match: object) -> dict[str, Any]:
    while True:
        frame = receive_json(ws)
        if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


def test_notification_objects_are_the_same_on_every_transport_replayed_and_live(
    live_server: LiveServer, session: Session
) -> None:
    # Written once, as every notification is: the poller may publish it at once.
    replayed = add_notification(
        session,
        "<b>Replayed</b> & co",
        body="body <i>text</i>",
        severity=Severity.warning,
        link="https://example.com/x",
    )
    user = make_user(session, "alice")
    assert user.id is not None
    token = tokens.issue(session=session, user_id=user.id, name="contract")[1]
    browser = live_server.login("alice")
    sse = SSEReader(browser, "/events?view=inbox&after=0")
    ndjson = NdjsonReader(live_server, "/api/stream?after=0", token=token)
    ws_url = live_server.base_url.replace("http", "ws") + f"/ws?token={token}&after=0"
    with connect(ws_url) as ws:
        [ws_replayed] = until_ready(ws)
        nd_replayed = ndjson_until(ndjson, "notification", id=replayed.id)
        sse_replayed = sse.wait_for(lambda m: f'id="notification-{replayed.id}"' in m.data)
        want = expected(replayed, read=False)
        assert nd_replayed == ws_replayed == want
        assert fields_from_item(sse_replayed) == as_shown_by_sse(want)

        live = add_notification(session, "Live one", body="", severity=Severity.critical)
        live_server.runtime.notification_poller.wake()
        want = expected(live, read=False)
        assert ndjson_until(ndjson, "notification", id=live.id) == want
        assert ws_until(ws, "notification", id=live.id) == want
        sse_live = sse.wait_for(lambda m: f'id="notification-{live.id}"' in m.data)
        assert fields_from_item(sse_live) == as_shown_by_sse(want)
    sse.close()
    ndjson.close()
    browser.close()


def test_ready_marks_the_end_of_the_replay_on_every_transport(
    alice: Transports, live_server: LiveServer, session: Session
) -> None:
    assert until_ready(alice.ws) == []  # an empty store: nothing to replay
    nd_ready = ndjson_until(alice.ndjson, "ready")
    sse_ready = alice.sse.wait_for(lambda m: m.event == "ready")
    assert nd_ready == json.loads(sse_ready.data) == {"type": "ready", "after": 0}
    assert sse_ready.id is None  # the cursor moves with notifications only
    # After ready, what is published comes live on all three.
    live = add_notification(session, "after ready")
    live_server.runtime.notification_poller.wake()
    assert ws_until(alice.ws, "notification", id=live.id)["read"] is False
    assert ndjson_until(alice.ndjson, "notification", id=live.id)["read"] is False
    alice.sse.wait_for(lambda m: m.id == str(live.id))


def test_unread_objects_are_the_same_on_program_transports_and_match_the_page_badge(
    alice: Transports, live_server: LiveServer, session: Session
) -> None:
    until_ready(alice.ws)
    ndjson_until(alice.ndjson, "ready")
    alice.sse.wait_for(lambda m: m.event == "ready")
    note = add_notification(session, "read me")
    live_server.runtime.notification_poller.wake()
    ws_until(alice.ws, "notification", id=note.id)
    ndjson_until(alice.ndjson, "notification", id=note.id)
    alice.sse.wait_for(lambda m: f'id="notification-{note.id}"' in m.data)

    marked = alice.browser.post(
        f"/api/notifications/{note.id}/read", headers={"Authorization": f"Bearer {alice.token}"}
    )
    assert marked.status_code == 200, marked.text
    want = {
        "type": "unread",
        "count": 0,
        "version": marked.json()["version"],
        "read": [note.id],
        "archived": [],
        "unread": [],
    }
    assert ndjson_until(alice.ndjson, "unread") == want
    assert ws_until(alice.ws, "unread") == want
    version, cursor = str(want["version"]).split(".")
    badge = alice.sse.wait_for(
        lambda m: 'id="unread-count"' in m.data and f'data-version="{version}"' in m.data
    )
    assert f'data-cursor="{cursor}"' in badge.data and 'aria-label="0 unread"' in badge.data
    restyle = next(
        m for m in alice.sse.seen if 'hx-swap-oob="true"' in m.data and "notification-" in m.data
    )
    item = fields_from_item(restyle)
    assert (item["id"], item["read"]) == (note.id, True)

    again = alice.browser.post(
        f"/api/notifications/{note.id}/unread", headers={"Authorization": f"Bearer {alice.token}"}
    )
    assert again.status_code == 200 and again.json()["unread"] == 1, again.text
    want = {**want, "count": 1, "version": again.json()["version"], "read": [], "unread": [note.id]}
    assert ndjson_until(alice.ndjson, "unread") == want
    assert ws_until(alice.ws, "unread") == want
    alice.sse.wait_for(
        lambda m: (
            f'id="notification-{note.id}"' in m.data
            and "is-unread" in m.data
            and 'hx-swap-oob="true"' in m.data
        )
    )


def test_price_objects_are_the_same_on_program_transports_and_match_the_tile(
    live_server: LiveServer, session: Session
) -> None:
    acme = make_instrument(session, "ACME", decimals=2)
    user = make_user(session, "alice")
    assert user.id is not None
    token = tokens.issue(session=session, user_id=user.id, name="contract")[1]
    add_tick(session, acme, 100.0)  # a tick of a new instrument makes the poller load it
    live_server.runtime.price_poller.wake()
    wait_until(lambda: "ACME" in live_server.runtime.price_poller.states)
    browser = live_server.client()
    sse = SSEReader(browser, "/events")
    ndjson = NdjsonReader(live_server, "/api/stream?symbols=ACME", token=token)
    ws_url = live_server.base_url.replace("http", "ws") + f"/ws?token={token}"
    with connect(ws_url) as ws:
        until_ready(ws)
        ws.send(json.dumps({"type": "subscribe", "symbols": ["ACME"]}))
        ws_until(ws, "subscribed")
        ndjson_until(ndjson, "ready")
        tick = add_tick(session, acme, 101.25)
        live_server.runtime.price_poller.wake()
        ws_price = ws_until(ws, "price", tick_id=tick.id)
        nd_price = ndjson_until(ndjson, "price", tick_id=tick.id)
        tile = sse.wait_for(lambda m: m.shows_price("ACME", "101.25"))
    assert ws_price == nd_price
    assert ws_price["symbol"] == "ACME" and ws_price["price"] == 101.25
    assert wire.decode(ws_price) == wire.PriceEvent(
        symbol="ACME",
        price=101.25,
        ts=tick.ts.replace(microsecond=0),
        tick_id=tick.id or 0,
        stale=False,
        reference_price=100.0,  # the first tick: the instrument is younger than the window
    )
    assert tile.shows_price("ACME", "101.25")
    # The whole tile a page opening now gets is of the same tick.
    fresh = SSEReader(browser, "/events")
    snapshot = fresh.wait_for(lambda m: 'id="tile-ACME"' in m.data)
    assert snapshot.shows_price("ACME", "101.25") and f"datetime={ws_price['ts']}>" in snapshot.data
    fresh.close()
    sse.close()
    ndjson.close()
    browser.close()


@pytest.mark.parametrize("reason", ["revoked", "signed-out"])
def test_a_session_ended_from_outside_says_why_on_every_transport(
    alice: Transports, live_server: LiveServer, reason: str
) -> None:
    until_ready(alice.ws)
    ndjson_until(alice.ndjson, "ready")
    alice.sse.wait_for(lambda m: m.event == "ready")
    hub = live_server.runtime.hub
    call_on_loop(hub.loop, lambda: hub.end(user_id=alice.user_id, reason=reason))
    want = {"type": "end", "reason": reason}
    assert ndjson_until(alice.ndjson, "end") == want
    assert json.loads(alice.sse.wait_for(lambda m: m.event == "end").data) == want
    assert ws_until(alice.ws, "end") == want
    with pytest.raises(ConnectionClosed) as closed:
        alice.ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, reason)
