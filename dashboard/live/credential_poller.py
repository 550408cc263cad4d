"""Ends this process's streams whose credential ended in any process.

A sign-out, "sign out everywhere", an expired login or a revoked API token is written to
the credential end log (dashboard.accounts.credential_ends) with the change itself. This
poller reads the log after its cursor, once per process, and ends the streams that
credential opened here. Once a sweep interval it also keeps the logins of open pages
alive (an open page is use), ends logins past their lifetimes and prunes the old log.
"""

from __future__ import annotations

import time
from datetime import timedelta

from dashboard.accounts import credential_ends, logins
from dashboard.live.hub import Hub
from dashboard.live.pollers import Poller
from dashboard.models import CredentialEnd, utcnow
from dashboard.store.db import SessionFactory

# Ends older than this are pruned; a process that starts later begins at the newest.
KEEP_ENDS = timedelta(days=1)


class CredentialPoller(Poller):
    """The log's reader (every ``interval`` seconds) and the logins' sweeper."""

    def __init__(
        self,
        *,
        open_session: SessionFactory,
        hub: Hub,
        lifetimes: logins.Lifetimes,
        interval: float,
        batch_size: int,
        sweep_every: float = 60.0,
    ) -> None:
        super().__init__(interval=interval)
        self._open_session = open_session
        self._hub = hub
        self._lifetimes = lifetimes
        self._batch_size = batch_size
        self._sweep_every = sweep_every
        self._next_sweep = 0.0
        self.cursor = 0

    async def prime(self) -> None:
        """Start after the newest end: streams opened from now on are checked at open."""
        self.cursor = await self.in_thread(self._newest_id)

    def _newest_id(self) -> int:
        with self._open_session() as session:
            return credential_ends.newest_id(session=session)

    async def poll_once(self) -> bool:
        ends = await self.in_thread(self._fetch, self.cursor)
        for end in ends:
            assert end.id is not None
            if end.kind == "login":
                self._hub.end(login_session=end.credential_id, reason=end.reason)
            else:
                self._hub.end(token_id=end.credential_id, reason=end.reason)
            self.cursor = end.id
        if time.monotonic() >= self._next_sweep:
            await self.in_thread(self._sweep, self._hub.open_logins())
            self._next_sweep = time.monotonic() + self._sweep_every
        return len(ends) == self._batch_size

    def _fetch(self, cursor: int) -> list[CredentialEnd]:
        with self._open_session() as session:
            return credential_ends.after(session=session, cursor=cursor, limit=self._batch_size)

    def _sweep(self, open_logins: set[int]) -> None:
        with self._open_session() as session:
            logins.keep_alive(session=session, login_ids=open_logins)
            # Their ends go to the log, which the next poll reads like any other.
            logins.end_expired(session=session, lifetimes=self._lifetimes)
            credential_ends.prune(session=session, before=utcnow() - KEEP_ENDS)
