"""Session events as wire objects, for the program transports (NDJSON and WebSocket).

Both transports carry the same objects, built here once; a live notification's and a
price's JSON come already encoded (once, by the pollers, for every reader).
"""

from __future__ import annotations

from dashboard.live import wire
from dashboard.live.session import End, Event, KeepAlive, Notice, Prices, ReadState, Ready
from dashboard.models import Notification
from dashboard.prices.tiles import TileState


def price_event(state: TileState) -> wire.PriceEvent:
    """The wire price object of a tile's newest tick."""
    return wire.PriceEvent(
        symbol=state.symbol,
        price=state.price,
        ts=state.ts,
        tick_id=state.tick_id,
        stale=state.stale,
        reference_price=state.reference_price,
    )


def notification_event(notification: Notification, *, read: bool) -> wire.NotificationEvent:
    """The wire notification object of a stored notification, as its reader's state stands."""
    assert notification.id is not None
    return wire.NotificationEvent(
        id=notification.id,
        title=notification.title,
        body=notification.body,
        severity=notification.severity.value,
        created_at=notification.created_at,
        link=notification.link,
        read=read,
    )


def wire_messages(event: Event) -> list[bytes]:
    """The encoded wire objects that carry ``event`` (none for a keep-alive)."""
    if isinstance(event, Prices):
        return list(event.quotes)
    if isinstance(event, Notice):
        if event.shared is not None:
            return [event.shared.json]
        return [wire.encode(notification_event(event.notification, read=event.read))]
    if isinstance(event, ReadState):
        unread = wire.UnreadEvent(
            count=event.badge.count,
            version=event.badge.stamp,
            read=tuple(sorted(n.id for n in event.read if n.id is not None)),
            archived=tuple(sorted(event.archived_ids)),
            unread=tuple(sorted(n.id for n in event.unread if n.id is not None)),
        )
        return [wire.encode(unread)]
    if isinstance(event, Ready):
        return [wire.encode(wire.ReadyEvent(after=event.after))]
    if isinstance(event, End):
        return [wire.encode(wire.EndEvent(reason=event.reason))]
    assert isinstance(event, KeepAlive)
    return []
