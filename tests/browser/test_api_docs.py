"""``/docs``: the interactive API description works offline, under the site's CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_regression_the_api_docs_load_from_the_app_itself_under_its_csp(
    browser: Browser, live_server: LiveServer
) -> None:
    # Was: a blank page without internet (Swagger UI came from a CDN, with no integrity
    # check), and /docs was served without the CSP to let its inline script run.
    context = browser.new_context()
    outside: list[str] = []

    def refuse_the_internet(route: Route) -> None:
        outside.append(route.request.url)
        route.abort()

    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live_server.base_url)
            else refuse_the_internet(route)
        ),
    )
    page = context.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    response = page.goto(f"{live_server.base_url}/docs")
    assert (
        response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    )
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Live dashboard")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    page.get_by_text("/api/prices/{symbol}/bars").first.click()
    expect(page.get_by_text("resolution").first).to_be_visible()
    assert outside == []
    assert violations == []
    context.close()
