from __future__ import annotations

import pytest

from dashboard.inbox.queries import Badge
from dashboard.live.fragments import Renderer, raises_toast
from dashboard.models import Audience, Notification, Severity, utcnow
from dashboard.prices.tiles import Sparkline, TileState
from dashboard.settings import Settings
from dashboard.templating import load_templates

XSS = '<script>alert("x")</script>'


def renderer() -> Renderer:
    """Built from the templates alone, not from the whole app."""
    return Renderer(load_templates().env)


def test_notification_text_is_escaped_in_the_stream_message(settings: Settings) -> None:
    notification = Notification(
        id=42,
        title=XSS,
        body=f"line one\n{XSS}",
        severity=Severity.critical,
        audience=Audience.everyone,
        link='/x" onclick="evil()',
        created_at=utcnow(),
    )
    message = renderer().notice_message(notification).decode()
    assert message.startswith("id: 42\r\n")
    assert "<script>" not in message
    assert "&lt;script&gt;" in message
    assert 'onclick="evil()"' not in message
    assert '<hx-partial hx-target="#inbox" hx-swap="afterbegin"><li id="notification-42"' in message
    assert message.endswith("\r\n\r\n")


def test_tile_names_are_escaped_and_the_stream_version_swaps_out_of_band(
    settings: Settings,
) -> None:
    state = TileState(
        symbol="ACME",
        name=XSS,
        kind="equity",
        decimals=2,
        ttl_seconds=5,
        sparkline=Sparkline(resolution=60, count=5),
    )
    state.apply_tick(tick_id=9, price=1234.5, ts=utcnow())
    state.stale = False
    html = renderer().tile(state, oob=True)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'id="tile-ACME"' in html and 'data-tick-id="9"' in html
    assert 'hx-swap-oob="true"' in html
    assert "1,234.50" in html
    assert "hx-swap-oob" not in renderer().tile(state)


def test_tiles_message_is_one_unnamed_message_without_an_id(settings: Settings) -> None:
    message = renderer().tiles_message({"A": "<a1>", "B": "<b1>"})
    assert message == b"data: <a1><b1>\r\n\r\n"


def test_unread_badge_message_is_encoded_once_per_badge_and_carries_its_version(
    settings: Settings,
) -> None:
    r = renderer()
    badge = Badge(version=4, cursor=17, count=3)
    message = r.unread_badge_message(badge)
    assert r.unread_badge_message(Badge(version=4, cursor=17, count=3)) is message
    assert b'id="unread-count"' in message and b">3</span>" in message
    assert b'data-version="4" data-cursor="17"' in message


def test_badges_order_by_version_then_cursor() -> None:
    # What the page's guard relies on: a later read-state change beats any older count,
    # and for one version the count that includes more notifications is newer.
    assert Badge(version=2, cursor=1, count=0) > Badge(version=1, cursor=99, count=5)
    assert Badge(version=1, cursor=5, count=2) > Badge(version=1, cursor=4, count=1)
    assert Badge(version=1, cursor=4, count=1).plus_one(5) == Badge(version=1, cursor=5, count=2)


@pytest.mark.parametrize(
    ("severity", "audience", "created_by", "toast"),
    [
        (Severity.critical, Audience.everyone, 1, True),
        (Severity.warning, Audience.user, None, True),  # the reader's own alert fired
        (Severity.warning, Audience.user, 1, False),  # a person wrote to one user
        (Severity.info, Audience.everyone, None, False),
    ],
)
def test_critical_notifications_and_fired_alerts_raise_a_toast(
    severity: Severity, audience: Audience, created_by: int | None, toast: bool
) -> None:
    notification = Notification(
        id=7, title="t", severity=severity, audience=audience, user_id=1, created_by=created_by
    )
    assert raises_toast(notification) is toast
    message = renderer().notice_message(notification)
    assert (b'hx-target="#toasts"' in message) is toast
    assert b'hx-target="#toasts"' not in renderer().notice_message(notification, read=True)


def test_many_swaps_are_split_into_messages_of_twenty_five(settings: Settings) -> None:
    # The page swaps one message's all in one task: 500 quotes at once were a long task.
    message = renderer().tiles_message([f"<p id=q-S{i}></p>" for i in range(120)])
    assert message.count(b"data: ") == 5
    assert message.startswith(b"data: <p id=q-S0></p>") and message.endswith(b"\r\n\r\n")
    assert message.count(b"<p id=q-") == 120
