"""Alembic, driven from code: upgrade to head, and check the store is up to date."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from dashboard.resources import resource_dir


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resource_dir("migrations")))
    # Percent signs in a URL (encoded passwords) would be read as interpolation.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Create or update every table (the only way tables are made)."""
    command.upgrade(alembic_config(database_url), "head")


# Any fixed number: the PostgreSQL advisory lock that migrations hold while they run.
_MIGRATION_LOCK_KEY = 0x64617368  # "dash"


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Hold the store's migration lock: one migration run at a time, whatever process.

    Two ``dashboard migrate`` at once on a new store both saw no tables and both created
    them ("table … already exists"). The second now waits, then finds the store at head.
    PostgreSQL: a session advisory lock on a connection of its own. SQLite: an exclusive
    lock on a file beside the database, taken before the first connection (the database's
    own locks do not span Alembic's several transactions).
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            holder.commit()  # the lock is the session's, not the transaction's
            try:
                yield
            finally:
                holder.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                holder.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database:
        yield
        return
    with Path(f"{database}.migrate-lock").open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


class SchemaOutdated(RuntimeError):
    """The store is not at the newest migration."""


def check_current(engine: Engine) -> None:
    """Raise :class:`SchemaOutdated` unless the store is migrated to head."""
    script = ScriptDirectory.from_config(alembic_config(engine.url.render_as_string(False)))
    heads = set(script.get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current != heads:
        raise SchemaOutdated(
            f"the database is at {sorted(current) or 'no revision'}, the code needs "
            f"{sorted(heads)}: run `dashboard migrate` first"
        )
