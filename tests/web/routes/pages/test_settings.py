"""A user's settings page: watchlist order and topic subscriptions."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.accounts import tokens
from dashboard.models import Subscription, WatchlistItem
from tests.conftest import log_in, wait_until
from tests.factories import (
    add_tick,
    make_instrument,
    make_topic,
    make_user,
)


def tile_order(html: str) -> list[str]:
    return re.findall(r'<article id="tile-([A-Z-]+)"', html)


def test_a_user_chooses_and_orders_their_tiles_and_can_go_back_to_the_default(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    for symbol in ("AAA", "BBB", "CCC"):
        add_tick(session, make_instrument(session, symbol), 1.0)
    make_user(session, "alice")
    token = login_as("alice")
    # The app started before these instruments existed; its poller picks them up.
    wait_until(lambda: tile_order(client.get("/").text) == ["AAA", "BBB", "CCC"])
    saved = client.post(
        "/settings/watchlist",
        data={
            "csrf_token": token,
            "symbol": ["AAA", "BBB", "CCC"],
            "order": ["2", "9", "1"],
            "show": ["CCC", "AAA"],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert tile_order(client.get("/").text) == ["CCC", "AAA"]
    settings = client.get("/settings").text
    assert (
        settings.index('value="CCC"')
        < settings.index('value="AAA"')
        < settings.index('value="BBB"')
    )

    none = client.post(
        "/settings/watchlist", data={"csrf_token": token, "symbol": ["AAA"], "order": ["1"]}
    )
    assert none.status_code == 422 and "Choose at least one instrument" in none.text
    bogus = client.post(
        "/settings/watchlist",
        data={"csrf_token": token, "show": ["ZZZ"], "symbol": ["ZZZ"], "order": ["x"]},
    )
    assert bogus.status_code == 422 and "Unknown instruments: ZZZ" in bogus.text
    assert len(session.exec(select(WatchlistItem)).all()) == 2  # unchanged by the bad posts

    client.post("/settings/watchlist", data={"csrf_token": token, "reset": "default"})
    assert tile_order(client.get("/").text) == ["AAA", "BBB", "CCC"]
    assert session.exec(select(WatchlistItem)).all() == []


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


def test_one_token_past_the_limit_is_a_clear_429_and_revoking_makes_room(
    limited_client: Callable[..., TestClient], session: Session
) -> None:
    # Was: tokens per user were unlimited.
    client = limited_client(max_tokens_per_user=2)
    alice = make_user(session, "alice")
    csrf = log_in(client, "alice")
    for name in ("one", "two"):
        made = client.post("/settings/tokens", data={"csrf_token": csrf, "name": name})
        assert made.status_code == 200 and 'id="new-token"' in made.text
    refused = client.post("/settings/tokens", data={"csrf_token": csrf, "name": "three"})
    assert refused.status_code == 429
    assert "You have 2 API tokens, the most allowed; revoke one first." in refused.text
    assert 'id="new-token"' not in refused.text
    assert alice.id is not None
    live = tokens.list_for(session=session, user_id=alice.id)
    assert [t.name for t in live] == ["one", "two"]
    client.post(f"/settings/tokens/{live[0].id}/revoke", data={"csrf_token": csrf})
    again = client.post("/settings/tokens", data={"csrf_token": csrf, "name": "three"})
    assert again.status_code == 200


def test_a_user_chooses_how_numbers_and_times_read_on_every_page(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "alice")
    token = login_as("alice")
    page = client.get("/settings").text
    assert 'data-locale="" data-times="utc"' in page  # the browser's language, UTC
    saved = client.post(
        "/settings/display",
        data={"csrf_token": token, "locale": "de-DE", "times": "local"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    for path in ("/", "/settings", "/notifications"):
        assert 'data-locale="de-DE" data-times="local"' in client.get(path).text
    # Back to the browser's own language and UTC.
    client.post("/settings/display", data={"csrf_token": token, "locale": "", "times": "utc"})
    assert 'data-locale="" data-times="utc"' in client.get("/").text


def test_an_unknown_display_choice_is_refused_with_the_reason_and_nothing_changes(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "alice")
    token = login_as("alice")
    client.post(
        "/settings/display", data={"csrf_token": token, "locale": "fr-FR", "times": "local"}
    )
    for bad in (
        {"locale": "<b>xx</b>", "times": "utc"},
        {"locale": "de-DE", "times": "Mars/Olympus"},
    ):
        refused = client.post("/settings/display", data={"csrf_token": token, **bad})
        assert refused.status_code == 422
        assert 'role="alert"' in refused.text and "Nothing was changed." in refused.text
        assert "<b>xx</b>" not in refused.text
        assert 'data-locale="fr-FR" data-times="local"' in client.get("/").text


def test_the_display_choice_needs_the_csrf_token(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_user(session, "alice")
    login_as("alice")
    refused = client.post("/settings/display", data={"locale": "de-DE", "times": "local"})
    assert refused.status_code == 403
    assert 'data-locale="" data-times="utc"' in client.get("/").text
