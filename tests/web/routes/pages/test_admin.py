"""The admin pages: admins only, and the post form's answers."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.models import Notification
from tests.factories import (
    make_user,
)


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


def test_regression_a_double_submitted_form_posts_once(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    # Was: a double click on Send posted the broadcast twice (issue 18, item 10).
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    page = client.get("/admin").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert key is not None
    form = {"csrf_token": token, "title": "Once", "idempotency_key": key[1]}
    for _ in range(2):
        sent = client.post("/admin/notifications", data=form, headers={"HX-Request": "true"})
        assert sent.status_code == 200 and "Sent “Once”" in sent.text
    assert [n.title for n in session.exec(select(Notification)).all()] == ["Once"]
    # Each rendered form carries a fresh key: the next post is a new one.
    fresh = re.search(r'name="idempotency_key" value="([^"]+)"', sent.text)
    assert fresh is not None and fresh[1] != key[1]


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
