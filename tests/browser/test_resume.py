"""A server restart under an open page: the chip says so, and nothing is lost or doubled."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from tests.browser.conftest import log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, make_user

pytestmark = pytest.mark.browser


def test_notifications_posted_while_the_server_is_down_appear_once_after_it_returns(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    before = add_notification(session, "before the restart")
    page = browser.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    chip = page.locator("#connection")
    expect(chip).to_have_text("live")
    expect(page.locator(f"#notification-{before.id}")).to_have_count(1)
    live = add_notification(session, "seen live")
    expect(page.locator(f"#notification-{live.id}")).to_have_count(1)
    page.evaluate("window.__sameDocument = true")

    live_server.stop()
    expect(chip).to_have_text("reconnecting")
    missed = [add_notification(session, f"while down {i}") for i in range(3)]
    live_server.start()
    expect(chip).to_have_text("live", timeout=30_000)
    for notification in missed:
        expect(page.locator(f"#notification-{notification.id}")).to_have_count(1)
    titles = page.locator("#inbox .notification-title").all_inner_texts()
    assert titles == [
        "while down 2",
        "while down 1",
        "while down 0",
        "seen live",
        "before the restart",
    ]
    expect(page.locator("#unread-count")).to_have_text("5")
    assert page.evaluate("window.__sameDocument") is True
    page.close()
