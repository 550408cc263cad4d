"""What several processes on one PostgreSQL need: ids in commit order, and wake-ups.

**Ids in commit order.** The pollers and every stream's resume read ``id > cursor``. A
sequence hands out ids when rows are inserted, not when they commit: transaction A takes
10, B takes 11 and commits first, a poller reads 11 and moves its cursor past 10, which
then commits and is never delivered. So every insert into ``tick`` or ``notification``
first takes a transaction-scoped advisory lock for its table: ids are drawn under the
lock, which is held until commit, so they become visible in id order. The lock is taken
by an engine hook for *every* such INSERT this code issues (ORM, Core, bulk), so no
writer can forget it. A program writing into these tables from outside must take the
same lock (``SELECT pg_advisory_xact_lock(<key>)``, keys below) in its transaction.

**Wake-ups.** The same hook sends ``NOTIFY`` on the table's channel (delivered at commit,
not at all on rollback). Every process LISTENs and wakes its poller, so a write on one
machine reaches streams on another in milliseconds; the pollers still poll as a safety
net for a notification missed while the listening connection was down.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock(namespace, key): the namespace keeps clear of other applications.
LOCK_NAMESPACE = 0x44415348  # "DASH"
LOCK_KEYS = {"tick": 1, "notification": 2}
CHANNELS = {"tick": "dashboard_tick", "notification": "dashboard_notification"}

_INSERT = re.compile(r"\s*INSERT\s+INTO\s+\"?(tick|notification)\"?[\s(]", re.IGNORECASE)
_RECONNECT_SECONDS = 1.0


def install_commit_order(engine: Engine) -> None:
    """Serialise inserts per table and announce them (PostgreSQL engines only)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _before_insert(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        match = _INSERT.match(statement)
        if match is None:
            return
        table = match.group(1).lower()
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s), pg_notify(%s, '')",
            (LOCK_NAMESPACE, LOCK_KEYS[table], CHANNELS[table]),
        )


def _conninfo(database_url: str) -> str:
    """The SQLAlchemy URL as a libpq URI (keeping ``options`` such as a search path)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(database_url: str, wake: Mapping[str, Callable[[], None]]) -> None:
    """LISTEN on each table's channel and call ``wake[table]`` for every notification.

    Runs until cancelled; a lost connection is re-opened after a short pause (the pollers
    keep polling meanwhile, so nothing is missed, only later).
    """
    import psycopg  # here: a SQLite store never needs it (an eighth of a second to import)

    by_channel = {CHANNELS[table]: callback for table, callback in wake.items()}
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                _conninfo(database_url), autocommit=True
            ) as connection:
                for channel in by_channel:
                    await connection.execute(f"LISTEN {channel}")
                logger.info("listening for writes from other processes")
                async for notify in connection.notifies():
                    callback = by_channel.get(notify.channel)
                    if callback is not None:
                        callback()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("LISTEN connection lost; polling only until it is back", exc_info=True)
        await asyncio.sleep(_RECONNECT_SECONDS)
