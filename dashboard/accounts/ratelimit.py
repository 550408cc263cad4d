"""Failed logins, limited per account and per client address (the ``limits`` library).

Counts live in memory by default (per process); point ``DASHBOARD_RATE_LIMIT_STORAGE`` at
Redis (``redis://host:6379``) to share them between workers and machines.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after: int  # seconds

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        return (
            f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )


class LoginLimiter:
    def __init__(self, *, storage_uri: str, per_account: str, per_address: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_account: RateLimitItem = parse(per_account)
        self._per_address: RateLimitItem = parse(per_address)

    def check(self, username: str, address: str) -> Refusal | None:
        """A refusal when this account or address has failed too often lately."""
        for item, key in ((self._per_account, _account(username)), (self._per_address, address)):
            if not self._limiter.test(item, "login", key):
                reset_at = self._limiter.get_window_stats(item, "login", key).reset_time
                return Refusal(retry_after=max(1, math.ceil(reset_at - time.time())))
        return None

    def failed(self, username: str, address: str) -> None:
        self._limiter.hit(self._per_account, "login", _account(username))
        self._limiter.hit(self._per_address, "login", address)

    def succeeded(self, username: str) -> None:
        self._limiter.clear(self._per_account, "login", _account(username))


def _account(username: str) -> str:
    return username.strip().casefold()[:200]
