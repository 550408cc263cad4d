"""Topics and the users' subscriptions to them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from dashboard.models import Subscription, Topic


def all_topics(*, session: Session) -> Sequence[Topic]:
    return session.exec(select(Topic).order_by(col(Topic.name))).all()


def subscribed_topic_ids(*, session: Session, user_id: int) -> set[int]:
    return set(
        session.exec(select(Subscription.topic_id).where(Subscription.user_id == user_id)).all()
    )


def set_subscription(*, session: Session, user_id: int, topic_id: int, subscribed: bool) -> bool:
    """Subscribe or unsubscribe; False when the topic does not exist."""
    if session.get(Topic, topic_id) is None:
        return False
    existing = session.get(Subscription, (user_id, topic_id))
    if subscribed and existing is None:
        session.add(Subscription(user_id=user_id, topic_id=topic_id))
    elif not subscribed and existing is not None:
        session.delete(existing)
    session.commit()
    return True
