"""What create_app adds to every route: CSRF on forms, clear 4xx errors (never a 500),
error pages, and refusing text the store cannot hold."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.routing import Mount

from dashboard.inbox import queries
from dashboard.models import Audience, Notification, NotificationRead, Subscription
from dashboard.web.app import _LEAF_ROUTES, _add_routes
from dashboard.web.deps import get_api_user
from tests.conftest import csrf_from
from tests.factories import (
    PASSWORD,
    add_notification,
    make_topic,
    make_user,
)


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_state_changing_forms_need_the_csrf_token(
    client: TestClient, session: Session, login_as: Callable[[str], str], token: str | None
) -> None:
    make_user(session, "admin", is_admin=True)
    topic = make_topic(session, "markets")
    login_as("admin")
    fields = {} if token is None else {"csrf_token": token}
    posts = [
        ("/admin/notifications", {"title": "hi", **fields}),
        (f"/settings/topics/{topic.id}", {"subscribed": "true", **fields}),
        ("/notifications/read-all", fields),
        ("/logout", fields),
    ]
    for path, data in posts:
        response = client.post(path, data=data, headers={"accept": "text/html"})
        assert response.status_code == 403, path
        assert "CSRF" in response.text
    assert session.exec(select(Notification)).all() == []
    assert session.exec(select(Subscription)).all() == []
    assert client.get("/settings").status_code == 200  # still logged in


def test_regression_an_id_beyond_64_bits_is_a_422_not_an_overflow(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    # Found by the OpenAPI fuzzer: SQLite raised OverflowError, which was a 500.
    make_user(session, "alice")
    token = login_as("alice")
    huge = 2**63
    for path in (
        f"/notifications/{huge}/read",
        f"/settings/topics/{huge}",
        f"/alerts/{huge}/delete",
    ):
        assert client.post(path, data={"csrf_token": token}).status_code == 422, path
    assert client.get(f"/notifications?before={huge}").status_code == 422
    make_user(session, "admin", is_admin=True)
    login_as("admin")
    assert client.get(f"/admin?sent={huge}").status_code == 422


def test_marking_someone_elses_notification_read_is_a_404(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "alice")
    bob = make_user(session, "bob")
    private = add_notification(session, "bob's", audience=Audience.user, user=bob)
    public = add_notification(session, "all")
    token = login_as("alice")
    assert (
        client.post(f"/notifications/{private.id}/read", data={"csrf_token": token}).status_code
        == 404
    )
    assert session.exec(select(NotificationRead)).all() == []
    read = client.post(
        f"/notifications/{public.id}/read",
        data={"csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert read.status_code == 200
    assert "is-unread" not in read.text
    assert 'aria-label="0 unread">0</span>' in read.text


@pytest.mark.parametrize(
    "path",
    [
        "/notifications?before=abc",
        "/notifications?before=-5",
        "/api/prices/NOPE/history",
        "/api/prices/X/history?limit=0",
    ],
)
def test_bad_query_input_is_a_clear_4xx_never_a_500(
    client: TestClient, session: Session, login_as: Callable[[str], str], path: str
) -> None:
    make_user(session, "alice")
    login_as("alice")
    response = client.get(path)
    assert 400 <= response.status_code < 500


def refuse_nul_as_postgresql_does(engine: Engine) -> None:
    """Make an SQLite store refuse NUL in text the way PostgreSQL's driver does.

    SQLite holds NUL bytes; PostgreSQL refuses them with a DataError before anything is
    written. This raises the driver's DataError for the same statements.
    """

    def refuse(
        _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        rows = parameters if many else [parameters]
        values = (v for row in rows for v in (row.values() if isinstance(row, dict) else row))
        if any(isinstance(value, str) and "\x00" in value for value in values):
            raise sqlite3.DataError("text fields cannot contain NUL (0x00) bytes")

    event.listen(engine, "before_cursor_execute", refuse)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_text_the_store_cannot_hold_is_a_422(
    app: FastAPI, client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    # Found by the fuzzer on PostgreSQL, which refuses NUL bytes in text.
    engine = app.state.runtime.engine
    if engine.dialect.name == "sqlite":
        refuse_nul_as_postgresql_does(engine)
    make_user(session, "admin", is_admin=True)
    token = csrf_from(client.get("/login").text)
    refused_login = client.post(
        "/login", data={"username": "ad\x00min", "password": PASSWORD, "csrf_token": token}
    )
    assert refused_login.status_code == 422
    assert "cannot be stored" in refused_login.text
    assert client.get("/settings", follow_redirects=False).status_code == 303  # not signed in

    csrf = login_as("admin")
    refused_post = client.post(
        "/admin/notifications",
        data={"csrf_token": csrf, "title": "nul \x00 here", "audience": "everyone"},
        follow_redirects=False,
    )
    assert refused_post.status_code == 422
    assert "cannot be stored" in refused_post.text
    assert session.exec(select(Notification)).all() == []


def test_an_error_page_shows_the_badge_read_off_the_event_loop(
    client: TestClient,
    session: Session,
    login_as: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = make_user(session, "alice")
    add_notification(session, "for alice", audience=Audience.user, user=alice)
    login_as("alice")
    # The error handlers are async: a badge query on the loop would stall every stream.
    read_on_a_loop: list[bool] = []
    read_badge = queries.badge

    def recording_badge(**kwargs: Any) -> queries.Badge:
        try:
            asyncio.get_running_loop()
            read_on_a_loop.append(True)
        except RuntimeError:
            read_on_a_loop.append(False)
        return read_badge(**kwargs)

    monkeypatch.setattr(queries, "badge", recording_badge)
    page = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and "Not found" in page.text
    assert 'aria-label="1 unread">1</span>' in page.text
    assert 'data-stream="/events?view=inbox&amp;after=' in page.text
    assert read_on_a_loop == [False]


def test_private_pages_and_api_answers_are_never_cached_but_assets_may_be(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "alice")
    login_as("alice")
    for path in ("/", "/notifications", "/settings", "/api/notifications", "/api/prices"):
        assert client.get(path).headers["cache-control"] == "no-store", path
    asset = client.get("/static/app.css")
    assert asset.status_code == 200 and "no-store" not in asset.headers.get("cache-control", "")


def test_regression_the_favicon_is_served_and_linked_from_every_page(client: TestClient) -> None:
    # Was: /favicon.ico was a 404 on every page load.
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/svg+xml"
    assert (
        icon.content.startswith(b"<svg")
        and icon.content == client.get("/static/favicon.svg").content
    )
    assert "no-store" not in icon.headers["cache-control"]
    assert '<link rel="icon" href="/static/favicon.svg?v=' in client.get("/").text


def test_regression_every_route_is_the_apps_own_so_no_request_searches_router_nodes(
    app: FastAPI,
) -> None:
    # Since FastAPI 0.137 an included router stays a node that every request searched twice:
    # up to 0.2 ms of CPU per request here. The routes are added as they are instead.
    # (The static files are mounts: one prefix check each.)
    assert [r for r in app.routes if not isinstance(r, (*_LEAF_ROUTES, Mount))] == []
    paths = {getattr(r, "path", None) for r in app.routes}
    assert {"/events", "/api/ticks", "/api/instruments", "/api/stream", "/", "/login"} <= paths
    # The API routes keep the caller check their router gives them (a wrong token is a 401).
    ticks = next(r for r in app.routes if isinstance(r, APIRoute) and r.path == "/api/ticks")
    instruments = next(
        r for r in app.routes if isinstance(r, APIRoute) and r.path == "/api/instruments"
    )
    assert get_api_user in [d.call for d in instruments.dependant.dependencies]
    assert get_api_user not in [d.call for d in ticks.dependant.dependencies]


def test_a_router_that_includes_another_is_refused_rather_than_losing_its_routes() -> None:
    inner, outer = APIRouter(), APIRouter()

    @inner.get("/inner")
    def inner_route() -> None: ...

    outer.include_router(inner)
    with pytest.raises(TypeError, match="include its routes instead"):
        _add_routes(FastAPI(), outer)


def test_a_router_with_start_up_hooks_is_refused_rather_than_losing_them() -> None:
    router = APIRouter(on_startup=[lambda: None])
    with pytest.raises(TypeError, match="start-up or shut-down hooks"):
        _add_routes(FastAPI(), router)
