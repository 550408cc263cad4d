"""Fixtures: a fresh migrated SQLite file per test, settings built per test, a live server."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from dashboard.runtime import Runtime
from dashboard.settings import Settings
from dashboard.store import schema
from dashboard.store.db import make_engine
from dashboard.web.app import create_app
from tests.factories import PASSWORD

POSTGRES_URL = os.environ.get(
    "DASHBOARD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@functools.cache
def _postgres_available() -> bool:
    engine = create_engine(POSTGRES_URL, poolclass=NullPool)
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


# `make test` runs on SQLite; DASHBOARD_TEST_STORES=sqlite,postgresql adds PostgreSQL.
STORES = os.environ.get("DASHBOARD_TEST_STORES", "sqlite").split(",")


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated store per test: an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        schema.upgrade(url)
        yield url
        return
    if os.environ.get("CI") and not _postgres_available():
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    if not _postgres_available():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    pg_url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={name}"})
    rendered = pg_url.render_as_string(hide_password=False)
    schema.upgrade(rendered)
    yield rendered
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key="test-secret-key-not-for-production",
        feed_enabled=False,
        price_poll_interval=0.05,
        notification_poll_interval=0.05,
        dev_secret_file=tmp_path / "dev-secret",
    )


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A separate engine: writes through it come from 'another process' as far as the app knows."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Poll ``condition`` until it is truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


async def wait_until_async(
    condition: Callable[[], object], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """``wait_until`` for coroutines: poll ``condition`` without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


class LiveServer:
    """A real uvicorn serving the app in a thread on a free port; can be restarted."""

    def __init__(self, make_app: Callable[[], FastAPI], **config: Any) -> None:
        self._make_app = make_app
        self._config = config  # more uvicorn.Config options (e.g. its http protocol)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.app: FastAPI | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.app = self._make_app()
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="on",
            **self._config,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server is not None and self._server.started, timeout=15)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
            assert not self._thread.is_alive(), "server did not stop"
        self._server = None
        self._thread = None

    @property
    def runtime(self) -> Runtime:
        assert self.app is not None
        runtime: Runtime = self.app.state.runtime
        return runtime

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=10)

    def login(self, username: str, password: str = PASSWORD) -> httpx.Client:
        """A client with a logged-in session cookie."""
        client = self.client()
        token = csrf_from(client.get("/login").text)
        response = client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert response.status_code == 303, response.text
        return client


def csrf_from(html: str) -> str:
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(lambda: create_app(settings))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def login_as(client: TestClient) -> Callable[[str], str]:
    """Log ``client`` in as a user; returns the session's CSRF token."""

    def login(username: str) -> str:
        token = csrf_from(client.get("/login").text)
        response = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        return csrf_from(client.get("/").text)

    return login


@pytest.fixture
def limited_client(settings: Settings) -> Iterator[Callable[..., TestClient]]:
    """Clients of apps built with some settings changed (e.g. lower limits), started."""
    clients: list[TestClient] = []

    def build(**changes: object) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=changes)))
        clients.append(client.__enter__())
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def log_in(client: TestClient, username: str) -> str:
    """Log ``client`` in; return the session's CSRF token."""
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/").text)
