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


async def _running(poller: CountingPoller) -> asyncio.Task[None]:
    task = asyncio.create_task(poller.run())
    await wait_until_async(lambda: poller.polls == 1)  # the first poll, at start
    return task


async def _wake_in_a_burst(poller: CountingPoller, times: int) -> tuple[float, int]:
    """Wake ``poller`` ``times`` times, as fast as the loop turns; wait until the last
    wake-up is served. Returns the seconds that took and the polls made."""
    task = await _running(poller)
    try:
        started, before = time.monotonic(), poller.polls
        for _ in range(times - 1):
            poller.wake()
            await asyncio.sleep(0)  # one turn of the loop: the poller may run
        served = poller.polls
        poller.wake()  # the last: served by a poll after this one, however they fold
        await wait_until_async(lambda: poller.polls > served)
        return time.monotonic() - started, poller.polls - before
    finally:
        task.cancel()
        poller.close()


async def _wake_one_at_a_time(poller: CountingPoller, times: int) -> int:
    """Wake ``poller`` ``times`` times, each once the one before is served; the polls made."""
    task = await _running(poller)
    try:
        before = poller.polls
        for woken in range(1, times + 1):
            poller.wake()
            # B023: the lambda is awaited within this iteration, so `woken` is the current one.
            await wait_until_async(lambda: poller.polls >= before + woken, timeout=2)  # noqa: B023
        return poller.polls - before
    finally:
        task.cancel()
        poller.close()


def test_wake_ups_closer_than_the_min_spacing_are_folded_into_one_poll() -> None:
    # A local writer committing every few milliseconds woke the price poller each time, and
    # each poll is a fan-out to every open stream.
    poller = CountingPoller(interval=10, min_spacing=0.05)
    elapsed, polls = asyncio.run(_wake_in_a_burst(poller, 100))
    assert polls <= elapsed / 0.05 + 2, (polls, elapsed)


def test_without_a_min_spacing_each_wake_up_is_served_at_once() -> None:
    # The interval is 10 s: every poll within the 2 s deadlines is a wake-up's.
    assert asyncio.run(_wake_one_at_a_time(CountingPoller(interval=10), 20)) == 20
