"""Login sessions in the store: created at sign-in, found by the cookie's secret, ended by
sign-out, "sign out everywhere" or either lifetime, each end written to the log."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, select

from dashboard.accounts import credential_ends, logins
from dashboard.models import CredentialEnd, LoginSession, User, utcnow
from tests.factories import make_user

LIFETIMES = logins.Lifetimes(idle=timedelta(hours=2), absolute=timedelta(hours=24))


def uid(user: User) -> int:
    assert user.id is not None
    return user.id


def start(session: Session, user: User, **extra: str | None) -> tuple[LoginSession, str]:
    fields: dict[str, str | None] = {"address": "10.0.0.1", "user_agent": "Firefox/140", **extra}
    return logins.start(session=session, user_id=uid(user), **fields)


def login_id(row: LoginSession) -> int:
    assert row.id is not None
    return row.id


def ends(session: Session) -> list[tuple[str, int, str]]:
    rows = session.exec(select(CredentialEnd).order_by(CredentialEnd.id)).all()  # type: ignore[arg-type]
    return [(row.kind, row.credential_id, row.reason) for row in rows]


def test_a_login_stores_only_the_hash_of_its_secret(session: Session) -> None:
    alice = make_user(session, "alice")
    row, secret = start(session, alice)
    assert len(secret) >= 20
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = session.connection().execute(text("SELECT * FROM login_session")).one()
    assert secret not in [str(value) for value in stored]
    assert (row.address, row.user_agent) == ("10.0.0.1", "Firefox/140")


def test_a_long_user_agent_is_cut_and_an_empty_one_is_none(session: Session) -> None:
    alice = make_user(session, "alice")
    assert start(session, alice, user_agent="x" * 500)[0].user_agent == "x" * 200
    assert start(session, alice, user_agent="")[0].user_agent is None


def test_find_gives_the_login_and_its_user_and_nothing_for_another_secret(
    session: Session,
) -> None:
    alice = make_user(session, "alice")
    row, secret = start(session, alice)
    found = logins.find(session=session, secret=secret, lifetimes=LIFETIMES)
    assert found is not None and found[0].id == row.id and found[1].username == "alice"
    for wrong in ("", secret + "x", "y" * 101):
        assert logins.find(session=session, secret=wrong, lifetimes=LIFETIMES) is None


def test_a_login_idle_too_long_ends_and_is_logged(session: Session) -> None:
    alice = make_user(session, "alice")
    row, secret = start(session, alice)
    later = row.last_seen_at + LIFETIMES.idle
    assert logins.find(session=session, secret=secret, lifetimes=LIFETIMES, now=later) is None
    assert session.get(LoginSession, row.id) is None
    assert ends(session) == [("login", login_id(row), "signed-out")]


def test_use_moves_the_idle_clock_but_not_past_the_absolute_lifetime(session: Session) -> None:
    alice = make_user(session, "alice")
    row, secret = start(session, alice)
    now = row.created_at
    # Used every hour: never idle for two, still ended 24 h after sign-in.
    for _ in range(23):
        now += timedelta(hours=1)
        assert logins.find(session=session, secret=secret, lifetimes=LIFETIMES, now=now)
    now += timedelta(hours=1)
    assert logins.find(session=session, secret=secret, lifetimes=LIFETIMES, now=now) is None


def test_last_seen_is_written_at_most_once_a_minute(session: Session) -> None:
    alice = make_user(session, "alice")
    row, secret = start(session, alice)
    soon = row.last_seen_at + logins.TOUCH_EVERY / 2
    found = logins.find(session=session, secret=secret, lifetimes=LIFETIMES, now=soon)
    assert found is not None and found[0].last_seen_at == row.last_seen_at
    later = row.last_seen_at + logins.TOUCH_EVERY
    found = logins.find(session=session, secret=secret, lifetimes=LIFETIMES, now=later)
    assert found is not None and found[0].last_seen_at == later


def test_ending_a_login_deletes_it_and_logs_it_once(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    row, secret = start(session, alice)
    assert not logins.end(session=session, login_id=login_id(row), user_id=uid(bob))
    assert logins.exists(session=session, login_id=login_id(row))
    assert logins.end(session=session, login_id=login_id(row), user_id=uid(alice))
    assert not logins.exists(session=session, login_id=login_id(row))
    assert not logins.end(session=session, login_id=login_id(row))
    assert logins.find(session=session, secret=secret, lifetimes=LIFETIMES) is None
    assert ends(session) == [("login", login_id(row), "signed-out")]


def test_signing_out_everywhere_ends_every_login_of_the_user_and_no_other(
    session: Session,
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    first, second = start(session, alice)[0], start(session, alice)[0]
    bobs = start(session, bob)[0]
    assert sorted(logins.end_all(session=session, user_id=uid(alice))) == sorted(
        [login_id(first), login_id(second)]
    )
    assert logins.list_for(session=session, user_id=uid(alice), lifetimes=LIFETIMES) == []
    assert [
        r.id for r in logins.list_for(session=session, user_id=uid(bob), lifetimes=LIFETIMES)
    ] == [bobs.id]
    assert sorted(end[1] for end in ends(session)) == sorted([login_id(first), login_id(second)])


def test_the_list_is_most_recently_used_first_without_expired_ones(session: Session) -> None:
    alice = make_user(session, "alice")
    old, old_secret = start(session, alice)
    new = start(session, alice)[0]
    now = old.created_at + logins.TOUCH_EVERY
    assert logins.find(session=session, secret=old_secret, lifetimes=LIFETIMES, now=now)
    listed = logins.list_for(session=session, user_id=uid(alice), lifetimes=LIFETIMES, now=now)
    assert [r.id for r in listed] == [old.id, new.id]
    much_later = now + LIFETIMES.idle
    assert (
        logins.list_for(session=session, user_id=uid(alice), lifetimes=LIFETIMES, now=much_later)
        == []
    )


def test_holds_tells_this_browsers_login(session: Session) -> None:
    alice = make_user(session, "alice")
    row, secret = start(session, alice)
    assert logins.holds(row, secret)
    assert not logins.holds(row, secret + "x") and not logins.holds(row, None)


def test_keep_alive_moves_the_idle_clock_of_open_pages(session: Session) -> None:
    alice = make_user(session, "alice")
    kept, other = start(session, alice)[0], start(session, alice)[0]
    now = utcnow() + timedelta(hours=1)
    logins.keep_alive(session=session, login_ids={login_id(kept)}, now=now)
    logins.keep_alive(session=session, login_ids=set(), now=now)
    session.expire_all()
    assert session.get(LoginSession, kept.id).last_seen_at == now  # type: ignore[union-attr]
    assert session.get(LoginSession, other.id).last_seen_at < now  # type: ignore[union-attr]


def test_the_sweep_ends_logins_past_either_lifetime(session: Session) -> None:
    alice = make_user(session, "alice")
    fresh, idle = start(session, alice)[0], start(session, alice)[0]
    now = utcnow()
    logins.keep_alive(session=session, login_ids={login_id(fresh)}, now=now + timedelta(hours=3))
    assert (
        logins.end_expired(session=session, lifetimes=LIFETIMES, now=now + timedelta(hours=3)) == 1
    )
    assert not logins.exists(session=session, login_id=login_id(idle))
    assert logins.exists(session=session, login_id=login_id(fresh))
    # Kept alive, but 24 h after sign-in it ends all the same.
    assert (
        logins.end_expired(session=session, lifetimes=LIFETIMES, now=now + timedelta(hours=24)) == 1
    )
    assert [end[1] for end in ends(session)] == [login_id(idle), login_id(fresh)]


def test_the_end_log_is_read_after_a_cursor_and_pruned_by_age(session: Session) -> None:
    assert credential_ends.newest_id(session=session) == 0
    for credential in (1, 2, 3):
        credential_ends.record(
            session=session, kind="token", credential_id=credential, reason="revoked"
        )
    session.commit()
    first = credential_ends.after(session=session, cursor=0, limit=2)
    assert [end.credential_id for end in first] == [1, 2]
    assert first[-1].id is not None
    rest = credential_ends.after(session=session, cursor=first[-1].id, limit=2)
    assert [end.credential_id for end in rest] == [3]
    newest = credential_ends.newest_id(session=session)
    assert newest == rest[0].id
    credential_ends.prune(session=session, before=utcnow() - timedelta(minutes=1))
    assert len(credential_ends.after(session=session, cursor=0, limit=10)) == 3
    credential_ends.prune(session=session, before=utcnow() + timedelta(minutes=1))
    assert credential_ends.after(session=session, cursor=0, limit=10) == []
