"""``/api/topics``: the topics one can subscribe to; an admin creates and changes them."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlmodel import select

from dashboard.inbox import topics
from dashboard.models import Topic
from dashboard.web.deps import CALLER_RESOLVED, ApiAdmin, SessionDep

router = APIRouter(prefix="/api", tags=["topics"], dependencies=CALLER_RESOLVED)


class TopicOut(BaseModel):
    slug: str
    name: str
    description: str
    retired: bool


@router.get("/topics")
def list_topics(session: SessionDep, retired: bool = False) -> list[TopicOut]:
    """Topics one can subscribe to (with ``retired=true``, retired ones too)."""
    return [_topic_out(t) for t in topics.all_topics(session=session, include_retired=retired)]


class TopicIn(BaseModel):
    slug: str = Field(max_length=100)
    name: str = Field(max_length=1000)
    description: str = Field("", max_length=10_000)


class TopicUpdate(BaseModel):
    name: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=10_000)
    retired: bool | None = Field(None, description="Retire (true) or restore (false) the topic.")


def _topic_out(topic: Topic) -> TopicOut:
    return TopicOut(
        slug=topic.slug,
        name=topic.name,
        description=topic.description,
        retired=topic.archived_at is not None,
    )


@router.post("/topics", status_code=status.HTTP_201_CREATED)
def create_topic(payload: TopicIn, session: SessionDep, admin: ApiAdmin) -> TopicOut:
    try:
        topic = topics.create(
            session=session, slug=payload.slug, name=payload.name, description=payload.description
        )
    except topics.TopicInvalid as invalid:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, invalid.errors) from None
    return _topic_out(topic)


@router.patch("/topics/{slug}")
def rename_topic(slug: str, payload: TopicUpdate, session: SessionDep, admin: ApiAdmin) -> TopicOut:
    """Rename, re-describe, retire or restore a topic (only the fields given change)."""
    topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
    if topic is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No topic {slug!r}.")
    if payload.name is not None or payload.description is not None:
        try:
            topics.rename(
                session=session,
                slug=slug,
                name=topic.name if payload.name is None else payload.name,
                description=payload.description,
            )
        except topics.TopicInvalid as invalid:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, invalid.errors) from None
    if payload.retired is not None:
        topics.set_retired(session=session, slug=slug, retired=payload.retired)
    session.refresh(topic)
    return _topic_out(topic)
