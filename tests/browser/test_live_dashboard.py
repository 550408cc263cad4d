"""What alice and the admin see, in two browser contexts, without any reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route, expect
from sqlmodel import Session

from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_tick, make_instrument, make_topic, make_user, subscribe

pytestmark = pytest.mark.browser


def test_alice_sees_prices_and_the_admins_notification_live(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "admin", is_admin=True)
    alice_user = make_user(session, "alice")
    subscribe(session, alice_user, make_topic(session, "markets"))
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    base = live_server.base_url

    alice_context, admin_context = browser.new_context(), browser.new_context()
    alice, admin = alice_context.new_page(), admin_context.new_page()
    errors: list[str] = []
    alice.on("pageerror", lambda error: errors.append(str(error)))

    log_in(alice, base, "alice", PASSWORD)
    expect(alice.locator("#connection")).to_have_text("live")
    expect(alice.locator("#unread-count")).to_have_text("0")
    alice.evaluate("window.__sameDocument = true")  # gone if the page ever reloads

    quote = alice.locator("#tile-ACME #q-ACME")
    expect(quote.locator("b")).to_have_text("100.00")
    add_tick(session, acme, 123.45)  # another writer, straight into the store
    expect(quote.locator("b")).to_have_text("123.45")
    expect(quote.locator("i")).to_have_text(["+23.45", "+23.45%"])

    log_in(admin, base, "admin", PASSWORD)
    admin.goto(f"{base}/admin")
    admin.get_by_label("Title").fill("Markets <open>")
    admin.get_by_label("Message").fill("Trading resumed.")
    admin.get_by_role("radio", name="A topic").check()
    admin.get_by_label("Topic (for “a topic”)").select_option("markets")
    admin.get_by_role("button", name="Send").click()
    expect(admin.locator(".form-success")).to_contain_text("Sent “Markets <open>”")

    item = alice.locator("#inbox .notification").first
    expect(item.locator(".notification-title")).to_have_text("Markets <open>")
    expect(item).to_have_class("notification severity-info is-unread")
    expect(alice.locator("#unread-count")).to_have_text("1")
    assert alice.evaluate("window.__sameDocument") is True

    ARTIFACTS.mkdir(exist_ok=True)
    alice.screenshot(path=str(ARTIFACTS / "alice-dashboard.png"), full_page=True)

    item.get_by_role("button", name="Mark read").click()
    expect(alice.locator("#unread-count")).to_have_text("0")
    expect(alice.locator("#inbox .notification").first).not_to_have_class("is-unread")
    assert errors == []
    alice_context.close()
    admin_context.close()


def test_the_admin_form_shows_a_field_error_inline_then_sends_once_fixed(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "admin", is_admin=True)
    make_user(session, "bob")
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server.base_url, "admin", PASSWORD)
    page.goto(f"{live_server.base_url}/admin")
    page.evaluate("window.__sameDocument = true")
    page.get_by_role("radio", name="One user").check()
    page.get_by_label("Title").fill("Hello")
    page.get_by_label("Username (for “one user”)").fill("ghost")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#username-error")).to_have_text("No user has that name.")
    expect(page.get_by_label("Title")).to_have_value("Hello")  # what was typed is kept
    assert page.evaluate("window.__sameDocument") is True
    page.get_by_label("Username (for “one user”)").fill("bob")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".form-success")).to_contain_text("Sent “Hello”")
    expect(page.locator("#username-error")).to_have_count(0)
    expect(page.locator("#recent")).to_contain_text("user: bob")
    assert page.evaluate("window.__sameDocument") is True
    context.close()


def test_regression_the_stream_connects_even_when_the_sse_extension_loads_late(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    # Was: with both scripts deferred, htmx started on a timer as soon as it ran, and an
    # SSE extension that arrived after that was never applied: the page never connected
    # ("connecting" for good, in about one full test run in three).
    make_instrument(session, "ACME")
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)  # answered below, once htmx has run

    page.route("**/ext/hx-sse.min.js?v=*", hold)  # assets are linked with a version
    page.goto(live_server.base_url, wait_until="commit")
    # bypass_csp: wait_for_function evaluates its condition from a string. Polled on a
    # timer: animation frames do not run while the page waits for a blocking script.
    page.wait_for_function("typeof window.htmx === 'object'", polling=50)
    assert len(held) == 1
    # A page-side timer queued after htmx's own start timer: by the time it fires, htmx
    # has started (deferred) or is waiting for DOMContentLoaded (not deferred).
    page.evaluate("() => new Promise(resolve => setTimeout(resolve, 0))")
    held[0].continue_()
    expect(page.locator("#connection")).to_have_text("live")
    context.close()
