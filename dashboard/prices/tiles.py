"""What a price tile shows: last price, change against the reference, sparkline, staleness.

The PricePoller owns one :class:`TileState` per instrument and updates it from ticks;
pages and streams render tiles from these states, so both always agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Literal

from dashboard import display

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
    (``0.00001299``, ``0.000004``). Rounded half up on the shortest decimal that reads
    back as ``value`` (1.005 is ``1.01``): ECMA-402's rule for ``Intl.NumberFormat``, which
    static/format.js follows in the browser.
    """
    magnitude = abs(value)
    if magnitude == 0 or magnitude >= 1:
        return _fixed(value, decimals)
    first = -math.floor(math.log10(magnitude))  # the place of the first significant digit
    places = max(decimals, min(_MAX_DECIMALS, first + SIGNIFICANT_DIGITS - 1))
    text = _fixed(value, places)
    if places > decimals:
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0").ljust(decimals, "0")
        text = f"{whole}.{fraction}" if fraction else whole
    return text


def _fixed(value: float | Decimal, places: int) -> str:
    """``value`` to ``places`` decimals, grouped, rounded half away from zero as ``Intl``
    does: on the decimal a person wrote (``repr``), not the binary fraction nearest it,
    which f-strings round (they made 1.005 ``1.00``)."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    # Enough digits for any float: the default 28 made quantize raise from 1e26 up (a
    # tick of 1e30 took every page down).
    with localcontext(prec=max(28, exact.adjusted() + places + 2)):
        rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{rounded:,.{places}f}"


def format_tick_time(ts: datetime, now: datetime | None = None) -> str:
    """When a tile's price is from: ``14:03 UTC`` for a tick of the last 20 hours, else
    its date (``Dec 31, 2025``): an imported close from last year must not read as a time
    of today. To the minute: the tile sends it again only when this text changes, and
    "stale" says when a price stops being current. Canonical forms (dashboard.display)."""
    now = now or datetime.now(UTC)
    if now - ts < timedelta(hours=20):
        return display.format_time_of_day(ts)
    return display.format_date(ts)


def format_change(value: float, decimals: int) -> str:
    """A signed change; a true minus sign so columns of figures line up."""
    text = format_price(abs(value), decimals)
    if value > 0:
        return f"+{text}"
    if value < 0:
        return f"\u2212{text}"
    return text


def format_percent(value: float) -> str:
    """A signed percentage to two places, grouped like a price: ``+1,234.56%``; ``0.00%``
    for anything that rounds to it."""
    text = _fixed(abs(value), 2)
    if text == "0.00":  # no sign on what rounds to nothing
        return "0.00%"
    return f"+{text}%" if value > 0 else f"\u2212{text}%"


# From here on a tile shows a price in compact notation (143.25M), the whole figure in its
# tooltip: 143,250,000.00 lost its last digit to the tile's edge.
COMPACT_FROM = 1e8
_COMPACT_UNITS = ((12, "T"), (9, "B"), (6, "M"), (3, "K"))  # powers of ten


def format_compact(value: float) -> str:
    """A price in compact notation, at most two decimals: ``143.25M``, ``1B``, ``15T``.

    What ``Intl.NumberFormat("en-US", {notation: "compact", maximumFractionDigits: 2})``
    gives, so static/format.js can render it in any locale: the unit is the value's own
    (999,994,999 is ``999.99M``) unless rounding carries it into the next (999,999,999 is
    ``1B``).
    """
    magnitude = abs(Decimal(repr(value)))
    sign = "-" if value < 0 else ""
    for index, (exponent, suffix) in enumerate(_COMPACT_UNITS):
        if magnitude < Decimal(1).scaleb(exponent):
            continue
        scaled = _fixed(magnitude.scaleb(-exponent), 2)
        if Decimal(scaled.replace(",", "")) >= 1000 and index > 0:
            exponent, suffix = _COMPACT_UNITS[index - 1]
            scaled = _fixed(magnitude.scaleb(-exponent), 2)
        return f"{sign}{_compact_grouping(_without_trailing_zeros(scaled))}{suffix}"
    return f"{sign}{_without_trailing_zeros(_fixed(magnitude, 2))}"


def _compact_grouping(text: str) -> str:
    """Intl groups a compact figure's whole part only from five digits (CLDR's minimum
    grouping digits for compact notation): ``2000T``, ``12,345T``."""
    whole, dot, fraction = text.partition(".")
    digits = whole.replace(",", "")
    return text if len(digits) >= 5 else f"{digits}{dot}{fraction}"


def _without_trailing_zeros(text: str) -> str:
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


# Bucket lengths a sparkline may use (seconds), finest first; each is a whole number of a
# stored bar resolution (dashboard.prices.bars.STORED), so the line is read from bars.
_SPARKLINE_RESOLUTIONS = (60, 300, 900, 3600, 14400, 86400)
# At most this many points across the sparkline's window.
_SPARKLINE_MAX_POINTS = 120


def sparkline_resolution(window: timedelta) -> int:
    """The bucket length (seconds) of a sparkline over ``window``: the finest that keeps it
    within 120 points (a 24-hour window: 15 minutes, 96 points)."""
    seconds = window.total_seconds()
    for resolution in _SPARKLINE_RESOLUTIONS:
        if seconds / resolution <= _SPARKLINE_MAX_POINTS:
            return resolution
    return _SPARKLINE_RESOLUTIONS[-1]


@dataclass(slots=True)
class Sparkline:
    """The last price of each ``resolution``-second bucket over a trailing window: what a
    tile's sparkline draws.

    Buckets are aligned to the Unix epoch, as bars are (``prices.bars.bucket_start``). Only
    closed buckets are drawn, the ``count`` before the one ``now`` falls in: the line
    changes when a bucket closes (or a late tick lands in a closed one), not on every
    tick, so it crosses the wire once per bucket and not once per price update.
    """

    resolution: int
    count: int
    # bucket number (seconds since the epoch // resolution) -> (close's ts, close)
    closes: dict[int, tuple[datetime, float]] = field(default_factory=dict)

    @classmethod
    def over(cls, window: timedelta) -> Sparkline:
        resolution = sparkline_resolution(window)
        return cls(resolution=resolution, count=max(2, round(window.total_seconds() / resolution)))

    def bucket(self, when: datetime) -> int:
        return int(when.timestamp()) // self.resolution

    def add(self, price: float, ts: datetime) -> int:
        """Fold a tick in (the latest by ``ts`` is a bucket's close); returns its bucket."""
        number = self.bucket(ts)
        close = self.closes.get(number)
        if close is None or ts >= close[0]:
            self.closes[number] = (ts, price)
        return number

    def drawn(self, now: datetime) -> list[tuple[int, float]]:
        """``(position, close)`` of the closed buckets in the window, oldest first; the
        position counts buckets from the window's start (0 .. count - 1). Older buckets
        are forgotten."""
        current = self.bucket(now)
        first = current - self.count
        for number in [n for n in self.closes if n < first]:
            del self.closes[number]
        return sorted(
            (number - first, close)
            for number, (_, close) in self.closes.items()
            if first <= number < current
        )

    def path(
        self,
        now: datetime,
        reference: float | None,
        *,
        width: int = SPARKLINE_WIDTH,
        height: int = SPARKLINE_HEIGHT,
    ) -> SparklinePath:
        """The polyline and the reference price's level in ``width`` x ``height`` (y grows
        downwards), x by time across the window: a gap without ticks stays a gap in time.

        A flat series runs through the middle; fewer than two buckets draw no line.
        """
        points = self.drawn(now)
        if len(points) < 2:
            return SparklinePath("", None)
        prices = [close for _, close in points]
        if reference is not None:
            prices.append(reference)
        low, high = min(prices), max(prices)
        span = high - low
        pad = height * 0.03  # keep the stroke inside the box

        def y(price: float) -> int:
            if span == 0:
                return round(height / 2)
            return round(pad + (high - price) / span * (height - 2 * pad))

        step = width / (self.count - 1)
        line = " ".join(f"{round(position * step)},{y(close)}" for position, close in points)
        return SparklinePath(line, None if reference is None else y(reference))


@dataclass(frozen=True, slots=True)
class SparklinePath:
    """A sparkline in SVG units: polyline ``points`` ("" draws nothing) and the y of the
    reference price's dashed level (None: no level)."""

    points: str
    reference_y: int | None


@dataclass(slots=True)
class TileState:
    """The live state of one instrument's tile."""

    symbol: str
    name: str
    kind: str
    decimals: int
    ttl_seconds: int
    sparkline: Sparkline
    price: float | None = None
    reference_price: float | None = None
    # The tick shown, and the highest tick id seen (shown or older by event time).
    tick_id: int = 0
    seen_tick_id: int = 0
    ts: datetime | None = None
    # When the shown tick reached this process (its ts for ticks read at start).
    arrived_at: datetime | None = None
    stale: bool = True
    # A drawn (closed) bucket changed since the poller last sent the sparkline.
    sparkline_changed: bool = False

    def apply_tick(
        self, *, tick_id: int, price: float, ts: datetime, arrived: datetime | None = None
    ) -> bool:
        """Show the tick if it is the newest by event time; True when the tile changed.

        The live price is the newest by ``ts``, not by arrival: importing older history
        (or a file listed newest first) never replaces it. Staleness is judged by
        ``arrived`` (when the poller read it), so a feed whose clock is behind or ahead is
        stale only when its ticks stop coming; without it (ticks read at start), by ``ts``.

        Every tick, shown or older, goes into the sparkline; one that lands in a bucket
        already drawn (closed by ``arrived``) sets :attr:`sparkline_changed`.
        """
        if tick_id <= self.seen_tick_id:
            return False  # already seen: a retried poll must not draw it twice
        self.seen_tick_id = tick_id
        if self.sparkline.add(price, ts) < self.sparkline.bucket(arrived or ts):
            self.sparkline_changed = True
        if self.ts is not None and ts < self.ts:
            return False
        self.price = price
        self.tick_id = tick_id
        self.ts = ts
        self.arrived_at = arrived or ts
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
    def price_since(self) -> datetime | None:
        """How old the shown price is, as a stale marker says it: from the earlier of its
        event time and its arrival (history imported now is as old as its ``ts``)."""
        if self.ts is None or self.arrived_at is None:
            return self.ts or self.arrived_at
        return min(self.ts, self.arrived_at)

    def sparkline_path(self, now: datetime | None = None) -> SparklinePath:
        return self.sparkline.path(now or datetime.now(UTC), self.reference_price)

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
