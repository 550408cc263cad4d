"""Server-side login sessions, against real servers: two apps on one store stand for two
workers or nodes (each has its own hub and pollers, as separate processes do)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import Session, col, select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from dashboard.accounts import tokens
from dashboard.models import LoginSession
from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.conftest import LiveServer, csrf_from
from tests.factories import add_notification, make_user
from tests.ndjson import NdjsonReader
from tests.sse import SSEReader
from tests.ws_client import receive_json, until_ready


@pytest.fixture
def other_node(settings: Settings) -> Iterator[LiveServer]:
    """A second server on the same store: another worker, another node."""
    server = LiveServer(lambda: create_app(settings))
    server.start()
    yield server
    server.stop()


def same_browser(client: httpx.Client, server: LiveServer) -> httpx.Client:
    """A client of ``server`` carrying ``client``'s cookies (a copied cookie, too)."""
    return httpx.Client(base_url=server.base_url, timeout=10, cookies=dict(client.cookies))


def log_out(client: httpx.Client) -> None:
    csrf = csrf_from(client.get("/settings").text)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303


def test_a_cookie_copied_before_logout_opens_nothing_afterwards(
    live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    alice = live_server.login("alice")
    # Sent as a header on every request: the thief's client never takes the server's
    # answer (a cookie without the login) in its place.
    stolen = {"Cookie": f"dashboard_session={alice.cookies['dashboard_session']}"}
    thief = live_server.client()
    assert thief.get("/settings", headers=stolen).status_code == 200
    log_out(alice)
    for page in ("/settings", "/notifications"):
        refused = thief.get(page, headers=stolen)
        assert refused.status_code == 303 and refused.headers["location"].startswith("/login")
    assert thief.get("/api/notifications", headers=stolen).status_code == 401
    assert thief.get("/api/stream", headers=stolen).status_code == 401
    stream = SSEReader(thief, "/events?view=inbox", headers=stolen)
    end = stream.wait_for(lambda m: m.event == "end")
    assert json.loads(end.data) == {"type": "end", "reason": "signed-out"}
    assert stream.ended.wait(10)
    assert [m.event for m in stream.seen] == ["end"]
    ws_url = live_server.base_url.replace("http", "ws") + "/ws"
    with (
        pytest.raises(ConnectionClosed) as closed,
        connect(ws_url, additional_headers=stolen) as ws,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "signed-out")
    stream.close()
    for client in (alice, thief):
        client.close()


def test_signing_out_on_one_node_ends_that_logins_streams_on_another(
    live_server: LiveServer, other_node: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    alice = live_server.login("alice")
    elsewhere = same_browser(alice, other_node)
    other_login = other_node.login("alice")  # another browser: untouched
    leaving = SSEReader(elsewhere, "/events?view=inbox")
    staying = SSEReader(other_login, "/events?view=inbox")
    for stream in (leaving, staying):
        stream.wait_for(lambda m: m.event == "ready")
    log_out(alice)  # handled by the first server; the stream is on the second
    end = leaving.wait_for(lambda m: m.event == "end", timeout=5)
    assert json.loads(end.data)["reason"] == "signed-out"
    assert leaving.ended.wait(10)
    note = add_notification(session, "still here")
    other_node.runtime.notification_poller.wake()
    staying.wait_for(lambda m: m.id == str(note.id))
    assert not any(m.event == "end" for m in staying.seen)
    for stream in (leaving, staying):
        stream.close()
    for client in (alice, elsewhere, other_login):
        client.close()


def test_revoking_a_token_on_one_node_ends_its_streams_on_another_and_its_writes(
    live_server: LiveServer, other_node: LiveServer, session: Session
) -> None:
    alice_row = make_user(session, "alice")
    assert alice_row.id is not None
    row, token = tokens.issue(session=session, user_id=alice_row.id, name="bot")
    note = add_notification(session, "to mark")
    ndjson = NdjsonReader(other_node, "/api/stream", token=token)
    browser = live_server.login("alice")
    with connect(other_node.base_url.replace("http", "ws") + f"/ws?token={token}") as ws:
        until_ready(ws)
        ndjson.wait_for(lambda line: line["type"] == "ready")
        csrf = csrf_from(browser.get("/settings").text)
        revoked = browser.post(f"/settings/tokens/{row.id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert ndjson.wait_for(lambda line: line["type"] == "end", timeout=5)[0] == {
            "type": "end",
            "reason": "revoked",
        }
        assert receive_json(ws, timeout=5) == {"type": "end", "reason": "revoked"}
        with pytest.raises(ConnectionClosed) as closed:
            ws.send(json.dumps({"type": "read", "id": note.id}))
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    badge = browser.get("/api/notifications").json()
    assert [n["read"] for n in badge["items"] if n["id"] == note.id] == [False]
    ndjson.close()
    browser.close()


def test_sign_out_everywhere_ends_every_login_and_leaves_tokens(
    live_server: LiveServer, other_node: LiveServer, session: Session
) -> None:
    alice_row = make_user(session, "alice")
    assert alice_row.id is not None
    token = tokens.issue(session=session, user_id=alice_row.id, name="bot")[1]
    here, there = live_server.login("alice"), other_node.login("alice")
    there_stream = SSEReader(there, "/events?view=inbox")
    program = NdjsonReader(other_node, "/api/stream", token=token)
    there_stream.wait_for(lambda m: m.event == "ready")
    program.wait_for(lambda line: line["type"] == "ready")
    page = here.get("/settings").text
    assert page.count('action="/settings/sessions/') == 3  # two logins and "everywhere"
    assert '<span class="this-browser">this browser</span>' in page
    ended = here.post("/settings/sessions/end-all", data={"csrf_token": csrf_from(page)})
    assert ended.status_code == 303 and ended.headers["location"] == "/login"
    there_stream.wait_for(lambda m: m.event == "end", timeout=5)
    for client in (here, there):
        assert client.get("/settings").status_code == 303
    note = add_notification(session, "programs still get this")
    other_node.runtime.notification_poller.wake()
    program.wait_for(lambda line: line.get("id") == note.id)
    there_stream.close()
    program.close()
    for client in (here, there):
        client.close()


def test_the_settings_page_signs_one_other_login_out(
    live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    make_user(session, "bob")
    here, phone = live_server.login("alice"), live_server.login("alice")
    bob = live_server.login("bob")
    page = here.get("/settings").text
    # Signed in second: the phone's login is alice's newer row.
    alices = session.exec(
        select(LoginSession).where(LoginSession.user_id == alice.id).order_by(col(LoginSession.id))
    ).all()
    phone_login = alices[1].id
    assert f"/settings/sessions/{phone_login}/end" in page
    bobs_page = bob.get("/settings").text
    assert f"/settings/sessions/{phone_login}/end" not in bobs_page
    # Bob cannot end Alice's login.
    refused = bob.post(
        f"/settings/sessions/{phone_login}/end", data={"csrf_token": csrf_from(bobs_page)}
    )
    assert refused.status_code == 404
    assert phone.get("/settings").status_code == 200
    ended = here.post(f"/settings/sessions/{phone_login}/end", data={"csrf_token": csrf_from(page)})
    assert ended.status_code == 303 and ended.headers["location"] == "/settings#sessions"
    assert phone.get("/settings").status_code == 303
    assert here.get("/settings").status_code == 200
    for client in (here, phone, bob):
        client.close()


def test_a_page_stream_that_would_come_back_as_someone_else_ends_signed_out(
    live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    anonymous = live_server.client()
    stream = SSEReader(anonymous, f"/events?after=0&user={alice.id}")
    end = stream.wait_for(lambda m: m.event == "end")
    assert json.loads(end.data)["reason"] == "signed-out"
    # Without ?user= an anonymous page gets prices, as before.
    prices = SSEReader(anonymous, "/events?after=0")
    prices.wait_for(lambda m: m.event == "ready")
    assert not any(m.event == "end" for m in prices.seen)
    stream.close()
    prices.close()
    anonymous.close()


def test_an_htmx_request_after_sign_out_swaps_nothing_and_says_signed_out(
    live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    note = add_notification(session, "hello")
    alice = live_server.login("alice")
    csrf = csrf_from(alice.get("/").text)
    copied = same_browser(alice, live_server)
    log_out(alice)
    answer = copied.post(
        f"/notifications/{note.id}/read",
        headers={"HX-Request": "true", "X-CSRF-Token": csrf, "Accept": "text/html"},
    )
    assert answer.status_code in (401, 403)
    assert answer.headers["HX-Reswap"] == "none"
    assert answer.headers["X-Signed-Out"] == "true"
    assert "<html" not in answer.text
    for client in (alice, copied):
        client.close()
