"""Managing instruments: add, change, retire, list; and creating the ones an import names.

An instrument added here is real: the simulated feed never invents prices for it (only
`dashboard demo` makes simulated ones). A retired instrument leaves the screens and takes
no new ticks; its history stays.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dashboard.models import Instrument, utcnow

# Letters, digits and . _ - : "BTC-USD", "BRK.B", "EURUSD", "ES_F" (it is part of URLs and
# element ids, so no "/" or spaces).
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,19}$"
KIND_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"
# Up to a week: a daily series is not stale between two closes.
MAX_TTL_SECONDS = 7 * 24 * 3600
MAX_DECIMALS = 8
# Prices shown with fewer than two decimals look like whole numbers.
MIN_INFERRED_DECIMALS = 2


class InstrumentChanges(BaseModel):
    """What may change on an instrument (``None``: unchanged)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=80)
    kind: str | None = Field(
        default=None, pattern=KIND_PATTERN, description="e.g. equity, fx, crypto, index"
    )
    decimals: int | None = Field(default=None, ge=0, le=MAX_DECIMALS)
    ttl_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TTL_SECONDS,
        description="Seconds without a tick after which the tile shows stale.",
    )
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. USD"
    )


class NewInstrument(InstrumentChanges):
    """An instrument to add; only ``symbol`` is required."""

    symbol: str = Field(pattern=SYMBOL_PATTERN)
    kind: str | None = Field(default="equity", pattern=KIND_PATTERN)
    decimals: int | None = Field(default=2, ge=0, le=MAX_DECIMALS)
    ttl_seconds: int | None = Field(default=3600, ge=1, le=MAX_TTL_SECONDS)


class InstrumentInvalid(ValueError):
    """The instrument cannot be written as asked; nothing was written.

    ``fields`` holds each problem by field name (for a form), the message all of them.
    """

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class InstrumentNotFound(LookupError):
    def __init__(self, symbol: str) -> None:
        super().__init__(f"no instrument {symbol!r}")
        self.symbol = symbol


def parse_new(fields: Mapping[str, object]) -> NewInstrument:
    """Validated fields of a new instrument; InstrumentInvalid says everything wrong at once."""
    try:
        return NewInstrument.model_validate(fields)
    except ValidationError as error:
        raise _invalid(error) from None


def parse_changes(fields: Mapping[str, object]) -> InstrumentChanges:
    try:
        return InstrumentChanges.model_validate(fields)
    except ValidationError as error:
        raise _invalid(error) from None


# Said plainly instead of the regular expression a pattern error would quote.
_PATTERN_RULES = {
    "symbol": "1-20 letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
    "kind": "a lower-case word such as equity, fx, crypto or index",
    "currency": "three capital letters (ISO 4217), such as USD",
}


def _invalid(error: ValidationError) -> InstrumentInvalid:
    problems: dict[str, str] = {}
    for e in error.errors():
        field = ".".join(str(p) for p in e["loc"]) or "input"
        rule = _PATTERN_RULES.get(field) if e["type"] == "string_pattern_mismatch" else None
        problems[field] = rule or e["msg"]
    message = "; ".join(f"{field}: {problem}" for field, problem in problems.items())
    return InstrumentInvalid(message, problems)


def all_instruments(*, session: Session, include_retired: bool = False) -> Sequence[Instrument]:
    """Instruments in dashboard order (retired ones last, when asked for)."""
    query = select(Instrument)
    if not include_retired:
        query = query.where(col(Instrument.retired_at).is_(None))
    return session.exec(
        query.order_by(
            col(Instrument.retired_at).is_not(None),
            col(Instrument.position),
            col(Instrument.symbol),
        )
    ).all()


def find(*, session: Session, symbol: str) -> Instrument:
    instrument = session.exec(select(Instrument).where(Instrument.symbol == symbol)).first()
    if instrument is None:
        raise InstrumentNotFound(symbol)
    return instrument


def add(*, session: Session, new: NewInstrument) -> Instrument:
    """Add a real instrument at the end of the dashboard; InstrumentInvalid if it exists."""
    instrument = _build(session, new)
    session.add(instrument)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        message = f"the symbol {new.symbol!r} exists already"
        raise InstrumentInvalid(message, {"symbol": message}) from None
    session.refresh(instrument)
    return instrument


def _build(session: Session, new: NewInstrument) -> Instrument:
    last = session.exec(select(func.max(Instrument.position))).one()
    return Instrument(
        symbol=new.symbol,
        name=new.name or new.symbol,
        kind=new.kind or "equity",
        decimals=2 if new.decimals is None else new.decimals,
        ttl_seconds=new.ttl_seconds or 3600,
        currency=new.currency,
        # Only the simulated feed reads these two, and it never walks a real instrument.
        seed_price=1.0,
        hourly_volatility=0.0,
        position=(last or 0) + 1,
        simulated=False,
    )


def change(*, session: Session, symbol: str, changes: InstrumentChanges) -> Instrument:
    """Apply ``changes`` (the fields that are set) to ``symbol``'s instrument."""
    instrument = find(session=session, symbol=symbol)
    for name, value in changes.model_dump(exclude_none=True).items():
        setattr(instrument, name, value)
    session.add(instrument)
    session.commit()
    session.refresh(instrument)
    return instrument


def retire(*, session: Session, symbol: str, retired: bool = True) -> Instrument:
    """Take ``symbol`` off the screens and refuse its new ticks (``retired=False``: back)."""
    instrument = find(session=session, symbol=symbol)
    if retired and instrument.retired_at is None:
        instrument.retired_at = utcnow()
    elif not retired:
        instrument.retired_at = None
    session.add(instrument)
    session.commit()
    session.refresh(instrument)
    return instrument


def infer_decimals(prices: Iterable[float]) -> int:
    """The decimals a price series needs: the most any price has in its shortest form
    (0.00001299 → 8), at least 2, at most 8. A price that is a shorter one within single
    precision counts as that one: spreadsheet and Yahoo Finance exports write prices that
    went through a 32-bit float (189.979996 for 189.98), and took 6 decimals for a stock."""
    needed = MIN_INFERRED_DECIMALS
    for price in prices:
        if not fits_decimals(price, needed):
            needed = max(needed, _decimals_of(price))
    return min(needed, MAX_DECIMALS)


def fits_decimals(price: float, decimals: int) -> bool:
    """Whether ``price`` has at most ``decimals`` decimals, or is such a price gone through
    a 32-bit float and written out again (189.979996: 189.98 as a float32, to 6 places)."""
    rounded = round(price, decimals)
    return price == rounded or _single_of(rounded, price, _places(price))


def _single_of(rounded: float, price: float, places: int) -> bool:
    """Whether ``price``, written to ``places`` decimals, is ``rounded`` as a float32: a
    tolerance of half the last written place, not relative to the price (65000.1234 is not
    65000.12, though a float32 cannot tell them apart)."""
    single: float = struct.unpack("f", struct.pack("f", rounded))[0]
    return abs(single - price) <= 0.5 * 10.0**-places


def _places(price: float) -> int:
    """Decimals of the price as written in its shortest form (0.00001299 -> 8)."""
    exponent = Decimal(repr(price)).normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _decimals_of(price: float) -> int:
    places = _places(price)
    fewer = (d for d in range(places) if _single_of(round(price, d), price, places))
    return next(fewer, places)


def create_missing(
    *, session: Session, prices_by_symbol: Mapping[str, Sequence[float]]
) -> list[Instrument]:
    """Add each symbol that has no instrument, with decimals inferred from its prices;
    InstrumentInvalid names every symbol that cannot be one. Added in the session's
    transaction (the caller commits with the ticks)."""
    known = set(
        session.exec(
            select(Instrument.symbol).where(col(Instrument.symbol).in_(set(prices_by_symbol)))
        ).all()
    )
    wanted: list[NewInstrument] = []
    bad: list[str] = []
    for symbol, prices in prices_by_symbol.items():
        if symbol in known:
            continue
        try:
            wanted.append(NewInstrument(symbol=symbol, decimals=infer_decimals(prices)))
        except ValidationError:
            bad.append(symbol)
    if bad:
        raise InstrumentInvalid(
            f"cannot create instruments for {', '.join(repr(s) for s in sorted(bad))}: a "
            "symbol is 1-20 letters, digits, '.', '_', ':' or '-'"
        )
    created = []
    for new in wanted:
        instrument = _build(session, new)
        session.add(instrument)
        session.flush()  # the next one's position counts this one
        created.append(instrument)
    return created
