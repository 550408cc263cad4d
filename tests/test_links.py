"""Which links the app writes, shows and redirects to."""

from __future__ import annotations

import pytest

from dashboard.links import is_allowed_link, is_site_path, is_web_url

# Each of these leaves the site in a browser, or is not a link at all.
REFUSED = [
    "/\\evil.example/",  # browsers read \ as /: //evil.example/ (issue 18, item 8)
    "/\t/evil.example",  # tabs and newlines are dropped: //evil.example
    "/\n/evil.example",
    "//evil.example/",
    "\\\\evil.example",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http://",  # no host
    "https:///path",
    "https://exa mple.com/",
    " https://example.com/",
    "https://example.com/\x00",
    "https://[::1/",  # not a URL
    "relative/path",
    "",
]
ALLOWED = [
    "/",
    "/instruments/BTC-USD",
    "/notifications?severity=critical",
    "https://example.com/",
    "http://example.com:8080/a?b=c#d",
    "HTTPS://EXAMPLE.COM/",
    "https://example.com/ünïcode",
]


@pytest.mark.parametrize("link", REFUSED)
def test_links_a_browser_would_take_off_site_or_not_follow_are_refused(link: str) -> None:
    assert not is_allowed_link(link)


@pytest.mark.parametrize("link", ALLOWED)
def test_plain_web_urls_and_site_paths_are_allowed(link: str) -> None:
    assert is_allowed_link(link)


def test_a_redirect_target_must_be_a_site_path_not_a_url() -> None:
    assert is_site_path("/settings#tokens")
    assert not is_site_path("https://example.com/")
    assert is_web_url("https://example.com/") and not is_web_url("/settings")
