from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.models import PriceAlert
from dashboard.prices import alerts
from tests.conftest import log_in
from tests.factories import make_instrument, make_user


def test_set_list_and_delete_alerts(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "alice")
    make_instrument(session, "ACME")  # added after start: the page still knows it
    token = login_as("alice")
    bad = client.post(
        "/alerts",
        data={"csrf_token": token, "symbol": "ACME", "direction": "above", "level": "-3"},
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422
    assert 'id="level-error"' in bad.text and "Enter a price above 0." in bad.text
    assert session.exec(select(PriceAlert)).all() == []
    ok = client.post(
        "/alerts",
        data={"csrf_token": token, "symbol": "ACME", "direction": "below", "level": "45.5"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/instruments/ACME#alerts"
    page = client.get("/instruments/ACME").text
    assert 'ACME</a> crosses below <strong><data value="45.5">45.50</data></strong>' in page
    assert (
        'crosses below <strong><data value="45.5">45.50</data></strong>'
        in client.get("/settings").text
    )
    alert = session.exec(select(PriceAlert)).one()
    assert (
        client.post(
            f"/alerts/{alert.id}/delete", data={"csrf_token": token}, follow_redirects=False
        ).status_code
        == 303
    )
    session.expire_all()
    assert session.exec(select(PriceAlert)).all() == []
    unknown = client.post("/alerts", data={"csrf_token": token, "symbol": "NOPE", "level": "1"})
    assert unknown.status_code == 422


def test_someone_elses_alert_is_a_404(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "alice")
    bob = make_user(session, "bob")
    make_instrument(session, "ACME")
    assert bob.id is not None
    alert = alerts.create(
        limit=100, session=session, user_id=bob.id, symbol="ACME", direction="above", level="1"
    )
    token = login_as("alice")
    for action in ("arm", "delete"):
        assert (
            client.post(f"/alerts/{alert.id}/{action}", data={"csrf_token": token}).status_code
            == 404
        )
    assert session.exec(select(PriceAlert)).one().user_id == bob.id
    assert client.post("/alerts", data={"symbol": "ACME", "level": "1"}).status_code == 403


def test_one_alert_past_the_limit_is_a_clear_429_and_writes_nothing(
    limited_client: Callable[..., TestClient], session: Session
) -> None:
    # Was: no limit; 30,000 alerts from one user took the server from 3 % to 48 % CPU.
    client = limited_client(max_alerts_per_user=2)
    make_user(session, "alice")
    make_user(session, "bob")
    make_instrument(session, "ACME")
    csrf = log_in(client, "alice")
    form = {"csrf_token": csrf, "symbol": "ACME", "direction": "above", "level": "10"}
    for _ in range(2):
        assert client.post("/alerts", data=form, follow_redirects=False).status_code == 303
    refused = client.post("/alerts", data=form, headers={"HX-Request": "true"})
    assert refused.status_code == 429
    assert "You have 2 alerts, the most allowed; delete one first." in refused.text
    assert len(session.exec(select(PriceAlert)).all()) == 2
    # Bob's own alerts are not affected by alice's.
    client.post("/logout", data={"csrf_token": csrf})
    bob_form = {**form, "csrf_token": log_in(client, "bob")}
    assert client.post("/alerts", data=bob_form, follow_redirects=False).status_code == 303
