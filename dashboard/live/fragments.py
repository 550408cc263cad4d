"""The live layer's HTML: tiles, inbox items, the badge and toasts, as SSE messages.

Every fragment a stream sends comes from the same template the page includes
(:func:`dashboard.templating.load_templates`), so a live update can never drift from a
fresh page load. Messages are encoded here once and the bytes are shared by every
connection that receives them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from jinja2 import Environment
from markupsafe import Markup
from sse_starlette import ServerSentEvent

from dashboard.inbox.queries import Badge
from dashboard.models import Audience, Notification, Severity
from dashboard.prices.tiles import TileState

# Rendered notification items kept for replays (a reconnect storm renders each once).
_ITEM_CACHE_SIZE = 4096
# Out-of-band swaps per SSE message at most. The page swaps a message's all in one task:
# 500 quotes in one message (a slow poll, a snapshot, a catch-up) were a task over 50 ms,
# as separate messages of 50 they were ten shorter ones; on a machine running at half its
# speed a message of 50 took 30-40 ms of its own, so messages now hold 25.
SWAPS_PER_MESSAGE = 25


def raises_toast(notification: Notification) -> bool:
    """Whether a notification interrupts with a toast: a critical one, or one of the
    reader's own price alerts firing (a personal notification no person wrote:
    ``dashboard.prices.alerts`` is the only writer of those)."""
    if notification.severity == Severity.critical:
        return True
    return notification.audience == Audience.user and notification.created_by is None


class Renderer:
    """Renders tiles, inbox items and the unread badge; encodes them as SSE messages."""

    def __init__(self, env: Environment) -> None:
        self._tile = env.get_template("partials/tile.html")
        self._parts = env.globals["tile_parts"]
        self._item = env.get_template("partials/notification.html")
        self._badge = env.get_template("partials/unread_badge.html")
        self._toast = env.get_template("partials/toast.html")
        self._items: dict[tuple[int, bool, bool], str] = {}
        # Readers of one broadcast share a badge when their counts and versions agree.
        self.unread_badge_message = lru_cache(maxsize=1024)(self._encode_badge)

    def tile(self, state: TileState, *, oob: bool = False) -> str:
        """The whole tile (``oob``: as an out-of-band swap)."""
        return self._tile.render(tile=state, oob=oob)

    def tile_removal(self, symbol: str) -> str:
        """The out-of-band swap that takes a tile off the page (its instrument retired)."""
        return str(Markup('<article id="tile-{}" hx-swap-oob="delete"></article>').format(symbol))

    def tile_quote(self, state: TileState) -> str:
        """The out-of-band swap of a tile's price, change and % change."""
        return str(self._parts.quote(state, True))  # type: ignore[attr-defined]

    def tile_time(self, state: TileState) -> str:
        """The out-of-band swap of the time a tile's price is from."""
        return str(self._parts.ticktime(state, True))  # type: ignore[attr-defined]

    def tile_sparkline(self, state: TileState) -> str:
        """The out-of-band swap of a tile's sparkline."""
        return str(self._parts.sparkline(state, True))  # type: ignore[attr-defined]

    def tiles_message(self, fragments: Mapping[str, str] | Iterable[str]) -> bytes:
        """Unnamed SSE messages (no ``id:``) holding the out-of-band swaps, at most
        :data:`SWAPS_PER_MESSAGE` each: usually one message."""
        values = list(fragments.values() if isinstance(fragments, Mapping) else fragments)
        return b"".join(
            ServerSentEvent(data="".join(values[i : i + SWAPS_PER_MESSAGE])).encode()
            for i in range(0, max(len(values), 1), SWAPS_PER_MESSAGE)
        )

    def notification_item(
        self,
        notification: Notification,
        *,
        read: bool = False,
        csrf_token: str = "",
        oob: bool = False,
    ) -> str:
        """The inbox ``<li>``; without a CSRF token it is shareable between users."""
        if csrf_token:
            return self._item.render(n=notification, read=read, csrf_token=csrf_token, oob=oob)
        assert notification.id is not None
        key = (notification.id, read, oob)
        item = self._items.get(key)
        if item is None:
            if len(self._items) >= _ITEM_CACHE_SIZE:
                self._items.pop(next(iter(self._items)))
            item = self._items[key] = self._item.render(n=notification, read=read, oob=oob)
        return item

    def notice_message(self, notification: Notification, *, read: bool = False) -> bytes:
        """The SSE message that prepends a notification to ``#inbox``; its id is the cursor.

        An unread one that :func:`raises_toast` also raises a toast (``#toasts``), which a
        person must dismiss.
        """
        item = self.notification_item(notification, read=read)
        html = Markup('<hx-partial hx-target="#inbox" hx-swap="afterbegin">{}</hx-partial>')
        data = html.format(Markup(item))
        if raises_toast(notification) and not read:
            toast = Markup(self._toast.render(n=notification))
            data += Markup(
                '<hx-partial hx-target="#toasts" hx-swap="afterbegin">{}</hx-partial>'
            ).format(toast)
        return ServerSentEvent(data=data, id=str(notification.id)).encode()

    def read_state_message(
        self,
        read: Iterable[Notification],
        archived_ids: Iterable[int],
        *,
        unread: Iterable[Notification] = (),
    ) -> bytes:
        """Restyle items another tab marked read or unread, and take archived ones out of
        ``#inbox``.

        An archived item is only deleted: replacing it too would put a new element in
        place of the one the delete (or the clicking tab's own answer) is aimed at.
        """
        archived_ids = set(archived_ids)
        swaps = [
            self.notification_item(n, read=True, oob=True) for n in read if n.id not in archived_ids
        ]
        swaps += [
            self.notification_item(n, read=False, oob=True)
            for n in unread
            if n.id not in archived_ids
        ]
        swaps += [
            f'<li hx-swap-oob="delete:#inbox > #notification-{int(i)}"></li>' for i in archived_ids
        ]
        return ServerSentEvent(data="".join(swaps)).encode()

    def unread_badge(self, badge: Badge, *, oob: bool = False) -> str:
        return self._badge.render(badge=badge, oob=oob)

    def _encode_badge(self, badge: Badge) -> bytes:
        return ServerSentEvent(data=self.unread_badge(badge, oob=True)).encode()
