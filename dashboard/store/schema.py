"""Alembic, driven from code: upgrade to head, and check the store is up to date."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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
