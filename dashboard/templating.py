"""The app's Jinja2 templates and the formatting helpers they use.

Pages (dashboard.web) and the live layer's fragments (dashboard.live.fragments) render
from the same templates, so a live update never drifts from a fresh page load.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from jinja2 import Environment
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup
from ua_parser import parse as parse_user_agent

from dashboard import display
from dashboard.links import is_allowed_link
from dashboard.prices import tiles
from dashboard.resources import resource_dir
from dashboard.web.assets import AssetVersions


def load_templates() -> Jinja2Blocks:
    """The app's templates (pages, and the fragments that streams send too) with the
    formatting helpers they use: what both the pages and :class:`Renderer` render from."""
    templates = Jinja2Blocks(directory=str(resource_dir("templates")))
    _install_filters(templates.env)
    templates.env.globals["asset"] = AssetVersions(resource_dir("static")).url
    # The tile's parts as macros, loaded once: an {% import %} in tile.html looked the
    # template up again on every render, 5 % of a busy server's CPU (docs/benchmarks.md).
    parts = templates.env.get_template("partials/tile_parts.html").module
    templates.env.globals["tile_parts"] = parts
    return templates


def _install_filters(env: Environment) -> None:
    # A link written before today's rule is not shown as one (dashboard.links).
    env.tests["allowed_link"] = lambda value: isinstance(value, str) and is_allowed_link(value)
    # Every number and time in the canonical form (dashboard.display): static/format.js
    # renders it in the viewer's locale and time zone.
    env.filters["price"] = tiles.format_price
    env.filters["price_data"] = _price_data
    env.filters["compact"] = tiles.format_compact
    env.filters["change"] = tiles.format_change
    env.filters["percent"] = tiles.format_percent
    env.filters["isotime"] = _isotime
    env.filters["shorttime"] = display.format_date_time
    env.filters["timestamp"] = _timestamp
    env.filters["ticktime"] = tiles.format_tick_time
    env.filters["browser"] = describe_browser
    env.globals["server_now"] = _server_now
    env.globals["COMPACT_FROM"] = tiles.COMPACT_FROM
    env.globals["LOCALES"] = display.LOCALES
    env.globals["SPARKLINE_WIDTH"] = tiles.SPARKLINE_WIDTH
    env.globals["SPARKLINE_HEIGHT"] = tiles.SPARKLINE_HEIGHT


@lru_cache(maxsize=256)
def describe_browser(user_agent: str | None) -> str:
    """A ``User-Agent`` as a person reads it: "Firefox 140 on Windows", "Mobile Safari on
    iOS (iPhone)"; "Unknown browser" when it says nothing (parsed by ua-parser)."""
    parsed = parse_user_agent(user_agent or "")
    if parsed.user_agent is None:
        return "Unknown browser"
    browser = parsed.user_agent.family
    if parsed.user_agent.major:
        browser += f" {parsed.user_agent.major}"
    if parsed.os is not None and parsed.os.family != "Other":
        browser += f" on {parsed.os.family}"
    if parsed.device is not None and parsed.device.family not in ("Other", "Spider"):
        browser += f" ({parsed.device.family})"
    return browser


def _server_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _isotime(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def _price_data(value: float, decimals: int) -> Markup:
    """``<data value="97186.54">97,186.54</data>``: a price outside a tile's quote, marked
    for static/format.js."""
    text = tiles.format_price(value, decimals)
    return Markup('<data value="{}">{}</data>').format(repr(float(value)), text)


def _timestamp(value: datetime | None) -> Markup:
    """``<time datetime=ISO>Dec 6, 2026, 08:05 UTC</time>``, marked for static/format.js."""
    if value is None:
        return Markup("")
    return Markup('<time datetime="{}">{}</time>').format(
        _isotime(value), display.format_date_time(value)
    )
