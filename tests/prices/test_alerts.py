from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard.live.fragments import Renderer
from dashboard.live.hub import Hub
from dashboard.live.price_poller import PricePoller
from dashboard.models import AlertDirection, Notification, PriceAlert, utcnow
from dashboard.prices import alerts
from dashboard.prices.alerts import AlertEvaluator, Move, crossed
from dashboard.settings import Settings
from dashboard.store.db import make_engine, session_factory
from dashboard.templating import load_templates
from tests.factories import add_tick, make_instrument, make_user

ABOVE, BELOW = AlertDirection.above, AlertDirection.below


@pytest.mark.parametrize(
    ("direction", "previous", "price", "fires"),
    [
        (ABOVE, 99.0, 100.0, True),  # touching the level counts
        (ABOVE, 99.0, 101.0, True),
        (ABOVE, 100.0, 101.0, False),  # already at the level: no crossing
        (ABOVE, 101.0, 102.0, False),  # above and staying above: a level, not an edge
        (ABOVE, 101.0, 99.0, False),
        (BELOW, 101.0, 100.0, True),
        (BELOW, 99.0, 98.0, False),
        (BELOW, 99.0, 101.0, False),
    ],
)
def test_crossing_is_an_edge(
    direction: AlertDirection, previous: float, price: float, fires: bool
) -> None:
    assert crossed(direction, 100.0, previous, price) is fires


def setup_alert(session: Session, direction: str = "above", level: str = "100") -> tuple[int, int]:
    alice = make_user(session, "alice")
    acme = make_instrument(session, "ACME", ttl_seconds=30)
    assert alice.id is not None and acme.id is not None
    alerts.create(
        limit=100,
        session=session,
        user_id=alice.id,
        symbol="ACME",
        direction=direction,
        level=level,
    )
    return alice.id, acme.id


def move(instrument_id: int, previous: float | None, *prices: float, age: float = 0) -> Move:
    ts = utcnow() - timedelta(seconds=age)
    return Move(
        instrument_id, "ACME", 2, 30, previous, [(i + 1, p, ts) for i, p in enumerate(prices)]
    )


def test_an_alert_fires_once_on_the_crossing_then_disarms(engine: Engine, session: Session) -> None:
    alice_id, acme_id = setup_alert(session)
    evaluator = AlertEvaluator(open_session=session_factory(engine))
    assert evaluator.evaluate([move(acme_id, 98.0, 99.0, 99.5)]) == []
    fired = evaluator.evaluate([move(acme_id, 99.5, 99.9, 100.25, 101.0)])
    assert len(fired) == 1
    notification = session.get(Notification, fired[0])
    assert notification is not None
    assert notification.user_id == alice_id
    assert notification.title == "ACME crossed above 100.00"
    assert "100.25" in notification.body
    assert notification.link == "/instruments/ACME"
    alert = session.exec(select(PriceAlert)).one()
    assert not alert.armed and alert.notification_id == fired[0]
    # Disarmed: the next crossing does nothing until the user re-arms it.
    assert evaluator.evaluate([move(acme_id, 99.0, 101.0)]) == []
    assert alerts.rearm(session=session, user_id=alice_id, alert_id=alert.id or 0)
    assert len(evaluator.evaluate([move(acme_id, 99.0, 101.0)])) == 1


def test_stale_or_unknown_previous_prices_never_fire(engine: Engine, session: Session) -> None:
    _, acme_id = setup_alert(session)
    evaluator = AlertEvaluator(open_session=session_factory(engine))
    # Back-filled history (older than the ttl and the clock skew allowed) never fires.
    assert evaluator.evaluate([move(acme_id, 99.0, 101.0, age=600)]) == []
    assert evaluator.evaluate([move(acme_id, None, 101.0)]) == []  # nothing to cross from
    assert session.exec(select(Notification)).all() == []


def test_regression_a_feed_whose_clock_runs_behind_still_fires(
    engine: Engine, session: Session
) -> None:
    # Was: with a feed 60 s behind, a crossed alert never fired (ticks older than the ttl).
    _, acme_id = setup_alert(session)
    evaluator = AlertEvaluator(open_session=session_factory(engine))
    assert len(evaluator.evaluate([move(acme_id, 99.0, 101.0, age=60)])) == 1


def test_a_process_that_loses_the_claim_writes_nothing(engine: Engine, session: Session) -> None:
    _, acme_id = setup_alert(session)
    stale_view = session.exec(select(PriceAlert)).one()  # process B has read it as armed
    AlertEvaluator(open_session=session_factory(engine)).evaluate([move(acme_id, 99.0, 101.0)])
    with Session(engine) as other:
        assert (
            alerts._claim_and_notify(
                other, stale_view, move(acme_id, 99.0, 101.0), 101.0, utcnow(), now=utcnow()
            )
            is None
        )
    assert len(session.exec(select(Notification)).all()) == 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_two_processes_racing_fire_an_alert_exactly_once(
    database_url: str, session: Session
) -> None:
    alice_id, acme_id = setup_alert(session)
    engines = [make_engine(database_url) for _ in range(2)]
    evaluators = [AlertEvaluator(open_session=session_factory(e)) for e in engines]
    for trial in range(10):
        start = threading.Barrier(2)
        results: list[list[int]] = [[], []]

        def run(i: int, start: threading.Barrier, results: list[list[int]]) -> None:
            start.wait()
            results[i] = evaluators[i].evaluate([move(acme_id, 99.0, 101.0)])

        threads = [threading.Thread(target=run, args=(i, start, results)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert sorted(len(r) for r in results) == [0, 1], f"trial {trial}: {results}"
        alerts.rearm(session=session, user_id=alice_id, alert_id=1)
    assert len(session.exec(select(Notification)).all()) == 10
    for e in engines:
        e.dispose()


def test_two_price_pollers_over_one_store_fire_once(
    database_url: str, session: Session, settings: Settings
) -> None:
    _, acme_id = setup_alert(session)
    acme = session.exec(select(PriceAlert)).one()
    add_tick(session, make_instrument(session, "OTHER"), 1.0)
    from dashboard.models import Instrument

    instrument = session.get(Instrument, acme_id)
    assert instrument is not None and acme.level == 100
    add_tick(session, instrument, 99.0)
    engines = [make_engine(database_url) for _ in range(2)]
    renderer = Renderer(load_templates().env)
    woken: list[int] = []
    pollers = [
        PricePoller(
            engine=e,
            open_session=session_factory(e),
            hub=Hub(mailbox_size=8),
            renderer=renderer,
            interval=1,
            batch_size=100,
            reference_window=timedelta(hours=24),
            alerts=AlertEvaluator(open_session=session_factory(e)),
            on_alerts_fired=lambda i=i: woken.append(i),  # type: ignore[misc]
        )
        for i, e in enumerate(engines)
    ]

    async def both() -> None:
        for p in pollers:
            await p.prime()
        add_tick(session, instrument, 101.0)
        await asyncio.gather(*(p.poll_once() for p in pollers))

    asyncio.run(both())
    assert len(session.exec(select(Notification)).all()) == 1
    assert len(woken) == 1
    for e in engines:
        e.dispose()


@pytest.mark.parametrize(
    ("direction", "level", "field"),
    [
        ("sideways", "10", "direction"),
        ("above", "-1", "level"),
        ("above", "nan", "level"),
        ("above", "abc", "level"),
        ("above", "", "level"),
    ],
)
def test_invalid_alerts_are_refused_and_nothing_is_written(
    session: Session, direction: str, level: str, field: str
) -> None:
    alice = make_user(session, "alice")
    make_instrument(session, "ACME")
    assert alice.id is not None
    with pytest.raises(alerts.AlertInvalid) as raised:
        alerts.create(
            limit=100,
            session=session,
            user_id=alice.id,
            symbol="ACME",
            direction=direction,
            level=level,
        )
    assert field in raised.value.errors
    assert session.exec(select(PriceAlert)).all() == []


def test_levels_may_be_typed_with_thousands_separators(session: Session) -> None:
    alice = make_user(session, "alice")
    make_instrument(session, "ACME")
    assert alice.id is not None
    alert = alerts.create(
        limit=100,
        session=session,
        user_id=alice.id,
        symbol="ACME",
        direction="above",
        level=" 97,218.74 ",
    )
    assert alert.level == 97218.74


def test_creating_past_the_limit_is_refused_before_anything_is_written(session: Session) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    make_instrument(session, "ACME")
    for level in ("1", "2"):
        alerts.create(
            limit=2,
            session=session,
            user_id=alice.id,
            symbol="ACME",
            direction="above",
            level=level,
        )
    with pytest.raises(alerts.AlertLimitReached) as refused:
        alerts.create(
            limit=2, session=session, user_id=alice.id, symbol="ACME", direction="above", level="3"
        )
    assert refused.value.errors == {
        "level": "You have 2 alerts, the most allowed; delete one first."
    }
    assert len(session.exec(select(PriceAlert)).all()) == 2
