"""Sessions: the factory, and the scope that commits on success and rolls back on error.

(The SQLite pragmas are checked in test_schema.py.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dashboard.models import Topic
from dashboard.store.db import make_engine, session_factory, session_scope
from tests.factories import make_topic


class Interrupted(BaseException):
    """Not an Exception: like KeyboardInterrupt or a cancellation."""


def slugs(engine: Engine) -> list[str]:
    """What the store holds, read through a session of its own."""
    with Session(engine) as session:
        return list(session.exec(select(Topic.slug).order_by(col(Topic.slug))).all())


def test_the_factory_opens_a_new_session_on_the_engine_each_time(engine: Engine) -> None:
    open_session = session_factory(engine)
    first, second = open_session(), open_session()
    try:
        assert first is not second
        assert first.get_bind() is engine and second.get_bind() is engine
    finally:
        first.close()
        second.close()


def test_objects_stay_readable_after_commit_and_close(engine: Engine) -> None:
    # expire_on_commit=False: a row returned from a finished session needs no reload.
    with session_scope(session_factory(engine)) as session:
        topic = Topic(slug="ops", name="Ops")
        session.add(topic)
    assert inspect(topic).detached
    # An expired detached row would raise DetachedInstanceError here instead.
    assert topic.id is not None and (topic.slug, topic.name) == ("ops", "Ops")


def test_the_scope_commits_on_success(engine: Engine) -> None:
    with session_scope(session_factory(engine)) as session:
        session.add(Topic(slug="ops", name="Ops"))
        session.add(Topic(slug="dev", name="Dev"))
    assert slugs(engine) == ["dev", "ops"]


def test_the_scope_rolls_back_on_an_error_and_passes_it_on(engine: Engine) -> None:
    with (
        pytest.raises(ValueError, match="bad input"),
        session_scope(session_factory(engine)) as session,
    ):
        session.add(Topic(slug="ops", name="Ops"))
        session.flush()  # written to the transaction, not committed
        raise ValueError("bad input")
    assert slugs(engine) == []


@pytest.mark.parametrize("interruption", [Interrupted(), asyncio.CancelledError()])
def test_the_scope_rolls_back_on_an_interruption_too(
    engine: Engine, interruption: BaseException
) -> None:
    with pytest.raises(type(interruption)), session_scope(session_factory(engine)) as session:
        session.add(Topic(slug="ops", name="Ops"))
        session.flush()
        raise interruption
    assert slugs(engine) == []


def test_a_failed_commit_writes_nothing_of_the_scope(engine: Engine, session: Session) -> None:
    make_topic(session, "ops")
    with pytest.raises(IntegrityError), session_scope(session_factory(engine)) as scoped:
        scoped.add(Topic(slug="dev", name="Dev"))
        scoped.add(Topic(slug="ops", name="Ops again"))  # the slug is taken
    assert slugs(engine) == ["ops"]


def test_the_scope_closes_its_session_either_way(engine: Engine) -> None:
    opened: list[Session] = []

    def open_session() -> Session:
        opened.append(Session(engine, expire_on_commit=False))
        return opened[-1]

    with session_scope(open_session) as session:
        kept = Topic(slug="ops", name="Ops")
        session.add(kept)
    with pytest.raises(RuntimeError), session_scope(open_session) as session:
        dropped = Topic(slug="dev", name="Dev")
        session.add(dropped)
        raise RuntimeError
    assert len(opened) == 2
    for session in opened:
        assert not session.in_transaction() and len(session.identity_map) == 0
    assert inspect(kept).detached and inspect(dropped).transient


def test_an_sqlite_store_in_a_new_directory_gets_the_directory(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "deeper" / "store.db"
    engine = make_engine(f"sqlite:///{target}")
    try:
        assert target.parent.is_dir()
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT 1").scalar() == 1
        assert target.exists()
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://"])
def test_an_in_memory_sqlite_store_is_refused_clearly_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    # Each connection of an in-memory SQLite is a database of its own: the pollers' threads
    # would read an empty store. Was: a TypeError from the pool arguments.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="in-memory SQLite"):
        make_engine(url)
    assert list(tmp_path.iterdir()) == []
