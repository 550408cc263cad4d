"""axe-core on every page (light and dark), keyboard-only forms, and visible focus."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import Session

from dashboard.models import Audience, Severity
from tests.browser.conftest import log_in
from tests.conftest import LiveServer
from tests.factories import (
    PASSWORD,
    add_notification,
    add_tick,
    make_instrument,
    make_topic,
    make_user,
    subscribe,
)

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each.

    The page's context must be made with ``bypass_csp=True``: the app's policy (rightly)
    refuses the injected test script.
    """
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']} ({v['impact']}) at {node['target']}: "
        + " ".join(str(node.get("failureSummary", "")).split())
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"][:5]
    ]


@pytest.fixture
def demo(session: Session) -> dict[str, int]:
    make_user(session, "admin", is_admin=True)
    alice = make_user(session, "alice")
    markets = make_topic(session, "markets")
    subscribe(session, alice, markets)
    acme = make_instrument(session, "ACME")
    for price in (100.0, 101.0, 99.5):
        add_tick(session, acme, price)
    for severity in Severity:
        add_notification(
            session,
            f"A {severity.value} notice",
            body="Details.",
            severity=severity,
            audience=Audience.topic if severity == Severity.success else Audience.everyone,
            topic=markets if severity == Severity.success else None,
        )
    read = add_notification(session, "An old one")
    assert read.id is not None
    return {"notification": read.id}


PAGES = [
    ("anonymous", "/"),
    ("anonymous", "/login"),
    ("anonymous", "/instruments/ACME"),
    ("anonymous", "/no-such-page"),
    ("alice", "/"),
    ("alice", "/notifications"),
    ("alice", "/notifications?archived=1"),
    ("alice", "/notifications/{notification}"),
    ("alice", "/settings"),
    ("alice", "/instruments/ACME"),
    ("admin", "/admin"),
    ("admin", "/admin/users"),
    ("admin", "/admin/instruments"),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_no_serious_accessibility_violations(
    browser: Browser, live_server: LiveServer, demo: dict[str, int], scheme: str
) -> None:
    found: dict[str, list[str]] = {}
    contexts = {}
    for who in ("anonymous", "alice", "admin"):
        context = browser.new_context(color_scheme=scheme, bypass_csp=True)  # type: ignore[arg-type]
        page = context.new_page()
        if who != "anonymous":
            log_in(page, live_server.base_url, who, PASSWORD)
        contexts[who] = (context, page)
    for who, path in PAGES:
        page = contexts[who][1]
        page.goto(live_server.base_url + path.format(**demo))
        page.wait_for_load_state("load")
        violations = serious_violations(page)
        if violations:
            found[f"{who} {path}"] = violations
    for context, _ in contexts.values():
        context.close()
    assert found == {}, "\n".join(f"{page}: {line}" for page, v in found.items() for line in v)


def focus_ring(page: Page) -> str:
    return str(
        page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return s.outlineStyle + ' ' + s.outlineWidth; }"
        )
    )


def test_keyboard_only_login_subscribe_alert_and_admin_post(
    browser: Browser, live_server: LiveServer, demo: dict[str, int], session: Session
) -> None:
    make_topic(session, "rates")
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.base_url}/login")
    # The username field has focus on arrival; type, Tab, type, Enter.
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.base_url}/")

    page.goto(f"{live_server.base_url}/settings")
    subscribe_button = page.get_by_role("button", name="Subscribe to Rates")
    for _ in range(40):  # Tab until the button has focus, as a keyboard user would
        page.keyboard.press("Tab")
        if subscribe_button.evaluate("el => el === document.activeElement"):
            break
    expect(subscribe_button).to_be_focused()
    assert focus_ring(page).startswith("solid"), focus_ring(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Subscribed to Rates")).to_have_attribute(
        "aria-pressed", "true"
    )

    page.goto(f"{live_server.base_url}/instruments/ACME")
    page.get_by_label("Level").focus()
    page.keyboard.type("150")
    page.keyboard.press("Enter")
    expect(page.locator(".alert-item")).to_contain_text("150.00")
    context.close()

    admin_context = browser.new_context()
    admin = admin_context.new_page()
    log_in(admin, live_server.base_url, "admin", PASSWORD)
    admin.goto(f"{live_server.base_url}/admin")
    admin.get_by_label("Title").focus()
    admin.keyboard.type("Typed, not clicked")
    # Enter in a text field submits with the form's first button: Preview, never Send.
    admin.keyboard.press("Enter")
    expect(admin.locator(".preview")).to_contain_text("Typed, not clicked")
    send = admin.get_by_role("button", name="Send")
    send.focus()
    assert focus_ring(admin).startswith("solid")
    admin.keyboard.press("Enter")
    expect(admin.locator(".form-success")).to_contain_text("Typed, not clicked")
    admin_context.close()


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("anonymous", "/login"),
        ("alice", "/"),
        ("alice", "/notifications"),
        ("alice", "/settings"),
        ("alice", "/instruments/ACME"),
        ("admin", "/admin"),
    ],
)
def test_every_form_control_is_reachable_by_tab_with_a_visible_focus_ring(
    browser: Browser, live_server: LiveServer, demo: dict[str, int], who: str, path: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    if who != "anonymous":
        log_in(page, live_server.base_url, who, PASSWORD)
    page.goto(live_server.base_url + path)
    page.wait_for_load_state("load")
    controls = page.evaluate(
        """() => [...document.querySelectorAll(
                'main form input:not([type=hidden]), main form select, main form textarea,'
                + ' main form button')]
            .filter(el => el.offsetParent !== null && !el.disabled)
            .map((el, i) => {
                // A radio group is one Tab stop (arrow keys move within it).
                el.dataset.kbd = el.type === 'radio' ? 'radio:' + el.name : String(i);
                return el.dataset.kbd; })"""
    )
    assert controls, "no form controls found"
    controls = sorted(set(controls))
    reached: set[str] = set()
    unringed: list[str] = []
    page.evaluate("document.activeElement?.blur()")
    for _ in range(len(controls) * 3 + 60):
        page.keyboard.press("Tab")
        state = page.evaluate(
            """() => { const el = document.activeElement;
                 const s = getComputedStyle(el);
                 return [el.dataset.kbd || '', s.outlineStyle, el.outerHTML.slice(0, 80)]; }"""
        )
        key, outline, html = state
        if key:
            reached.add(key)
            if outline in ("none", ""):
                unringed.append(html)
        if reached == set(controls):
            break
    assert reached == set(controls), f"not reachable by Tab: {sorted(set(controls) - reached)}"
    assert unringed == []
    context.close()
