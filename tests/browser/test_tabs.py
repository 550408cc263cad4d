"""Any number of tabs: the tabs of one browser share one stream, so over HTTP/1.1 (six
connections per site) the 7th and the 10th tab load and are live; when the tab holding the
stream closes, another takes it over."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from tests.browser.conftest import log_in
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser

TABS = 10


def wait_for_streams(live_server: LiveServer, user_id: int, count: int) -> None:
    deadline = time.monotonic() + 10
    while live_server.runtime.hub.streams_of(user_id) != count:
        assert time.monotonic() < deadline, live_server.runtime.hub.streams_of(user_id)
        time.sleep(0.05)


def test_ten_tabs_of_one_browser_are_live_on_one_stream(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 100.0)
    context = browser.new_context()
    first = context.new_page()
    log_in(first, live_server.base_url, "alice", PASSWORD)
    tabs: list[Page] = [first]
    for _ in range(TABS - 1):
        tab = context.new_page()
        # Over HTTP/1.1 a 7th page whose six elders each held a stream never loaded at all.
        tab.goto(f"{live_server.base_url}/", timeout=10_000)
        tabs.append(tab)
    for tab in tabs:
        expect(tab.locator("#connection")).to_have_text("live")
    wait_for_streams(live_server, alice.id, 1)

    note = add_notification(session, "to every tab")
    add_tick(session, acme, 123.45)
    for tab in tabs:
        expect(tab.locator(f"#notification-{note.id}")).to_be_visible()
        expect(tab.locator("#unread-count")).to_have_text("1")
        expect(tab.locator("#q-ACME b")).to_have_text("123.45")

    # The tab holding the stream goes: the next in line connects, the others follow it.
    leader = next(
        tab for tab in tabs if tab.locator("#live").get_attribute("data-shared") == "leader"
    )
    leader.close()
    tabs.remove(leader)
    expect(tabs[0].locator("#live[data-shared=leader], #live[data-shared=follower]")).to_have_count(
        1
    )
    second = add_notification(session, "after the handover")
    for tab in tabs:
        expect(tab.locator(f"#notification-{second.id}")).to_be_visible()
        expect(tab.locator("#unread-count")).to_have_text("2")
        expect(tab.locator("#connection")).to_have_text("live")
    wait_for_streams(live_server, alice.id, 1)

    # Read in one tab: every other tab restyles the item and counts down.
    tabs[-1].locator(f"#notification-{note.id}").get_by_role("button", name="Mark read").click()
    for tab in tabs:
        expect(tab.locator("#unread-count")).to_have_text("1")
        expect(tab.locator(f"#notification-{note.id}")).not_to_have_class(
            "notification severity-info is-unread"
        )
    context.close()


def test_each_browser_has_its_own_stream(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    contexts = [browser.new_context(), browser.new_context()]
    for context in contexts:
        page = context.new_page()
        log_in(page, live_server.base_url, "alice", PASSWORD)
        expect(page.locator("#connection")).to_have_text("live")
    wait_for_streams(live_server, alice.id, 2)
    for context in contexts:
        context.close()
