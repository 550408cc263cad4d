"""Any number of tabs: the tabs of one browser share one stream, so over HTTP/1.1 (six
connections per site) the 7th and the 10th tab load and are live; when the tab holding the
stream closes, another takes it over."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.browser.conftest import log_in
from tests.conftest import LiveServer, wait_until
from tests.factories import PASSWORD, add_notification, add_tick, make_instrument, make_user

pytestmark = pytest.mark.browser

TABS = 10


def wait_for_streams(live_server: LiveServer, user_id: int, count: int) -> None:
    wait_until(lambda: live_server.runtime.hub.streams_of(user_id) == count)


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
    heir = tabs[0]
    expect(heir.locator("#live")).to_have_attribute("data-shared", "leader")
    # It resumes from the newest it showed, not from its page's own (older) cursor: a
    # replay since then would bring back dismissed toasts and archived items.
    assert f"after={note.id}" in (heir.locator("#live").get_attribute("hx-sse:connect") or "")
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


# The server's keep-alive interval for the takeover test (seconds): silence shows quickly.
KEEPALIVE = 1.0


@pytest.fixture
def quick_server(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(
        lambda: create_app(settings.model_copy(update={"keepalive_interval": KEEPALIVE}))
    )
    server.start()
    yield server
    server.stop()


def test_a_tab_takes_the_stream_over_from_a_leader_that_went_quiet(
    browser: Browser, quick_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    context = browser.new_context()
    leader = context.new_page()
    log_in(leader, quick_server.base_url, "alice", PASSWORD)
    expect(leader.locator("#live")).to_have_attribute("data-shared", "leader")
    follower = context.new_page()
    follower.goto(f"{quick_server.base_url}/")
    expect(follower.locator("#connection")).to_have_text("live")
    expect(follower.locator("#live")).to_have_attribute("data-shared", "follower")

    # A leader that runs nothing (frozen in the background, as phones do; here its main
    # thread kept busy for 6 s) keeps its lock and relays nothing: the tab in view notices the
    # silence and takes the stream over.
    leader.evaluate(
        "() => setTimeout(() => { const until = Date.now() + 6000; while (Date.now() < until); })"
    )
    expect(follower.locator("#live")).to_have_attribute(
        "data-shared", "leader", timeout=(2 * KEEPALIVE + 5) * 1000
    )
    expect(follower.locator("#connection")).to_have_text("live")
    note = add_notification(session, "after the takeover")
    expect(follower.locator(f"#notification-{note.id}")).to_be_visible()

    # Running again, the old leader follows, and one stream serves both again.
    expect(leader.locator("#live")).to_have_attribute("data-shared", "follower", timeout=15_000)
    later = add_notification(session, "both again")
    for tab in (leader, follower):
        expect(tab.locator(f"#notification-{later.id}")).to_be_visible()
    wait_for_streams(quick_server, alice.id, 1)
    context.close()


def test_signed_out_tabs_let_go_so_a_page_signed_in_again_is_live(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    context = browser.new_context()
    first = context.new_page()
    log_in(first, live_server.base_url, "alice", PASSWORD)
    second = context.new_page()
    second.goto(f"{live_server.base_url}/")
    expect(second.locator("#connection")).to_have_text("live")

    first.get_by_role("button", name="Log out").click()
    expect(second.locator("#connection")).to_have_text("signed out")
    log_in(first, live_server.base_url, "alice", PASSWORD)
    expect(first.locator("#connection")).to_have_text("live")
    note = add_notification(session, "signed in again")
    expect(first.locator(f"#notification-{note.id}")).to_be_visible()
    context.close()
