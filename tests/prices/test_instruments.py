"""Managing instruments: what may be added and changed, retirement, decimals from data."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard.models import Instrument
from dashboard.prices import instruments
from tests.factories import make_instrument


def test_an_added_instrument_is_real_and_goes_last(session: Session) -> None:
    make_instrument(session, "SIM", simulated=True)
    new = instruments.parse_new({"symbol": "MSFT", "name": "Microsoft", "currency": "USD"})
    added = instruments.add(session=session, new=new)
    assert (added.symbol, added.name, added.kind, added.decimals) == (
        "MSFT",
        "Microsoft",
        "equity",
        2,
    )
    assert (added.ttl_seconds, added.currency, added.simulated) == (3600, "USD", False)
    assert [i.symbol for i in instruments.all_instruments(session=session)] == ["SIM", "MSFT"]
    bare = instruments.add(session=session, new=instruments.parse_new({"symbol": "AAPL"}))
    assert bare.name == "AAPL"


def test_a_symbol_is_added_once(session: Session) -> None:
    instruments.add(session=session, new=instruments.parse_new({"symbol": "MSFT"}))
    with pytest.raises(instruments.InstrumentInvalid, match="'MSFT' exists already"):
        instruments.add(session=session, new=instruments.parse_new({"symbol": "MSFT"}))
    assert len(session.exec(select(Instrument)).all()) == 1


def test_every_problem_is_said_at_once_in_plain_words() -> None:
    with pytest.raises(instruments.InstrumentInvalid) as invalid:
        instruments.parse_new(
            {"symbol": "bad sym", "kind": "Big Cap", "decimals": 12, "currency": "usd", "x": 1}
        )
    message = str(invalid.value)
    assert "symbol: 1-20 letters, digits" in message
    assert "kind: a lower-case word" in message
    assert "currency: three capital letters (ISO 4217)" in message
    assert "decimals: Input should be less than or equal to 8" in message
    assert "x: Extra inputs are not permitted" in message
    for fine in ("BTC-USD", "BRK.B", "ES_F", "X:NYSE", "7203"):
        assert instruments.parse_new({"symbol": fine}).symbol == fine


def test_changes_apply_only_what_is_given(session: Session) -> None:
    make_instrument(session, "ACME", decimals=2, ttl_seconds=30)
    changes = instruments.parse_changes({"name": "Acme Corp", "ttl_seconds": 86400})
    changed = instruments.change(session=session, symbol="ACME", changes=changes)
    assert (changed.name, changed.decimals, changed.ttl_seconds) == ("Acme Corp", 2, 86400)
    with pytest.raises(instruments.InstrumentNotFound):
        instruments.change(session=session, symbol="NOPE", changes=changes)
    with pytest.raises(instruments.InstrumentInvalid, match="ttl_seconds"):
        instruments.parse_changes({"ttl_seconds": 0})


def test_retired_instruments_leave_the_list_and_can_come_back(session: Session) -> None:
    make_instrument(session, "ACME")
    make_instrument(session, "GLBX")
    retired = instruments.retire(session=session, symbol="ACME")
    assert retired.retired_at is not None
    again = instruments.retire(session=session, symbol="ACME")
    assert again.retired_at == retired.retired_at  # retiring twice keeps the first time
    assert [i.symbol for i in instruments.all_instruments(session=session)] == ["GLBX"]
    every = instruments.all_instruments(session=session, include_retired=True)
    assert [i.symbol for i in every] == ["GLBX", "ACME"]  # retired last
    assert instruments.retire(session=session, symbol="ACME", retired=False).retired_at is None


@pytest.mark.parametrize(
    ("prices", "decimals"),
    [
        ([190.5, 191.0], 2),
        ([140.123], 3),
        ([0.00001299, 0.000013], 8),
        ([1e-12], 8),
        ([143250000.0], 2),
        ([1.0842], 4),
        ([], 2),
        # Was 6: a Yahoo Finance export's closes went through a 32-bit float.
        ([189.979996, 190.009995, 58.18], 2),
        ([1.234567], 6),  # six real decimals stay
        ([49.03686], 5),
        # A float32 cannot tell 65000.1234 from 65000.12: the written places decide.
        ([65000.1234], 4),
        ([38123.456], 3),
        ([65000.121094], 2),  # 65000.12 through a float32, to 6 places
    ],
)
def test_decimals_are_inferred_from_the_prices(prices: list[float], decimals: int) -> None:
    assert instruments.infer_decimals(prices) == decimals


def test_missing_instruments_are_created_with_their_decimals_and_known_ones_kept(
    session: Session,
) -> None:
    make_instrument(session, "ACME", decimals=4)
    created = instruments.create_missing(
        session=session,
        prices_by_symbol={"ACME": [1.5], "GOOG": [140.123, 141.0], "DOGE": [0.0815]},
    )
    session.commit()
    assert sorted((i.symbol, i.decimals) for i in created) == [("DOGE", 4), ("GOOG", 3)]
    assert instruments.find(session=session, symbol="ACME").decimals == 4
    with pytest.raises(instruments.InstrumentInvalid, match="'bad sym'"):
        instruments.create_missing(session=session, prices_by_symbol={"bad sym": [1.0]})
