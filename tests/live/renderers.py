"""A Renderer that counts what it renders, for the pollers' render-once tests."""

from __future__ import annotations

from dashboard.models import Notification
from dashboard.prices.tiles import TileState
from dashboard.runtime import build_runtime
from dashboard.settings import Settings
from dashboard.web.fragments import Renderer


def make_renderer(settings: Settings) -> Renderer:
    return build_runtime(settings).renderer


class CountingRenderer(Renderer):
    def __init__(self, inner: Renderer) -> None:
        self.__dict__.update(inner.__dict__)
        self.tile_renders = 0
        self.notice_renders = 0

    def tile(self, state: TileState, *, flash: bool = False, oob: bool = False) -> str:
        self.tile_renders += 1
        return super().tile(state, flash=flash, oob=oob)

    def notice_message(self, notification: Notification, *, read: bool = False) -> bytes:
        self.notice_renders += 1
        return super().notice_message(notification, read=read)
