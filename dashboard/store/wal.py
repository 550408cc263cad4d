"""SQLite's write-ahead log: its size, and checkpoints that shrink it when readers allow.

A reader that holds a transaction open (an outside tool, a forgotten shell) stops SQLite
from recycling the WAL, so every write grows the file (issue 18 measured ~15.6 MB a
minute) and it never shrinks by itself. The size is a metric and a /readyz check; a
``TRUNCATE`` checkpoint runs every interval and empties the file once no reader needs it.
See https://www.sqlite.org/wal.html ("Avoiding Excessively Large WAL Files").
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from dashboard.store.db import BUSY_TIMEOUT_MS

logger = logging.getLogger(__name__)


def wal_path(engine: Engine) -> Path | None:
    """The WAL file of an SQLite store (None for other stores)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    return Path(f"{engine.url.database}-wal")


def wal_bytes(engine: Engine) -> int | None:
    """The WAL's size in bytes (0 when there is none yet; None for other stores)."""
    path = wal_path(engine)
    if path is None:
        return None
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """``PRAGMA wal_checkpoint(TRUNCATE)``'s answer: ``busy`` when a reader or writer
    kept it from finishing; ``log_frames`` in the WAL, ``checkpointed_frames`` copied."""

    busy: bool
    log_frames: int
    checkpointed_frames: int


def checkpoint(engine: Engine) -> Checkpoint | None:
    """Copy the WAL into the database and truncate it, as far as readers allow.

    Never waits: a TRUNCATE checkpoint that waits for readers also holds back every new
    writer meanwhile (the feed's ticks would stall), so it runs with no busy timeout and
    reports ``busy`` instead; the next interval tries again.
    """
    if wal_path(engine) is None:
        return None
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            busy, log, done = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return Checkpoint(busy=bool(busy), log_frames=log, checkpointed_frames=done)


async def run_checkpoints(engine: Engine, *, every: float, warn_bytes: int) -> None:
    """Checkpoint every ``every`` seconds; log when the WAL stays past ``warn_bytes``."""
    while True:
        await asyncio.sleep(every)
        try:
            result = await asyncio.to_thread(checkpoint, engine)
            size = await asyncio.to_thread(wal_bytes, engine)
        except Exception:
            logger.exception("WAL checkpoint failed; trying again later")
            continue
        if result is not None and result.busy and size is not None and size > warn_bytes:
            logger.warning(
                "the WAL is %.1f MB and a reader keeps it from shrinking "
                "(a transaction held open?)",
                size / 1_048_576,
            )
