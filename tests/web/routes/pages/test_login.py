"""Logging in: one generic error, the cookie's flags, on-site redirects only."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.conftest import csrf_from
from tests.factories import (
    PASSWORD,
    make_user,
)


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


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "/\t/evil.example"])
def test_login_sets_a_httponly_lax_cookie_and_redirects_only_on_site(
    client: TestClient, session: Session, target: str
) -> None:
    make_user(session, "alice")
    token = csrf_from(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": token,
            "next": target,
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
