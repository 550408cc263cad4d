"""Composing a notification: an admin's draft, checked, previewed, or published now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dashboard.links import is_allowed_link
from dashboard.models import (
    Audience,
    Notification,
    ScheduledNotification,
    Severity,
    Topic,
    User,
    utcnow,
)

TITLE_MAX = 120
BODY_MAX = 2000

# How far ahead a notification can be scheduled.
SCHEDULE_HORIZON = timedelta(days=366)

# What a notification says and to whom: shared by a checked draft, a scheduled
# notification and the notification it becomes.
CONTENT_FIELDS = ("title", "body", "severity", "audience", "topic_id", "user_id", "link")


@dataclass(frozen=True, slots=True)
class Draft:
    """A notification as an admin typed it, before validation."""

    title: str = ""
    body: str = ""
    severity: str = Severity.info.value
    audience: str = Audience.everyone.value
    topic: str = ""
    username: str = ""
    link: str = ""
    # Empty: now. Else an ISO 8601 time; one without a zone is read as UTC.
    send_at: str = ""


class DraftInvalid(Exception):
    """The draft has field errors; nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class Checked:
    """A valid draft, resolved to what the store holds."""

    title: str
    body: str
    severity: Severity
    audience: Audience
    topic_id: int | None
    user_id: int | None
    link: str | None
    send_at: datetime | None

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}


def check(*, session: Session, draft: Draft, now: datetime | None = None) -> Checked:
    """Validate ``draft`` against the store, or raise :class:`DraftInvalid` naming each field."""
    errors: dict[str, str] = {}
    title = draft.title.strip()
    body = draft.body.strip()
    link = draft.link.strip()
    if not title:
        errors["title"] = "Enter a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title to {TITLE_MAX} characters (it has {len(title)})."
    if len(body) > BODY_MAX:
        errors["body"] = f"Keep the message to {BODY_MAX} characters (it has {len(body)})."
    if draft.severity not in Severity.__members__:
        errors["severity"] = "Choose info, success, warning or critical."
    if link and not is_allowed_link(link):
        errors["link"] = (
            "A link is an https:// or http:// address, or a path on this site starting "
            "with one /, without spaces or backslashes."
        )
    elif len(link) > 500:
        errors["link"] = "Keep the link to 500 characters."

    topic_id: int | None = None
    user_id: int | None = None
    if draft.audience == Audience.topic:
        slug = draft.topic.strip()
        topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
        if topic is None:
            errors["topic"] = "Choose an existing topic." if not slug else f"No topic {slug!r}."
        elif topic.archived_at is not None:
            errors["topic"] = f"The topic {topic.name!r} is retired; choose another."
        else:
            topic_id = topic.id
    elif draft.audience == Audience.user:
        name = draft.username.strip()
        user = session.exec(select(User).where(User.username == name)).first()
        if user is None:
            errors["username"] = "No user has that name." if name else "Enter a username."
        else:
            user_id = user.id
    elif draft.audience != Audience.everyone:
        errors["audience"] = "Choose everyone, a topic or one user."

    send_at = _parse_send_at(draft.send_at, now or utcnow(), errors)
    if errors:
        raise DraftInvalid(errors)
    return Checked(
        title=title,
        body=body,
        severity=Severity(draft.severity),
        audience=Audience(draft.audience),
        topic_id=topic_id,
        user_id=user_id,
        link=link or None,
        send_at=send_at,
    )


def _parse_send_at(value: str, now: datetime, errors: dict[str, str]) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        errors["send_at"] = "Give the time as YYYY-MM-DD HH:MM (UTC)."
        return None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when <= now:
        errors["send_at"] = "That time has passed; choose a time in the future, or leave it empty."
    elif when - now > SCHEDULE_HORIZON:
        errors["send_at"] = "Schedule at most a year ahead."
    return when


def preview(*, session: Session, draft: Draft) -> Notification:
    """The notification ``draft`` would become, not written anywhere (for the admin's preview)."""
    checked = check(session=session, draft=draft)
    return Notification(id=0, created_at=checked.send_at or utcnow(), **checked.fields())


def publish(
    *,
    session: Session,
    checked: Checked,
    created_by: int | None,
    idempotency_key: str | None = None,
) -> Notification:
    """Write ``checked`` as a notification now (its ``send_at`` is the caller's to honour).

    With an ``idempotency_key``, a post this poster already made with that key is returned
    instead of written again (a double click, a retried request, two at once).
    """
    return write_once(
        session,
        Notification(**checked.fields(), created_by=created_by, idempotency_key=idempotency_key),
    )


_Post = TypeVar("_Post", Notification, ScheduledNotification)


def write_once(session: Session, row: _Post) -> _Post:
    """Insert ``row``, or return the row its poster already wrote with the same key.

    The unique (created_by, idempotency_key) constraint decides between two at once: the
    second insert fails, is rolled back, and the first is returned.
    """
    if row.idempotency_key is not None:
        existing = _posted(session, row)
        if existing is not None:
            return existing
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = _posted(session, row) if row.idempotency_key is not None else None
        if existing is None:
            raise
        return existing
    session.refresh(row)
    return row


def _posted(session: Session, row: _Post) -> _Post | None:
    table = type(row)
    return session.exec(
        select(table).where(
            col(table.created_by) == row.created_by,
            col(table.idempotency_key) == row.idempotency_key,
        )
    ).first()
