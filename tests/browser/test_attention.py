"""What reaches a person looking elsewhere: the unread count on the tab's icon, and opted
in per browser, desktop notifications while the tab is hidden and a sound."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from dashboard.models import Audience, Severity
from tests.browser.conftest import log_in
from tests.browser.test_inbox_volume import set_hidden
from tests.conftest import LiveServer
from tests.factories import PASSWORD, add_notification, make_user

pytestmark = pytest.mark.browser

# Records what the page asks of the Notification API and of the audio output.
SPIES = """
window.__desktop = [];
window.__tones = 0;
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) {
      super(title, options);
      window.__desktop.push({ title, body: options?.body ?? "", tag: options?.tag ?? "" });
    }
  };
}
const realOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__tones += 1;
  return realOscillator.call(this);
};
"""


def signed_in(browser: Browser, base: str, *, notifications: bool) -> tuple[BrowserContext, Page]:
    context = browser.new_context()
    if notifications:
        context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(SPIES)
    page = context.new_page()
    log_in(page, base, "alice", PASSWORD)
    return context, page


def icon_href(page: Page) -> str:
    return unquote(page.locator('link[rel="icon"]').get_attribute("href") or "")


def test_the_tab_icon_carries_the_unread_count(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    context, page = signed_in(browser, live_server.base_url, notifications=False)
    expect(page.locator("#connection")).to_have_text("live")
    assert icon_href(page).startswith("/static/favicon.svg")  # nothing unread: the plain icon

    add_notification(session, "one")
    add_notification(session, "two")
    expect(page.locator("#unread-count")).to_have_text("2")
    page.wait_for_function(
        "() => document.querySelector('link[rel=icon]').href.startsWith('data:image/svg+xml')"
    )
    assert ">2</text>" in icon_href(page)
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#unread-count")).to_have_text("0")
    page.wait_for_function(
        "() => new URL(document.querySelector('link[rel=icon]').href).pathname"
        " === '/static/favicon.svg'"
    )
    context.close()


def test_opted_in_a_hidden_tab_shows_desktop_notifications_and_plays_a_sound(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    alice = make_user(session, "alice")
    context, page = signed_in(browser, live_server.base_url, notifications=True)
    page.goto(f"{live_server.base_url}/settings")
    choices = page.locator("#attention")
    expect(choices).to_be_visible()
    choices.get_by_label("Desktop notification").check()
    expect(choices.locator(".attention-status")).to_contain_text("on in this browser")
    choices.get_by_label("Play a sound").check()
    page.wait_for_function("() => window.__tones > 0")  # the choice plays the sound once

    page.goto(f"{live_server.base_url}/")
    expect(page.locator("#connection")).to_have_text("live")
    page.locator("h1").click()  # a gesture: browsers play sound only after one
    set_hidden(page, True)
    tones = page.evaluate("window.__tones")

    add_notification(session, "Just news")  # no toast: neither shown nor heard
    critical = add_notification(
        session, "Exchange halted", body="Trading stopped", severity=Severity.critical
    )
    page.wait_for_function("() => window.__desktop.length > 0")
    shown = page.evaluate("window.__desktop")
    assert shown == [
        {"title": "Exchange halted", "body": "Trading stopped", "tag": f"toast-{critical.id}"}
    ]
    assert page.evaluate("window.__tones") > tones

    set_hidden(page, False)  # a visible tab has its toast: no desktop notification
    alert = add_notification(session, "ACME crossed 100", audience=Audience.user, user=alice)
    expect(page.locator(f"#toast-{alert.id}")).to_be_visible()
    assert len(page.evaluate("window.__desktop")) == 1
    context.close()


def test_without_opting_in_nothing_is_shown_or_played(
    browser: Browser, live_server: LiveServer, session: Session
) -> None:
    make_user(session, "alice")
    context, page = signed_in(browser, live_server.base_url, notifications=True)
    expect(page.locator("#connection")).to_have_text("live")
    page.locator("h1").click()
    first = add_notification(session, "Exchange halted", severity=Severity.critical)
    expect(page.locator(f"#toast-{first.id}")).to_be_visible()
    assert page.evaluate("[window.__desktop.length, window.__tones]") == [0, 0]
    context.close()
