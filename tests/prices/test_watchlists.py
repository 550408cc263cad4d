"""Watchlists: a user's symbols in their order, the settings choices, save and reset."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from dashboard.models import User, WatchlistItem
from dashboard.prices import watchlists
from dashboard.prices.watchlists import Choice, WatchlistInvalid
from tests.factories import make_instrument, make_user


@pytest.fixture
def alice(session: Session) -> User:
    # Instruments' default order (their position) is the order they are made in.
    for symbol in ("AAA", "BBB", "CCC", "DDD"):
        make_instrument(session, symbol)
    return make_user(session, "alice")


def uid(user: User) -> int:
    assert user.id is not None
    return user.id


def test_a_user_without_a_watchlist_shows_the_default_set(session: Session, alice: User) -> None:
    assert watchlists.symbols_for(session=session, user_id=uid(alice)) is None


def test_a_saved_watchlist_is_read_back_in_the_saved_order(session: Session, alice: User) -> None:
    watchlists.save(session=session, user_id=uid(alice), symbols=["CCC", "AAA", "DDD"])
    assert watchlists.symbols_for(session=session, user_id=uid(alice)) == ["CCC", "AAA", "DDD"]
    rows = session.exec(select(WatchlistItem).order_by(col(WatchlistItem.position))).all()
    assert [row.position for row in rows] == [0, 1, 2]


def test_saving_replaces_the_previous_watchlist(session: Session, alice: User) -> None:
    watchlists.save(session=session, user_id=uid(alice), symbols=["AAA", "BBB", "CCC"])
    watchlists.save(session=session, user_id=uid(alice), symbols=["DDD", "BBB"])
    assert watchlists.symbols_for(session=session, user_id=uid(alice)) == ["DDD", "BBB"]
    assert len(session.exec(select(WatchlistItem)).all()) == 2


def test_watchlists_are_per_user(session: Session, alice: User) -> None:
    bob = make_user(session, "bob")
    watchlists.save(session=session, user_id=uid(alice), symbols=["AAA"])
    watchlists.save(session=session, user_id=uid(bob), symbols=["DDD", "CCC"])
    watchlists.reset(session=session, user_id=uid(bob))
    assert watchlists.symbols_for(session=session, user_id=uid(alice)) == ["AAA"]
    assert watchlists.symbols_for(session=session, user_id=uid(bob)) is None


def test_reset_goes_back_to_the_default_set(session: Session, alice: User) -> None:
    watchlists.save(session=session, user_id=uid(alice), symbols=["BBB"])
    watchlists.reset(session=session, user_id=uid(alice))
    assert watchlists.symbols_for(session=session, user_id=uid(alice)) is None
    watchlists.reset(session=session, user_id=uid(alice))  # resetting twice is fine
    assert session.exec(select(WatchlistItem)).all() == []


@pytest.mark.parametrize(
    ("symbols", "message"),
    [
        ([], "Choose at least one instrument (or use the default set)."),
        (["AAA", "BBB", "AAA"], "Each instrument can be shown once."),
        (["AAA", "ZZZ", "YYY"], "Unknown instruments: ZZZ, YYY."),
        (["aaa"], "Unknown instruments: aaa."),  # symbols are exact
    ],
)
def test_an_invalid_watchlist_is_refused_and_the_saved_one_kept(
    session: Session, alice: User, symbols: list[str], message: str
) -> None:
    watchlists.save(session=session, user_id=uid(alice), symbols=["DDD", "AAA"])
    with pytest.raises(WatchlistInvalid) as refused:
        watchlists.save(session=session, user_id=uid(alice), symbols=symbols)
    assert str(refused.value) == message
    assert watchlists.symbols_for(session=session, user_id=uid(alice)) == ["DDD", "AAA"]


def test_the_choices_without_a_watchlist_are_every_instrument_shown_in_order(
    session: Session, alice: User
) -> None:
    assert watchlists.choices(session=session, user_id=uid(alice)) == [
        Choice("AAA", "AAA name", True, 1),
        Choice("BBB", "BBB name", True, 2),
        Choice("CCC", "CCC name", True, 3),
        Choice("DDD", "DDD name", True, 4),
    ]


def test_the_choices_put_the_shown_ones_first_in_their_order_then_the_rest(
    session: Session, alice: User
) -> None:
    watchlists.save(session=session, user_id=uid(alice), symbols=["CCC", "AAA"])
    assert watchlists.choices(session=session, user_id=uid(alice)) == [
        Choice("CCC", "CCC name", True, 1),
        Choice("AAA", "AAA name", True, 2),
        # Not shown: after the shown ones, in the default order, numbered past them.
        Choice("BBB", "BBB name", False, 3),
        Choice("DDD", "DDD name", False, 3),
    ]


def test_the_choices_of_a_store_without_instruments_are_empty(session: Session) -> None:
    bob = make_user(session, "bob")
    assert watchlists.choices(session=session, user_id=uid(bob)) == []
