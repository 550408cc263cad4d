"""The templates' formatting helpers."""

from __future__ import annotations

import pytest

from dashboard.templating import describe_browser


@pytest.mark.parametrize(
    ("user_agent", "shown"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox 140 on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
            "Mobile Safari 18 on iOS (iPhone)",
        ),
        ("python-httpx/0.28.1", "Unknown browser"),  # a program: nothing to tell
        ("", "Unknown browser"),
        (None, "Unknown browser"),
    ],
)
def test_a_user_agent_is_shown_as_browser_system_and_device(
    user_agent: str | None, shown: str
) -> None:
    assert describe_browser(user_agent) == shown
