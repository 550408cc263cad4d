"""``/api/instruments``: anyone lists; an admin adds, changes and retires."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.accounts import tokens
from dashboard.prices import instruments
from tests.factories import make_instrument, make_user


def token_for(session: Session, username: str, *, is_admin: bool) -> dict[str, str]:
    user = make_user(session, username, is_admin=is_admin)
    assert user.id is not None
    return {
        "Authorization": f"Bearer {tokens.issue(session=session, user_id=user.id, name='t')[1]}"
    }


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    return token_for(session, "admin", is_admin=True)


def test_an_admin_adds_an_instrument_once(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    body = {"symbol": "MSFT", "name": "Microsoft", "currency": "USD", "ttl_seconds": 86400}
    added = client.post("/api/instruments", json=body, headers=admin)
    assert added.status_code == 201, added.text
    assert added.json() == {
        "symbol": "MSFT",
        "name": "Microsoft",
        "kind": "equity",
        "decimals": 2,
        "ttl_seconds": 86400,
        "currency": "USD",
        "simulated": False,
        "retired_at": None,
    }
    again = client.post("/api/instruments", json=body, headers=admin)
    assert again.status_code == 409 and "exists already" in again.json()["detail"]
    assert [i["symbol"] for i in client.get("/api/instruments").json()] == ["MSFT"]


def test_adding_needs_an_admin_and_valid_fields(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    body = {"symbol": "MSFT"}
    assert client.post("/api/instruments", json=body).status_code == 401
    alice = token_for(session, "alice", is_admin=False)
    assert client.post("/api/instruments", json=body, headers=alice).status_code == 403
    bad = client.post(
        "/api/instruments", json={"symbol": "a b", "decimals": 9, "extra": 1}, headers=admin
    )
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {
        ("body", "symbol"),
        ("body", "decimals"),
        ("body", "extra"),
    }
    assert client.get("/api/instruments").json() == []


def test_an_admin_changes_and_retires_an_instrument(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    make_instrument(session, "ACME")
    make_instrument(session, "GLBX")
    renamed = client.patch(
        "/api/instruments/ACME", json={"name": "Acme Corp", "decimals": 4}, headers=admin
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["decimals"]) == ("Acme Corp", 4)
    retired = client.patch("/api/instruments/ACME", json={"retired": True}, headers=admin)
    assert retired.json()["retired_at"] is not None
    assert [i["symbol"] for i in client.get("/api/instruments").json()] == ["GLBX"]
    every = client.get("/api/instruments?include_retired=true").json()
    assert [i["symbol"] for i in every] == ["GLBX", "ACME"]
    back = client.patch("/api/instruments/ACME", json={"retired": False}, headers=admin)
    assert back.json()["retired_at"] is None
    assert client.patch("/api/instruments/NOPE", json={}, headers=admin).status_code == 404
    alice = token_for(session, "alice", is_admin=False)
    assert (
        client.patch("/api/instruments/ACME", json={"name": "x"}, headers=alice).status_code == 403
    )
    assert instruments.find(session=session, symbol="ACME").name == "Acme Corp"


def test_ticks_with_create_missing_add_their_instruments(
    client: TestClient, session: Session, admin: dict[str, str]
) -> None:
    ticks = [{"symbol": "GOOG", "price": 140.123}, {"symbol": "AAPL", "price": 190.5}]
    refused = client.post("/api/ticks", json=ticks, headers=admin)
    assert refused.status_code == 422
    assert [e["symbol"] for e in refused.json()["detail"]] == ["GOOG", "AAPL"]
    written = client.post("/api/ticks?create_missing=true", json=ticks, headers=admin)
    assert written.status_code == 200, written.text
    listed = {i["symbol"]: i["decimals"] for i in client.get("/api/instruments").json()}
    assert listed == {"GOOG": 3, "AAPL": 2}
