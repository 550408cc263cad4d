"""API tokens: issued once in clear, stored only as a SHA-256, looked up while not revoked."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlmodel import Session

from dashboard.accounts import credential_ends, tokens
from dashboard.models import ApiToken, User
from tests.factories import make_user


def uid(user: User) -> int:
    assert user.id is not None
    return user.id


def token_id(row: ApiToken) -> int:
    assert row.id is not None
    return row.id


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_an_issued_token_is_returned_once_and_only_its_hash_is_stored(session: Session) -> None:
    alice = make_user(session, "alice")
    row, token = tokens.issue(session=session, user_id=uid(alice), name="laptop")

    assert token.startswith("dash_") and len(token) == len("dash_") + 43
    assert row.user_id == uid(alice) and row.name == "laptop"
    assert row.token_hash == sha256(token)
    assert row.prefix == token[:12]
    assert row.revoked_at is None
    # Nothing in the stored row is the token itself.
    stored = session.connection().execute(text("SELECT * FROM api_token")).one()
    assert token not in [str(value) for value in stored]
    assert not any(token[12:] in str(value) for value in stored)


def test_each_issue_makes_a_different_token(session: Session) -> None:
    alice = make_user(session, "alice")
    (first, one), (second, two) = (
        tokens.issue(session=session, user_id=uid(alice), name="a"),
        tokens.issue(session=session, user_id=uid(alice), name="b"),
    )
    assert one != two and first.token_hash != second.token_hash
    assert token_id(first) != token_id(second)


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("  ci runner  ", "ci runner"),
        ("", "token"),
        ("   ", "token"),
        ("x" * 80, "x" * 60),
    ],
)
def test_the_name_is_trimmed_cut_to_60_and_defaults_to_token(
    session: Session, name: str, stored: str
) -> None:
    alice = make_user(session, "alice")
    row, _ = tokens.issue(session=session, user_id=uid(alice), name=name)
    assert row.name == stored


def test_a_live_token_names_its_user_and_its_row(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    alice_row, alice_token = tokens.issue(session=session, user_id=uid(alice), name="a")
    bob_row, bob_token = tokens.issue(session=session, user_id=uid(bob), name="b")

    user = tokens.user_for(session=session, token=alice_token)
    assert user is not None and user.username == "alice"
    assert tokens.owner_of(session=session, token=alice_token) == (uid(alice), token_id(alice_row))
    assert tokens.owner_of(session=session, token=bob_token) == (uid(bob), token_id(bob_row))


def test_a_revoked_token_no_longer_authenticates_and_is_not_listed(session: Session) -> None:
    alice = make_user(session, "alice")
    kept, kept_token = tokens.issue(session=session, user_id=uid(alice), name="kept")
    gone, gone_token = tokens.issue(session=session, user_id=uid(alice), name="gone")

    assert tokens.revoke(session=session, user_id=uid(alice), token_id=token_id(gone))

    assert tokens.user_for(session=session, token=gone_token) is None
    assert tokens.owner_of(session=session, token=gone_token) is None
    assert [t.id for t in tokens.list_for(session=session, user_id=uid(alice))] == [kept.id]
    assert tokens.owner_of(session=session, token=kept_token) == (uid(alice), token_id(kept))
    # The row stays (with when it was revoked), it is only no longer live.
    stored = session.get(ApiToken, token_id(gone))
    assert stored is not None and stored.revoked_at is not None


def test_revoke_is_false_for_a_revoked_missing_or_someone_elses_token(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    row, token = tokens.issue(session=session, user_id=uid(alice), name="a")

    assert not tokens.revoke(session=session, user_id=uid(bob), token_id=token_id(row))
    assert tokens.owner_of(session=session, token=token) == (uid(alice), token_id(row))
    assert not tokens.revoke(session=session, user_id=uid(alice), token_id=token_id(row) + 100)

    assert tokens.revoke(session=session, user_id=uid(alice), token_id=token_id(row))
    first_revoked_at = session.get(ApiToken, token_id(row))
    assert first_revoked_at is not None
    revoked_at = first_revoked_at.revoked_at
    assert not tokens.revoke(session=session, user_id=uid(alice), token_id=token_id(row))
    again = session.get(ApiToken, token_id(row))
    assert again is not None and again.revoked_at == revoked_at


def test_list_for_is_the_users_live_tokens_oldest_first(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    ids = [token_id(tokens.issue(session=session, user_id=uid(alice), name=n)[0]) for n in "abc"]
    tokens.issue(session=session, user_id=uid(bob), name="bob's")

    listed = tokens.list_for(session=session, user_id=uid(alice))
    assert [t.id for t in listed] == ids
    assert [t.name for t in listed] == ["a", "b", "c"]
    assert tokens.list_for(session=session, user_id=uid(bob))[0].name == "bob's"


@pytest.mark.parametrize(
    "malformed",
    ["", "dash_", "not-a-token", "DASH_abc", " dash_abc", "dash_\x00", "dash_é" * 10],
)
def test_malformed_tokens_name_nobody(session: Session, malformed: str) -> None:
    alice = make_user(session, "alice")
    tokens.issue(session=session, user_id=uid(alice), name="a")
    assert tokens.user_for(session=session, token=malformed) is None
    assert tokens.owner_of(session=session, token=malformed) is None


def test_the_hash_itself_is_not_a_token(session: Session) -> None:
    alice = make_user(session, "alice")
    row, token = tokens.issue(session=session, user_id=uid(alice), name="a")
    assert tokens.user_for(session=session, token=row.token_hash) is None
    assert tokens.user_for(session=session, token=token.upper()) is None
    assert tokens.user_for(session=session, token=token[:-1]) is None


@pytest.mark.parametrize(
    "planted",
    [
        "pat_" + "x" * 40,  # another prefix: not ours, never looked up
        "dash_" + "x" * 196,  # 201 characters: refused before hashing
    ],
)
def test_tokens_without_the_prefix_or_too_long_are_not_looked_up(
    session: Session, planted: str
) -> None:
    # A row whose hash matches shows that the refusal comes from the shape check alone.
    alice = make_user(session, "alice")
    session.add(
        ApiToken(user_id=uid(alice), name="planted", token_hash=sha256(planted), prefix="x")
    )
    session.commit()
    assert tokens.user_for(session=session, token=planted) is None
    assert tokens.owner_of(session=session, token=planted) is None


def test_a_token_of_200_characters_is_still_accepted(session: Session) -> None:
    alice = make_user(session, "alice")
    longest = "dash_" + "y" * 195
    session.add(
        ApiToken(user_id=uid(alice), name="long", token_hash=sha256(longest), prefix=longest[:12])
    )
    session.commit()
    user = tokens.user_for(session=session, token=longest)
    assert user is not None and user.id == uid(alice)


def test_issuing_past_the_limit_is_refused_and_revoked_tokens_do_not_count(
    session: Session,
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    first, _ = tokens.issue(session=session, user_id=alice.id, name="one", limit=1)
    with pytest.raises(tokens.TokenLimitReached, match="You have 1 API tokens"):
        tokens.issue(session=session, user_id=alice.id, name="two", limit=1)
    assert len(tokens.list_for(session=session, user_id=alice.id)) == 1
    assert first.id is not None
    tokens.revoke(session=session, user_id=alice.id, token_id=first.id)
    tokens.issue(session=session, user_id=alice.id, name="two", limit=1)


def test_revoking_logs_the_end_once_so_every_process_ends_the_tokens_streams(
    session: Session,
) -> None:
    alice = make_user(session, "alice")
    row, _token = tokens.issue(session=session, user_id=uid(alice), name="a")
    assert tokens.is_live(session=session, token_id=token_id(row))
    assert tokens.revoke(session=session, user_id=uid(alice), token_id=token_id(row))
    assert not tokens.revoke(session=session, user_id=uid(alice), token_id=token_id(row))
    assert not tokens.is_live(session=session, token_id=token_id(row))
    assert not tokens.is_live(session=session, token_id=token_id(row) + 100)
    logged = credential_ends.after(session=session, cursor=0, limit=10)
    assert [(e.kind, e.credential_id, e.reason) for e in logged] == [
        ("token", token_id(row), "revoked")
    ]


def test_a_feed_token_may_write_ticks_only_and_an_all_token_only_for_an_admin(
    session: Session,
) -> None:
    feeder, admin = make_user(session, "feeder"), make_user(session, "root", is_admin=True)
    feed_row, feed_token = tokens.issue(
        session=session, user_id=uid(feeder), name="f", scope="feed"
    )
    _, user_token = tokens.issue(session=session, user_id=uid(feeder), name="u")
    admin_row, admin_token = tokens.issue(session=session, user_id=uid(admin), name="a")
    assert feed_row.scope == "feed"

    # Streams, inbox and every other API route go through user_for/owner_of: not for feeds.
    assert tokens.user_for(session=session, token=feed_token) is None
    assert tokens.owner_of(session=session, token=feed_token) is None
    assert tokens.feeder_for(session=session, token=feed_token) == tokens.Feeder(
        username="feeder", token_id=token_id(feed_row)
    )
    assert tokens.feeder_for(session=session, token=admin_token) == tokens.Feeder(
        username="root", token_id=token_id(admin_row)
    )
    assert tokens.feeder_for(session=session, token=user_token) is None

    tokens.revoke(session=session, user_id=uid(feeder), token_id=token_id(feed_row))
    assert tokens.feeder_for(session=session, token=feed_token) is None


def test_an_unknown_scope_is_refused_and_nothing_is_written(session: Session) -> None:
    user = make_user(session, "alice")
    with pytest.raises(ValueError, match="scope must be one of all, feed"):
        tokens.issue(session=session, user_id=uid(user), name="x", scope="admin")
    assert tokens.list_for(session=session, user_id=uid(user)) == []
