from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard.inbox import compose, queries, topics
from dashboard.models import Audience, Topic
from tests.factories import add_notification, make_topic, make_user, subscribe


def test_create_and_rename(session: Session) -> None:
    topic = topics.create(
        session=session, slug=" Rates ", name="Rates", description="Central banks"
    )
    assert topic.slug == "rates"
    renamed = topics.rename(session=session, slug="rates", name="Interest rates")
    assert renamed is not None and renamed.name == "Interest rates"
    assert renamed.description == "Central banks"
    assert topics.rename(session=session, slug="nope", name="x") is None


@pytest.mark.parametrize(
    ("slug", "name", "field"),
    [
        ("", "X", "slug"),
        ("has space", "X", "slug"),
        ("-lead", "X", "slug"),
        ("ok", "", "name"),
        ("ok", "x" * 81, "name"),
    ],
)
def test_bad_topics_are_refused_and_nothing_is_written(
    session: Session, slug: str, name: str, field: str
) -> None:
    with pytest.raises(topics.TopicInvalid) as raised:
        topics.create(session=session, slug=slug, name=name)
    assert field in raised.value.errors
    assert session.exec(select(Topic)).all() == []


def test_a_slug_is_unique(session: Session) -> None:
    topics.create(session=session, slug="fx", name="FX")
    with pytest.raises(topics.TopicInvalid, match="exists already"):
        topics.create(session=session, slug="fx", name="Again")


def test_a_retired_topic_takes_no_notifications_or_subscribers(session: Session) -> None:
    alice = make_user(session, "alice")
    rates = make_topic(session, "rates")
    assert alice.id is not None and rates.id is not None
    subscribe(session, alice, rates)
    topical = add_notification(session, "before", audience=Audience.topic, topic=rates)
    assert topics.set_retired(session=session, slug="rates", retired=True)
    draft = compose.Draft(title="after", audience="topic", topic="rates")
    with pytest.raises(compose.DraftInvalid) as raised:
        compose.check(session=session, draft=draft)
    assert "retired" in raised.value.errors["topic"]
    # Its history stays visible to subscribers; leaving works, coming back does not.
    assert [i.notification.id for i in queries.inbox(session=session, user_id=alice.id)] == [
        topical.id
    ]
    assert topics.set_subscription(
        session=session, user_id=alice.id, topic_id=rates.id, subscribed=False
    )
    with pytest.raises(topics.TopicRetired):
        topics.set_subscription(
            session=session, user_id=alice.id, topic_id=rates.id, subscribed=True
        )
    assert [t.slug for t in topics.all_topics(session=session)] == []
    topics.set_retired(session=session, slug="rates", retired=False)
    assert [t.slug for t in topics.all_topics(session=session)] == ["rates"]
