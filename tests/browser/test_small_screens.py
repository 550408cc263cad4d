"""Small screens (issue 20): the admin pages on a phone, and toasts above the inbox drawer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlmodel import Session

from dashboard.models import Audience, ScheduledNotification, Severity, utcnow
from dashboard.prices import instruments
from tests.browser.conftest import ARTIFACTS, log_in
from tests.browser.test_accessibility import serious_violations
from tests.conftest import LiveServer
from tests.factories import (
    PASSWORD,
    add_notification,
    add_tick,
    make_instrument,
    make_topic,
    make_user,
)

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}
DESK: ViewportSize = {"width": 1440, "height": 900}
ADMIN_PAGES = ("/admin", "/admin/users", "/admin/instruments")


@pytest.fixture
def admin_data(session: Session) -> None:
    """What an admin's pages list after a working day: long titles, every audience."""
    make_user(session, "admin", is_admin=True)
    alice = make_user(session, "alice")
    make_user(session, "bob")
    make_user(session, "margaret-hamilton-operations")
    markets = make_topic(session, "markets")
    make_topic(session, "maintenance-windows")
    for symbol in ("ACME", "BTC-USD", "EURUSD"):
        add_tick(session, make_instrument(session, symbol), 100.0)
    make_instrument(session, "OLDCO")
    instruments.retire(session=session, symbol="OLDCO")
    session.commit()
    add_notification(session, "Markets open", body="Trading resumed.")
    add_notification(
        session,
        "Scheduled maintenance of the price feed tonight between 22:00 and 23:30 UTC",
        audience=Audience.topic,
        topic=markets,
        severity=Severity.warning,
    )
    add_notification(session, "Your export is ready", audience=Audience.user, user=alice)
    add_notification(session, "Exchange halted", severity=Severity.critical)
    add_notification(session, "Supercalifragilisticexpialidocious-announcement-id-42")
    session.add(
        ScheduledNotification(
            title="Quarterly report published for everyone who follows the markets topic",
            audience=Audience.topic,
            topic_id=markets.id,
            severity=Severity.info,
            send_at=utcnow() + timedelta(days=2),
        )
    )
    session.commit()


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    """A screenshot in test-artifacts/, to look at: what a test measures is not all one sees."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


# Words broken across lines that would fit on one line of their row or block: a table
# column squeezed to a letter or two breaks "Severity" into "Se/ve/rit/y". (A word wider
# than the whole row has to break somewhere.)
BROKEN_WORDS = """(root) => {
    const broken = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode()); ) {
        const parent = node.parentElement;
        if (!parent.checkVisibility()) continue;
        for (const match of node.data.matchAll(/[^\\s\\/-]+[\\/-]?/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
            if (lines.size <= 1) continue;
            const probe = document.createElement("span");
            probe.style.whiteSpace = "nowrap";
            probe.textContent = match[0];
            parent.append(probe);
            const wide = probe.getBoundingClientRect().width;
            probe.remove();
            // Not the cell: a squeezed column is the fault. Its row, or the text's block.
            const block = parent.closest("tr, li, p, label, .card, main");
            const style = getComputedStyle(block);
            const room = block.clientWidth
                - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
            if (wide <= room) broken.push(`${match[0]} (in ${parent.tagName.toLowerCase()})`);
        }
    }
    return broken;
}"""

# Controls a thumb must hit (at least 40 px high), and fields narrower than their card.
SMALL_TARGETS = """(root) => {
    const controls = root.querySelectorAll(
        'input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, textarea,'
        + ' button, summary, a[href], label.choice'
    );
    return [...controls].filter((el) => el.checkVisibility())
        .filter((el) => el.getBoundingClientRect().height < 40)
        .map((el) => `${el.tagName.toLowerCase()} "${el.textContent.trim() || el.name}"`
            + ` ${Math.round(el.getBoundingClientRect().height)} px`);
}"""
NARROW_FIELDS = """(root) => {
    const fields = root.querySelectorAll(
        'input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, textarea'
    );
    return [...fields].filter((el) => el.checkVisibility()).filter((el) => {
        const card = el.closest(".card");
        const style = getComputedStyle(card);
        const room = card.clientWidth
            - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        // A topic's name shares its row with its Rename button; every other field has a row.
        const share = el.closest(".topic-rename") ? 0.6 : 0.98;
        return el.getBoundingClientRect().width < share * room;
    }).map((el) => `${el.name} ${Math.round(el.getBoundingClientRect().width)} px`);
}"""


def no_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_admin_pages_on_a_phone_read_without_broken_words_and_take_a_thumb(
    browser: Browser, live_server: LiveServer, admin_data: None, scheme: str
) -> None:
    context = browser.new_context(
        viewport=PHONE,
        color_scheme=scheme,  # type: ignore[arg-type]
        bypass_csp=True,  # for axe's injected script
    )
    page = context.new_page()
    log_in(page, live_server.base_url, "admin", PASSWORD)
    problems: dict[str, dict[str, object]] = {}
    for path in ADMIN_PAGES:
        page.goto(f"{live_server.base_url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        page.evaluate("document.querySelectorAll('main details').forEach((d) => d.open = true)")
        shoot(page, f"phone-{scheme}{path.replace('/', '-')}")
        main = page.locator("main")
        found = {
            "page scrolls sideways": not no_horizontal_scroll(page),
            "broken words": main.evaluate(BROKEN_WORDS),
            "small tap targets": main.evaluate(SMALL_TARGETS),
            "narrow fields": main.evaluate(NARROW_FIELDS),
            "axe": serious_violations(page),
        }
        problems[path] = {kind: what for kind, what in found.items() if what}
    assert problems == {path: {} for path in ADMIN_PAGES}
    # The recent notifications, each a card that names what it shows.
    page.goto(f"{live_server.base_url}/admin")
    card = page.locator("#recent tbody tr").filter(has_text="Exchange halted")
    for label, value in (("Severity", "critical"), ("Audience", "everyone"), ("Read", "0 / 4")):
        cell = card.locator(f'td[data-label="{label}"]')
        expect(cell).to_have_text(value)
        shown = cell.evaluate("(td) => getComputedStyle(td, '::before').content")
        assert shown.startswith(f'"{label}"'), shown  # (its alt text is empty: th says it)
    context.close()


def test_admin_tables_stay_tables_on_a_desk(
    browser: Browser, live_server: LiveServer, admin_data: None
) -> None:
    context = browser.new_context(viewport=DESK)
    page = context.new_page()
    log_in(page, live_server.base_url, "admin", PASSWORD)
    for path in ("/admin", "/admin/users"):
        page.goto(f"{live_server.base_url}{path}")
        header = page.locator("main .admin-table thead th").first
        expect(header).to_be_visible()
        row = page.locator("main .admin-table tbody tr").first
        assert row.evaluate("(tr) => getComputedStyle(tr).display") == "table-row", path
        assert page.locator("main").evaluate(BROKEN_WORDS) == [], path
        assert no_horizontal_scroll(page), path
    context.close()


@pytest.fixture
def alice(session: Session) -> None:
    make_user(session, "alice")
    for symbol in ("ACME", "GLBX", "INTC", "UMBR"):
        add_tick(session, make_instrument(session, symbol), 100.0)
    add_notification(session, "Markets open", body="Trading resumed.")


def open_drawer(page: Page) -> None:
    """Opens the phone's inbox drawer and waits for it to finish sliding in."""
    page.locator("#inbox-toggle").click()
    expect(page.locator("#inbox-panel")).to_have_class(re.compile(r"\bis-open\b"))
    page.wait_for_function(
        "() => { const r = document.getElementById('inbox-panel').getBoundingClientRect();"
        " return Math.abs(r.right - window.innerWidth) < 1; }"
    )


def on_top_at_centre(page: Page, selector: str) -> bool:
    """Whether the element is what a tap at its centre would hit: seen, not covered."""
    return bool(
        page.evaluate(
            """(selector) => {
                const el = document.querySelector(selector);
                const r = el.getBoundingClientRect();
                const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                return el.contains(hit);
            }""",
            selector,
        )
    )


def centre_inside(page: Page, selector: str, container: str) -> bool:
    return bool(
        page.evaluate(
            """([selector, container]) => {
                const r = document.querySelector(selector).getBoundingClientRect();
                const c = document.querySelector(container).getBoundingClientRect();
                const x = r.left + r.width / 2, y = r.top + r.height / 2;
                return c.left <= x && x <= c.right && c.top <= y && y <= c.bottom;
            }""",
            [selector, container],
        )
    )


def focus_end_of(page: Page, container: str, *, last: bool) -> str:
    """Focuses the first or last control a keyboard reaches in ``container``; a mark on it."""
    return str(
        page.evaluate(
            """([container, last]) => {
                const all = [...document.querySelector(container).querySelectorAll(
                    'a[href], button:not([disabled]), input:not([type=hidden]), select, textarea'
                )].filter((el) => el.checkVisibility() && el.tabIndex >= 0);
                const el = last ? all.at(-1) : all[0];
                el.dataset.probe = last ? 'last' : 'first';
                el.focus();
                return el.dataset.probe;
            }""",
            [container, last],
        )
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_on_a_phone_a_critical_toast_shows_above_the_open_drawer(
    browser: Browser, live_server: LiveServer, alice: None, session: Session, scheme: str
) -> None:
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    open_drawer(page)
    panel = page.locator("#inbox-panel")
    expect(page.get_by_role("button", name="Close the inbox")).to_be_focused()

    halted = add_notification(session, "Exchange halted", severity=Severity.critical)
    toast = page.locator(f"#toast-{halted.id}")
    expect(toast).to_be_visible()
    expect(toast).to_have_attribute("role", "alert")  # announced as it arrives
    # The toast lies over the drawer, and is what a person sees and taps there.
    assert centre_inside(page, f"#toast-{halted.id}", "#inbox-panel")
    assert on_top_at_centre(page, f"#toast-{halted.id}")
    assert on_top_at_centre(page, f"#toast-{halted.id} .toast-close")
    close_box = toast.get_by_role("button", name="Dismiss “Exchange halted”").bounding_box()
    assert close_box is not None and close_box["height"] >= 40  # a phone's tap target
    shoot(page, f"phone-{scheme}-toast-over-drawer", full_page=False)

    # Escape takes the toast the person sees first; the drawer stays open for the next one.
    page.keyboard.press("Escape")
    expect(toast).to_have_count(0)
    expect(panel).to_have_class(re.compile(r"\bis-open\b"))
    expect(panel).to_be_visible()
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator("#inbox-toggle")).to_be_focused()
    context.close()


def test_escape_never_dismisses_a_toast_that_something_covers(
    browser: Browser, live_server: LiveServer, alice: None, session: Session
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    open_drawer(page)
    halted = add_notification(session, "Exchange halted", severity=Severity.critical)
    toast = page.locator(f"#toast-{halted.id}")
    expect(toast).to_be_visible()
    # Anything over the toast (here a sheet laid over the whole screen) hides it: Escape
    # then belongs to what is on top, the drawer here, and the toast waits to be seen.
    page.evaluate(
        """() => {
            const cover = document.createElement('div');
            cover.id = 'cover';
            cover.style.cssText = 'position:fixed;inset:0;z-index:2147483647;background:#888';
            document.body.append(cover);
        }"""
    )
    assert not on_top_at_centre(page, f"#toast-{halted.id}")
    page.keyboard.press("Escape")
    expect(page.locator("#inbox-panel")).to_be_hidden()
    expect(toast).to_have_count(1)
    page.evaluate("document.getElementById('cover').remove()")
    assert on_top_at_centre(page, f"#toast-{halted.id}")
    page.keyboard.press("Escape")  # seen now: this Escape is for it
    expect(toast).to_have_count(0)
    context.close()


def test_escape_dismisses_the_focused_toast_and_focus_stays_on_the_toasts(
    browser: Browser, live_server: LiveServer, alice: None, session: Session
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    first = add_notification(session, "Exchange halted", severity=Severity.critical)
    expect(page.locator(f"#toast-{first.id}")).to_be_visible()
    second = add_notification(session, "Feed delayed", severity=Severity.critical)
    expect(page.locator(f"#toast-{second.id}")).to_be_visible()
    older = page.locator(f"#toast-{first.id}").get_by_role("button")
    older.focus()
    page.keyboard.press("Escape")
    expect(page.locator(f"#toast-{first.id}")).to_have_count(0)
    expect(page.locator(f"#toast-{second.id}")).to_be_visible()  # not the newest: the focused
    # Focus is not dropped on the page's body: it goes to the toast still there.
    expect(page.locator(f"#toast-{second.id}").get_by_role("button")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator(".toast")).to_have_count(0)
    context.close()


def test_with_the_drawer_open_tab_reaches_the_toast_above_it(
    browser: Browser, live_server: LiveServer, alice: None, session: Session
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    log_in(page, live_server.base_url, "alice", PASSWORD)
    expect(page.locator("#connection")).to_have_text("live")
    open_drawer(page)
    halted = add_notification(session, "Exchange halted", severity=Severity.critical)
    toast = page.locator(f"#toast-{halted.id}")
    expect(toast).to_be_visible()
    # Backwards out of the drawer's first control: into the toast above, not the tiles
    # the drawer hides.
    first_id = focus_end_of(page, "#inbox-panel", last=False)
    page.keyboard.press("Shift+Tab")
    expect(toast.get_by_role("button")).to_be_focused()
    page.keyboard.press("Tab")  # and back into the drawer
    assert page.evaluate("document.activeElement.dataset.probe") == first_id
    # Forwards out of the drawer's last control: the toast too.
    focus_end_of(page, "#inbox-panel", last=True)
    page.keyboard.press("Tab")
    expect(toast.get_by_role("button")).to_be_focused()
    page.keyboard.press("Enter")
    expect(toast).to_have_count(0)
    expect(page.locator("#inbox-panel")).to_be_visible()
    assert page.evaluate("document.activeElement.closest('#inbox-panel') !== null")
    context.close()
