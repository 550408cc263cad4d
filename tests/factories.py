"""Test data, written straight to the store like any outside writer would."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from dashboard.accounts import auth
from dashboard.models import (
    Audience,
    Instrument,
    Notification,
    Severity,
    Subscription,
    Tick,
    Topic,
    User,
    utcnow,
)

PASSWORD = "correct-horse-battery"


def make_user(session: Session, username: str, *, is_admin: bool = False) -> User:
    return auth.create_user(
        session=session, username=username, password=PASSWORD, is_admin=is_admin
    )


def make_instrument(
    session: Session,
    symbol: str = "TEST",
    *,
    kind: str = "equity",
    decimals: int = 2,
    ttl_seconds: int = 30,
    simulated: bool = False,
) -> Instrument:
    position = len(session.exec(select(Instrument)).all())
    instrument = Instrument(
        symbol=symbol,
        name=f"{symbol} name",
        kind=kind,
        decimals=decimals,
        seed_price=100.0,
        ttl_seconds=ttl_seconds,
        position=position,
        simulated=simulated,
    )
    session.add(instrument)
    session.commit()
    session.refresh(instrument)
    return instrument


def add_tick(
    session: Session, instrument: Instrument, price: float, *, ts: datetime | None = None
) -> Tick:
    assert instrument.id is not None
    tick = Tick(instrument_id=instrument.id, price=price, ts=ts or utcnow())
    session.add(tick)
    session.commit()
    session.refresh(tick)
    return tick


def make_topic(session: Session, slug: str) -> Topic:
    topic = Topic(slug=slug, name=slug.title())
    session.add(topic)
    session.commit()
    session.refresh(topic)
    return topic


def subscribe(session: Session, user: User, topic: Topic) -> None:
    assert user.id is not None and topic.id is not None
    session.add(Subscription(user_id=user.id, topic_id=topic.id))
    session.commit()


def add_notification(
    session: Session,
    title: str,
    *,
    audience: Audience = Audience.everyone,
    user: User | None = None,
    topic: Topic | None = None,
    body: str = "",
    severity: Severity = Severity.info,
    link: str | None = None,
) -> Notification:
    notification = Notification(
        title=title,
        body=body,
        link=link,
        severity=severity,
        audience=audience,
        user_id=user.id if user else None,
        topic_id=topic.id if topic else None,
    )
    session.add(notification)
    session.commit()
    session.refresh(notification)
    return notification
