from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dashboard.inbox import queries
from dashboard.models import Audience, Notification, NotificationRead, Subscription
from dashboard.settings import Settings
from tests.conftest import csrf_from
from tests.factories import (
    PASSWORD,
    add_notification,
    make_topic,
    make_user,
)


def test_the_dashboard_renders_current_tiles_for_anonymous_viewers(
    client: TestClient, session: Session, settings: Settings
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No instruments yet" in response.text
    assert 'hx-sse:connect="/events?after=0"' in response.text
    assert 'id="inbox"' not in response.text  # no inbox for anonymous viewers


def test_a_user_sees_their_inbox_badge_and_cursor(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    add_notification(session, "hello <b>all</b>")
    mine = add_notification(session, "for alice", audience=Audience.user, user=alice)
    newest = add_notification(session, "for bob", audience=Audience.user, user=bob)
    login_as("alice")
    page = client.get("/").text
    # The cursor is the store's newest id when the page was read; replay is per user.
    assert mine.id is not None and newest.id == mine.id + 1
    assert f'hx-sse:connect="/events?after={newest.id}"' in page
    assert "for alice" in page and "for bob" not in page
    assert "hello &lt;b&gt;all&lt;/b&gt;" in page
    assert 'aria-label="2 unread">2</span>' in page


def test_login_with_bad_credentials_gives_one_generic_error(
    client: TestClient, session: Session
) -> None:
    make_user(session, "alice")
    token = csrf_from(client.get("/login").text)
    for username, password in (("alice", "wrong-password"), ("nobody", PASSWORD)):
        response = client.post(
            "/login", data={"username": username, "password": password, "csrf_token": token}
        )
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
    assert client.get("/settings", follow_redirects=False).status_code == 303


def test_login_sets_a_httponly_lax_cookie_and_redirects_only_on_site(
    client: TestClient, session: Session
) -> None:
    make_user(session, "alice")
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


@pytest.mark.parametrize("path", ["/settings", "/notifications"])
def test_anonymous_visitors_are_sent_to_login(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/admin"), ("get", "/admin/users"), ("post", "/admin/notifications")],
)
def test_admin_routes_refuse_non_admins(
    client: TestClient, session: Session, login_as: Callable[[str], str], method: str, path: str
) -> None:
    make_user(session, "alice")
    assert getattr(client, method)(path).status_code == 403  # anonymous
    token = login_as("alice")
    data = {"csrf_token": token, "title": "x"} if method == "post" else None
    response = getattr(client, method)(path, **({"data": data} if data else {}))
    assert response.status_code == 403
    assert session.exec(select(Notification)).all() == []


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


def test_admin_post_plain_form_redirects_and_htmx_gets_the_form_back(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    plain = client.post(
        "/admin/notifications",
        data={"csrf_token": token, "title": "Plain", "audience": "everyone", "severity": "info"},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"].startswith("/admin?sent=")
    assert "Sent “Plain”" in client.get(plain.headers["location"]).text
    htmx = client.post(
        "/admin/notifications",
        data={"csrf_token": token, "title": "Via htmx", "severity": "warning"},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 200
    assert htmx.text.lstrip().startswith('<form id="compose"')
    assert "Sent “Via htmx”" in htmx.text
    assert 'id="recent" class="card" hx-swap-oob="true"' in htmx.text
    titles = [n.title for n in session.exec(select(Notification)).all()]
    assert titles == ["Plain", "Via htmx"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "Enter a title."),
        ({"title": "x" * 121}, "title", "120 characters"),
        ({"title": "ok", "body": "y" * 2001}, "body", "2000 characters"),
        (
            {"title": "ok", "audience": "topic", "topic": "nope"},
            "topic",
            "No topic &#39;nope&#39;.",
        ),
        (
            {"title": "ok", "audience": "user", "username": "ghost"},
            "username",
            "No user has that name.",
        ),
        ({"title": "ok", "severity": "apocalyptic"}, "severity", "Choose info"),
    ],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_an_invalid_post_shows_the_field_error_with_422_and_writes_nothing(
    client: TestClient,
    session: Session,
    login_as: Callable[[str], str],
    fields: dict[str, str],
    field: str,
    message: str,
    htmx: bool,
) -> None:
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    response = client.post(
        "/admin/notifications",
        data={"csrf_token": token, **fields},
        headers={"HX-Request": "true"} if htmx else {},
    )
    assert response.status_code == 422
    assert message in response.text
    assert "Nothing was sent" in response.text
    if field in ("title", "body", "topic", "username"):
        assert f'id="{field}-error"' in response.text
    assert response.text.lstrip().startswith("<form") == htmx
    assert session.exec(select(Notification)).all() == []


def test_subscribing_and_unsubscribing_a_topic(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    alice = make_user(session, "alice")
    topic = make_topic(session, "markets")
    token = login_as("alice")
    on = client.post(
        f"/settings/topics/{topic.id}",
        data={"csrf_token": token, "subscribed": "true"},
        headers={"HX-Request": "true"},
    )
    assert on.status_code == 200 and 'aria-pressed="true"' in on.text
    assert session.get(Subscription, (alice.id, topic.id)) is not None
    off = client.post(
        f"/settings/topics/{topic.id}",
        data={"csrf_token": token, "subscribed": "false"},
        follow_redirects=False,
    )
    assert off.status_code == 303
    session.expire_all()
    assert session.get(Subscription, (alice.id, topic.id)) is None
    missing = client.post("/settings/topics/999", data={"csrf_token": token, "subscribed": "true"})
    assert missing.status_code == 404


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
    assert 'hx-sse:connect="/events?view=inbox&amp;after=' in page.text
    assert read_on_a_loop == [False]
