"""One poller per kind per process: read new rows after a cursor, render once, publish.

A writer in this process calls :meth:`Poller.wake` so its row is seen at once; writes from
other processes are picked up within one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from dashboard.live._loop import call_on_loop

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# After a failed poll, wait this long before trying again (the store may be restarting).
_ERROR_BACKOFF_SECONDS = 1.0


class Poller(ABC):
    """The loop shared by the pollers: wait for a wake-up or the interval, then poll."""

    def __init__(self, *, interval: float, min_spacing: float = 0.0) -> None:
        self._interval = interval
        # Wake-ups closer together than this are folded into one poll: a writer committing
        # a hundred times a second would otherwise cost a fan-out to every stream each time.
        self._min_spacing = min_spacing
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # A thread of its own: the streams' per-connection queries (replays, badges) go to
        # the shared default pool, and a reconnect storm of them must not make live
        # delivery to everyone wait in the same queue.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=type(self).__name__)
        # When the last poll succeeded (monotonic clock), for /readyz and /metrics.
        self.last_success: float | None = None
        self.failures = 0

    async def in_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        """Run blocking store work on this poller's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def interval(self) -> float:
        return self._interval

    def lag(self) -> float | None:
        """Seconds since the last successful poll (None before the first)."""
        return None if self.last_success is None else time.monotonic() - self.last_success

    def wake(self) -> None:
        """Poll now instead of at the end of the interval (a local writer has written).

        Safe from any thread: sync routes run in worker threads.
        """
        call_on_loop(self._loop, self._wake.set)

    @abstractmethod
    async def poll_once(self) -> bool:
        """Handle one batch; return True when more rows are waiting."""

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            started = time.monotonic()
            try:
                more = await self.poll_once()
            except Exception:
                self.failures += 1
                logger.exception("%s failed; retrying", type(self).__name__)
                await asyncio.sleep(_ERROR_BACKOFF_SECONDS)
                continue
            self.last_success = time.monotonic()
            if more:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # arrives as the wake-up completes, and the poller then outlived shutdown.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            rest = self._min_spacing - (time.monotonic() - started)
            if rest > 0:
                await asyncio.sleep(rest)  # wake-ups meanwhile are all served by the next poll
            self._wake.clear()
