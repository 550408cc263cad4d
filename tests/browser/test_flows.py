"""The remaining everyday flows in a browser: watching anonymously, logging in and out,
and a price alert from setting it to its notification."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from tests.browser.conftest import log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser


def test_an_anonymous_viewer_sees_prices_move_and_a_stale_marker(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    acme = make_instrument(session, "ACME", ttl_seconds=1)
    add_tick(session, acme, 50.0)
    page = browser.new_page()
    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    expect(page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()
    expect(page.locator("#inbox")).to_have_count(0)  # no inbox, no badge for anonymous
    tile = page.locator("#tile-ACME")
    add_tick(session, acme, 55.5)
    expect(tile.locator("#q-ACME > b")).to_have_text("55.50")
    # No tick within the instrument's time-to-live: the server marks the tile stale.
    expect(tile.locator(".stale-marker")).to_be_visible(timeout=10_000)
    page.close()


def test_log_in_with_a_wrong_password_then_the_right_one_then_log_out(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    page = browser.new_page()
    page.goto(f"{live_server.base_url}/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.get_by_label("Password")).to_be_focused()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.base_url}/")
    expect(page.locator(".whoami")).to_have_text("alice")
    expect(page.locator("#inbox-heading")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.base_url}/")
    expect(page.get_by_role("banner").get_by_role("link", name="Log in")).to_be_visible()
    page.goto(f"{live_server.base_url}/notifications")
    expect(page).to_have_url(f"{live_server.base_url}/login?next=/notifications")
    page.close()


def test_a_price_alert_is_set_crossed_and_arrives_as_a_notification(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    context = browser.new_context()
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    page.goto(f"{live_server.base_url}/instruments/ACME")
    page.get_by_label("Direction").select_option("above")
    page.get_by_label("Level").fill("105")
    page.get_by_role("button", name="Set alert").click()
    expect(page.locator(".alert-item")).to_contain_text("105.00")

    page.goto(live_server.base_url)
    expect(page.locator("#connection")).to_have_text("live")
    add_tick(session, acme, 104.0)
    add_tick(session, acme, 106.5)  # crosses 105 upwards
    item = page.locator("#inbox .notification").first
    expect(item).to_contain_text("ACME")
    expect(item).to_contain_text("105")
    expect(page.locator("#unread-count")).to_have_text("1")
    context.close()


def test_the_pages_work_under_the_content_security_policy_without_violations(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "admin", is_admin=True)
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    log_in(page, live_server.base_url, "admin", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    add_tick(session, acme, 101.0)
    expect(page.locator("#q-ACME > b")).to_have_text("101.00")
    page.goto(f"{live_server.base_url}/instruments/ACME")
    expect(page.locator("#chart-state")).to_have_text("live")
    page.goto(f"{live_server.base_url}/admin")
    page.get_by_label("Title").fill("Under CSP")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".preview")).to_contain_text("Under CSP")
    assert violations == []
    context.close()
