"""Failed logins, limited per (account, address) and per address (the ``limits`` library).

Why not per account: a limit on the account alone lets anyone lock its owner out, from
anywhere, with a few wrong passwords (issue 18). Here failures count per account *and*
client address, with windows that grow (by default 5 a minute, 10 in 15 minutes, 20 an
hour: a guesser waits longer and longer), and per address across accounts. A right
password from an address that has not failed is never refused for others' failures.

What a distributed guesser still gets: each address it controls gets the per-(account,
address) allowance on one account (20 guesses an hour by default), each costing an argon2
hash on the server. Strong passwords are the defence against many addresses.

Counts live in memory by default (per process); point ``DASHBOARD_RATE_LIMIT_STORAGE`` at
Redis (``redis://host:6379``) to share them between workers and machines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
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
    """Counts failed logins; ``check`` says whether another attempt may be tried now.

    ``per_account_and_address`` and ``per_address`` are ``limits`` strings, several windows
    separated by ``;`` (``"5/minute;10/15minutes"``).
    """

    def __init__(self, *, storage_uri: str, per_account_and_address: str, per_address: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_account_and_address: list[RateLimitItem] = parse_many(per_account_and_address)
        self._per_address: list[RateLimitItem] = parse_many(per_address)

    def _counters(self, username: str, address: str) -> Iterator[tuple[RateLimitItem, str]]:
        pair = f"{_account(username)}|{address}"
        for item in self._per_account_and_address:
            yield item, pair
        for item in self._per_address:
            yield item, address

    def check(self, username: str, address: str) -> Refusal | None:
        """A refusal, with the longest wait, when this account from this address, or this
        address, has failed too often lately."""
        waits = [
            self._limiter.get_window_stats(item, "login", key).reset_time - time.time()
            for item, key in self._counters(username, address)
            if not self._limiter.test(item, "login", key)
        ]
        if not waits:
            return None
        return Refusal(retry_after=max(1, math.ceil(max(waits))))

    def failed(self, username: str, address: str) -> None:
        for item, key in self._counters(username, address):
            self._limiter.hit(item, "login", key)

    def succeeded(self, username: str, address: str) -> None:
        """The owner is in: forget this account's failures from this address."""
        pair = f"{_account(username)}|{address}"
        for item in self._per_account_and_address:
            self._limiter.clear(item, "login", pair)


def _account(username: str) -> str:
    """One key per account however it is typed: ``ALICE``, `` alice`` and ``Alice`` alike."""
    return username.strip().casefold()[:200]
