"""Price alerts: fire on the crossing (an edge, not a level), exactly once, then disarm.

Every process's PricePoller evaluates alerts against the ticks it reads, so several
processes may see the same crossing; the conditional UPDATE that disarms an alert is the
claim, and only the process whose UPDATE changed the row writes the notification.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, func, update
from sqlmodel import Session, col, select

from dashboard.models import (
    AlertDirection,
    Audience,
    Instrument,
    Notification,
    PriceAlert,
    Severity,
    utcnow,
)
from dashboard.prices.tiles import CLOCK_SKEW, format_price
from dashboard.store.db import SessionFactory


def crossed(direction: AlertDirection, level: float, previous: float, price: float) -> bool:
    """True when the move from ``previous`` to ``price`` crosses ``level`` that way."""
    if direction == AlertDirection.above:
        return previous < level <= price
    return previous > level >= price


@dataclass(frozen=True, slots=True)
class Move:
    """The ticks one poll read for one instrument, and the price before them."""

    instrument_id: int
    symbol: str
    decimals: int
    ttl_seconds: int
    previous: float | None
    ticks: Sequence[tuple[int, float, datetime]]  # (tick id, price, ts), oldest first


# Asked on every poll that read ticks, so built once and run on the poll's own connection.
_ARMED_AMONG = (
    select(PriceAlert.instrument_id)
    .where(
        col(PriceAlert.armed), col(PriceAlert.instrument_id).in_(bindparam("ids", expanding=True))
    )
    .distinct()
)


def armed_among(connection: Connection, instrument_ids: Collection[int]) -> set[int]:
    """Which of ``instrument_ids`` have at least one armed alert (a cheap Core query).

    Most polls move no instrument anyone has an alert on; they skip the evaluation.
    """
    if not instrument_ids:
        return set()
    return set(connection.execute(_ARMED_AMONG, {"ids": list(instrument_ids)}).scalars())


class AlertEvaluator:
    """Checks armed alerts against each poll's moves; runs in a worker thread."""

    def __init__(self, *, open_session: SessionFactory) -> None:
        self._open_session = open_session

    def evaluate(self, moves: Sequence[Move], *, now: datetime | None = None) -> list[int]:
        """Fire every armed alert one of ``moves`` crosses; return the notifications written."""
        now = now or utcnow()
        by_instrument = {m.instrument_id: m for m in moves if m.ticks}
        if not by_instrument:
            return []
        written: list[int] = []
        with self._open_session() as session:
            armed = session.exec(
                select(PriceAlert).where(
                    col(PriceAlert.armed), col(PriceAlert.instrument_id).in_(by_instrument)
                )
            ).all()
            for alert in armed:
                move = by_instrument[alert.instrument_id]
                hit = _first_crossing(alert, move, now)
                if hit is not None:
                    notification_id = _claim_and_notify(session, alert, move, *hit, now=now)
                    if notification_id is not None:
                        written.append(notification_id)
        return written


def _first_crossing(alert: PriceAlert, move: Move, now: datetime) -> tuple[float, datetime] | None:
    previous = move.previous
    fresh_after = now - max(timedelta(seconds=move.ttl_seconds), CLOCK_SKEW)
    for _tick_id, price, ts in move.ticks:
        # Never on back-filled history (older than the instrument's time-to-live and the
        # clock skew allowed); a feed whose clock runs a little behind still fires.
        if (
            previous is not None
            and ts >= fresh_after
            and crossed(alert.direction, alert.level, previous, price)
        ):
            return price, ts
        previous = price
    return None


def _claim_and_notify(
    session: Session, alert: PriceAlert, move: Move, price: float, ts: datetime, *, now: datetime
) -> int | None:
    claimed = session.execute(
        update(PriceAlert)
        .where(col(PriceAlert.id) == alert.id, col(PriceAlert.armed))
        .values(armed=False, fired_at=now)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        session.rollback()  # another process fired it first
        return None
    level = format_price(alert.level, move.decimals)
    # Personal and written by no person (created_by None): pages show it as a toast
    # (dashboard.live.fragments.raises_toast).
    notification = Notification(
        title=f"{move.symbol} crossed {alert.direction.value} {level}",
        body=f"Last price {format_price(price, move.decimals)} at {ts:%H:%M:%S} UTC.",
        severity=Severity.warning,
        audience=Audience.user,
        user_id=alert.user_id,
        link=f"/instruments/{move.symbol}",
        created_at=now,
    )
    session.add(notification)
    session.flush()
    session.execute(
        update(PriceAlert)
        .where(col(PriceAlert.id) == alert.id)
        .values(notification_id=notification.id)
    )
    session.commit()  # the claim and the notification land together, or neither
    return notification.id


class AlertInvalid(ValueError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors.values()))
        self.errors = errors


class AlertLimitReached(AlertInvalid):
    """The user already keeps as many alerts as allowed; nothing was written."""

    def __init__(self, limit: int) -> None:
        super().__init__({"level": f"You have {limit} alerts, the most allowed; delete one first."})
        self.limit = limit


def create(
    *, session: Session, user_id: int, symbol: str, direction: str, level: str, limit: int
) -> PriceAlert:
    """Validate and store a new armed alert.

    Raises :class:`AlertInvalid` naming the fields, and :class:`AlertLimitReached` when the
    user already keeps ``limit`` alerts (each one is checked against every tick of its
    instrument, so their number is the cost of one user).
    """
    kept = session.exec(
        select(func.count()).select_from(PriceAlert).where(PriceAlert.user_id == user_id)
    ).one()
    if kept >= limit:
        raise AlertLimitReached(limit)
    errors: dict[str, str] = {}
    instrument = session.exec(select(Instrument).where(Instrument.symbol == symbol)).first()
    if instrument is None:
        errors["symbol"] = "No such instrument."
    if direction not in AlertDirection.__members__:
        errors["direction"] = "Choose above or below."
    try:
        # People type what they see: "97,218.74" has a thousands separator.
        value = float(level.replace(",", "").replace("_", "").strip())
        if not math.isfinite(value) or value <= 0:
            raise ValueError
    except ValueError:
        errors["level"] = "Enter a price above 0."
        value = 0.0
    if errors:
        raise AlertInvalid(errors)
    assert instrument is not None and instrument.id is not None
    alert = PriceAlert(
        user_id=user_id,
        instrument_id=instrument.id,
        direction=AlertDirection(direction),
        level=value,
    )
    session.add(alert)
    session.commit()
    session.refresh(alert)
    return alert


@dataclass(frozen=True, slots=True)
class AlertView:
    alert: PriceAlert
    symbol: str
    decimals: int


def for_user(*, session: Session, user_id: int, symbol: str | None = None) -> list[AlertView]:
    query = (
        select(PriceAlert, Instrument.symbol, Instrument.decimals)
        .join(Instrument, col(Instrument.id) == col(PriceAlert.instrument_id))
        .where(PriceAlert.user_id == user_id)
        .order_by(col(PriceAlert.id).desc())
    )
    if symbol is not None:
        query = query.where(Instrument.symbol == symbol)
    return [AlertView(a, s, d) for a, s, d in session.exec(query).all()]


def _owned(session: Session, user_id: int, alert_id: int) -> PriceAlert | None:
    """The user's alert; someone else's looks exactly like a missing one."""
    alert = session.get(PriceAlert, alert_id)
    return alert if alert is not None and alert.user_id == user_id else None


def rearm(*, session: Session, user_id: int, alert_id: int) -> bool:
    alert = _owned(session, user_id, alert_id)
    if alert is None:
        return False
    alert.armed, alert.fired_at, alert.notification_id = True, None, None
    session.add(alert)
    session.commit()
    return True


def delete(*, session: Session, user_id: int, alert_id: int) -> bool:
    alert = _owned(session, user_id, alert_id)
    if alert is None:
        return False
    session.delete(alert)
    session.commit()
    return True
