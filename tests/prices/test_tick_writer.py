from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast
from unittest.mock import Mock

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError
from sqlmodel import Session, col, select

from dashboard.models import Instrument, Tick
from dashboard.prices import ingest
from dashboard.prices.tick_writer import Prepare, TickWriter
from dashboard.store.db import session_factory
from tests.factories import make_instrument

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def commits() -> Mock:
    """The writer's ``on_written``: called once per transaction that wrote ticks."""
    return Mock()


@pytest.fixture
def writer(engine: Engine, commits: Mock) -> Iterator[TickWriter]:
    writer = TickWriter(session_factory(engine), on_written=commits)
    yield writer
    writer.close()


def ticks(symbol: str, *prices: float) -> Prepare:
    def prepare(_session: Session) -> Sequence[ingest.TickIn]:
        return [ingest.TickIn(symbol, price, NOW) for price in prices]

    return prepare


def held_until(gate: threading.Event, then: Prepare, entered: threading.Event) -> Prepare:
    """A batch whose check sets ``entered`` and waits for ``gate``: the writer's thread is
    busy with it meanwhile."""

    def prepare(session: Session) -> Sequence[ingest.TickIn]:
        entered.set()
        assert gate.wait(10)
        return then(session)

    return prepare


def stored(session: Session) -> list[tuple[str, float]]:
    session.expire_all()
    rows = session.exec(
        select(Instrument.symbol, Tick.price)
        .join(Instrument, col(Instrument.id) == col(Tick.instrument_id))
        .order_by(col(Tick.id))
    ).all()
    return [(symbol, price) for symbol, price in rows]


async def write_while_held(
    writer: TickWriter, waiting: list[tuple[Prepare, bool]]
) -> list[list[int] | BaseException]:
    """Hold the writer on a first batch, hand in ``waiting`` meanwhile, then let it go:
    the waiting batches are one group. Returns the first batch's outcome, then theirs."""
    gate, entered = threading.Event(), threading.Event()
    first = asyncio.ensure_future(writer.write(held_until(gate, ticks("ACME", 1.0), entered)))
    assert await asyncio.to_thread(entered.wait, 10)  # taken by the writer, alone
    rest = [
        asyncio.ensure_future(writer.write(prepare, create_missing=create))
        for prepare, create in waiting
    ]
    await asyncio.sleep(0)
    gate.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def test_batches_handed_in_while_one_is_written_are_committed_together(
    writer: TickWriter, commits: Mock, session: Session
) -> None:
    make_instrument(session, "ACME")
    waiting = [(ticks("ACME", float(n), float(n) + 0.5), False) for n in range(2, 7)]
    outcomes = asyncio.run(write_while_held(writer, waiting))
    assert commits.call_count == 2  # the held batch, then the five in one transaction
    assert not [o for o in outcomes if isinstance(o, BaseException)]
    # Each caller gets the ids of its own ticks, in the order the batches were handed in.
    flat = [i for ids in outcomes if isinstance(ids, list) for i in ids]
    assert flat == sorted(flat) and len(flat) == 11
    assert [price for _s, price in stored(session)] == [1.0] + [
        p for n in range(2, 7) for p in (float(n), n + 0.5)
    ]


def test_a_batch_naming_an_unknown_symbol_is_refused_and_its_group_is_written(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")
    waiting = [
        (ticks("ACME", 2.0), False),
        (ticks("NOPE", 3.0), False),
        (ticks("ACME", 4.0), False),
    ]
    first, good, bad, last = asyncio.run(write_while_held(writer, waiting))
    assert isinstance(good, list) and isinstance(last, list) and isinstance(first, list)
    assert isinstance(bad, ingest.IngestInvalid)
    # The error counts the refused batch's own items, not the group's.
    assert [(e.index, e.symbol) for e in bad.errors] == [(0, "NOPE")]
    assert bad.errors[0].error.startswith("unknown symbol (1 item(s) of this symbol)")
    assert stored(session) == [("ACME", 1.0), ("ACME", 2.0), ("ACME", 4.0)]


def test_a_batch_whose_check_refuses_it_writes_nothing_and_holds_up_no_other(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")

    def refused(_session: Session) -> Sequence[ingest.TickIn]:
        raise PermissionError("not a feeder")

    first, refused_outcome, good = asyncio.run(
        write_while_held(writer, [(refused, False), (ticks("ACME", 2.0), False)])
    )
    assert isinstance(refused_outcome, PermissionError)
    assert isinstance(good, list) and len(good) == 1
    assert stored(session) == [("ACME", 1.0), ("ACME", 2.0)]


def test_a_batch_the_store_refuses_fails_alone(
    writer: TickWriter, engine: Engine, session: Session
) -> None:
    # Past the checks, refused by the store itself, taking the group's INSERT down: NaN,
    # which SQLite stores as NULL (NOT NULL), and text for PostgreSQL's double precision.
    make_instrument(session, "ACME")
    refused = float("nan") if engine.dialect.name == "sqlite" else cast(float, "a price")
    _first, good, bad, last = asyncio.run(
        write_while_held(
            writer,
            [
                (ticks("ACME", 2.0), False),
                (ticks("ACME", refused), False),
                (ticks("ACME", 3.0), False),
            ],
        )
    )
    assert isinstance(bad, DBAPIError | StatementError), bad
    assert isinstance(good, list) and isinstance(last, list)
    assert stored(session) == [("ACME", 1.0), ("ACME", 2.0), ("ACME", 3.0)]


def test_instruments_created_for_one_batch_survive_another_batchs_refusal(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")
    _first, created, refused = asyncio.run(
        write_while_held(writer, [(ticks("NEWCO", 12.5), True), (ticks("NOPE", 1.0), False)])
    )
    assert isinstance(created, list) and isinstance(refused, ingest.IngestInvalid)
    assert stored(session) == [("ACME", 1.0), ("NEWCO", 12.5)]


def test_a_cancelled_caller_leaves_its_write_to_finish_and_the_writer_serving(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")

    async def scenario() -> list[int]:
        gate, entered = threading.Event(), threading.Event()
        task = asyncio.ensure_future(writer.write(held_until(gate, ticks("ACME", 1.0), entered)))
        assert await asyncio.to_thread(entered.wait, 10)
        task.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await writer.write(ticks("ACME", 2.0))

    ids = asyncio.run(scenario())
    assert len(ids) == 1
    assert stored(session) == [("ACME", 1.0), ("ACME", 2.0)]


def test_writes_from_another_event_loop_are_answered_on_it(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")
    outcomes: list[list[int]] = []

    def in_own_loop(price: float) -> Callable[[], None]:
        return lambda: outcomes.append(asyncio.run(writer.write(ticks("ACME", price))))

    threads = [threading.Thread(target=in_own_loop(p)) for p in (1.0, 2.0, 3.0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(len(ids) for ids in outcomes) == [1, 1, 1]
    assert sorted(price for _s, price in stored(session)) == [1.0, 2.0, 3.0]


def test_a_closed_writer_refuses_a_batch_at_once(writer: TickWriter, session: Session) -> None:
    make_instrument(session, "ACME")
    writer.close()
    with pytest.raises(RuntimeError):
        asyncio.run(writer.write(ticks("ACME", 1.0)))
    assert stored(session) == []


def test_a_caller_whose_event_loop_has_closed_does_not_stop_the_writer(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")
    gate, entered = threading.Event(), threading.Event()

    async def hand_in_and_leave() -> None:
        # Handed in, then its loop ends before the write is done.
        asyncio.ensure_future(writer.write(held_until(gate, ticks("ACME", 1.0), entered)))
        assert await asyncio.to_thread(entered.wait, 10)

    asyncio.run(hand_in_and_leave())
    gate.set()
    assert asyncio.run(asyncio.wait_for(writer.write(ticks("ACME", 2.0)), 10))
    assert stored(session) == [("ACME", 1.0), ("ACME", 2.0)]


def test_a_batch_naming_what_an_earlier_one_adds_is_written_after_it(
    writer: TickWriter, commits: Mock, session: Session
) -> None:
    # Was: the batches adding instruments were written after all the others of a round,
    # so the later batch was refused ("unknown symbol") though handed in after.
    make_instrument(session, "ACME")
    _first, adds, names = asyncio.run(
        write_while_held(writer, [(ticks("NEWCO", 12.5), True), (ticks("NEWCO", 13.0), False)])
    )
    assert isinstance(adds, list) and isinstance(names, list), (adds, names)
    assert stored(session) == [("ACME", 1.0), ("NEWCO", 12.5), ("NEWCO", 13.0)]


def test_batches_adding_instruments_are_committed_together(
    writer: TickWriter, commits: Mock, session: Session
) -> None:
    # Was: one transaction each (a socket with ?create_missing=true and 32 messages
    # queued made 32 commits).
    make_instrument(session, "ACME")
    waiting = [(ticks("NEWA", 1.5), True), (ticks("NEWB", 2.5), True), (ticks("NEWA", 1.75), True)]
    outcomes = asyncio.run(write_while_held(writer, waiting))
    assert all(isinstance(o, list) for o in outcomes), outcomes
    assert commits.call_count == 2  # the held batch, then the three in one transaction
    assert stored(session) == [("ACME", 1.0), ("NEWA", 1.5), ("NEWB", 2.5), ("NEWA", 1.75)]


def test_a_refusal_among_batches_adding_instruments_leaves_the_others_instruments(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")
    waiting = [
        (ticks("NEWA", 1.5), True),
        (ticks("not a symbol!", 2.0), True),  # cannot be an instrument
        (ticks("NEWB", 2.5), True),
    ]
    _first, new_a, refused, new_b = asyncio.run(write_while_held(writer, waiting))
    assert isinstance(refused, ingest.IngestInvalid)
    assert isinstance(new_a, list) and isinstance(new_b, list)
    assert stored(session) == [("ACME", 1.0), ("NEWA", 1.5), ("NEWB", 2.5)]


def test_a_store_failure_not_of_the_data_writes_no_batch_twice(
    writer: TickWriter, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection lost during COMMIT may have committed: writing each batch again on its
    # own (as for a refused symbol) would store its ticks twice.
    make_instrument(session, "ACME")
    real_write = ingest.write
    calls = []

    def commits_then_fails(**kwargs: Any) -> list[int]:
        calls.append(kwargs)
        ids = real_write(**kwargs)
        if len(kwargs["ticks"]) > 1:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))
        return ids

    monkeypatch.setattr(ingest, "write", commits_then_fails)
    _first, one, two = asyncio.run(
        write_while_held(writer, [(ticks("ACME", 2.0), False), (ticks("ACME", 3.0), False)])
    )
    assert isinstance(one, OperationalError) and isinstance(two, OperationalError)
    assert stored(session) == [("ACME", 1.0), ("ACME", 2.0), ("ACME", 3.0)]


def test_closing_answers_what_was_handed_in_and_refuses_what_comes_after(
    writer: TickWriter, session: Session
) -> None:
    make_instrument(session, "ACME")

    async def scenario() -> tuple[list[int] | BaseException, ...]:
        gate, entered = threading.Event(), threading.Event()
        first = asyncio.ensure_future(writer.write(held_until(gate, ticks("ACME", 1.0), entered)))
        assert await asyncio.to_thread(entered.wait, 10)
        waiting = asyncio.ensure_future(writer.write(ticks("ACME", 2.0)))
        await asyncio.sleep(0)
        writer.close()
        gate.set()
        assert await writer.wait_idle(10)
        with pytest.raises(RuntimeError, match="closed"):
            await writer.write(ticks("ACME", 3.0))
        return tuple(await asyncio.gather(first, waiting, return_exceptions=True))

    first, waiting = asyncio.run(asyncio.wait_for(scenario(), 20))
    assert isinstance(first, list) and isinstance(waiting, list)
    assert stored(session) == [("ACME", 1.0), ("ACME", 2.0)]
