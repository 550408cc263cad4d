from __future__ import annotations

import asyncio

from sqlalchemy.engine import Engine
from sqlmodel import Session

from dashboard.live.hub import Hub
from dashboard.live.notification_poller import NotificationPoller
from dashboard.models import Audience, Severity
from dashboard.settings import Settings
from dashboard.store.db import session_factory
from tests.factories import (
    add_notification,
    make_topic,
    make_user,
    subscribe,
)
from tests.live.renderers import CountingRenderer, make_renderer


def test_notification_poller_routes_a_topic_to_its_subscribers_only(
    engine: Engine, session: Session, settings: Settings
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    markets = make_topic(session, "markets")
    subscribe(session, alice, markets)
    hub = Hub(mailbox_size=8)
    renderer = CountingRenderer()
    poller = NotificationPoller(
        engine=engine,
        open_session=session_factory(engine),
        hub=hub,
        renderer=renderer,
        interval=1,
        batch_size=10,
    )
    asyncio.run(poller.prime())
    alice_conn, bob_conn = hub.connect(user_id=alice.id), hub.connect(user_id=bob.id)
    topical = add_notification(session, "markets open", audience=Audience.topic, topic=markets)
    broadcast = add_notification(session, "for all")
    asyncio.run(poller.poll_once())
    assert [n.id for n in alice_conn.notices] == [topical.id, broadcast.id]
    assert [n.id for n in bob_conn.notices] == [broadcast.id]
    assert renderer.notice_renders == 2
    assert alice_conn.notices[1] is bob_conn.notices[0]  # one event object for everyone


def test_regression_a_muted_broadcast_skips_the_muted_users_streams_but_critical_does_not(
    engine: Engine, session: Session, settings: Settings
) -> None:
    # Was: hidden from a muted user's inbox on reload, but delivered to their open streams.
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    alice.mute_broadcasts = True
    session.add(alice)
    session.commit()
    hub = Hub(mailbox_size=8)
    poller = NotificationPoller(
        engine=engine,
        open_session=session_factory(engine),
        hub=hub,
        renderer=make_renderer(),
        interval=1,
        batch_size=10,
    )
    asyncio.run(poller.prime())
    alice_conn, bob_conn = hub.connect(user_id=alice.id), hub.connect(user_id=bob.id)
    announcement = add_notification(session, "announcement")
    critical = add_notification(session, "outage", severity=Severity.critical)
    asyncio.run(poller.poll_once())
    assert [n.id for n in alice_conn.notices] == [critical.id]
    assert [n.id for n in bob_conn.notices] == [announcement.id, critical.id]
