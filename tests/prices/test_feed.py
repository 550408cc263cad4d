from __future__ import annotations

import math
import random
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dashboard.models import Tick, utcnow
from dashboard.prices.feed import SimulatedFeed, gbm_step
from dashboard.store import leases
from dashboard.store.db import session_factory
from tests.factories import add_tick, make_instrument


def test_gbm_step_without_noise_only_applies_the_drift_correction() -> None:
    moved = gbm_step(100.0, hourly_volatility=0.1, dt_hours=1.0, z=0.0)
    assert moved == 100.0 * math.exp(-0.005)
    assert gbm_step(100.0, hourly_volatility=0.0, dt_hours=1.0, z=3.0) == 100.0


def test_gbm_keeps_the_expected_price_and_stays_positive() -> None:
    rng = random.Random(7)
    finals = []
    for _ in range(2000):
        price = 100.0
        for _ in range(20):
            price = gbm_step(price, hourly_volatility=0.5, dt_hours=0.05, z=rng.gauss(0, 1))
            assert price > 0
        finals.append(price)
    assert abs(sum(finals) / len(finals) - 100.0) < 2.5


def feed(engine: Engine, *, ticks_per_second: float = 1000.0) -> SimulatedFeed:
    return SimulatedFeed(
        open_session=session_factory(engine),
        on_write=lambda: None,
        interval=0.25,
        ticks_per_second=ticks_per_second,
        lease_seconds=5,
        rng=random.Random(1),
    )


def test_a_feed_step_writes_ticks_continuing_from_the_last_price(
    engine: Engine, session: Session
) -> None:
    acme = make_instrument(session, "ACME", decimals=2, simulated=True)
    make_instrument(session, "GLBX", simulated=True)
    add_tick(session, acme, 500.0)
    written = feed(engine).step()
    assert written == 2  # at this rate every instrument ticks every step
    ticks = session.exec(select(Tick).order_by(col(Tick.id))).all()
    acme_new = [t for t in ticks if t.instrument_id == acme.id][-1]
    assert abs(acme_new.price - 500.0) < 25 and round(acme_new.price, 2) == acme_new.price


def test_regression_the_feed_never_invents_prices_for_real_or_retired_instruments(
    engine: Engine, session: Session
) -> None:
    # Was: the simulated feed walked every instrument, so one added for real data showed
    # invented prices between its real ticks.
    simulated = make_instrument(session, "SIM", simulated=True)
    make_instrument(session, "REAL")
    retired = make_instrument(session, "GONE", simulated=True)
    retired.retired_at = utcnow()
    session.add(retired)
    session.commit()
    assert feed(engine).step() == 1
    ticks = session.exec(select(Tick)).all()
    assert {t.instrument_id for t in ticks} == {simulated.id}


def test_only_one_feed_holds_the_lease_until_it_expires_or_is_released(engine: Engine) -> None:
    open_session = session_factory(engine)
    ttl = timedelta(seconds=30)
    with open_session() as session:
        assert leases.claim(session=session, name="feed", holder="a", ttl=ttl)
        assert not leases.claim(session=session, name="feed", holder="b", ttl=ttl)
        assert leases.claim(session=session, name="feed", holder="a", ttl=ttl)  # renewal
        leases.release(session=session, name="feed", holder="a")
        assert leases.claim(session=session, name="feed", holder="b", ttl=ttl)
        # An expired lease is taken over.
        assert leases.claim(session=session, name="other", holder="a", ttl=timedelta(seconds=-1))
        assert leases.claim(session=session, name="other", holder="b", ttl=ttl)
