"""Idempotent demo data: instruments, topics, users and their subscriptions."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert
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
from dashboard.prices.feed import gbm_step

# symbol, name, kind, decimals, seed price, hourly volatility, ttl seconds
INSTRUMENTS: list[tuple[str, str, str, int, float, float, int]] = [
    ("BTC-USD", "Bitcoin", "crypto", 2, 97_250.00, 0.012, 15),
    ("ETH-USD", "Ether", "crypto", 2, 3_412.50, 0.015, 15),
    ("SOL-USD", "Solana", "crypto", 3, 182.415, 0.02, 15),
    ("DOGE-USD", "Dogecoin", "crypto", 5, 0.38215, 0.025, 15),
    ("EUR-USD", "Euro / US dollar", "fx", 5, 1.08512, 0.002, 15),
    ("GBP-USD", "Pound / US dollar", "fx", 5, 1.27034, 0.0025, 15),
    ("USD-JPY", "US dollar / Yen", "fx", 3, 151.204, 0.0025, 15),
    ("AUD-USD", "Australian dollar / US dollar", "fx", 5, 0.65518, 0.003, 15),
    ("ACME", "Acme Corp.", "equity", 2, 182.40, 0.008, 20),
    ("GLBX", "Globex", "equity", 2, 412.10, 0.007, 20),
    ("INTC-X", "Initech", "equity", 2, 57.85, 0.01, 20),
    ("UMBR", "Umbrella Holdings", "equity", 2, 95.30, 0.009, 20),
]

TOPICS: list[tuple[str, str, str]] = [
    ("markets", "Markets", "Market-wide news and moves"),
    ("crypto", "Crypto", "Crypto-asset news"),
    ("fx", "FX", "Currency news"),
    ("system", "System status", "Maintenance and incidents"),
]

USERS: list[tuple[str, bool, list[str]]] = [
    ("admin", True, ["markets", "system"]),
    ("alice", False, ["markets", "crypto"]),
    ("bob", False, ["fx"]),
]

# History so charts and sparklines have a shape on first start (the same random walk the
# feed runs, as if it had been running): a day at one tick a minute for the chart's 1D,
# then two minutes at the feed's pace for the sparklines.
_BACKFILL = ((1440, timedelta(minutes=1)), (60, timedelta(seconds=2)))


@dataclass
class DemoResult:
    created_users: dict[str, str]  # username -> password, only for users created now
    password_was_generated: bool
    instruments_added: int
    topics_added: int


def seed(*, session: Session, password: str | None, rng: random.Random | None = None) -> DemoResult:
    """Add whatever of the demo data is missing; existing rows are left as they are."""
    rng = rng or random.Random()
    generated = password is None
    password = password or secrets.token_urlsafe(12)

    instruments_added = 0
    for position, (symbol, name, kind, decimals, price, vol, ttl) in enumerate(INSTRUMENTS):
        if session.exec(select(Instrument).where(Instrument.symbol == symbol)).first():
            continue
        instrument = Instrument(
            symbol=symbol,
            name=name,
            kind=kind,
            decimals=decimals,
            seed_price=price,
            hourly_volatility=vol,
            ttl_seconds=ttl,
            position=position,
            simulated=True,
        )
        session.add(instrument)
        session.flush()
        assert instrument.id is not None
        backfill(session, instrument, rng)
        instruments_added += 1

    topics_added = 0
    topics: dict[str, Topic] = {}
    for slug, name, description in TOPICS:
        topic = session.exec(select(Topic).where(Topic.slug == slug)).first()
        if topic is None:
            topic = Topic(slug=slug, name=name, description=description)
            session.add(topic)
            session.flush()
            topics_added += 1
        topics[slug] = topic
    session.commit()

    created: dict[str, str] = {}
    for username, is_admin, subscriptions in USERS:
        if session.exec(select(User).where(User.username == username)).first():
            continue
        user = auth.create_user(
            session=session, username=username, password=password, is_admin=is_admin
        )
        created[username] = password
        assert user.id is not None
        for slug in subscriptions:
            topic_id = topics[slug].id
            assert topic_id is not None
            session.add(Subscription(user_id=user.id, topic_id=topic_id))
        session.commit()

    if created and session.exec(select(Notification)).first() is None:
        session.add(
            Notification(
                title="Welcome to the live dashboard",
                body="Prices update as ticks arrive. Notifications for you appear here.",
                severity=Severity.info,
                audience=Audience.everyone,
            )
        )
        session.commit()
    return DemoResult(
        created_users=created,
        password_was_generated=generated,
        instruments_added=instruments_added,
        topics_added=topics_added,
    )


def backfill(session: Session, instrument: Instrument, rng: random.Random) -> None:
    """A day of invented ticks for ``instrument`` (its random walk, ending now), so charts
    and sparklines have a shape on first start."""
    assert instrument.id is not None
    when = utcnow() - sum((spacing * count for count, spacing in _BACKFILL), timedelta())
    price = instrument.seed_price
    rows: list[dict[str, object]] = []
    for count, spacing in _BACKFILL:
        for _ in range(count):
            price = gbm_step(
                price,
                hourly_volatility=instrument.hourly_volatility,
                dt_hours=spacing.total_seconds() / 3600,
                z=rng.gauss(0, 1),
            )
            rows.append(
                {
                    "instrument_id": instrument.id,
                    "price": round(price, instrument.decimals),
                    "ts": when,
                    "received_at": when,
                }
            )
            when += spacing
    session.execute(insert(Tick), rows)
