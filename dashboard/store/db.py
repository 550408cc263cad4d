"""The engine, its SQLite pragmas, sessions, and running blocking queries off the loop."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from dashboard.store import postgres

# How long an SQLite connection waits for a lock before "database is locked".
BUSY_TIMEOUT_MS = 30_000


def make_engine(database_url: str) -> Engine:
    """Create the engine; SQLite gets WAL, a busy timeout and foreign keys per connection.

    On PostgreSQL, inserts into the streamed tables commit in id order and are announced
    to other processes (see :mod:`dashboard.store.postgres`).
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        engine = create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        if url.get_backend_name() == "postgresql":
            postgres.install_commit_order(engine)
        return engine

    if not url.database or url.database == ":memory:":
        # Every connection of an in-memory SQLite has a database of its own: the pollers'
        # threads would never see what the migrations and the routes wrote.
        raise ValueError(
            "an in-memory SQLite store cannot be shared between threads; name a file, "
            "e.g. sqlite:///./var/dashboard.db"
        )
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # Sync SQLite driven from worker threads: one connection per thread from the pool.
    engine = create_engine(
        database_url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=10,
        max_overflow=20,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # busy_timeout turns a brief writer collision into a wait instead of "database is
    # locked"; WAL lets the pollers read while the feed writes.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SessionFactory = Callable[[], Session]


def session_factory(engine: Engine) -> SessionFactory:
    """Return a callable that opens a new short-lived session on ``engine``."""

    def open_session() -> Session:
        return Session(engine, expire_on_commit=False)

    return open_session


@contextmanager
def session_scope(open_session: SessionFactory) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = open_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _switch_to_wal(cursor: Any, attempts: int = 50) -> None:
    """``PRAGMA journal_mode=WAL``, retried: on a new file, two processes switching at once
    get "database is locked" at once (SQLite does not wait there: the switch needs an
    exclusive lock, and waiting could deadlock). Once set, WAL stays; the pragma is a read.
    """
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


def dialect_of(session: Session) -> str:
    """The name of the session's database dialect ("sqlite", "postgresql")."""
    return session.get_bind().dialect.name
