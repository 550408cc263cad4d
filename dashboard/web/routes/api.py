"""The JSON API under ``/api`` (OpenAPI at ``/docs``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import col, select

from dashboard.inbox import actions, compose, queries, topics
from dashboard.models import Instrument, ScheduledNotification, Tick, Topic, User
from dashboard.prices import ingest
from dashboard.runtime import Runtime
from dashboard.web.deps import (
    ApiAdmin,
    ApiUser,
    Cursor,
    RowId,
    RuntimeDep,
    SessionDep,
    get_api_user,
    require_csrf_for_session,
)

# Every route resolves its caller, so a wrong token is a 401 even where none is needed.
router = APIRouter(prefix="/api", tags=["prices"], dependencies=[Depends(get_api_user)])


class InstrumentOut(BaseModel):
    symbol: str
    name: str
    kind: str
    decimals: int
    ttl_seconds: int


class PriceOut(BaseModel):
    symbol: str
    price: float | None
    reference_price: float | None
    change: float | None
    change_percent: float | None
    ts: datetime | None
    tick_id: int
    stale: bool


class HistoryPoint(BaseModel):
    tick_id: int
    price: float
    ts: datetime


_TICKS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["symbol", "price"],
                        "properties": {
                            "symbol": {"type": "string"},
                            "price": {"type": "number", "exclusiveMinimum": 0},
                            "ts": {"type": "string", "format": "date-time"},
                        },
                    },
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


class IngestOut(BaseModel):
    ids: list[int]


@router.post("/ticks", openapi_extra=_TICKS_BODY, responses={422: {"description": "Bad items"}})
async def ingest_ticks(request: Request, runtime: RuntimeDep, user: ApiAdmin) -> IngestOut:
    """Write a batch of ticks (JSON array or NDJSON): all of them, or none.

    Needs an admin: an API token (``Authorization: Bearer …``) or a session with the
    ``X-CSRF-Token`` header. A 422 names every bad item by its index.
    """
    # Its size is limited by BodySizeLimit (settings.max_ingest_bytes) as it arrives.
    body = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    kind = "ndjson" if content_type in ("application/x-ndjson", "application/ndjson") else "json"
    try:
        records = ingest.records_from_text(body.decode("utf-8"), kind=kind)
        parsed = ingest.parse_records(records)
        ids = await asyncio.to_thread(_write_ticks, runtime, parsed)
    except ingest.IngestInvalid as invalid:
        detail = [e.as_dict() for e in invalid.errors]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    except (UnicodeDecodeError, ValueError) as bad:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Unreadable body: {bad}"
        ) from None
    runtime.price_poller.wake()
    return IngestOut(ids=ids)


def _write_ticks(runtime: Runtime, parsed: list[ingest.TickIn]) -> list[int]:
    with runtime.open_session() as session:
        return ingest.write(session=session, ticks=parsed)


@router.get("/instruments")
def list_instruments(session: SessionDep) -> list[InstrumentOut]:
    """Every instrument, in dashboard order."""
    rows = session.exec(
        select(Instrument).order_by(col(Instrument.position), col(Instrument.symbol))
    ).all()
    return [InstrumentOut.model_validate(i, from_attributes=True) for i in rows]


@router.get("/prices")
def latest_prices(runtime: RuntimeDep) -> list[PriceOut]:
    """The latest price of every instrument, as the live tiles show it."""
    return [
        PriceOut(
            symbol=t.symbol,
            price=t.price,
            reference_price=t.reference_price,
            change=t.change,
            change_percent=t.change_percent,
            ts=t.ts,
            tick_id=t.tick_id,
            stale=t.stale,
        )
        for t in runtime.price_poller.tiles()
    ]


@router.get("/prices/{symbol}/history")
def price_history(
    symbol: str,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[HistoryPoint]:
    """The newest ``limit`` ticks of ``symbol``, oldest first."""
    instrument = session.exec(select(Instrument).where(Instrument.symbol == symbol)).first()
    if instrument is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Unknown symbol {symbol!r}.")
    ticks = session.exec(
        select(Tick)
        .where(Tick.instrument_id == instrument.id)
        .order_by(col(Tick.id).desc())
        .limit(limit)
    ).all()
    return [HistoryPoint(tick_id=t.id or 0, price=t.price, ts=t.ts) for t in reversed(ticks)]


class NotificationOut(BaseModel):
    id: int
    title: str
    body: str
    severity: str
    link: str | None
    created_at: datetime
    read: bool


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_after: int | None = Field(
        description="Pass as ?after= for the next page; null at the end."
    )
    unread: int


def _out(item: queries.InboxItem) -> NotificationOut:
    n = item.notification
    assert n.id is not None
    return NotificationOut(
        id=n.id,
        title=n.title,
        body=n.body,
        severity=n.severity.value,
        link=n.link,
        created_at=n.created_at,
        read=item.read,
    )


def _require(user: User | None) -> User:
    if user is None or user.id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Log in or send an API token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


@router.get("/notifications", tags=["notifications"])
def my_notifications(
    session: SessionDep,
    user: ApiUser,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationPage:
    """My notifications with ``id > after``, oldest first (keyset pagination by id)."""
    me = _require(user)
    assert me.id is not None
    items = queries.missed(session=session, user_id=me.id, after=after, limit=limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return NotificationPage(
        items=[_out(i) for i in items],
        next_after=items[-1].notification.id if more and items else None,
        unread=queries.unread_count(session=session, user_id=me.id),
    )


class ReadOut(BaseModel):
    id: int | None = None
    marked: int
    unread: int
    version: str = Field(
        description="How new the unread count is: a count with a smaller version is older."
    )


@router.post("/notifications/{notification_id}/read", tags=["notifications"])
def mark_notification_read(
    notification_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: ApiUser,
) -> ReadOut:
    """Mark one of my notifications read (404 when it is not mine or does not exist)."""
    me = _require(user)
    assert me.id is not None
    require_csrf_for_session(request)
    marked = actions.mark_read(
        session=session, live=runtime.live, user_id=me.id, notification_id=notification_id
    )
    if marked is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    badge = queries.badge(session=session, user_id=me.id)
    return ReadOut(id=notification_id, marked=1, unread=badge.count, version=badge.stamp)


@router.post("/notifications/read-all", tags=["notifications"])
def mark_all_notifications_read(
    request: Request, runtime: RuntimeDep, session: SessionDep, user: ApiUser
) -> ReadOut:
    me = _require(user)
    assert me.id is not None
    require_csrf_for_session(request)
    changed = actions.mark_all_read(session=session, live=runtime.live, user_id=me.id)
    badge = queries.badge(session=session, user_id=me.id)
    return ReadOut(marked=len(changed), unread=badge.count, version=badge.stamp)


class NotificationIn(BaseModel):
    title: str = Field(max_length=10_000)
    body: str = Field("", max_length=100_000)
    severity: str = "info"
    audience: str = "everyone"
    topic: str = ""
    username: str = ""
    link: str = ""
    send_at: datetime | None = Field(
        None, description="Publish at this time (ISO 8601; no zone means UTC) instead of now."
    )


class ScheduledOut(BaseModel):
    scheduled_id: int
    send_at: datetime


@router.post(
    "/notifications",
    tags=["admin"],
    status_code=status.HTTP_201_CREATED,
    response_model=NotificationOut,
    responses={202: {"model": ScheduledOut, "description": "Scheduled for ``send_at``."}},
)
def post_notification(
    payload: NotificationIn, runtime: RuntimeDep, session: SessionDep, admin: ApiAdmin
) -> Any:
    """Send a notification to everyone, a topic (``topic`` = slug) or one user (``username``).

    With ``send_at`` it is stored and published at that time (202 with its schedule id).
    """
    fields = payload.model_dump(exclude={"send_at"})
    send_at = payload.send_at.isoformat() if payload.send_at else ""
    try:
        created = actions.post(
            session=session,
            live=runtime.live,
            draft=compose.Draft(**fields, send_at=send_at),
            created_by=admin.id,
        )
    except compose.DraftInvalid as invalid:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, invalid.errors) from None
    if isinstance(created, ScheduledNotification):
        assert created.id is not None
        out = ScheduledOut(scheduled_id=created.id, send_at=created.send_at)
        return JSONResponse(out.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    return _out(queries.InboxItem(notification=created, read=False))


class TopicOut(BaseModel):
    slug: str
    name: str
    description: str
    retired: bool


@router.get("/topics", tags=["notifications"])
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


@router.post("/topics", tags=["admin"], status_code=status.HTTP_201_CREATED)
def create_topic(payload: TopicIn, session: SessionDep, admin: ApiAdmin) -> TopicOut:
    try:
        topic = topics.create(
            session=session, slug=payload.slug, name=payload.name, description=payload.description
        )
    except topics.TopicInvalid as invalid:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, invalid.errors) from None
    return _topic_out(topic)


@router.patch("/topics/{slug}", tags=["admin"])
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
