"""Headers, body limits, login rate limits, cookies and request ids."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.models import Notification
from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user


def test_pages_and_api_answers_carry_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/login", "/api/instruments", "/no-such-page"):
        response = client.get(path)
        headers = response.headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert len(headers["x-request-id"]) >= 8
    assert "strict-transport-security" not in client.get("/").headers


def test_a_sane_request_id_is_kept_and_a_hostile_one_replaced(client: TestClient) -> None:
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    replaced = client.get("/healthz", headers={"X-Request-ID": "<script>\n"}).headers
    assert replaced["x-request-id"] != "<script>\n" and replaced["x-request-id"].isalnum()


def test_bodies_over_the_limit_are_refused_with_413_and_nothing_is_written(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    big = "x" * 1_100_000
    declared = client.post(
        "/admin/notifications", data={"csrf_token": token, "title": "t", "body": big}
    )
    assert declared.status_code == 413
    assert "larger than 1,048,576 bytes" in declared.text

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield f"csrf_token={token}&title=t&body=".encode()
        for _ in range(40):
            yield b"y" * 32_768

    streamed = client.post(
        "/admin/notifications",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert streamed.status_code == 413
    assert session.exec(select(Notification)).all() == []


def test_failed_logins_are_limited_per_account_and_address_and_per_address(
    settings: Settings, session: Session
) -> None:
    make_user(session, "alice")
    make_user(session, "bob")
    strict = settings.model_copy(
        update={
            "login_limit_per_account_and_address": "3/15minutes",
            "login_limit_per_address": "5/15minutes",
        }
    )
    app = create_app(strict)
    with TestClient(app) as client:

        def attempt(username: str, password: str) -> int:
            token = csrf_from(client.get("/login").text)
            response = client.post(
                "/login",
                data={"username": username, "password": password, "csrf_token": token},
                follow_redirects=False,
            )
            return response.status_code

        assert [attempt("alice", "wrong") for _ in range(3)] == [401, 401, 401]
        token = csrf_from(client.get("/login").text)
        refused = client.post(
            "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
        )
        assert refused.status_code == 429
        assert "Too many failed logins" in refused.text
        assert int(refused.headers["retry-after"]) > 0
        # Another account from the same address still works, until the address limit.
        assert attempt("bob", PASSWORD) == 303
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
        assert [attempt("bob", "wrong") for _ in range(2)] == [401, 401]
        assert attempt("bob", PASSWORD) == 429  # 5 failures from this address
        # Was: the account's failures from anywhere locked alice out everywhere. From her
        # own address (same app, same counters) her right password works.
        elsewhere = TestClient(app, client=("192.0.2.7", 50000))
        token = csrf_from(elsewhere.get("/login").text)
        response = elsewhere.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303


def test_a_successful_login_clears_the_accounts_failures(
    settings: Settings, session: Session
) -> None:
    make_user(session, "alice")
    strict = settings.model_copy(update={"login_limit_per_account_and_address": "3/15minutes"})
    with TestClient(create_app(strict)) as client:
        for password in ("wrong", "wrong", PASSWORD):
            token = csrf_from(client.get("/login").text)
            client.post(
                "/login", data={"username": "alice", "password": password, "csrf_token": token}
            )
        client.post("/logout", data={"csrf_token": csrf_from(client.get("/").text)})
        for _ in range(2):
            token = csrf_from(client.get("/login").text)
            response = client.post(
                "/login",
                data={"username": "alice", "password": "wrong", "csrf_token": token},
            )
            assert response.status_code == 401


@pytest.mark.parametrize("https", [False, True])
def test_the_session_cookie_flags(settings: Settings, session: Session, https: bool) -> None:
    make_user(session, "alice")
    configured = settings.model_copy(update={"https_only_cookies": https})
    base = "https://testserver" if https else "http://testserver"
    with TestClient(create_app(configured), base_url=base) as client:
        token = csrf_from(client.get("/login").text)
        response = client.post(
            "/login",
            data={"username": "alice", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
        assert ("secure" in cookie) is https
        if https:
            assert "max-age=31536000" in response.headers["strict-transport-security"]
