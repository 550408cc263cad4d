"""The inbox in a real browser: two tabs in sync, toasts, archive, admin preview."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from dashboard.models import Severity
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, make_user

pytestmark = pytest.mark.browser


def test_reading_in_one_tab_drops_the_badge_in_the_other_without_reload(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    first = add_notification(session, "first")
    add_notification(session, "second")
    base = live_server.base_url
    context = browser.new_context()
    dashboard_tab, history_tab = context.new_page(), context.new_page()
    errors: list[str] = []
    for tab in (dashboard_tab, history_tab):
        tab.on("pageerror", lambda error: errors.append(str(error)))
    log_in(dashboard_tab, base, "alice", PASSWORD)
    history_tab.goto(f"{base}/notifications")
    for tab in (dashboard_tab, history_tab):
        expect(tab.locator("#connection")).to_have_text("live")
        expect(tab.locator("#unread-count")).to_have_text("2")
        expect(tab).to_have_title(re.compile(r"^\(2\) \S"))  # the count in the tab's title
    history_tab.evaluate("window.__sameDocument = true")

    dashboard_tab.locator(f"#notification-{first.id}").get_by_role(
        "button", name="Mark read"
    ).click()
    expect(dashboard_tab.locator("#unread-count")).to_have_text("1")
    expect(history_tab.locator("#unread-count")).to_have_text("1")
    expect(history_tab).to_have_title(re.compile(r"^\(1\) \S"))  # followed live, no reload
    expect(history_tab.locator(f"#notification-{first.id}")).not_to_have_class("is-unread")

    history_tab.get_by_role("button", name="Mark all read").click()  # a plain form: reloads
    expect(dashboard_tab.locator("#unread-count")).to_have_text("0")
    expect(dashboard_tab).to_have_title("Prices · Live dashboard")  # nothing unread: no count
    expect(dashboard_tab.locator("#inbox .is-unread")).to_have_count(0)
    assert dashboard_tab.evaluate("document.querySelectorAll('#unread-count').length") == 1
    assert errors == []
    context.close()


def test_a_critical_notification_shows_a_toast_dismissed_by_keyboard(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    first = add_notification(session, "Exchange halted", severity=Severity.critical)
    toast = page.locator(f"#toast-{first.id}")
    expect(toast).to_have_attribute("role", "alert")
    expect(toast).to_contain_text("Exchange halted")
    expect(page.locator("#inbox .notification").first).to_contain_text("Exchange halted")
    page.keyboard.press("Escape")
    expect(toast).to_have_count(0)

    second = add_notification(session, "Still halted", severity=Severity.critical)
    button = page.locator(f"#toast-{second.id}").get_by_role("button")
    button.focus()
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".toast")).to_have_count(0)
    context.close()


def test_archiving_from_the_history_removes_the_item_and_the_archive_lists_it(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    old = add_notification(session, "Old news")
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    page.goto(f"{live_server.base_url}/notifications")
    page.locator(f"#notification-{old.id}").get_by_role("button", name="Archive").click()
    expect(page.locator(f"#notification-{old.id}")).to_have_count(0)
    expect(page.locator("#unread-count")).to_have_text("0")
    page.get_by_label("Archived").check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator(f"#notification-{old.id}")).to_contain_text("Old news")
    context.close()


def test_the_admin_previews_then_sends(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "admin", is_admin=True)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server.base_url, "admin", PASSWORD)
    page.goto(f"{live_server.base_url}/admin")
    page.get_by_label("Title").fill("Maintenance <tonight>")
    page.get_by_role("radio", name="critical").check()
    page.get_by_role("button", name="Preview").click()
    preview = page.locator(".preview")
    expect(preview).to_contain_text("Maintenance <tonight>")
    expect(page.locator("#recent")).to_contain_text("No notifications yet")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-preview.png"), full_page=True)
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".form-success")).to_contain_text("Sent “Maintenance <tonight>”")
    expect(page.locator("#recent")).to_contain_text("0 / 1")
    context.close()


def test_mark_all_read_covers_what_arrived_live_after_the_page_was_rendered(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # "Mark all read" marks up to the newest item the page shows (issue 18, item 6): an item
    # that arrived live is shown, so the form's bound follows it.
    make_user(session, "alice")
    add_notification(session, "rendered")
    page = browser.new_context().new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    arrived = add_notification(session, "arrived live")
    live_server.runtime.notification_poller.wake()
    expect(page.locator(f"#notification-{arrived.id}")).to_be_visible()
    expect(page.locator("input[name=up_to]")).to_have_value(str(arrived.id))
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#unread-count")).to_have_text("0")
    expect(page.locator("#inbox .is-unread")).to_have_count(0)
