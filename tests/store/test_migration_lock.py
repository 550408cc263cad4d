"""Migrations run one at a time, however many ``dashboard migrate`` start at once."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from dashboard.store import schema
from dashboard.store.db import make_engine
from tests.conftest import POSTGRES_URL, _postgres_available

ROUNDS = 6


def migrate_twice_at_once(url: str) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "DASHBOARD_DATABASE_URL": url}
    command = [sys.executable, "-m", "dashboard.cli", "migrate"]
    runs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    finished = []
    for run in runs:
        output, _ = run.communicate(timeout=60)
        finished.append(subprocess.CompletedProcess(run.args, run.returncode, output, None))
    return finished


@pytest.fixture
def empty_postgres_schemas() -> Iterator[list[str]]:
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    names = [f"m_{uuid.uuid4().hex[:12]}" for _ in range(ROUNDS)]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
    urls = [
        make_url(POSTGRES_URL)
        .update_query_dict({"options": f"-csearch_path={name}"})
        .render_as_string(hide_password=False)
        for name in names
    ]
    yield urls
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


def assert_migrated_once(url: str) -> None:
    runs = migrate_twice_at_once(url)
    assert [run.returncode for run in runs] == [0, 0], [run.stdout for run in runs]
    engine = make_engine(url)
    try:
        schema.check_current(engine)
    finally:
        engine.dispose()


def test_regression_two_migrations_at_once_on_a_new_sqlite_store(tmp_path: Path) -> None:
    # Was: in 4 of 16 runs one of them died with "table … already exists".
    for round_ in range(ROUNDS):
        assert_migrated_once(f"sqlite:///{tmp_path / f'new-{round_}.db'}")


def test_regression_two_migrations_at_once_on_a_new_postgresql_schema(
    empty_postgres_schemas: list[str],
) -> None:
    for url in empty_postgres_schemas:
        assert_migrated_once(url)
