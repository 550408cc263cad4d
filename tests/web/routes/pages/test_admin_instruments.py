"""``/admin/instruments``: an admin adds, changes, retires and restores instruments."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.models import Instrument
from dashboard.prices import instruments
from tests.factories import make_instrument, make_user

Login = Callable[[str], str]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/admin/instruments"),
        ("post", "/admin/instruments"),
        ("post", "/admin/instruments/ACME/edit"),
        ("post", "/admin/instruments/ACME/retire"),
    ],
)
def test_only_admins_manage_instruments(
    client: TestClient, session: Session, login_as: Login, method: str, path: str
) -> None:
    make_user(session, "alice")
    make_instrument(session, "ACME")
    assert getattr(client, method)(path).status_code == 403
    token = login_as("alice")
    data = {"csrf_token": token, "symbol": "NEW", "name": "x"}
    response = getattr(client, method)(path, **({"data": data} if method == "post" else {}))
    assert response.status_code == 403
    acme = instruments.find(session=session, symbol="ACME")
    assert (acme.name, acme.retired_at) == ("ACME name", None)
    assert len(session.exec(select(Instrument)).all()) == 1


def test_an_admin_adds_one_and_a_bad_one_is_marked_field_by_field(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    added = client.post(
        "/admin/instruments",
        data={
            "csrf_token": token,
            "symbol": "MSFT",
            "name": "Microsoft",
            "kind": "equity",
            "decimals": "2",
            "ttl_seconds": "86400",
            "currency": "USD",
        },
        follow_redirects=False,
    )
    assert added.status_code == 303
    msft = instruments.find(session=session, symbol="MSFT")
    assert (msft.name, msft.ttl_seconds, msft.currency, msft.simulated) == (
        "Microsoft",
        86400,
        "USD",
        False,
    )
    bad = client.post(
        "/admin/instruments",
        data={"csrf_token": token, "symbol": "MSFT", "name": "<b>again</b>", "decimals": "2"},
    )
    assert bad.status_code == 422
    assert "The instrument was not added" in bad.text and "exists already" in bad.text
    assert "&lt;b&gt;again&lt;/b&gt;" in bad.text  # what was typed comes back, escaped
    worse = client.post(
        "/admin/instruments",
        data={"csrf_token": token, "symbol": "a b", "decimals": "nine", "currency": "usd"},
    )
    assert worse.status_code == 422
    for field in ("symbol", "decimals", "currency"):
        assert f'aria-describedby="{field}-error"' in worse.text
    assert len(session.exec(select(Instrument)).all()) == 1
    forged = client.post("/admin/instruments", data={"symbol": "CSRF"})
    assert forged.status_code == 403


def test_an_admin_edits_retires_and_restores(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    make_instrument(session, "ACME")
    token = login_as("admin")
    page = client.get("/admin/instruments").text
    assert "Edit ACME" in page and "Retire ACME" in page
    edited = client.post(
        "/admin/instruments/ACME/edit",
        data={
            "csrf_token": token,
            "name": "Acme Corp",
            "kind": "equity",
            "decimals": "4",
            "ttl_seconds": "60",
            "currency": "",
        },
        follow_redirects=False,
    )
    assert edited.status_code == 303
    acme = instruments.find(session=session, symbol="ACME")
    session.refresh(acme)
    assert (acme.name, acme.decimals, acme.ttl_seconds, acme.currency) == ("Acme Corp", 4, 60, None)
    refused = client.post(
        "/admin/instruments/ACME/edit", data={"csrf_token": token, "ttl_seconds": "0"}
    )
    assert refused.status_code == 422 and "ACME was not changed" in refused.text
    retired = client.post("/admin/instruments/ACME/retire", data={"csrf_token": token})
    assert retired.status_code == 200  # followed back to the page
    assert "Restore ACME" in retired.text
    session.refresh(acme)
    assert acme.retired_at is not None
    client.post("/admin/instruments/ACME/restore", data={"csrf_token": token})
    session.refresh(acme)
    assert acme.retired_at is None
    missing = client.post("/admin/instruments/NOPE/retire", data={"csrf_token": token})
    assert missing.status_code == 404
