"""``WS /ws/ingest``: a feed handler streams ticks in over one connection.

The token comes as ``Authorization: Bearer <token>`` (or the subprotocols
``dashboard-ingest, bearer.<token>``; the server answers ``dashboard-ingest``): a token of
scope "feed" or an admin's. ``?create_missing=true`` adds unknown symbols as instruments.

Each text message is a JSON array of ticks, one tick object, or NDJSON lines; a tick is
``{"symbol": str, "price": number > 0, "ts": ISO 8601 or epoch s/ms/µs/ns (optional)}``,
checked as ``POST /api/ticks`` checks it. The server numbers messages 1, 2, 3… and answers
each, in order, with ``{"ack": n, "ids": [tick ids in the message's order]}`` or
``{"error": n, "errors": [{"index", "symbol", "error"}...]}``: a message is written in full
or not at all, and a bad one does not end the socket.

Back-pressure: messages wait in a queue of :data:`QUEUE_MESSAGES`; while it is full the
server reads no more, so TCP slows the sender. The writer hands every queued message at
once to the process's tick writer, which commits them in one transaction with what other
sockets and requests sent meanwhile (group commit, dashboard.prices.tick_writer), so a
client that keeps several messages unacknowledged gets far more ticks per second than one
that waits for each ack.
A message without an ack when the socket closes or drops (the messages after one that
failed included) may or may not have been written.

Closes: 1008 without a token (``token required``), with one that is unknown or revoked
(``invalid token``) or that may not feed (``token may not write ticks``), and once the
token is revoked (``revoked``: checked before every write and every
:data:`IDLE_CHECK_SECONDS` while idle, so nothing is written after the revocation is
seen); 1009 for a message over ``max_ingest_bytes``; 1011 when the store fails; 1012 on
shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass

from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from sqlmodel import Session

from dashboard.accounts import tokens
from dashboard.prices import ingest
from dashboard.runtime import Runtime
from dashboard.web.deps import bearer_token, subprotocol_token

logger = logging.getLogger(__name__)

router = APIRouter()

SUBPROTOCOL = "dashboard-ingest"
# Messages read ahead of the writer; with the group commit, enough to keep it busy.
QUEUE_MESSAGES = 32
# How often an idle socket re-checks that its token is still live.
IDLE_CHECK_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class _Message:
    seq: int
    text: str


class _Revoked(Exception):
    """The socket's token was revoked: nothing more is written."""


class _TooLarge(Exception):
    """A message over ``max_ingest_bytes``."""


@router.websocket("/ws/ingest")
async def ingest_socket(websocket: WebSocket, create_missing: bool = False) -> None:
    runtime: Runtime = websocket.app.state.runtime
    offered = websocket.scope.get("subprotocols", [])
    token = bearer_token(websocket) or subprotocol_token(offered)
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
    if token is None:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason="token required")
        return
    feeder = await asyncio.to_thread(_feeder, runtime, token)
    if isinstance(feeder, str):
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION, reason=feeder)
        return
    username, token_id = feeder
    queue: asyncio.Queue[_Message] = asyncio.Queue(maxsize=QUEUE_MESSAGES)
    reader = asyncio.create_task(_read(websocket, queue, runtime.settings.max_ingest_bytes))
    writer = asyncio.create_task(_write(websocket, queue, runtime, token_id, create_missing))
    shutdown = asyncio.create_task(_shutdown(runtime))
    close: tuple[int, str] | None = None
    try:
        done, _ = await asyncio.wait(
            {reader, writer, shutdown}, return_when=asyncio.FIRST_COMPLETED
        )
        if shutdown in done:
            close = (status.WS_1012_SERVICE_RESTART, "shutdown")
        elif writer in done and isinstance(writer.exception(), _Revoked):
            close = (status.WS_1008_POLICY_VIOLATION, "revoked")
        elif reader in done and isinstance(reader.exception(), _TooLarge):
            close = (status.WS_1009_MESSAGE_TOO_BIG, "message too large")
        elif writer in done and writer.exception() is not None:
            logger.error("ingest socket of %s failed", username, exc_info=writer.exception())
            close = (status.WS_1011_INTERNAL_ERROR, "error")
    finally:
        for task in (reader, writer, shutdown):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if close is not None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code=close[0], reason=close[1])


async def _read(websocket: WebSocket, queue: asyncio.Queue[_Message], max_bytes: int) -> None:
    seq = 0
    while True:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        text = frame.get("text")
        if text is None:
            data = frame.get("bytes") or b""
            if len(data) > max_bytes:
                raise _TooLarge
            text = data.decode("utf-8", errors="replace")
        elif len(text) > max_bytes:  # characters: at least as many bytes
            raise _TooLarge
        seq += 1
        await queue.put(_Message(seq, text))  # waits while full: back-pressure


async def _write(
    websocket: WebSocket,
    queue: asyncio.Queue[_Message],
    runtime: Runtime,
    token_id: int,
    create_missing: bool,
) -> None:
    while True:
        try:
            first = await asyncio.wait_for(queue.get(), IDLE_CHECK_SECONDS)
        except TimeoutError:
            if not await asyncio.to_thread(_token_is_live, runtime, token_id):
                raise _Revoked from None
            continue
        batch = [first]
        while not queue.empty():
            batch.append(queue.get_nowait())
        # Handed to the tick writer together, so that it commits them together.
        outcomes = await asyncio.gather(
            *(_write_message(runtime, message, token_id, create_missing) for message in batch),
            return_exceptions=True,
        )
        # The replies in order, up to the first failure (a revoked token, say): what was
        # written before it is acknowledged.
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            await websocket.send_text(json.dumps(outcome, separators=(",", ":")))


async def _write_message(
    runtime: Runtime, message: _Message, token_id: int, create_missing: bool
) -> dict[str, object]:
    """Write one message's ticks (all or none); its reply, an ack or its errors.

    Raises :class:`_Revoked` once the token is revoked: nothing more is written.
    """

    def prepare(session: Session) -> list[ingest.TickIn]:
        if not tokens.is_live(session=session, token_id=token_id):
            raise _Revoked
        return _parse(message.text, session, check_symbols=not create_missing)

    try:
        ids = await runtime.tick_writer.write(prepare, create_missing=create_missing)
    except ingest.IngestInvalid as invalid:
        return _error(message.seq, invalid)
    except ValueError as unreadable:
        return {
            "error": message.seq,
            "errors": [{"index": None, "symbol": None, "error": f"unreadable: {unreadable}"}],
        }
    return {"ack": message.seq, "ids": ids}


def _parse(text: str, session: Session, *, check_symbols: bool) -> list[ingest.TickIn]:
    """A message's ticks: a JSON array, one object, or NDJSON lines (errors as
    :func:`ingest.parse_batch` gives them)."""
    stripped = text.lstrip("\ufeff \t\r\n")
    kind = "json" if stripped.startswith("[") else "ndjson"
    records, _lines = ingest.read_records(stripped, kind=kind)
    if not records:
        raise ingest.IngestInvalid([ingest.ItemError(0, "the message holds no tick")])
    return ingest.parse_batch(records, session=session, check_symbols=check_symbols)


def _error(seq: int, invalid: ingest.IngestInvalid) -> dict[str, object]:
    return {"error": seq, "errors": [error.as_dict() for error in invalid.errors]}


def _feeder(runtime: Runtime, token: str) -> tuple[str, int] | str:
    """``(username, token id)`` of a token that may feed, else why not (the close reason)."""
    with runtime.open_session() as session:
        found = tokens.feeder_for(session=session, token=token)
        if found is not None:
            return found.username, found.token_id
        if tokens.user_for(session=session, token=token) is not None:
            return "token may not write ticks"  # live, but neither an admin's nor "feed"
        return "invalid token"


def _token_is_live(runtime: Runtime, token_id: int) -> bool:
    with runtime.open_session() as session:
        return tokens.is_live(session=session, token_id=token_id)


async def _shutdown(runtime: Runtime) -> None:
    if runtime.shutdown_event is None:
        await asyncio.Event().wait()  # never set: no shutdown to wait for
    else:
        await runtime.shutdown_event.wait()
