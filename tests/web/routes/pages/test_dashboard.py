"""The dashboard page: tiles for everyone, the inbox for a user."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.models import Audience, utcnow
from dashboard.prices import instruments, watchlists
from dashboard.settings import Settings
from tests.conftest import wait_until
from tests.factories import (
    add_notification,
    add_tick,
    make_instrument,
    make_user,
)


def test_the_dashboard_renders_current_tiles_for_anonymous_viewers(
    client: TestClient, session: Session, settings: Settings
) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No instruments yet" in response.text
    assert 'data-stream="/events?after=0"' in response.text
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
    assert f'data-stream="/events?after={newest.id}&amp;user={alice.id}"' in page
    assert "for alice" in page and "for bob" not in page
    assert "hello &lt;b&gt;all&lt;/b&gt;" in page
    assert 'aria-label="2 unread">2</span>' in page


def test_regression_the_instrument_pages_open_high_low_and_change_agree(
    client: TestClient, session: Session
) -> None:
    # Was: Open was the first tick inside the window and the change was against another
    # price; now Open is what the change is against, and high and low take it in.
    acme = make_instrument(session, "ACME")
    now = utcnow()
    add_tick(session, acme, 40.0, ts=now - timedelta(hours=30))  # the price at the start
    add_tick(session, acme, 60.0, ts=now - timedelta(hours=2))
    add_tick(session, acme, 50.0, ts=now - timedelta(minutes=1))
    client.app.state.runtime.price_poller.wake()  # type: ignore[attr-defined]
    wait_until(lambda: "ACME" in client.app.state.runtime.price_poller.states)  # type: ignore[attr-defined]
    page = client.get("/instruments/ACME").text
    figures = dict(
        re.findall(r'<dd id="ohlc-(\w+)"[^>]*><data value="[^"]+">([^<]+)</data></dd>', page)
    )
    assert figures == {"open": "40.00", "high": "60.00", "low": "40.00"}
    assert "+10.00" in page and "+25.00%" in page


def test_a_dashboards_stream_names_its_watchlist_so_tabs_share_only_the_same_one(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    for symbol in ("ACME", "GLBX"):
        make_instrument(session, symbol)
    login_as("alice")
    stream = re.compile(r'data-stream="([^"]*)"')

    def stream_url() -> str:
        found = stream.search(client.get("/").text)
        assert found is not None
        return found.group(1)

    everything = stream_url()
    assert "watchlist=" not in everything
    watchlists.save(session=session, user_id=alice.id, symbols=["ACME"])
    acme = stream_url()
    watchlists.save(session=session, user_id=alice.id, symbols=["ACME", "GLBX"])
    both = stream_url()
    assert "watchlist=" in acme and "watchlist=" in both and acme != both


def test_regression_a_price_of_1e30_shows_in_compact_notation_instead_of_a_500(
    client: TestClient, session: Session
) -> None:
    # Was: formatting it raised (past Decimal's 28 digits) and every page gave 500.
    huge = make_instrument(session, "HUGE")
    add_tick(session, huge, 1e30)
    client.app.state.runtime.price_poller.wake()  # type: ignore[attr-defined]
    wait_until(lambda: "1,000,000,000,000,000,000T" in client.get("/").text)
    page = client.get("/instruments/HUGE")
    assert page.status_code == 200
    assert "1,000,000,000,000,000,000,000,000,000,000.00" in page.text


def test_a_watchlist_of_retired_instruments_points_to_the_settings_not_to_the_demo(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    make_instrument(session, "ACME")
    make_instrument(session, "GONE")
    watchlists.save(session=session, user_id=alice.id, symbols=["GONE"])
    instruments.retire(session=session, symbol="GONE")
    login_as("alice")
    page = client.get("/").text
    assert "None of the instruments on your watchlist is listed any more" in page
    assert 'href="/settings#watchlist"' in page
    assert "No instruments yet" not in page
