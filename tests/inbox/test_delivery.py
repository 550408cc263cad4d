from __future__ import annotations

from sqlmodel import Session

from dashboard.inbox import delivery, read_state
from dashboard.models import Audience
from tests.factories import add_notification, make_topic, make_user, subscribe


def test_recent_counts_recipients_and_reads(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    make_user(session, "carol")
    rates = make_topic(session, "rates")
    subscribe(session, alice, rates)
    subscribe(session, bob, rates)
    everyone = add_notification(session, "all")
    topical = add_notification(session, "rates", audience=Audience.topic, topic=rates)
    direct = add_notification(session, "bob", audience=Audience.user, user=bob)
    assert alice.id is not None and bob.id is not None and everyone.id is not None
    read_state.mark_read(session=session, user_id=alice.id, notification_id=everyone.id)
    read_state.mark_read(session=session, user_id=bob.id, notification_id=everyone.id)
    assert topical.id is not None
    read_state.mark_read(session=session, user_id=bob.id, notification_id=topical.id)
    counts = {d.notification.id: (d.read, d.recipients) for d in delivery.recent(session=session)}
    assert counts == {everyone.id: (2, 3), topical.id: (1, 2), direct.id: (0, 1)}
