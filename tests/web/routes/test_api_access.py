"""Every JSON API route as anonymous, a user, an admin and a bad token."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.accounts import tokens
from tests.factories import add_notification, add_tick, make_instrument, make_topic, make_user

WHO = ["anonymous", "user", "admin", "bad-token"]

# method, path, JSON body, expected status for each of WHO
ROUTES: list[tuple[str, str, Any, tuple[int, int, int, int]]] = [
    ("GET", "/api/instruments", None, (200, 200, 200, 401)),
    ("GET", "/api/prices", None, (200, 200, 200, 401)),
    ("GET", "/api/prices/ACME/history", None, (200, 200, 200, 401)),
    ("GET", "/api/topics", None, (200, 200, 200, 401)),
    ("GET", "/api/notifications", None, (401, 200, 200, 401)),
    ("POST", "/api/notifications/{nid}/read", None, (401, 200, 200, 401)),
    ("POST", "/api/notifications/read-all", None, (401, 200, 200, 401)),
    ("POST", "/api/notifications", {"title": "Hi"}, (401, 403, 201, 401)),
    ("POST", "/api/ticks", [{"symbol": "ACME", "price": 2}], (401, 403, 200, 401)),
    ("POST", "/api/topics", {"slug": "fx", "name": "FX"}, (401, 403, 201, 401)),
    ("PATCH", "/api/topics/markets", {"name": "Markets & more"}, (401, 403, 200, 401)),
]


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    alice, admin = make_user(session, "alice"), make_user(session, "admin", is_admin=True)
    make_topic(session, "markets")
    add_tick(session, make_instrument(session, "ACME"), 1.0)
    notification = add_notification(session, "for all")
    assert alice.id is not None and admin.id is not None
    alice_token = tokens.issue(session=session, user_id=alice.id, name="t")[1]
    admin_token = tokens.issue(session=session, user_id=admin.id, name="t")[1]
    return {
        "nid": notification.id,
        "headers": {
            "anonymous": {},
            "user": {"Authorization": f"Bearer {alice_token}"},
            "admin": {"Authorization": f"Bearer {admin_token}"},
            "bad-token": {"Authorization": "Bearer dash_not-a-token"},
        },
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES]
)
def test_route_access(
    client: TestClient,
    world: dict[str, Any],
    method: str,
    path: str,
    body: Any,
    expected: tuple[int, ...],
) -> None:
    url = path.format(nid=world["nid"])
    got = tuple(
        client.request(method, url, json=body, headers=world["headers"][who]).status_code
        for who in WHO
    )
    assert got == expected
