"""``POST /api/ticks``: feed ticks in, as a JSON array, NDJSON or CSV; all of them or none."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from dashboard.accounts import auth
from dashboard.prices import ingest
from dashboard.runtime import Runtime
from dashboard.web.deps import require_feeder

router = APIRouter(tags=["ticks"])

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


class IngestOut(BaseModel):
    ids: list[int]


@router.post("/ticks", openapi_extra=_TICKS_BODY, responses={422: {"description": "Bad items"}})
async def ingest_ticks(
    request: Request,
    create_missing: Annotated[
        bool,
        Query(description="Add an instrument for each unknown symbol (decimals from the data)."),
    ] = False,
) -> IngestOut:
    """Write a batch of ticks (JSON array, NDJSON, or CSV with a header): all or none.

    Needs a token of scope "feed" or an admin's (``Authorization: Bearer …``), or an
    admin's session with the ``X-CSRF-Token`` header. A 422 names every bad item by its
    index, and each unknown symbol once.
    """
    # Two hops to a worker thread, where the dependencies (deps.require_feeder and what it
    # needs) took six, each a thread hand-over and a pooled session of its own: the check
    # of who asks (before the body is read, as before), then parsing, checking and writing.
    runtime: Runtime = request.app.state.runtime
    await asyncio.to_thread(_require_feeder, runtime, request)
    # Its size is limited by BodySizeLimit (settings.max_ingest_bytes) as it arrives.
    body = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    kind = _KINDS.get(content_type.lower(), "json")
    ids = await asyncio.to_thread(_ingest, runtime, body, kind, create_missing)
    runtime.price_poller.wake()
    return IngestOut(ids=ids)


def _require_feeder(runtime: Runtime, request: Request) -> None:
    """deps.require_feeder (HTTPException 401/403), with one session for its lookups."""
    with runtime.open_session() as session:
        login = auth.signed_in(request, session=session, lifetimes=runtime.lifetimes)
        require_feeder(request, session, login)


def _ingest(runtime: Runtime, body: bytes, kind: str, create_missing: bool) -> list[int]:
    try:
        records, lines = ingest.read_records(body.decode("utf-8"), kind=kind)
        parsed = ingest.parse_records(records, lines=lines if kind == "csv" else None)
        with runtime.open_session() as session:
            return ingest.write(session=session, ticks=parsed, create_missing=create_missing)
    except ingest.IngestInvalid as invalid:
        detail = [e.as_dict() for e in invalid.errors]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail) from None
    except (UnicodeDecodeError, ValueError) as bad:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Unreadable body: {bad}"
        ) from None
