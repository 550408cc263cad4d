from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashboard.prices.tiles import (
    TileState,
    format_change,
    format_percent,
    format_price,
    format_tick_time,
    sparkline_points,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def tile(**kwargs: object) -> TileState:
    defaults: dict[str, object] = {
        "symbol": "ACME",
        "name": "Acme",
        "decimals": 2,
        "ttl_seconds": 10,
        "sparkline_size": 5,
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


def test_sparkline_scales_the_series_into_the_box() -> None:
    points = sparkline_points([1.0, 3.0, 2.0], width=100, height=100).split()
    assert points == ["0,97", "50,3", "100,50"]


def test_sparkline_of_a_flat_series_runs_through_the_middle() -> None:
    assert sparkline_points([5.0, 5.0], width=10, height=20) == "0,10 10,10"


def test_sparkline_needs_two_points() -> None:
    assert sparkline_points([]) == ""
    assert sparkline_points([1.0]) == ""


def test_tile_tracks_direction_change_and_bounded_history() -> None:
    state = tile()
    for i, price in enumerate([100.0, 101.0, 99.0, 99.0, 98.0, 97.0, 96.0]):
        state.apply_tick(tick_id=i + 1, price=price, ts=T0)
    assert state.reference_price == 100.0  # the first tick, until the poller reads one
    assert state.tick_id == 7
    assert list(state.history) == [99.0, 99.0, 98.0, 97.0, 96.0]
    assert state.direction == "down"
    assert state.change == pytest.approx(-4.0)
    assert state.change_percent == pytest.approx(-4.0)
    assert state.trend == "down"
    state.apply_tick(tick_id=8, price=96.0, ts=T0)
    # mypy keeps the "down" narrowing from above across the call that changes it.
    assert state.direction == "flat"  # type: ignore[comparison-overlap]


def test_tile_without_ticks_has_no_change() -> None:
    state = tile()
    assert state.change is None
    assert state.change_percent is None
    assert state.direction == "flat"


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
    assert (state.price, state.previous_price, list(state.history)) == (
        125.0,
        120.0,
        [120.0, 125.0],
    )


def test_regression_a_tile_gives_the_date_of_a_price_from_another_day() -> None:
    # Was: an imported close from 2025-12-31 read "00:00:00 UTC", as if from today.
    now = datetime(2026, 11, 29, 22, 0, tzinfo=UTC)
    assert format_tick_time(now - timedelta(minutes=3), now) == "21:57:00 UTC"
    assert format_tick_time(now - timedelta(hours=19), now) == "03:00:00 UTC"
    assert format_tick_time(datetime(2025, 12, 31, tzinfo=UTC), now) == "2025-12-31"
