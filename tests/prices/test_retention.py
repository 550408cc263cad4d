from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import Session, col, select

from dashboard.models import Tick, utcnow
from dashboard.prices.retention import prune_ticks
from dashboard.settings import Settings
from tests.factories import add_tick, make_instrument


def test_retention_removes_old_ticks_in_batches_and_keeps_each_newest(session: Session) -> None:
    busy, quiet = make_instrument(session, "BUSY"), make_instrument(session, "QUIET")
    old = utcnow() - timedelta(hours=50)
    for i in range(5):
        add_tick(session, busy, 100 + i, ts=old + timedelta(seconds=i))
    quiet_last = add_tick(session, quiet, 7.0, ts=old)  # old, but its only tick
    recent = [add_tick(session, busy, 200 + i) for i in range(3)]
    cutoff = utcnow() - timedelta(hours=48)

    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 2
    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 2
    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 1
    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 0
    left = [t.id for t in session.exec(select(Tick).order_by(col(Tick.id))).all()]
    assert left == [quiet_last.id] + [t.id for t in recent]


def test_retention_may_not_be_shorter_than_the_reference_window() -> None:
    with pytest.raises(ValidationError, match="TICK_RETENTION_HOURS"):
        Settings(_env_file=None, tick_retention_hours=12, reference_window_hours=24)
