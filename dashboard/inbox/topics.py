"""Topics and the users' subscriptions to them."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlmodel import Session, col, select

from dashboard.inbox.read_state import bump_version
from dashboard.models import Subscription, Topic, utcnow


def all_topics(*, session: Session, include_retired: bool = False) -> Sequence[Topic]:
    """Topics by name; retired ones only when asked for."""
    query = select(Topic).order_by(col(Topic.name))
    if not include_retired:
        query = query.where(col(Topic.archived_at).is_(None))
    return session.exec(query).all()


def subscribed_topic_ids(*, session: Session, user_id: int) -> set[int]:
    return set(
        session.exec(select(Subscription.topic_id).where(Subscription.user_id == user_id)).all()
    )


class TopicRetired(ValueError):
    """Nobody can subscribe to a retired topic (leaving it is still allowed)."""


def set_subscription(*, session: Session, user_id: int, topic_id: int, subscribed: bool) -> bool:
    """Subscribe or unsubscribe; False when the topic does not exist.

    Raises :class:`TopicRetired` when subscribing to a retired topic.
    """
    topic = session.get(Topic, topic_id)
    if topic is None:
        return False
    existing = session.get(Subscription, (user_id, topic_id))
    if subscribed and existing is None:
        if topic.archived_at is not None:
            raise TopicRetired(f"The topic {topic.name!r} is retired.")
        session.add(Subscription(user_id=user_id, topic_id=topic_id))
    elif not subscribed and existing is not None:
        session.delete(existing)
    else:
        return True
    # What the user sees in the inbox changed, and so may the unread count.
    bump_version(session, user_id)
    session.commit()
    return True


def set_retired(*, session: Session, slug: str, retired: bool) -> Topic | None:
    """Retire a topic (no new notifications or subscribers) or bring it back."""
    topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
    if topic is None:
        return None
    topic.archived_at = utcnow() if retired else None
    session.add(topic)
    session.commit()
    return topic


SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class TopicInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors.values()))
        self.errors = errors


def _check_name(name: str, errors: dict[str, str]) -> str:
    name = name.strip()
    if not name or len(name) > 80:
        errors["name"] = "A name is 1 to 80 characters."
    return name


def create(*, session: Session, slug: str, name: str, description: str = "") -> Topic:
    """A new topic; its slug is how notifications and APIs name it."""
    errors: dict[str, str] = {}
    slug = slug.strip().lower()
    if not SLUG_PATTERN.fullmatch(slug):
        errors["slug"] = "A slug is 1-40 lower-case letters, digits or '-'."
    elif session.exec(select(Topic).where(Topic.slug == slug)).first() is not None:
        errors["slug"] = f"The topic {slug!r} exists already."
    name = _check_name(name, errors)
    if len(description) > 200:
        errors["description"] = "Keep the description to 200 characters."
    if errors:
        raise TopicInvalid(errors)
    topic = Topic(slug=slug, name=name, description=description.strip())
    session.add(topic)
    session.commit()
    session.refresh(topic)
    return topic


def rename(
    *, session: Session, slug: str, name: str, description: str | None = None
) -> Topic | None:
    """Change a topic's name (and description); None when there is no such topic."""
    topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
    if topic is None:
        return None
    errors: dict[str, str] = {}
    topic.name = _check_name(name, errors)
    if description is not None:
        if len(description) > 200:
            errors["description"] = "Keep the description to 200 characters."
        topic.description = description.strip()
    if errors:
        session.rollback()
        raise TopicInvalid(errors)
    session.add(topic)
    session.commit()
    return topic
