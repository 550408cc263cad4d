"""The composition root: one process's collaborators, built from settings, and the life of
its background tasks (pollers, keep-alive, stall watchdog, feed, retention)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
from jinja2_fragments.fastapi import Jinja2Blocks
from sqlalchemy.engine import Engine
from sse_starlette.sse import AppStatus

from dashboard.accounts.logins import Lifetimes
from dashboard.accounts.ratelimit import LoginLimiter
from dashboard.inbox.live import LiveNotifier
from dashboard.live.credential_poller import CredentialPoller
from dashboard.live.fragments import Renderer
from dashboard.live.hub import Hub, run_keepalive, run_stall_watchdog
from dashboard.live.notification_poller import NotificationPoller, ScheduledPublisher
from dashboard.live.pollers import Poller
from dashboard.live.price_poller import PricePoller
from dashboard.prices.alerts import AlertEvaluator
from dashboard.prices.bars import run_roll_up
from dashboard.prices.feed import SimulatedFeed
from dashboard.prices.retention import run_retention
from dashboard.prices.tick_writer import TickWriter
from dashboard.settings import Settings
from dashboard.store import postgres, schema, wal
from dashboard.store.db import SessionFactory, make_engine, session_factory
from dashboard.templating import load_templates

logger = logging.getLogger(__name__)

# How long stop() waits for queries still running in worker threads.
_QUERY_GRACE_SECONDS = 2.0
# How often the process looks whether the server has been told to exit.
_EXIT_POLL_SECONDS = 0.25
# How long stop() waits for the cancelled background tasks to end.
_TASK_GRACE_SECONDS = 1.0


@dataclass
class Runtime:
    """Everything the routes and streams use, built once per app (tests build their own).

    ``start()`` primes the pollers and spawns the background tasks; ``stop()`` ends them.
    """

    settings: Settings
    engine: Engine
    open_session: SessionFactory
    templates: Jinja2Blocks
    renderer: Renderer
    hub: Hub
    price_poller: PricePoller
    notification_poller: NotificationPoller
    scheduled_publisher: ScheduledPublisher
    credential_poller: CredentialPoller
    login_limiter: LoginLimiter
    feed: SimulatedFeed | None
    tick_writer: TickWriter
    # Set by sse-starlette when the server is told to exit; shared by every stream.
    shutdown_event: anyio.Event | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Prime the pollers (so the first page is complete) and start the tasks."""
        await asyncio.to_thread(schema.check_current, self.engine)
        self.hub.loop = asyncio.get_running_loop()
        await self.price_poller.prime()
        await self.notification_poller.prime()
        await self.credential_poller.prime()
        self._spawn(self.price_poller.run(), "price-poller")
        self._spawn(self.notification_poller.run(), "notification-poller")
        self._spawn(self.scheduled_publisher.run(), "scheduled-publisher")
        self._spawn(self.credential_poller.run(), "credential-poller")
        self._spawn(run_keepalive(self.hub, self.settings.keepalive_interval), "keepalive")
        self._spawn(run_stall_watchdog(self.hub, self.settings.sse_send_timeout), "stall-watchdog")
        self.shutdown_event = anyio.Event()
        self._spawn(self._end_streams_on_shutdown(self.shutdown_event), "stream-shutdown")
        if self.engine.dialect.name == "postgresql" and self.settings.pg_listen:
            wake = {"tick": self.price_poller.wake, "notification": self.notification_poller.wake}
            self._spawn(postgres.listen(self.settings.database_url, wake), "listen")
        if self.feed is not None:
            self._spawn(self.feed.run(), "simulated-feed")
        if wal.wal_path(self.engine) is not None:
            self._spawn(
                wal.run_checkpoints(
                    self.engine,
                    every=self.settings.wal_checkpoint_interval,
                    warn_bytes=self.settings.wal_warn_bytes,
                ),
                "wal-checkpoints",
            )
        self._spawn(
            run_retention(
                self.open_session,
                keep=timedelta(hours=self.settings.tick_retention_hours),
                every=self.settings.retention_interval,
                minute_bars=timedelta(days=self.settings.minute_bar_retention_days),
            ),
            "tick-retention",
        )
        self._spawn(run_roll_up(self.open_session, every=self.settings.bar_interval), "bars")

    @property
    def lifetimes(self) -> Lifetimes:
        """How long logins last (settings.session_idle_hours / session_absolute_hours)."""
        return lifetimes_from(self.settings)

    @property
    def live(self) -> LiveNotifier:
        """What the inbox actions tell once a change is committed."""
        return LiveNotifier(hub=self.hub, wake_notification_poller=self.notification_poller.wake)

    def pollers(self) -> dict[str, Poller]:
        return {
            "prices": self.price_poller,
            "notifications": self.notification_poller,
            "scheduled": self.scheduled_publisher,
            "credentials": self.credential_poller,
        }

    def tasks_running(self) -> bool:
        """Every background task is alive (none has ended or crashed)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def _end_streams_on_shutdown(self, shutdown: anyio.Event) -> None:
        # One waiter for the whole process: closing every mailbox lets each stream finish
        # its response cleanly instead of being cancelled mid-response. sse-starlette sets
        # the event, but only in a process with an /events stream open; a worker holding
        # only NDJSON streams once waited out uvicorn's graceful timeout (5 s) and had them
        # cancelled with tracebacks. So the server's exit flag is watched here too.
        while not shutdown.is_set():
            if _server_is_exiting():
                shutdown.set()
                break
            with anyio.move_on_after(_EXIT_POLL_SECONDS):
                await shutdown.wait()
        self.hub.close_all()

    async def stop(self) -> None:
        self.hub.close_all()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # Bounded: one task that ignored its cancel must not hold the process's exit.
            _, stuck = await asyncio.wait(self._tasks, timeout=_TASK_GRACE_SECONDS)
            for task in stuck:
                logger.warning("background task %s did not stop when cancelled", task.get_name())
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                logger.error(
                    "background task %s had failed", task.get_name(), exc_info=task.exception()
                )
        self._tasks.clear()
        if self.feed is not None:
            try:
                await asyncio.to_thread(self.feed.release)
            except Exception:
                logger.exception("could not release the feed lease")
        # Ticks handed in before now are still written and answered; none after.
        self.tick_writer.close()
        if not await self.tick_writer.wait_idle(_QUERY_GRACE_SECONDS):
            logger.warning("the tick writer was still writing when the store was closed")
        await self._let_queries_finish()
        for poller in self.pollers().values():
            poller.close()
        self.engine.dispose()

    async def _let_queries_finish(self) -> None:
        # A stream cancelled at shutdown may leave a query running in a worker thread.
        # dispose() closes only the connections in the pool; one checked out would be
        # left for the garbage collector, unclosed, so give those a moment to come back.
        checked_out = getattr(self.engine.pool, "checkedout", None)
        if checked_out is None:
            return
        deadline = time.monotonic() + _QUERY_GRACE_SECONDS
        while checked_out() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)


def _server_is_exiting() -> bool:
    """uvicorn has been told to exit (SIGTERM or SIGINT).

    sse-starlette wraps uvicorn's exit handler and raises ``AppStatus.should_exit``; where
    that wrapper is not in place, the server is found through its SIGTERM handler, a bound
    method of the server (the way sse-starlette itself falls back).
    """
    if AppStatus.should_exit:
        return True
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


def lifetimes_from(settings: Settings) -> Lifetimes:
    return Lifetimes(
        idle=timedelta(hours=settings.session_idle_hours),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )


def build_runtime(settings: Settings) -> Runtime:
    engine = make_engine(settings.database_url)
    open_session = session_factory(engine)
    templates = load_templates()
    renderer = Renderer(templates.env)
    hub = Hub(mailbox_size=settings.mailbox_size, encode_tiles=renderer.tiles_message)
    notification_poller = NotificationPoller(
        engine=engine,
        open_session=open_session,
        hub=hub,
        renderer=renderer,
        interval=settings.notification_poll_interval,
        batch_size=settings.poll_batch_size,
    )
    scheduled_publisher = ScheduledPublisher(
        engine=engine,
        open_session=open_session,
        interval=settings.schedule_poll_interval,
        on_published=notification_poller.wake,
    )
    price_poller = PricePoller(
        engine=engine,
        open_session=open_session,
        hub=hub,
        renderer=renderer,
        interval=settings.price_poll_interval,
        min_spacing=settings.price_poll_min_spacing,
        batch_size=settings.price_poll_batch_size,
        reference_window=timedelta(hours=settings.reference_window_hours),
        alerts=AlertEvaluator(open_session=open_session),
        on_alerts_fired=notification_poller.wake,
    )
    credential_poller = CredentialPoller(
        open_session=open_session,
        hub=hub,
        lifetimes=lifetimes_from(settings),
        interval=settings.credential_poll_interval,
        batch_size=settings.poll_batch_size,
    )
    feed = None
    if settings.feed_enabled:
        feed = SimulatedFeed(
            open_session=open_session,
            on_write=price_poller.wake,
            interval=settings.feed_interval,
            ticks_per_second=settings.feed_ticks_per_second,
            lease_seconds=settings.feed_lease_seconds,
        )
    return Runtime(
        settings=settings,
        engine=engine,
        open_session=open_session,
        templates=templates,
        renderer=renderer,
        hub=hub,
        price_poller=price_poller,
        notification_poller=notification_poller,
        scheduled_publisher=scheduled_publisher,
        credential_poller=credential_poller,
        login_limiter=LoginLimiter(
            storage_uri=settings.rate_limit_storage,
            per_account_and_address=settings.login_limit_per_account_and_address,
            per_address=settings.login_limit_per_address,
        ),
        feed=feed,
        tick_writer=TickWriter(open_session, on_written=price_poller.wake),
    )
