"""The dashboard page: tiles for everyone, the inbox for a user."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.models import Audience
from dashboard.settings import Settings
from tests.factories import (
    add_notification,
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
    assert f'hx-sse:connect="/events?after={newest.id}&amp;user={alice.id}"' in page
    assert "for alice" in page and "for bob" not in page
    assert "hello &lt;b&gt;all&lt;/b&gt;" in page
    assert 'aria-label="2 unread">2</span>' in page
