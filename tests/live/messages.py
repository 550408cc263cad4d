"""Small hub messages for the hub and mailbox tests: encoded as readable text."""

from __future__ import annotations

from dashboard.live.mailbox import NoticeEvent, PriceBatch
from dashboard.models import Audience, Notification


def notice(notification_id: int, message: bytes) -> NoticeEvent:
    notification = Notification(
        id=notification_id, title=f"n{notification_id}", audience=Audience.everyone
    )
    return NoticeEvent(notification=notification, message=message, json=b"{}")


def encode(tiles: object) -> bytes:
    assert isinstance(tiles, dict)
    return ("|".join(f"{k}={v}" for k, v in sorted(tiles.items()))).encode()


def batch(**tiles: str) -> PriceBatch:
    """Whole tiles by symbol, sent to pages as they are (keyed by element id)."""
    updates = {f"tile-{symbol}": tile for symbol, tile in tiles.items()}
    return PriceBatch(tiles=tiles, message=encode(tiles), tile_updates=updates)
