from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.prices.tiles import (
    Sparkline,
    TileState,
    format_change,
    format_compact,
    format_percent,
    format_price,
    format_tick_time,
    sparkline_resolution,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def tile(**kwargs: object) -> TileState:
    defaults: dict[str, object] = {
        "symbol": "ACME",
        "name": "Acme",
        "kind": "equity",
        "decimals": 2,
        "ttl_seconds": 10,
        "sparkline": Sparkline(resolution=60, count=5),
    }
    return TileState(**(defaults | kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [(97250.0, 2, "97,250.00"), (1.085123, 5, "1.08512"), (151.2, 3, "151.200"), (0.0, 0, "0")],
)
def test_format_price_uses_the_instruments_decimals(
    value: float, decimals: int, expected: str
) -> None:
    assert format_price(value, decimals) == expected


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (0.000004, 5, "0.000004"),  # was "0.00000"
        (0.00001299, 2, "0.00001299"),  # was "0.00"
        (0.12, 2, "0.12"),  # no digits made up past the decimals
        (0.5, 2, "0.50"),
        (0.1234567, 2, "0.1235"),
        (0.99999, 2, "1.00"),
        (143_250_000.0, 2, "143,250,000.00"),
        (1e-13, 2, "0.00"),  # past twelve decimals, as good as nothing
    ],
)
def test_regression_a_price_below_one_keeps_four_significant_digits(
    value: float, decimals: int, expected: str
) -> None:
    assert format_price(value, decimals) == expected
    assert format_change(-value, decimals) == "\u2212" + expected


def test_format_change_and_percent_are_signed_with_a_true_minus() -> None:
    assert format_change(12.5, 2) == "+12.50"
    assert format_change(-1234.5, 2) == "\u22121,234.50"
    assert format_change(0.0, 2) == "0.00"
    assert format_percent(0.4142) == "+0.41%"
    assert format_percent(-2.0) == "\u22122.00%"
    assert format_percent(0.0) == "0.00%"


def test_regression_figures_round_half_up_as_the_browser_does() -> None:
    # Was: f-strings round the binary fraction nearest 1.005 (1.00499…), so a page showed
    # 1.00 where its live update, by Intl, showed 1.01; and "−0.00%" for a fall too small
    # to show.
    assert format_price(1.005, 2) == "1.01"
    assert format_price(1.015, 2) == "1.02"
    assert format_change(-2.675, 2) == "\u22122.68"
    assert format_percent(-0.004) == "0.00%"
    assert format_percent(0.005) == "+0.01%"


def test_regression_a_price_past_28_digits_is_written_not_raised() -> None:
    # Was: Decimal's default precision made quantize raise from 1e26 up, and one such
    # tick took every page down with a 500.
    assert format_price(1e30, 2) == "1,000,000,000,000,000,000,000,000,000,000.00"
    assert format_price(1e20, 8).endswith(".00000000")
    assert format_percent(1e27).startswith("+1,000,")
    assert format_compact(1e30) == "1,000,000,000,000,000,000T"


def test_regression_a_percentage_over_a_thousand_is_grouped_like_a_price() -> None:
    # It read "+1234.56%" beside a grouped change; Intl (static/format.js) groups it.
    assert format_percent(1234.56) == "+1,234.56%"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (143_250_000.0, "143.25M"),
        (100_000_000.0, "100M"),
        (999_994_999.0, "999.99M"),  # the value's own unit: no early rounding up
        (999_999_999.0, "1B"),  # rounding carries into the next unit, as Intl's does
        (1.5e13, "15T"),
        (2e15, "2000T"),  # Intl groups a compact figure's whole part from five digits
        (1.2345e16, "12,345T"),
        (123_456_789_012_345_678.0, "123,456.79T"),
    ],
)
def test_format_compact_is_intls_en_us_compact_notation(value: float, expected: str) -> None:
    assert format_compact(value) == expected


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def test_sparkline_resolution_keeps_a_window_within_120_points() -> None:
    assert sparkline_resolution(timedelta(hours=1)) == 60  # 60 points
    assert sparkline_resolution(timedelta(hours=24)) == 900  # 96 points of 15 minutes
    assert sparkline_resolution(timedelta(days=7)) == 14400  # 42 points of 4 hours
    assert Sparkline.over(timedelta(hours=24)) == Sparkline(resolution=900, count=96)


def test_sparkline_draws_the_closes_of_closed_buckets_by_time() -> None:
    line = Sparkline(resolution=60, count=5)
    now = T0 + minutes(10)  # bucket 10 is open; 5..9 are drawn
    line.add(1.0, T0 + minutes(5))
    line.add(
        3.0,
        T0
        + minutes(
            6,
        )
        + timedelta(seconds=59),
    )
    line.add(2.0, T0 + minutes(6))  # earlier in its bucket than 3.0: not the close
    line.add(2.0, T0 + minutes(9))
    line.add(9.0, T0 + minutes(10))  # the open bucket: not drawn yet
    path = line.path(now, None, width=100, height=100)
    # x by time: bucket 5 at 0, 6 at 25, (7 and 8 empty), 9 at 100.
    assert path.points.split() == ["0,97", "25,3", "100,50"]
    assert path.reference_y is None


def test_sparkline_draws_the_reference_level_within_its_range() -> None:
    line = Sparkline(resolution=60, count=3)
    line.add(2.0, T0)
    line.add(3.0, T0 + minutes(1))
    path = line.path(T0 + minutes(2), 1.0, width=10, height=100)
    assert path.points == "5,50 10,3"  # the window's first bucket had no tick
    assert path.reference_y == 97  # the lowest of the three: the box's bottom


def test_sparkline_forgets_buckets_that_left_the_window() -> None:
    line = Sparkline(resolution=60, count=2)
    for i in range(5):
        line.add(float(i + 1), T0 + minutes(i))
    path = line.path(T0 + minutes(5), None, width=10, height=20)
    assert path.points == "0,19 10,1"  # buckets 3 and 4 (prices 4.0 and 5.0)
    assert sorted(line.closes) == [line.bucket(T0 + minutes(n)) for n in (3, 4)]


def test_sparkline_of_a_flat_series_runs_through_the_middle() -> None:
    line = Sparkline(resolution=60, count=2)
    line.add(5.0, T0)
    line.add(5.0, T0 + minutes(1))
    assert line.path(T0 + minutes(2), 5.0, width=10, height=20).points == "0,10 10,10"


def test_sparkline_needs_two_closed_buckets() -> None:
    line = Sparkline(resolution=60, count=5)
    assert line.path(T0, None).points == ""
    line.add(1.0, T0)
    line.add(2.0, T0 + minutes(1))
    assert line.path(T0 + minutes(1), None).points == ""  # the second is still open


def test_a_tick_in_a_closed_bucket_marks_the_sparkline_changed() -> None:
    state = tile()
    state.apply_tick(tick_id=1, price=1.0, ts=T0, arrived=T0)
    assert not state.sparkline_changed  # its bucket is still open
    state.apply_tick(tick_id=2, price=2.0, ts=T0, arrived=T0 + minutes(1))
    assert state.sparkline_changed  # a late tick redraws a bucket already shown


def test_tile_tracks_change_against_its_reference() -> None:
    state = tile()
    for i, price in enumerate([100.0, 101.0, 99.0, 99.0, 98.0, 97.0, 96.0]):
        state.apply_tick(tick_id=i + 1, price=price, ts=T0)
    assert state.reference_price == 100.0  # the first tick, until the poller reads one
    assert state.tick_id == 7
    assert state.change == pytest.approx(-4.0)
    assert state.change_percent == pytest.approx(-4.0)
    assert state.trend == "down"


def test_tile_without_ticks_has_no_change() -> None:
    state = tile()
    assert state.change is None
    assert state.change_percent is None
    assert state.trend == "flat"


def test_staleness_flips_after_the_ttl_and_reports_the_change() -> None:
    state = tile(ttl_seconds=10)
    state.apply_tick(tick_id=1, price=1.0, ts=T0)
    assert state.refresh_staleness(T0 + timedelta(seconds=5)) is True  # stale -> fresh
    assert state.stale is False
    assert state.refresh_staleness(T0 + timedelta(seconds=9)) is False
    assert state.refresh_staleness(T0 + timedelta(seconds=11)) is True
    assert state.stale is True


def test_regression_a_price_from_long_ago_is_stale_even_as_it_arrives() -> None:
    # Was: staleness went by arrival alone, so a close from last year, imported now, looked
    # like a fresh price for the time-to-live.
    state = tile(ttl_seconds=10)
    state.apply_tick(tick_id=1, price=1.0, ts=T0 - timedelta(days=300), arrived=T0)
    state.refresh_staleness(T0 + timedelta(seconds=1))
    assert state.stale is True
    # A feed whose clock runs a minute behind is still fresh while its ticks keep coming.
    behind = tile(ttl_seconds=10)
    behind.apply_tick(tick_id=1, price=1.0, ts=T0 - timedelta(seconds=60), arrived=T0)
    behind.refresh_staleness(T0 + timedelta(seconds=1))
    assert behind.stale is False


def test_regression_older_ticks_by_event_time_never_replace_the_live_price() -> None:
    # Was: a file listed newest first left the tile on its oldest price (ticks were shown
    # in arrival order).
    state = tile()
    assert state.apply_tick(tick_id=1, price=120.0, ts=T0 + timedelta(days=30))
    assert not state.apply_tick(tick_id=2, price=110.0, ts=T0 + timedelta(days=29))
    assert not state.apply_tick(tick_id=3, price=100.0, ts=T0)
    assert (state.price, state.tick_id, state.ts) == (120.0, 1, T0 + timedelta(days=30))
    assert not state.apply_tick(tick_id=3, price=130.0, ts=T0 + timedelta(days=31))  # seen
    assert state.apply_tick(tick_id=4, price=125.0, ts=T0 + timedelta(days=30))  # same time
    assert state.price == 125.0
    # Every tick is in the sparkline, shown or not: the older ones in their own buckets.
    assert {close for _, close in state.sparkline.closes.values()} >= {100.0, 125.0}


def test_regression_a_tile_gives_the_date_of_a_price_from_another_day() -> None:
    # Was: an imported close from 2025-12-31 read "00:00:00 UTC", as if from today.
    now = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert format_tick_time(now - timedelta(minutes=3), now) == "21:57 UTC"
    assert format_tick_time(now - timedelta(hours=19), now) == "03:00 UTC"
    assert format_tick_time(datetime(2025, 12, 31, tzinfo=UTC), now) == "Dec 31, 2025"
