"""The JSON objects of the wire contract, defined once for the server and the client.

Programs (``GET /api/stream`` as NDJSON, ``WS /ws``) receive these objects, one per line
or frame; the page's SSE stream carries the same ``ready`` object as a named event. The
server encodes them with :func:`encode`; :mod:`dashboard.client` decodes them with
:func:`decode`. A new message type is a new class here plus its entry in ``_TYPES``;
every transport then carries it. docs/protocol.md describes each object.

Times are ISO 8601 in UTC with seconds (``2026-11-21T12:00:00+00:00``); prices are JSON
numbers in the instrument's currency units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class PriceEvent:
    """The newest tick of one instrument (``price`` and ``ts`` are None before its first)."""

    type: ClassVar[str] = "price"
    symbol: str
    price: float | None
    ts: datetime | None
    tick_id: int
    stale: bool
    # The price change and % change are against (the price at the start of the reference
    # window, by event time); None before the first tick. Absent from older servers.
    reference_price: float | None = None


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    """One notification in the reader's inbox; ``read`` as the reader's state stands."""

    type: ClassVar[str] = "notification"
    id: int
    title: str
    body: str
    severity: str
    created_at: datetime
    link: str | None
    read: bool = False


@dataclass(frozen=True, slots=True)
class UnreadEvent:
    """The reader's read state changed (in any tab or program).

    ``version`` is ``"V.C"``: compare V (the inbox's change counter), then C (the newest
    notification id counted), as numbers; a smaller one never replaces a larger one.
    ``read`` lists the ids this stream has sent that are now read (the newest 100 at most);
    ``archived`` the ids now archived; ``unread`` the ids this stream has sent that were
    marked unread again.
    """

    type: ClassVar[str] = "unread"
    count: int
    version: str
    read: tuple[int, ...] = ()
    archived: tuple[int, ...] = ()
    unread: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadyEvent:
    """The replay is over; ``after`` is the cursor to resume from (None when anonymous)."""

    type: ClassVar[str] = "ready"
    after: int | None


@dataclass(frozen=True, slots=True)
class EndEvent:
    """The server ends this stream: ``reason`` is one of :data:`END_REASONS`."""

    type: ClassVar[str] = "end"
    reason: str


@dataclass(frozen=True, slots=True)
class PongEvent:
    """The WebSocket's answer to ``{"type": "ping"}``."""

    type: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class SubscriptionEvent:
    """The WebSocket's answer to (un)subscribe: the symbols changed and all it now has."""

    type: ClassVar[str]
    symbols: tuple[str, ...]
    all: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscribedEvent(SubscriptionEvent):
    type: ClassVar[str] = "subscribed"


@dataclass(frozen=True, slots=True)
class UnsubscribedEvent(SubscriptionEvent):
    type: ClassVar[str] = "unsubscribed"


@dataclass(frozen=True, slots=True)
class MarkedReadEvent:
    """The WebSocket's answer to ``{"type": "read", "id": N}``: the new unread count."""

    type: ClassVar[str] = "read"
    id: int
    unread: int
    version: str


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A WebSocket message the server could not take; the socket stays open."""

    type: ClassVar[str] = "error"
    detail: str


WireEvent = (
    PriceEvent
    | NotificationEvent
    | UnreadEvent
    | ReadyEvent
    | EndEvent
    | PongEvent
    | SubscribedEvent
    | UnsubscribedEvent
    | MarkedReadEvent
    | ErrorEvent
)

# Why a stream ends, as EndEvent.reason (and the WebSocket's close reason).
END_REASONS = ("shutdown", "overflow", "signed-out", "revoked")

_TYPES: dict[str, type[WireEvent]] = {
    cls.type: cls
    for cls in (
        PriceEvent,
        NotificationEvent,
        UnreadEvent,
        ReadyEvent,
        EndEvent,
        PongEvent,
        SubscribedEvent,
        UnsubscribedEvent,
        MarkedReadEvent,
        ErrorEvent,
    )
}


_FIELD_NAMES: dict[type[WireEvent], tuple[str, ...]] = {
    cls: tuple(field.name for field in fields(cls)) for cls in _TYPES.values()
}


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, tuple):
        return list(value)
    return value


def as_dict(event: WireEvent) -> dict[str, Any]:
    """The event as a JSON-ready dict, ``type`` first."""
    payload: dict[str, Any] = {"type": event.type}
    for name in _FIELD_NAMES[type(event)]:
        payload[name] = _plain(getattr(event, name))
    return payload


def encode(event: WireEvent) -> bytes:
    """The event as compact UTF-8 JSON (no newline)."""
    return json.dumps(as_dict(event), separators=(",", ":"), ensure_ascii=False).encode()


class UnknownMessage(ValueError):
    """A JSON object whose ``type`` this version does not know (a newer server)."""


def decode(data: str | bytes | dict[str, Any]) -> WireEvent:
    """One object (or its JSON text) as its wire class.

    Raises :class:`UnknownMessage` for a type this version does not know, and
    ``ValueError``/``KeyError``/``TypeError`` for a malformed object.
    """
    payload: Any = json.loads(data) if isinstance(data, str | bytes) else data
    if not isinstance(payload, dict):
        raise ValueError("a wire message is a JSON object")
    cls = _TYPES.get(str(payload.get("type")))
    if cls is None:
        raise UnknownMessage(f"unknown message type {payload.get('type')!r}")
    values: dict[str, Any] = {}
    for field in fields(cls):
        if field.name not in payload:
            continue  # a default applies (or the constructor names the missing field)
        value = payload[field.name]
        if field.name in ("ts", "created_at"):
            value = datetime.fromisoformat(value) if value else None
        elif isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    return cls(**values)
