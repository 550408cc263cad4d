"""Alembic environment: SQLModel's metadata, the URL from the caller or from settings."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import dashboard.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from dashboard.settings import Settings
from dashboard.store.db import make_engine
from dashboard.store.schema import migration_lock

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with migration_lock(engine), engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
