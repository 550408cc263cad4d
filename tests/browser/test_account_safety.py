"""Sessions and state in a browser: a page whose login ends elsewhere says so (signed out
in another tab, or a click made after the end, never leaves a page that looks signed in
or an error page in a list), and no GET changes anything: viewing and following a link
mark read by POST."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route, expect
from sqlmodel import Session

from tests.browser.conftest import StreamWatch, log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, make_user

pytestmark = pytest.mark.browser


def test_signing_out_in_another_tab_shows_this_tab_signed_out(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    add_notification(session, "private to the signed-in")
    context = browser.new_context()
    first = context.new_page()
    log_in(first, live_server.base_url, "alice", PASSWORD)
    StreamWatch(first).expect_live()
    expect(first.locator("#inbox")).to_contain_text("private to the signed-in")
    second = context.new_page()
    second.goto(live_server.base_url)
    second.get_by_role("button", name="Log out").click()
    expect(first.locator("#connection")).to_have_text("signed out")
    banner = first.get_by_role("alert").filter(has_text="You are signed out")
    expect(banner).to_be_visible()
    expect(banner.get_by_role("link", name="Sign in again")).to_have_attribute(
        "href", "/login?next=/"
    )
    expect(first.locator("#inbox")).to_be_hidden()
    # Nothing on the page still says alice is signed in.
    expect(first.locator(".whoami")).to_be_hidden()
    expect(first.get_by_role("button", name="Log out")).to_be_hidden()
    expect(first.get_by_role("link", name="Settings")).to_be_hidden()
    context.close()


def test_a_click_after_the_login_ended_elsewhere_shows_signed_out_not_an_error_page(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    note = add_notification(session, "read me later")
    context = browser.new_context()
    page = context.new_page()

    # This tab's stream never connects, so it misses the end (as a hidden tab would).
    def refuse(route: Route) -> None:
        route.abort()

    page.route("**/events*", refuse)
    log_in(page, live_server.base_url, "alice", PASSWORD)
    other = context.new_page()
    other.goto(f"{live_server.base_url}/settings")
    other.get_by_role("button", name="Sign out everywhere").click()
    other.wait_for_url(f"{live_server.base_url}/login")
    item = page.locator(f"#notification-{note.id}")
    item.get_by_role("button", name="Mark read").click()
    expect(page.locator("#connection")).to_have_text("signed out")
    expect(page.get_by_role("alert").filter(has_text="You are signed out")).to_be_visible()
    expect(page.locator("#inbox-panel")).not_to_contain_text("403")
    expect(page.locator("#inbox-panel")).not_to_contain_text("Log in")
    assert page.locator("#inbox-panel .login-form, #inbox-panel h1").count() == 0
    context.close()


def test_viewing_a_notification_marks_it_read_by_a_post_and_open_link_follows_it(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    linked = add_notification(session, "see the report", link="/settings")
    other = add_notification(session, "another")
    context = browser.new_context()
    page = context.new_page()
    methods: list[str] = []
    page.on(
        "request",
        lambda request: methods.append(request.method) if "/read" in request.url else None,
    )
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#unread-count")).to_have_text("2")
    page.goto(f"{live_server.base_url}/notifications/{other.id}")
    expect(page.get_by_role("button", name="Mark read")).to_have_count(0)  # posted, gone
    assert methods == ["POST"]
    page.goto(live_server.base_url)
    expect(page.locator("#unread-count")).to_have_text("1")
    item = page.locator(f"#notification-{linked.id}")
    item.get_by_role("button", name="Open link").click()
    page.wait_for_url(f"{live_server.base_url}/settings")
    expect(page.locator("#unread-count")).to_have_text("0")
    context.close()
