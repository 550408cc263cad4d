"""Streams ended from outside: logging out, revoking a token, a session that fails."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from dashboard.accounts import tokens
from dashboard.live import resume
from dashboard.models import ApiToken
from tests.conftest import LiveServer, csrf_from
from tests.factories import add_notification, make_user
from tests.ndjson import NdjsonReader
from tests.sse import SSEReader
from tests.ws_client import receive_json, until_ready


def test_logging_out_ends_the_streams_that_login_opened_and_no_other(
    live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    leaving, staying = live_server.login("alice"), live_server.login("alice")
    leaving_stream = SSEReader(leaving, "/events?view=inbox")
    staying_stream = SSEReader(staying, "/events?view=inbox")
    for stream in (leaving_stream, staying_stream):
        stream.wait_for(lambda m: m.event == "ready")
    csrf = csrf_from(leaving.get("/settings").text)
    assert leaving.post("/logout", data={"csrf_token": csrf}).status_code == 303
    end = leaving_stream.wait_for(lambda m: m.event == "end")
    assert json.loads(end.data) == {"type": "end", "reason": "signed-out"}
    assert leaving_stream.ended.wait(10)
    # The other login (another browser) still gets what is published.
    note = add_notification(session, "still here")
    live_server.runtime.notification_poller.wake()
    staying_stream.wait_for(lambda m: m.id == str(note.id))
    assert not any(m.event == "end" for m in staying_stream.seen)
    leaving_stream.close()
    staying_stream.close()
    for client in (leaving, staying):
        client.close()


def test_revoking_a_token_ends_its_ndjson_stream_and_websocket(
    live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    row, token = tokens.issue(session=session, user_id=alice.id, name="bot")
    other = tokens.issue(session=session, user_id=alice.id, name="other")[1]
    ndjson = NdjsonReader(live_server, "/api/stream", token=token)
    untouched = NdjsonReader(live_server, "/api/stream", token=other)
    ws_url = live_server.base_url.replace("http", "ws") + f"/ws?token={token}"
    browser = live_server.login("alice")
    with connect(ws_url) as ws:
        until_ready(ws)
        for reader in (ndjson, untouched):
            reader.wait_for(lambda line: line["type"] == "ready")
        csrf = csrf_from(browser.get("/settings").text)
        revoked = browser.post(f"/settings/tokens/{row.id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert ndjson.wait_for(lambda line: line["type"] == "end")[0]["reason"] == "revoked"
        assert receive_json(ws) == {"type": "end", "reason": "revoked"}
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert session.get(ApiToken, row.id) is not None
    note = add_notification(session, "for the other token")
    live_server.runtime.notification_poller.wake()
    untouched.wait_for(lambda line: line.get("id") == note.id)
    ndjson.close()
    untouched.close()
    browser.close()


def test_regression_a_websocket_whose_session_fails_is_closed_with_1011_not_left_silent(
    live_server: LiveServer, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found in review: a store error during the replay left the socket open and silent.
    alice = make_user(session, "alice")
    assert alice.id is not None
    token = tokens.issue(session=session, user_id=alice.id, name="bot")[1]
    add_notification(session, "to replay")

    async def failing_replay(*_args: object) -> AsyncIterator[object]:
        raise RuntimeError("the store went away")
        yield  # an async generator, as the real one

    monkeypatch.setattr(resume, "missed", failing_replay)
    ws_url = live_server.base_url.replace("http", "ws") + f"/ws?token={token}&after=0"
    with connect(ws_url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
