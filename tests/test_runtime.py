"""The runtime's life: stop() ends the background tasks, and a stuck one cannot hold it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dashboard.runtime import build_runtime
from dashboard.settings import Settings


def test_stop_does_not_wait_for_good_on_a_task_that_ignores_its_cancel(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    never = asyncio.Event()  # nothing sets it: the task waits until cancelled

    async def stubborn() -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            # The kind of bug that once held a worker's shutdown for good (it ends at the
            # next cancel, which asyncio.run sends when the test is over).
            await never.wait()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        runtime = build_runtime(settings)
        await runtime.start()
        runtime._spawn(stubborn(), "stubborn")
        await asyncio.sleep(0)  # it has started, and waits
        started = loop.time()
        await runtime.stop()
        assert loop.time() - started < 5

    with caplog.at_level(logging.WARNING, logger="dashboard.runtime"):
        asyncio.run(scenario())
    assert "background task stubborn did not stop when cancelled" in caplog.text
