from __future__ import annotations

import asyncio
import threading

from dashboard.live.hub import Hub
from dashboard.live.mailbox import ReadStateChanged, drain
from dashboard.live.pollers import Poller
from tests.conftest import wait_until_async


class CountingPoller(Poller):
    def __init__(self) -> None:
        super().__init__(interval=30)  # without a working wake-up it would sleep 30 s
        self.polls = 0
        self.polled_twice = asyncio.Event()

    async def poll_once(self) -> bool:
        self.polls += 1
        if self.polls == 2:
            self.polled_twice.set()
        return False


def test_regression_a_wake_from_a_worker_thread_wakes_the_poller_at_once() -> None:
    # Found in review: Event.set() from a thread did not wake an idle loop until a timer.
    async def scenario() -> None:
        poller = CountingPoller()
        task = asyncio.create_task(poller.run())
        await wait_until_async(lambda: poller.polls >= 1)
        # The wake-up must come while the loop is asleep in select(), as it is between
        # requests; a thread that calls at once can slip in before the loop sleeps.
        threading.Timer(0.2, poller.wake).start()
        # Nothing else wakes this loop: only a thread-safe wake-up gets here in time.
        await asyncio.wait_for(poller.polled_twice.wait(), 5)
        task.cancel()

    asyncio.run(scenario())


def test_read_state_published_from_a_thread_reaches_the_stream() -> None:
    async def scenario() -> object:
        hub = Hub(mailbox_size=4)
        hub.loop = asyncio.get_running_loop()
        connection = hub.connect(user_id=1)
        threading.Thread(
            target=hub.publish_read_state, args=(1,), kwargs={"changed_ids": [7]}
        ).start()
        async for item in drain(connection, lambda m: m):
            return item
        return None

    assert asyncio.run(asyncio.wait_for(scenario(), 5)) == ReadStateChanged(
        changed_ids=frozenset({7})
    )


def test_regression_a_poller_cancelled_as_its_wake_up_completes_stops() -> None:
    # Was: on Python 3.11 asyncio.wait_for returned the wake-up's result instead of raising
    # a cancel that arrived just as the wake-up completed, so the poller went on polling and
    # a worker's shutdown waited for it for good (1 of 6 SIGTERMs with the feed running).
    async def scenario() -> None:
        poller = CountingPoller()
        task = asyncio.create_task(poller.run())
        await wait_until_async(lambda: poller.polls >= 1)
        poller._wake.set()
        await asyncio.sleep(0)  # the wake-up completes; the poller has not resumed yet
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        assert task in done and task.cancelled(), f"still polling after {poller.polls} polls"

    asyncio.run(scenario())
