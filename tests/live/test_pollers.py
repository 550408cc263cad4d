"""The pollers' shared loop: wake-ups, the interval, and the spacing between polls."""

from __future__ import annotations

import asyncio
import time

from dashboard.live.pollers import Poller
from tests.conftest import wait_until_async


class CountingPoller(Poller):
    def __init__(self, *, interval: float, min_spacing: float = 0.0) -> None:
        super().__init__(interval=interval, min_spacing=min_spacing)
        self.polls = 0

    async def poll_once(self) -> bool:
        self.polls += 1
        return False


async def _wake_often(poller: CountingPoller, times: int) -> tuple[float, int]:
    """Wake ``poller`` ``times`` times, 2 ms apart; wait until the last wake-up is served.
    Returns the seconds that took and the polls made."""
    task = asyncio.create_task(poller.run())
    try:
        await wait_until_async(lambda: poller.polls == 1)  # the first poll, at start
        started, before = time.monotonic(), poller.polls
        for _ in range(times - 1):
            poller.wake()
            await asyncio.sleep(0.002)
        served = poller.polls
        poller.wake()  # the last: served by a poll after this one, however they fold
        await wait_until_async(lambda: poller.polls > served)
        return time.monotonic() - started, poller.polls - before
    finally:
        task.cancel()
        poller.close()


def test_wake_ups_closer_than_the_min_spacing_are_folded_into_one_poll() -> None:
    # A local writer committing every few milliseconds woke the price poller each time, and
    # each poll is a fan-out to every open stream.
    elapsed, polls = asyncio.run(_wake_often(CountingPoller(interval=10, min_spacing=0.05), 100))
    assert polls <= elapsed / 0.05 + 2, (polls, elapsed)


def test_without_a_min_spacing_each_wake_up_is_served_at_once() -> None:
    _elapsed, polls = asyncio.run(_wake_often(CountingPoller(interval=10), 50))
    assert polls >= 25  # a wake-up per poll, give or take the ones that coincide
