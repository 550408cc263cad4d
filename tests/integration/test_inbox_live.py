"""The inbox kept live across tabs, restarts, schedules and users, on a real uvicorn."""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import timedelta

from sqlmodel import Session
from websockets.sync.client import connect

from dashboard.accounts import tokens
from dashboard.models import Audience, Severity, utcnow
from dashboard.settings import Settings
from tests.conftest import LiveServer, csrf_from, wait_until
from tests.factories import add_notification, make_user
from tests.ndjson import NdjsonReader
from tests.sse import Message, SSEReader


def badge_in(message: Message) -> tuple[int, int, int] | None:
    """(version, cursor, count) of an unread badge in ``message``, if it holds one."""
    found = re.search(
        r'id="unread-count"[^>]*data-version="(\d+)" data-cursor="(\d+)"[^>]*>(\d+)</span>',
        message.data,
    )
    return None if found is None else (int(found[1]), int(found[2]), int(found[3]))


def item_in(message: Message, notification_id: int | None) -> bool:
    return f'id="notification-{notification_id}"' in message.data


def test_reading_in_one_tab_updates_the_other_tabs_item_and_badge(
    live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    first, second = add_notification(session, "first"), add_notification(session, "second")
    alice = live_server.login("alice")
    token = csrf_from(alice.get("/").text)
    dashboard_tab = SSEReader(alice, "/events?after=0")
    history_tab = SSEReader(alice, "/events?view=inbox&after=0")
    for tab in (dashboard_tab, history_tab):
        tab.wait_for(lambda m: badge_in(m) is not None and badge_in(m)[2] == 2)  # type: ignore[index]
    # The history tab's stream carries no prices.
    assert not any("tile-" in m.data for m in history_tab.seen)

    answer = alice.post(
        f"/notifications/{first.id}/read", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert answer.status_code == 200
    answered = badge_in(Message(data=answer.text, id=None, event=None))
    assert answered is not None and answered[2] == 1 and answered[0] >= 1
    for tab in (dashboard_tab, history_tab):
        restyled = tab.wait_for(lambda m: item_in(m, first.id))
        assert 'hx-swap-oob="true"' in restyled.data and "is-unread" not in restyled.data
        pushed = tab.wait_for(lambda m: badge_in(m) is not None)
        assert pushed is not None
        version, _, count = badge_in(pushed)  # type: ignore[misc]
        assert count == 1 and version == answered[0]

    archived = alice.post(
        f"/notifications/{second.id}/archive", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert archived.status_code == 200
    for tab in (dashboard_tab, history_tab):
        gone = tab.wait_for(lambda m: f"#notification-{second.id}" in m.data)
        assert f'hx-swap-oob="delete:#inbox > #notification-{second.id}"' in gone.data
        tab.wait_for(lambda m: badge_in(m) is not None and badge_in(m)[2] == 0)  # type: ignore[index]
    for tab in (dashboard_tab, history_tab):
        tab.close()
    alice.close()


def test_after_a_restart_the_stream_gets_exactly_the_three_posted_meanwhile(
    live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    seen = add_notification(session, "seen")
    alice = live_server.login("alice")
    stream = SSEReader(alice, "/events?view=inbox&after=0")
    last = stream.wait_for(lambda m: item_in(m, seen.id))
    live_server.stop()
    wait_until(lambda: stream.ended.is_set())  # the server ended the stream cleanly
    missed = [add_notification(session, f"while down {i}") for i in range(3)]
    live_server.start()
    # What the browser's EventSource does: reconnect with the last id it saw.
    resumed = SSEReader(
        live_server.login("alice"),
        "/events?view=inbox&after=0",
        headers={"Last-Event-ID": last.id or ""},
    )
    for notification in missed:
        resumed.wait_for(functools.partial(item_in, notification_id=notification.id))
    resumed.wait_for(lambda m: badge_in(m) is not None)
    ids = [m.id for m in resumed.seen if m.id is not None]
    assert ids == [str(n.id) for n in missed]  # exactly those three, once, in order
    resumed.close()


def test_a_scheduled_notification_reaches_streams_at_its_time_not_before(
    live_server: LiveServer, session: Session
) -> None:
    admin = make_user(session, "admin", is_admin=True)
    make_user(session, "alice")
    assert admin.id is not None
    _, admin_token = tokens.issue(session=session, user_id=admin.id, name="t")
    alice = live_server.login("alice")
    stream = SSEReader(alice, "/events?view=inbox")
    stream.wait_for(lambda m: badge_in(m) is not None)
    send_at = utcnow() + timedelta(seconds=2)
    with live_server.client() as api:
        response = api.post(
            "/api/notifications",
            json={"title": "On the hour", "send_at": send_at.isoformat()},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
    assert response.status_code == 202, response.text
    arrived = stream.wait_for(lambda m: "On the hour" in m.data, timeout=15)
    arrived_at = utcnow()
    assert arrived_at >= send_at, "published before its time"
    assert arrived.id is not None
    assert [m.id for m in stream.seen if m.id is not None] == [arrived.id]
    stream.close()


def test_a_critical_notification_raises_an_escaped_toast(
    live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    alice = live_server.login("alice")
    stream = SSEReader(alice, "/events?view=inbox")
    stream.wait_for(lambda m: badge_in(m) is not None)
    urgent = add_notification(
        session, "<script>alert(1)</script>", severity=Severity.critical, body="<b>now</b>"
    )
    message = stream.wait_for(lambda m: item_in(m, urgent.id))
    assert 'hx-target="#toasts"' in message.data and 'role="alert"' in message.data
    assert "<script>" not in message.data and "&lt;script&gt;" in message.data
    assert "<b>now</b>" not in message.data
    calm = add_notification(session, "calm")
    assert "#toasts" not in stream.wait_for(lambda m: item_in(m, calm.id)).data
    stream.close()


def test_no_stream_or_route_carries_another_users_private_notification(
    live_server: LiveServer, session: Session
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    assert alice.id is not None
    _, alice_token = tokens.issue(session=session, user_id=alice.id, name="t")
    before = add_notification(session, "bob before", audience=Audience.user, user=bob)
    browser = live_server.login("alice")
    sse_dashboard = SSEReader(browser, "/events?after=0")
    sse_inbox = SSEReader(browser, "/events?view=inbox&after=0")
    ndjson = NdjsonReader(live_server, "/api/stream?after=0", token=alice_token)
    ws_url = live_server.base_url.replace("http", "ws") + f"/ws?token={alice_token}&after=0"
    with connect(ws_url) as ws:
        after = add_notification(session, "bob after", audience=Audience.user, user=bob)
        barrier = add_notification(session, "to everyone")
        for sse in (sse_dashboard, sse_inbox):
            sse.wait_for(lambda m: item_in(m, barrier.id))
            assert not any("bob " in m.data for m in sse.seen)
        _, lines = ndjson.wait_for(lambda line: line.get("id") == barrier.id)
        assert not any("bob " in json.dumps(line) for line in lines)
        deadline = time.monotonic() + 10
        frames: list[dict[str, object]] = []
        while not any(f.get("id") == barrier.id for f in frames):
            assert time.monotonic() < deadline, "barrier not received on the socket"
            frames.append(json.loads(ws.recv(timeout=10)))
        assert not any("bob " in json.dumps(f) for f in frames)
    listed = browser.get("/api/notifications?after=0").json()["items"]
    assert [n["title"] for n in listed] == ["to everyone"]
    for path in (
        "/",
        "/notifications",
        f"/notifications/{before.id}",
        f"/notifications/{after.id}",
    ):
        assert "bob before" not in browser.get(path).text
        assert "bob after" not in browser.get(path).text
    for reader in (sse_dashboard, sse_inbox):
        reader.close()
    ndjson.close()
    browser.close()


def test_an_overflowing_mailbox_closes_the_stream_and_the_resume_loses_nothing(
    settings: Settings,
    session: Session,
) -> None:
    from dashboard.models import Notification
    from dashboard.web.app import create_app

    make_user(session, "alice")
    tiny = settings.model_copy(update={"mailbox_size": 2})
    server = LiveServer(lambda: create_app(tiny))
    server.start()
    try:
        alice = server.login("alice")
        stream = SSEReader(alice, "/events?view=inbox&after=0")
        stream.wait_for(lambda m: badge_in(m) is not None)
        # Ten in one transaction: the poller hands them over in one go, the mailbox of two
        # overflows, and the server closes this connection rather than drop any.
        batch = [Notification(title=f"burst {i}", audience=Audience.everyone) for i in range(10)]
        session.add_all(batch)
        session.commit()
        wait_until(lambda: stream.ended.is_set())
        assert server.runtime.hub.overflows == 1
        while not stream.messages.empty():
            stream.seen.append(stream.messages.get())
        received = [m.id for m in stream.seen if m.id is not None]
        resumed = SSEReader(
            alice,
            "/events?view=inbox&after=0",
            headers={"Last-Event-ID": received[-1]} if received else {},
        )
        resumed.wait_for(lambda m: item_in(m, batch[-1].id))
        received += [m.id for m in resumed.seen if m.id is not None]
        assert received == [str(n.id) for n in batch]  # each once, in order
        resumed.close()
        alice.close()
    finally:
        server.stop()
