"""Calling into the event loop from the threads that sync routes and DB work run in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


def call_on_loop(loop: asyncio.AbstractEventLoop | None, fn: Callable[[], object]) -> None:
    """Run ``fn`` now when on ``loop``'s thread; otherwise hand it to ``loop``.

    asyncio objects (an Event's ``set``) are not thread-safe: set from a worker thread, a
    waiter may not wake until its next timeout, and racing the loop can even raise.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or running is loop:
        fn()
    else:
        loop.call_soon_threadsafe(fn)
