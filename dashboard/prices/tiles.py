"""What a price tile shows: last price, change against the reference, sparkline, staleness.

The PricePoller owns one :class:`TileState` per instrument and updates it from ticks;
pages and streams render tiles from these states, so both always agree.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

Direction = Literal["up", "down", "flat"]

# How far behind a feed's clock may run and its ticks still count as fresh, on tiles and for
# alerts (the allowance ingest gives a clock ahead: dashboard.prices.ingest.MAX_FUTURE).
CLOCK_SKEW = timedelta(minutes=5)

# The sparkline's own coordinates, not pixels: CSS sizes it (preserveAspectRatio="none",
# a non-scaling stroke). Whole numbers on this grid are finer than the drawn line and keep
# the points short: the tile goes to every open stream on every change.
SPARKLINE_WIDTH = 240
SPARKLINE_HEIGHT = 100


# A price below 1 shows at least this many significant digits, whatever the instrument's
# decimals: 0.00001299 on a 2-decimal instrument read "0.00", and 0.000004 "0.00000".
SIGNIFICANT_DIGITS = 4
_MAX_DECIMALS = 12


def format_price(value: float, decimals: int) -> str:
    """A price as every screen shows it: the instrument's ``decimals``, thousands separators
    (``1,234.56``), and for a price below 1 as many more decimals as it takes to show
    :data:`SIGNIFICANT_DIGITS` significant digits, without trailing zeros past ``decimals``
    (``0.00001299``, ``0.000004``). static/instrument.js follows the same rule in the
    browser.
    """
    magnitude = abs(value)
    if magnitude == 0 or magnitude >= 1:
        return f"{value:,.{decimals}f}"
    first = -math.floor(math.log10(magnitude))  # the place of the first significant digit
    places = max(decimals, min(_MAX_DECIMALS, first + SIGNIFICANT_DIGITS - 1))
    text = f"{value:,.{places}f}"
    if places > decimals:
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0").ljust(decimals, "0")
        text = f"{whole}.{fraction}" if fraction else whole
    return text


def format_tick_time(ts: datetime, now: datetime | None = None) -> str:
    """When a tile's price is from: ``14:03:27 UTC`` for a tick of the last 20 hours, else
    its date (``2025-12-31``): an imported close from last year must not read as a time
    of today."""
    now = now or datetime.now(UTC)
    if now - ts < timedelta(hours=20):
        return ts.strftime("%H:%M:%S UTC")
    return ts.strftime("%Y-%m-%d")


def format_change(value: float, decimals: int) -> str:
    """A signed change; a true minus sign so columns of figures line up."""
    text = format_price(abs(value), decimals)
    if value > 0:
        return f"+{text}"
    if value < 0:
        return f"\u2212{text}"
    return text


def format_percent(value: float) -> str:
    if value > 0:
        return f"+{value:.2f}%"
    if value < 0:
        return f"\u2212{abs(value):.2f}%"
    return "0.00%"


def sparkline_points(
    prices: Sequence[float], *, width: int = SPARKLINE_WIDTH, height: int = SPARKLINE_HEIGHT
) -> str:
    """SVG polyline points scaled into ``width`` x ``height`` (y grows downwards).

    A flat series is drawn through the middle; fewer than two prices draw nothing.
    """
    # A copy first: pages render in worker threads while the poller appends on the loop,
    # and iterating a deque that changes raises. tuple() copies it in one step.
    prices = tuple(prices)
    if len(prices) < 2:
        return ""
    low, high = min(prices), max(prices)
    span = high - low
    step = width / (len(prices) - 1)
    pad = height * 0.03  # keep the stroke inside the box
    points = []
    for i, price in enumerate(prices):
        y = height / 2 if span == 0 else pad + (high - price) / span * (height - 2 * pad)
        points.append(f"{round(i * step)},{round(y)}")
    return " ".join(points)


@dataclass(slots=True)
class TileState:
    """The live state of one instrument's tile."""

    symbol: str
    name: str
    decimals: int
    ttl_seconds: int
    sparkline_size: int
    price: float | None = None
    previous_price: float | None = None
    reference_price: float | None = None
    # The tick shown, and the highest tick id seen (shown or older by event time).
    tick_id: int = 0
    seen_tick_id: int = 0
    ts: datetime | None = None
    # When the shown tick reached this process (its ts for ticks read at start).
    arrived_at: datetime | None = None
    stale: bool = True
    history: deque[float] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.history = deque(self.history, maxlen=self.sparkline_size)

    def apply_tick(
        self, *, tick_id: int, price: float, ts: datetime, arrived: datetime | None = None
    ) -> bool:
        """Show the tick if it is the newest by event time; True when the tile changed.

        The live price is the newest by ``ts``, not by arrival: importing older history
        (or a file listed newest first) never replaces it. Staleness is judged by
        ``arrived`` (when the poller read it), so a feed whose clock is behind or ahead is
        stale only when its ticks stop coming; without it (ticks read at start), by ``ts``.
        """
        if tick_id <= self.seen_tick_id:
            return False  # already seen: a retried poll must not draw it twice
        self.seen_tick_id = tick_id
        if self.ts is not None and ts < self.ts:
            return False
        self.previous_price = self.price
        self.price = price
        self.tick_id = tick_id
        self.ts = ts
        self.arrived_at = arrived or ts
        self.history.append(price)
        if self.reference_price is None:
            self.reference_price = price
        return True

    def refresh_staleness(self, now: datetime) -> bool:
        """Recompute the stale flag; return True when it changed.

        Stale when no tick arrived within the time-to-live, or when the tick shown is older
        by its own time than the time-to-live plus :data:`CLOCK_SKEW`: a feed whose clock
        runs a minute behind stays fresh while it ticks, but history imported now (a close
        from last year) is not a fresh price.
        """
        ttl = timedelta(seconds=self.ttl_seconds)
        stale = (
            self.arrived_at is None
            or self.ts is None
            or now - self.arrived_at > ttl
            or now - self.ts > ttl + CLOCK_SKEW
        )
        changed = stale != self.stale
        self.stale = stale
        return changed

    @property
    def direction(self) -> Direction:
        if self.price is None or self.previous_price is None:
            return "flat"
        if self.price > self.previous_price:
            return "up"
        if self.price < self.previous_price:
            return "down"
        return "flat"

    @property
    def change(self) -> float | None:
        if self.price is None or self.reference_price is None:
            return None
        return self.price - self.reference_price

    @property
    def change_percent(self) -> float | None:
        change = self.change
        if change is None or not self.reference_price:
            return None
        return change / self.reference_price * 100

    @property
    def trend(self) -> Direction:
        change = self.change
        if not change:
            return "flat"
        return "up" if change > 0 else "down"
