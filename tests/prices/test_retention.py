from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import Session, col, select

from dashboard.models import Tick, utcnow
from dashboard.prices import bars
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
    bars.roll_up(session=session)

    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 2
    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 2
    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 1
    assert prune_ticks(session=session, older_than=cutoff, batch_size=2) == 0
    left = [t.id for t in session.exec(select(Tick).order_by(col(Tick.id))).all()]
    assert left == [quiet_last.id] + [t.id for t in recent]


def test_regression_history_imported_newest_first_keeps_its_newest_price(
    session: Session,
) -> None:
    # Was: each instrument kept its highest tick id, which for a file listed newest first is
    # its oldest price: after pruning (and a restart) the tile showed a ten-year-old price.
    msft = make_instrument(session, "MSFT")
    long_ago = utcnow() - timedelta(days=3650)
    newest = add_tick(session, msft, 400.0, ts=long_ago + timedelta(days=3000))
    for days in range(2999, 2990, -1):
        add_tick(session, msft, 300.0 + days / 100, ts=long_ago + timedelta(days=days))
    oldest = add_tick(session, msft, 50.0, ts=long_ago)  # written last: the highest id
    cutoff = utcnow() - timedelta(hours=48)
    bars.roll_up(session=session)
    while prune_ticks(session=session, older_than=cutoff, batch_size=100):
        pass
    left = [t.id for t in session.exec(select(Tick).order_by(col(Tick.id))).all()]
    assert left == [newest.id, oldest.id]  # the shown price, and the poller's cursor


def test_ticks_not_yet_in_bars_are_kept_and_pruned_history_lives_on_as_bars(
    session: Session,
) -> None:
    # Was: imported history older than the window was deleted a minute after the import,
    # without a word; now retention only takes ticks the bars already hold.
    msft = make_instrument(session, "MSFT")
    assert msft.id is not None
    long_ago = utcnow() - timedelta(days=400)
    history = [
        add_tick(session, msft, 100.0 + day, ts=long_ago + timedelta(days=day)) for day in range(5)
    ]
    add_tick(session, msft, 300.0)  # today's price
    cutoff = utcnow() - timedelta(hours=48)
    assert prune_ticks(session=session, older_than=cutoff, batch_size=100) == 0  # not rolled
    bars.roll_up(session=session)
    assert prune_ticks(session=session, older_than=cutoff, batch_size=100) == len(history)
    daily = bars.read(session=session, instrument_id=msft.id, resolution="1d", limit=10)
    assert [(b.open, b.close, b.ticks) for b in daily] == [
        (100.0 + day, 100.0 + day, 1) for day in range(5)
    ] + [(300.0, 300.0, 1)]


def test_retention_may_not_be_shorter_than_the_reference_window() -> None:
    with pytest.raises(ValidationError, match="TICK_RETENTION_HOURS"):
        Settings(_env_file=None, tick_retention_hours=12, reference_window_hours=24)
