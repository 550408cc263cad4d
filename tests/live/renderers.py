"""A Renderer that counts what it renders, for the pollers' render-once tests."""

from __future__ import annotations

from dashboard.live.fragments import Renderer
from dashboard.models import Notification
from dashboard.prices.tiles import TileState
from dashboard.templating import load_templates


def make_renderer() -> Renderer:
    """A Renderer built from the templates alone, not from the whole app."""
    return Renderer(load_templates().env)


class CountingRenderer(Renderer):
    def __init__(self) -> None:
        super().__init__(load_templates().env)
        self.tile_renders = 0
        self.quote_renders = 0
        self.notice_renders = 0

    def tile(self, state: TileState, *, oob: bool = False) -> str:
        self.tile_renders += 1
        return super().tile(state, oob=oob)

    def tile_quote(self, state: TileState) -> str:
        self.quote_renders += 1
        return super().tile_quote(state)

    def notice_message(self, notification: Notification, *, read: bool = False) -> bytes:
        self.notice_renders += 1
        return super().notice_message(notification, read=read)
