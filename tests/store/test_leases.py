"""Leases: one holder at a time, renewed by it, taken over once expired, released at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from dashboard.models import Lease, utcnow
from dashboard.store import leases
from dashboard.store.db import make_engine

TTL = timedelta(seconds=30)


def lease(session: Session, name: str = "job") -> Lease:
    session.expire_all()  # read what the store holds now, not what this session remembers
    return session.exec(select(Lease).where(Lease.name == name)).one()


def set_expiry(session: Session, name: str, expires_at: datetime) -> None:
    session.execute(update(Lease).where(col(Lease.name) == name).values(expires_at=expires_at))
    session.commit()


def claim(session: Session, holder: str, *, name: str = "job", ttl: timedelta = TTL) -> bool:
    return leases.claim(session=session, name=name, holder=holder, ttl=ttl)


def test_the_first_claim_creates_the_lease_for_its_holder(session: Session) -> None:
    before = utcnow()
    assert claim(session, "a")
    row = lease(session)
    assert row.holder == "a"
    assert before + TTL <= row.expires_at <= utcnow() + TTL


def test_the_holder_renews_its_lease(session: Session) -> None:
    assert claim(session, "a")
    first = lease(session).expires_at
    assert claim(session, "a", ttl=timedelta(minutes=10))
    row = lease(session)
    assert row.holder == "a" and row.expires_at >= first + timedelta(minutes=9)
    assert len(session.exec(select(Lease)).all()) == 1


def test_another_holder_is_refused_while_the_lease_lasts_and_changes_nothing(
    session: Session,
) -> None:
    assert claim(session, "a")
    set_expiry(session, "job", utcnow() + timedelta(seconds=1))  # nearly over, not yet
    expires_at = lease(session).expires_at
    assert not claim(session, "b", ttl=timedelta(hours=1))
    row = lease(session)
    assert (row.holder, row.expires_at) == ("a", expires_at)


def test_an_expired_lease_is_taken_over(session: Session) -> None:
    assert claim(session, "a")
    set_expiry(session, "job", utcnow() - timedelta(milliseconds=1))
    assert claim(session, "b")
    row = lease(session)
    assert row.holder == "b" and row.expires_at > utcnow() + TTL - timedelta(seconds=5)
    assert not claim(session, "a")  # and now "a" waits its turn


def test_a_release_lets_another_holder_in_at_once(session: Session) -> None:
    assert claim(session, "a")
    leases.release(session=session, name="job", holder="a")
    assert lease(session).expires_at < utcnow()
    assert lease(session).holder == "a"  # kept, only expired
    assert claim(session, "b")
    assert lease(session).holder == "b"


def test_only_the_holder_can_release(session: Session) -> None:
    assert claim(session, "a")
    expires_at = lease(session).expires_at
    leases.release(session=session, name="job", holder="b")
    assert lease(session).expires_at == expires_at
    assert not claim(session, "b")


def test_releasing_a_lease_nobody_took_is_harmless(session: Session) -> None:
    leases.release(session=session, name="never-claimed", holder="a")
    assert session.exec(select(Lease)).all() == []
    assert claim(session, "a", name="never-claimed")


def test_leases_of_different_names_are_independent(session: Session) -> None:
    assert claim(session, "a", name="feed")
    assert claim(session, "b", name="retention")
    assert not claim(session, "b", name="feed")
    assert not claim(session, "a", name="retention")
    assert {(row.name, row.holder) for row in session.exec(select(Lease)).all()} == {
        ("feed", "a"),
        ("retention", "b"),
    }


@pytest.fixture
def other_process(database_url: str) -> Iterator[Session]:
    """A session on an engine of its own, as another process would have."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_the_loser_of_the_insert_is_refused_and_its_session_stays_usable(
    session: Session, other_process: Session
) -> None:
    # The row is a's and current: b's UPDATE changes nothing, and its INSERT then hits the
    # unique name. That refusal is rolled back, not left to break b's session.
    assert claim(session, "a")
    assert not claim(other_process, "b")
    assert [row.holder for row in other_process.exec(select(Lease)).all()] == ["a"]
    leases.release(session=session, name="job", holder="a")
    assert claim(other_process, "b")
    assert lease(session).holder == "b"
