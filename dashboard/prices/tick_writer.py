"""The process's one tick writer: the live ingest paths' writes, group-committed.

``POST /api/ticks`` and ``WS /ws/ingest`` hand each batch of ticks (a request's body, a
socket's message) to :class:`TickWriter`. One thread takes every batch waiting at once,
checks each in its own right (who sends it, what it holds, its symbols) and writes the
good ones in one transaction: one store session, one commit and one hop back to the event
loop for the lot. A batch that is refused does not hold up the others.

Why one thread and not the shared worker pool: SQLite takes one writer at a time anyway,
and four requests posting at once in four pool threads spent their time taking turns at
that lock and at the GIL (single-tick POSTs, 4 connections: 1.24 ms of server CPU a
request in the pool, 1.01 ms on one thread, before the group commit; docs/benchmarks.md).
The writes stay off the event loop: one that waits for SQLite's lock or runs its WAL
checkpoint would stall every open stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlmodel import Session

from dashboard.prices import ingest
from dashboard.store.db import SessionFactory

logger = logging.getLogger(__name__)

Prepare = Callable[[Session], Sequence[ingest.TickIn]]
"""Checks a batch and returns its ticks, on the writer's thread with the group's session:
who sends it (raising to refuse it), and its body parsed (raising
:class:`~dashboard.prices.ingest.IngestInvalid` or ``ValueError``). The session is for
reads; the writer commits."""


@dataclass(eq=False, slots=True)
class _Batch:
    prepare: Prepare
    create_missing: bool
    future: asyncio.Future[list[int]]
    loop: asyncio.AbstractEventLoop
    ids: list[int] | None = None
    error: BaseException | None = None
    ticks: Sequence[ingest.TickIn] = field(default_factory=list)


class TickWriter:
    """Writes batches of ticks for the live ingest paths, many per transaction.

    ``on_written`` is called (on the writer's thread) after each commit that wrote ticks:
    the price poller's wake-up, so the tiles follow at once.
    """

    def __init__(self, open_session: SessionFactory, on_written: Callable[[], None]) -> None:
        self._open_session = open_session
        self._on_written = on_written
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tick-writer")
        self._lock = threading.Lock()
        self._waiting: list[_Batch] = []
        self._draining = False
        self._closed = False

    async def write(self, prepare: Prepare, *, create_missing: bool = False) -> list[int]:
        """Write one batch: the ids of its ticks in their order, once committed.

        Raises what ``prepare`` raises, :class:`~dashboard.prices.ingest.IngestInvalid`
        for unknown or retired symbols (or instruments ``create_missing`` could not add),
        and the store's own errors; a batch refused wrote nothing. ``RuntimeError`` once
        the writer is closed. Batches are written in the order they are handed in.
        Cancelling the caller does not stop a write that has started.
        """
        loop = asyncio.get_running_loop()
        batch = _Batch(prepare, create_missing, loop.create_future(), loop)
        with self._lock:
            if self._closed:
                raise RuntimeError("the tick writer is closed: the server is shutting down")
            self._waiting.append(batch)
            start = not self._draining
            self._draining = True
        if start:
            self._executor.submit(self._drain)
        return await batch.future

    def close(self) -> None:
        """Take no more batches. Those already handed in are still written and answered,
        on the writer's thread (Runtime.stop waits a moment for its store connection)."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=False)

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is being written or waits to be (at most ``timeout`` s);
        whether that is so."""
        deadline = time.monotonic() + timeout
        while self._draining and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return not self._draining

    def _drain(self) -> None:
        """On the writer's thread: write what waits, group by group, until nothing does."""
        while True:
            with self._lock:
                batches, self._waiting = self._waiting, []
                if not batches:
                    self._draining = False
                    return
            try:
                # In the order handed in, a transaction per run of batches that do or do
                # not add missing instruments (a later batch may name what an earlier
                # one adds).
                run: list[_Batch] = []
                for batch in batches:
                    if run and batch.create_missing != run[0].create_missing:
                        self._write_group(run)
                        run = []
                    run.append(batch)
                self._write_group(run)
            except BaseException as error:  # the store went away mid-group, say
                logger.exception("tick writer failed")
                for batch in batches:
                    if batch.ids is None and batch.error is None:
                        batch.error = error
            # One hop back per event loop (there is one, but for tests) for the whole group.
            for loop in {batch.loop for batch in batches}:
                # A loop closed meanwhile has nobody waiting for these.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, [b for b in batches if b.loop is loop])

    def _write_group(self, batches: list[_Batch]) -> None:
        if not batches:
            return
        create_missing = batches[0].create_missing
        with self._open_session() as session:
            ready: list[_Batch] = []
            for batch in batches:
                try:
                    batch.ticks = batch.prepare(session)
                except SQLAlchemyError as error:
                    session.rollback()  # reads only so far; the next batch needs a session
                    batch.error = error
                except Exception as error:
                    batch.error = error
                else:
                    ready.append(batch)
            if not ready:
                return
            try:
                ids = ingest.write(
                    session=session,
                    ticks=[tick for batch in ready for tick in batch.ticks],
                    create_missing=create_missing,
                )
            except (ingest.IngestInvalid, IntegrityError, DataError) as error:
                session.rollback()
                if len(ready) == 1:
                    ready[0].error = error
                    return
                # Some batch names an unknown or retired symbol, holds what the store
                # refuses, or could not add its instruments (their creation was rolled
                # back with the group): each on its own, so that the others are written
                # and the error is told to the right one.
                for batch in ready:
                    try:
                        batch.ids = ingest.write(
                            session=session, ticks=batch.ticks, create_missing=create_missing
                        )
                    except Exception as refused:
                        session.rollback()
                        batch.error = refused
            except Exception as error:
                # Not the data's fault (the store went away, maybe during the commit, which
                # may then have happened): no batch is written again; each is told.
                session.rollback()
                for batch in ready:
                    batch.error = error
                return
            else:
                start = 0
                for batch in ready:
                    batch.ids = ids[start : start + len(batch.ticks)]
                    start += len(batch.ticks)
        if any(batch.ids for batch in ready):
            self._on_written()


def _settle(batches: list[_Batch]) -> None:
    """On the batches' event loop: hand each caller its ids or its error."""
    for batch in batches:
        if batch.future.done():  # the caller was cancelled
            continue
        if batch.ids is not None:
            batch.future.set_result(batch.ids)
        else:
            batch.future.set_exception(batch.error or RuntimeError("the batch was not written"))
