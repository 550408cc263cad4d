"""``/api/notifications``: my notifications and their read state; an admin posts one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from dashboard.inbox import actions, compose, queries
from dashboard.models import Notification, ScheduledNotification, User
from dashboard.runtime import Runtime
from dashboard.web.deps import (
    CALLER_RESOLVED,
    MAX_ROW_ID,
    ApiAdmin,
    ApiUser,
    Cursor,
    RowId,
    RuntimeDep,
    SessionDep,
    require_csrf_for_session,
)

router = APIRouter(prefix="/api", tags=["notifications"], dependencies=CALLER_RESOLVED)


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


@router.get("/notifications")
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


@router.post("/notifications/{notification_id}/read")
def mark_notification_read(
    notification_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: ApiUser,
) -> ReadOut:
    """Mark one of my notifications read (404 when it is not mine or does not exist)."""
    return _mark_one(actions.mark_read, notification_id, request, runtime, session, user)


@router.post("/notifications/{notification_id}/unread")
def mark_notification_unread(
    notification_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: ApiUser,
) -> ReadOut:
    """Mark one of my notifications unread again (404 when it is not mine or does not
    exist); ``marked`` is 1, ``unread`` the new count."""
    return _mark_one(actions.mark_unread, notification_id, request, runtime, session, user)


def _mark_one(
    mark: Callable[..., Notification | None],
    notification_id: int,
    request: Request,
    runtime: Runtime,
    session: Session,
    user: User | None,
) -> ReadOut:
    me = _require(user)
    assert me.id is not None
    require_csrf_for_session(request)
    marked = mark(
        session=session, live=runtime.live, user_id=me.id, notification_id=notification_id
    )
    if marked is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such notification.")
    badge = queries.badge(session=session, user_id=me.id)
    return ReadOut(id=notification_id, marked=1, unread=badge.count, version=badge.stamp)


@router.post("/notifications/read-all")
def mark_all_notifications_read(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    user: ApiUser,
    up_to: Annotated[
        int | None,
        Query(ge=0, le=MAX_ROW_ID, description="Only ids up to this one: the newest you saw"),
    ] = None,
) -> ReadOut:
    """Mark my unread notifications read (with ``up_to``, only those you have seen)."""
    me = _require(user)
    assert me.id is not None
    require_csrf_for_session(request)
    changed = actions.mark_all_read(session=session, live=runtime.live, user_id=me.id, up_to=up_to)
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
    status_code=status.HTTP_201_CREATED,
    response_model=NotificationOut,
    responses={202: {"model": ScheduledOut, "description": "Scheduled for ``send_at``."}},
)
def post_notification(
    payload: NotificationIn,
    runtime: RuntimeDep,
    session: SessionDep,
    admin: ApiAdmin,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=64,
            description="Send the same key again (a retry) and the post is made once: the "
            "answer is the first post's.",
        ),
    ] = None,
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
            idempotency_key=idempotency_key,
        )
    except compose.DraftInvalid as invalid:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, invalid.errors) from None
    if isinstance(created, ScheduledNotification):
        assert created.id is not None
        out = ScheduledOut(scheduled_id=created.id, send_at=created.send_at)
        return JSONResponse(out.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    return _out(queries.InboxItem(notification=created, read=False))
