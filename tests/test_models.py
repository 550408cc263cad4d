from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session

from dashboard.models import Tick
from tests.factories import add_tick, make_instrument


def test_timestamps_come_back_timezone_aware_in_utc(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    paris = timezone(timedelta(hours=1))
    tick = add_tick(session, acme, 1.0, ts=datetime(2026, 3, 1, 13, 30, tzinfo=paris))
    session.expire_all()
    stored = session.get(Tick, tick.id)
    assert stored is not None
    assert stored.ts == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert stored.ts.tzinfo is UTC


def test_naive_timestamps_are_refused(session: Session) -> None:
    acme = make_instrument(session, "ACME")
    assert acme.id is not None
    session.add(Tick(instrument_id=acme.id, price=1.0, ts=datetime(2026, 3, 1, 12, 0)))
    with pytest.raises(StatementError, match="naive datetimes"):
        session.commit()


def test_ticks_need_an_existing_instrument(session: Session) -> None:
    session.add(Tick(instrument_id=999, price=1.0))
    with pytest.raises(IntegrityError):
        session.commit()
