"""Which links the app will write, show or redirect to.

Browsers read a path loosely: they treat ``\\`` as ``/`` and drop tabs and newlines, so
``/\\evil.example/`` or ``/<TAB>/evil.example`` leave the site though they start with one
``/`` (WHATWG URL Standard, "path-relative-scheme-less" parsing and its tab/newline
stripping). These rules accept only what every browser reads the same way.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def _plain(value: str) -> bool:
    """No backslash, no whitespace and no control character anywhere."""
    return not any(c == "\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def is_site_path(value: str) -> bool:
    """A path on this site: one leading ``/`` (not ``//``), nothing a browser rewrites."""
    return value.startswith("/") and not value.startswith("//") and _plain(value)


def is_web_url(value: str) -> bool:
    """An absolute ``http(s)://`` URL with a host, nothing a browser rewrites."""
    if not value.lower().startswith(("https://", "http://")) or not _plain(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # a malformed IPv6 host, say
        return False
    return bool(parts.hostname)


def is_allowed_link(value: str) -> bool:
    """What a notification may link to: an ``http(s)://`` URL or a path on this site."""
    return is_web_url(value) or is_site_path(value)
