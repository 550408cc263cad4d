"""SQLModel tables. Alembic migrations are the only thing that creates or changes them."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, DateTime, Dialect, Index, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    SQLite has no time zones and hands back naive values; PostgreSQL keeps them. Storing
    UTC and re-attaching the zone on the way out makes both dialects behave the same.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a UTC-aware one")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _timestamp(*, index: bool = False, nullable: bool = False) -> Column[datetime]:
    return Column(UtcDateTime(), index=index, nullable=nullable)


class Severity(StrEnum):
    info = "info"
    success = "success"
    warning = "warning"
    critical = "critical"


class Audience(StrEnum):
    everyone = "everyone"
    topic = "topic"
    user = "user"


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=40, unique=True, index=True)
    password_hash: str = Field(max_length=200)
    is_admin: bool = False
    # Hides non-critical notifications to everyone (critical ones cannot be muted).
    mute_broadcasts: bool = False
    # Bumped with every change to the user's read state or subscriptions, in the same
    # transaction, so an unread count can say how new it is (see inbox.queries.badge).
    inbox_version: int = 0
    # How this user reads numbers and times (dashboard.display): a locale of LOCALES, or
    # None for the browser's own language; "utc" or "local" (the device's time zone).
    display_locale: str | None = Field(default=None, max_length=35)
    display_times: str = Field(default="utc", max_length=5)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Instrument(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    symbol: str = Field(max_length=20, unique=True, index=True)
    name: str = Field(max_length=80)
    kind: str = Field(max_length=20, description="crypto, fx or equity")
    decimals: int = Field(default=2, ge=0, le=8)
    # Where the simulated feed starts when the store has no tick yet.
    seed_price: float = Field(gt=0)
    # Volatility of the simulated random walk per square-root hour (0.01 = 1 % per hour).
    hourly_volatility: float = Field(default=0.01, ge=0)
    # Seconds without a tick after which the tile is marked stale.
    ttl_seconds: int = Field(default=15, ge=1)
    position: int = Field(default=0, description="Order on the default dashboard.")
    # ISO 4217 code of the prices' currency, when it is worth saying (None: unstated).
    currency: str | None = Field(default=None, max_length=3)
    # Only simulated instruments get ticks from the simulated feed; an instrument added for
    # real data never shows invented prices.
    simulated: bool = False
    # A retired instrument leaves the screens and takes no new ticks; its history stays.
    retired_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class Tick(SQLModel, table=True):
    # AUTOINCREMENT on SQLite: ids are never reused, so the id is a safe stream cursor.
    __table_args__ = (
        Index("ix_tick_instrument_id_id", "instrument_id", "id"),
        Index("ix_tick_instrument_id_ts", "instrument_id", "ts"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    instrument_id: int = Field(foreign_key="instrument.id", ondelete="CASCADE")
    price: float
    ts: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))
    # When the store took the tick in (None: written by a program that does not say). The
    # event time ``ts`` orders prices; this says how late a feed is.
    received_at: datetime | None = Field(
        default_factory=utcnow, sa_column=_timestamp(nullable=True)
    )


class PriceBar(SQLModel, table=True):
    """One OHLC bar: the ticks of an instrument whose ``ts`` falls in ``[start, start +
    resolution)``. Written by retention as it rolls raw ticks up before deleting them;
    bars for recent times are computed from the ticks themselves (see ``prices.bars``).

    ``open_ts``/``close_ts`` are the times of the first and last tick, so two partial bars
    of one bucket merge exactly.
    """

    __tablename__ = "price_bar"

    instrument_id: int = Field(foreign_key="instrument.id", primary_key=True, ondelete="CASCADE")
    resolution: int = Field(primary_key=True, description="Seconds: 60, 3600 or 86400.")
    start: datetime = Field(sa_column=Column(UtcDateTime(), primary_key=True))
    open: float
    high: float
    low: float
    close: float
    open_ts: datetime = Field(sa_column=_timestamp())
    close_ts: datetime = Field(sa_column=_timestamp())
    tick_count: int = Field(ge=1)


class FeedCursor(SQLModel, table=True):
    """How far a feed connector has committed, written with its ticks in one transaction,
    so a restart neither loses nor repeats a message (``dashboard feed``)."""

    __tablename__ = "feed_cursor"

    source: str = Field(primary_key=True, max_length=200)
    position: str = Field(max_length=60)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Topic(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=40, unique=True, index=True)
    name: str = Field(max_length=80)
    description: str = Field(default="", max_length=200)
    # A retired topic takes no new notifications or subscribers; its history stays.
    archived_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class Subscription(SQLModel, table=True):
    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    topic_id: int = Field(foreign_key="topic.id", primary_key=True, ondelete="CASCADE")


class NotificationContent(SQLModel):
    """What a notification says, shared by a notification and a scheduled one.

    Who it is for (``topic_id``, ``user_id``) is declared by each table: their foreign
    keys differ (a scheduled one goes with its topic or user; a sent one stays).
    """

    title: str = Field(max_length=120)
    body: str = Field(default="", max_length=2000)
    severity: Severity = Field(default=Severity.info, max_length=10)
    audience: Audience = Field(max_length=10)
    link: str | None = Field(default=None, max_length=500)


class Notification(NotificationContent, table=True):
    __table_args__ = (
        UniqueConstraint(
            "created_by", "idempotency_key", name="uq_notification_created_by_idempotency_key"
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    # The poster's key for this post (a form token, an Idempotency-Key header): the same
    # key from the same poster posts once, however often it is sent.
    idempotency_key: str | None = Field(default=None, max_length=64)
    topic_id: int | None = Field(default=None, foreign_key="topic.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    created_by: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class NotificationRead(SQLModel, table=True):
    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    notification_id: int = Field(
        foreign_key="notification.id", primary_key=True, ondelete="CASCADE"
    )
    read_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class NotificationArchive(SQLModel, table=True):
    """A notification one user moved out of the inbox (it stays in their history)."""

    __tablename__ = "notification_archive"

    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    notification_id: int = Field(
        foreign_key="notification.id", primary_key=True, ondelete="CASCADE"
    )
    archived_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ScheduledNotification(NotificationContent, table=True):
    """A notification to publish at ``send_at``.

    It becomes a :class:`Notification` row only then, so notification ids keep growing in
    the order readers may see them (the streams' cursor depends on that).
    """

    __tablename__ = "scheduled_notification"
    __table_args__ = (
        UniqueConstraint(
            "created_by",
            "idempotency_key",
            name="uq_scheduled_notification_created_by_idempotency_key",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str | None = Field(default=None, max_length=64)
    topic_id: int | None = Field(default=None, foreign_key="topic.id", ondelete="CASCADE")
    user_id: int | None = Field(default=None, foreign_key="user.id", ondelete="CASCADE")
    created_by: int | None = Field(default=None, foreign_key="user.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    send_at: datetime = Field(sa_column=_timestamp(index=True))
    # Set, in the same transaction as the insert, by the one process that published it.
    notification_id: int | None = Field(
        default=None, foreign_key="notification.id", ondelete="SET NULL", index=True
    )


class Lease(SQLModel, table=True):
    """A named job that must run in one process at a time (the simulated feed)."""

    __table_args__ = (UniqueConstraint("name"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40)
    holder: str = Field(max_length=80)
    expires_at: datetime = Field(sa_column=_timestamp())


class ApiToken(SQLModel, table=True):
    """A bearer token for programs. Only its SHA-256 is stored; it is shown once."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=60)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(
        max_length=12, description="The token's first characters, to tell it apart."
    )
    # "all": whatever its user may do; "feed": only write ticks (a feed handler's token).
    scope: str = Field(default="all", max_length=10)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class LoginSession(SQLModel, table=True):
    """One sign-in of a browser. The cookie holds a random secret; only its SHA-256 is here.

    Signing out deletes the row, so a copied cookie is dead in every process at once.
    """

    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    secret_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    address: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=200)


class CredentialEnd(SQLModel, table=True):
    """A log of ended credentials (a login session or an API token), read by every process
    after a cursor so the streams a credential opened end wherever they are."""

    __tablename__ = "credential_end"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10, description="login or token")
    credential_id: int = Field(description="login_session.id or api_token.id")
    reason: str = Field(max_length=20, description="a wire end reason, e.g. signed-out")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(index=True))


class WatchlistItem(SQLModel, table=True):
    """An instrument on a user's dashboard, at a position."""

    __tablename__ = "watchlist_item"

    user_id: int = Field(foreign_key="user.id", primary_key=True, ondelete="CASCADE")
    instrument_id: int = Field(foreign_key="instrument.id", primary_key=True, ondelete="CASCADE")
    position: int = 0


class AlertDirection(StrEnum):
    above = "above"
    below = "below"


class PriceAlert(SQLModel, table=True):
    """'Tell me when SYMBOL crosses above/below LEVEL'; fires once, then disarms."""

    __tablename__ = "price_alert"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    instrument_id: int = Field(foreign_key="instrument.id", index=True, ondelete="CASCADE")
    direction: AlertDirection = Field(max_length=10)
    level: float = Field(gt=0)
    armed: bool = Field(default=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    fired_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    notification_id: int | None = Field(default=None, foreign_key="notification.id")
