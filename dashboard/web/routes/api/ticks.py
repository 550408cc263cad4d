"""``POST /api/ticks``: feed ticks in, as a JSON array, NDJSON or CSV; all of them or none."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel
from sqlmodel import Session

from dashboard.accounts import auth
from dashboard.prices import ingest
from dashboard.runtime import Runtime
from dashboard.web.deps import require_feeder

router = APIRouter(prefix="/api", tags=["ticks"])

_TICKS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["symbol", "price"],
                        "properties": {
                            "symbol": {"type": "string"},
                            "price": {"type": "number", "exclusiveMinimum": 0},
                            "ts": {"type": "string", "format": "date-time"},
                        },
                    },
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


_KINDS = {
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
}


# Bodies up to this many bytes are read before who sends them is checked (in one hop
# with the write); bigger ones after. A feed's usual post is a few ticks: under 1 KiB.
_CHECK_WITH_WRITE = 65_536


class IngestOut(BaseModel):
    ids: list[int]


@dataclass(frozen=True, slots=True)
class _Reading:
    """How to read a body: the ``dashboard ingest`` options, as query parameters."""

    columns: dict[str, str]
    symbol: str | None
    tz: str | None  # read (a 422 when unknown) after the caller is checked
    dayfirst: bool


async def _reading(
    symbol: Annotated[
        str | None,
        Query(description="The symbol of a body of one series (no symbol column or field)."),
    ] = None,
    symbol_column: Annotated[
        str | None,
        Query(description="CSV: the symbol column's header, or its position (1: first)."),
    ] = None,
    price_column: Annotated[
        str | None, Query(description="CSV: the price column's header, or its position.")
    ] = None,
    time_column: Annotated[
        str | None, Query(description="CSV: the time column's header, or its position.")
    ] = None,
    tz: Annotated[
        str | None,
        Query(description="The time zone of times written without one (e.g. Europe/Berlin)."),
    ] = None,
    dayfirst: Annotated[
        bool, Query(description="Read 01/02/2016 as 1 February (dotted dates always are).")
    ] = False,
) -> _Reading:
    # async: a plain function would be run on a worker thread, a hop every post would pay.
    named = {"symbol": symbol_column, "price": price_column, "ts": time_column}
    columns = {field: name for field, name in named.items() if name is not None}
    # A blank symbol is no symbol (?symbol= from a form left empty).
    return _Reading(columns=columns, symbol=symbol or None, tz=tz, dayfirst=dayfirst)


# The reader's messages name `dashboard ingest`'s options; here they are query parameters.
_OPTION = re.compile(
    r"--(create-missing|dayfirst|symbol-column|price-column|time-column|symbol|tz)\b"
)


def _as_query(text: str) -> str:
    """``--price-column`` -> ``price_column=`` (``--dayfirst`` -> ``dayfirst=true``)."""
    if "on the API" in text:  # says both already
        return text

    def query(option: re.Match[str]) -> str:
        name = option.group(1).replace("-", "_")
        return f"{name}=true" if name in ("create_missing", "dayfirst") else f"{name}="

    return _OPTION.sub(query, text)


@router.post("/ticks", openapi_extra=_TICKS_BODY, responses={422: {"description": "Bad items"}})
async def ingest_ticks(
    request: Request,
    reading: Annotated[_Reading, Depends(_reading)],
    create_missing: Annotated[
        bool,
        Query(description="Add an instrument for each unknown symbol (decimals from the data)."),
    ] = False,
) -> IngestOut:
    """Write a batch of ticks (JSON array, NDJSON, or CSV): all or none. The query
    parameters read a body as ``dashboard ingest``'s options read a file.

    Needs a token of scope "feed" or an admin's (``Authorization: Bearer …``), or an
    admin's session with the ``X-CSRF-Token`` header. A 422 names every bad item by its
    index, and each unknown symbol once.
    """
    # A body of a usual size is read first, and who sends it is checked on the tick
    # writer's thread with the write (one hop and one store session for both: each cost
    # about as much as the write of one tick). A bigger or unannounced body is checked
    # first, before it is read: an unknown caller may not make the server hold megabytes.
    runtime: Runtime = request.app.state.runtime
    declared = request.headers.get("content-length", "")
    checked = not (declared.isascii() and declared.isdigit() and int(declared) <= _CHECK_WITH_WRITE)
    if checked:
        await asyncio.to_thread(_require_feeder, runtime, request)
    # Its size is limited by BodySizeLimit (settings.max_ingest_bytes) as it arrives.
    body = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    kind = _KINDS.get(content_type.lower(), "json")
    unchecked = None if checked else request

    def prepare(session: Session) -> list[ingest.TickIn]:
        if unchecked is not None:
            # Before _parse, whose 422s are for the body: what the check raises (401, 403,
            # or a failure of its own) is not the body's fault.
            _check_feeder(session, runtime, unchecked)
        return _parse(body, kind, reading, session, check_symbols=not create_missing)

    try:
        ids = await runtime.tick_writer.write(prepare, create_missing=create_missing)
    except ingest.IngestInvalid as invalid:  # unknown or retired symbols
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _errors(invalid)) from None
    return IngestOut(ids=ids)


def _require_feeder(runtime: Runtime, request: Request) -> None:
    """deps.require_feeder (HTTPException 401/403), with one session for its lookups."""
    with runtime.open_session() as session:
        _check_feeder(session, runtime, request)


def _check_feeder(session: Session, runtime: Runtime, request: Request) -> None:
    login = auth.signed_in(request, session=session, lifetimes=runtime.lifetimes)
    require_feeder(request, session, login)


def _parse(
    body: bytes, kind: str, reading: _Reading, session: Session, *, check_symbols: bool
) -> list[ingest.TickIn]:
    """The body's ticks; HTTPException 422 naming every bad item (and with them each unknown
    symbol, see :func:`ingest.parse_batch`), or what is unreadable."""
    try:
        zone = ingest.time_zone(reading.tz)
    except ValueError as unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(unknown)) from None
    try:
        text = body.decode("utf-8")
        records, lines = ingest.read_records(text, kind=kind, columns=reading.columns)
        return ingest.parse_batch(
            records,
            session=session,
            lines=lines if kind == "csv" else None,
            check_symbols=check_symbols,
            default_symbol=reading.symbol,
            tz=zone,
            dayfirst=reading.dayfirst,
        )
    except ingest.IngestInvalid as invalid:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, _errors(invalid)) from None
    except (UnicodeDecodeError, ValueError) as bad:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Unreadable body: {_as_query(str(bad))}"
        ) from None


def _errors(invalid: ingest.IngestInvalid) -> list[dict[str, object]]:
    return [{**e.as_dict(), "error": _as_query(e.error)} for e in invalid.errors]
