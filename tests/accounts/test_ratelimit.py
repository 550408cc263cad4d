"""Failed-login limits per (account, address) and per address, with the in-memory storage."""

from __future__ import annotations

import pytest

from dashboard.accounts.ratelimit import LoginLimiter, Refusal
from tests.conftest import wait_until


def limiter(per_account: str = "3/15minutes", per_address: str = "5/15minutes") -> LoginLimiter:
    return LoginLimiter(
        storage_uri="memory://", per_account_and_address=per_account, per_address=per_address
    )


def test_the_account_is_refused_after_its_limit_of_failures() -> None:
    limits = limiter()
    for _ in range(2):
        limits.failed("alice", "10.0.0.1")
    assert limits.check("alice", "10.0.0.1") is None
    limits.failed("alice", "10.0.0.1")
    refusal = limits.check("alice", "10.0.0.1")
    assert refusal is not None
    assert 890 <= refusal.retry_after <= 900  # the 15-minute window, give or take the test
    assert refusal.message == "Too many failed logins. Try again in 15 minutes."


def test_checking_does_not_count_as_a_failure() -> None:
    limits = limiter(per_account="1/15minutes")
    for _ in range(10):
        assert limits.check("alice", "10.0.0.1") is None
    limits.failed("alice", "10.0.0.1")
    assert limits.check("alice", "10.0.0.1") is not None


def test_regression_failures_elsewhere_never_lock_the_owner_out() -> None:
    # Was: ten wrong passwords for alice from anywhere refused her right one from everywhere.
    limits = limiter(per_account="3/15minutes", per_address="50/15minutes")
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        for _ in range(3):
            limits.failed("alice", address)
    assert limits.check("alice", "10.0.0.1") is not None  # the guesser's address waits
    assert limits.check("alice", "192.168.1.1") is None  # alice's own does not
    assert limits.check("bob", "10.0.0.1") is None


def test_the_wait_grows_with_the_failures() -> None:
    limits = limiter(per_account="2/minute;4/hour", per_address="100/hour")
    for _ in range(2):
        limits.failed("alice", "10.0.0.1")
    first = limits.check("alice", "10.0.0.1")
    assert first is not None and first.retry_after <= 60
    for _ in range(2):
        limits.failed("alice", "10.0.0.1")
    second = limits.check("alice", "10.0.0.1")
    assert second is not None and second.retry_after > 3000


@pytest.mark.parametrize("spelling", ["Alice", "  alice ", "ALICE", "alice\t"])
def test_usernames_count_alike_whatever_their_case_and_surrounding_spaces(spelling: str) -> None:
    limits = limiter()
    for name in ("alice", "Alice", " ALICE"):
        limits.failed(name, "10.0.0.1")
    assert limits.check(spelling, "10.0.0.1") is not None


def test_only_the_first_200_characters_of_a_username_make_its_key() -> None:
    limits = limiter(per_account="1/15minutes")
    limits.failed("a" * 200 + "one", "10.0.0.1")
    assert limits.check("a" * 200 + "two", "10.0.0.1") is not None
    assert limits.check("a" * 199 + "b", "10.0.0.1") is None


def test_the_address_is_refused_after_its_limit_across_accounts() -> None:
    limits = limiter(per_account="10/15minutes", per_address="5/15minutes")
    for n in range(5):
        limits.failed(f"user{n}", "10.0.0.1")
    refusal = limits.check("somebody-new", "10.0.0.1")
    assert refusal is not None and refusal.retry_after > 800
    assert limits.check("somebody-new", "10.0.0.2") is None
    assert limits.check("user0", "10.0.0.2") is None  # one failure is under its own limit


def test_a_success_clears_the_account_from_that_address_but_not_the_address() -> None:
    limits = limiter(per_account="2/15minutes", per_address="3/15minutes")
    limits.failed("alice", "10.0.0.1")
    limits.failed("alice", "10.0.0.1")
    limits.failed("alice", "10.0.0.2")
    limits.failed("alice", "10.0.0.2")
    assert limits.check("alice", "10.0.0.1") is not None
    limits.succeeded("  ALICE ", "10.0.0.1")
    assert limits.check("alice", "10.0.0.1") is None
    assert limits.check("alice", "10.0.0.2") is not None  # another address's failures stay
    limits.failed("alice", "10.0.0.1")  # the address's third
    assert limits.check("bob", "10.0.0.1") is not None


def test_each_limiter_with_memory_storage_counts_on_its_own() -> None:
    first, second = limiter(per_account="1/15minutes"), limiter(per_account="1/15minutes")
    first.failed("alice", "10.0.0.1")
    assert first.check("alice", "10.0.0.1") is not None
    assert second.check("alice", "10.0.0.1") is None


def test_a_refusal_lasts_until_the_window_moves_on() -> None:
    limits = limiter(per_account="2/second", per_address="100/second")
    limits.failed("alice", "10.0.0.1")
    limits.failed("alice", "10.0.0.1")
    refusal = limits.check("alice", "10.0.0.1")
    assert refusal is not None and refusal.retry_after == 1  # never less than a second
    wait_until(lambda: limits.check("alice", "10.0.0.1") is None, timeout=5)


@pytest.mark.parametrize(
    ("retry_after", "text"),
    [(1, "1 minute"), (59, "1 minute"), (60, "1 minute"), (61, "2 minutes"), (900, "15 minutes")],
)
def test_the_refusal_says_how_many_whole_minutes_to_wait(retry_after: int, text: str) -> None:
    assert Refusal(retry_after=retry_after).message == (
        f"Too many failed logins. Try again in {text}."
    )
