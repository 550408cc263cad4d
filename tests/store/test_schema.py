from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from dashboard.store import schema
from dashboard.store.db import make_engine


def test_migrations_create_exactly_the_models_tables(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"render_as_batch": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        tables = set(inspect(connection).get_table_names())
    assert {
        "user",
        "instrument",
        "tick",
        "topic",
        "subscription",
        "notification",
        "notificationread",
        "lease",
    } <= tables
    schema.check_current(engine)
    engine.dispose()


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pragmas.db'}"
    schema.upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        assert cursor.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    engine.dispose()


def test_an_unmigrated_store_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(schema.SchemaOutdated, match="dashboard migrate"):
        schema.check_current(engine)
    engine.dispose()
