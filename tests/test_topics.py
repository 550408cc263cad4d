from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard import topics
from dashboard.models import Topic


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
