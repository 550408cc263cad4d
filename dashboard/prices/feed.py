"""The simulated feed: a geometric Brownian motion per instrument, written as ticks.

It writes rows like any outside writer would and then wakes this process's price poller.
A lease in the store keeps it running in one process at a time, however many workers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from dashboard.models import Instrument, utcnow
from dashboard.prices.ticks import NewTick, insert_ticks, last_prices
from dashboard.store import leases
from dashboard.store.db import SessionFactory

logger = logging.getLogger(__name__)

LEASE_NAME = "simulated-feed"
_SECONDS_PER_HOUR = 3600.0


def gbm_step(price: float, *, hourly_volatility: float, dt_hours: float, z: float) -> float:
    """One step of a driftless geometric Brownian motion (``z`` is a standard normal draw).

    The -σ²/2 term keeps the expected price constant, so the walk does not drift away.
    """
    sigma = hourly_volatility
    return price * math.exp(-0.5 * sigma * sigma * dt_hours + sigma * math.sqrt(dt_hours) * z)


@dataclass(slots=True)
class _Walk:
    instrument_id: int
    price: float
    hourly_volatility: float
    decimals: int
    # Time since this instrument's last tick: the walk's variance grows with it.
    hours_since_tick: float = 0.0


class SimulatedFeed:
    """Writes a random walk of ticks for every instrument while it holds the feed lease."""

    def __init__(
        self,
        *,
        open_session: SessionFactory,
        on_write: Callable[[], None],
        interval: float,
        ticks_per_second: float,
        lease_seconds: float,
        rng: random.Random | None = None,
    ) -> None:
        self._open_session = open_session
        self._on_write = on_write
        self._interval = interval
        self._tick_probability = 1 - math.exp(-ticks_per_second * interval)
        self._lease_ttl = timedelta(seconds=lease_seconds)
        self._rng = rng or random.Random()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._walks: list[_Walk] | None = None
        self.has_lease = False

    async def run(self) -> None:
        renew_every = self._lease_ttl.total_seconds() / 3
        renewed_at = -math.inf
        while True:
            try:
                if time.monotonic() - renewed_at >= renew_every:
                    had_lease = self.has_lease
                    self.has_lease = await asyncio.to_thread(self._claim)
                    renewed_at = time.monotonic()
                    if self.has_lease and not had_lease:
                        logger.info("simulated feed running in %s", self.holder)
                        self._walks = None  # another process may have written meanwhile
                if self.has_lease:
                    await asyncio.to_thread(self.step)
                    self._on_write()
            except Exception:
                logger.exception("simulated feed step failed")
                self.has_lease = False
            await asyncio.sleep(self._interval)

    def _claim(self) -> bool:
        with self._open_session() as session:
            return leases.claim(
                session=session, name=LEASE_NAME, holder=self.holder, ttl=self._lease_ttl
            )

    def release(self) -> None:
        """Hand the lease back (on shutdown) so another process takes over at once."""
        if not self.has_lease:
            return
        with self._open_session() as session:
            leases.release(session=session, name=LEASE_NAME, holder=self.holder)
        self.has_lease = False

    def _load_walks(self) -> list[_Walk]:
        with self._open_session() as session:
            prices = last_prices(session=session)
            return [
                _Walk(
                    instrument_id=i.id,
                    price=prices.get(i.id, i.seed_price),
                    hourly_volatility=i.hourly_volatility,
                    decimals=i.decimals,
                )
                # Only simulated instruments: one added for real data never gets invented
                # prices, and a retired one gets none at all.
                for i in session.exec(
                    select(Instrument).where(
                        col(Instrument.simulated), col(Instrument.retired_at).is_(None)
                    )
                ).all()
                if i.id is not None
            ]

    def step(self) -> int:
        """Move some instruments one step and write their ticks; return how many."""
        if self._walks is None:
            self._walks = self._load_walks()
        now = utcnow()
        dt_hours = self._interval / _SECONDS_PER_HOUR
        ticks: list[NewTick] = []
        for walk in self._walks:
            walk.hours_since_tick += dt_hours
            if self._rng.random() >= self._tick_probability:
                continue
            moved = gbm_step(
                walk.price,
                hourly_volatility=walk.hourly_volatility,
                dt_hours=walk.hours_since_tick,
                z=self._rng.gauss(0.0, 1.0),
            )
            walk.hours_since_tick = 0.0
            walk.price = round(moved, walk.decimals) or walk.price
            ticks.append(NewTick(instrument_id=walk.instrument_id, price=walk.price, ts=now))
        with self._open_session() as session:
            insert_ticks(session=session, ticks=ticks)
        return len(ticks)
