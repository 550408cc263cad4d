from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard.accounts import auth
from dashboard.models import User
from tests.factories import PASSWORD, make_user


def test_passwords_are_stored_as_argon2_hashes(session: Session) -> None:
    user = make_user(session, "alice")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert auth.verify_password(user.password_hash, PASSWORD)
    assert not auth.verify_password(user.password_hash, "wrong")
    assert not auth.verify_password("not a hash", PASSWORD)


def test_authenticate_accepts_only_the_right_password(session: Session) -> None:
    make_user(session, "alice")
    assert auth.authenticate(session=session, username="alice", password=PASSWORD) is not None
    assert auth.authenticate(session=session, username="alice", password="nope") is None
    assert auth.authenticate(session=session, username="nobody", password=PASSWORD) is None


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("a", PASSWORD, "2-40 letters"),
        ("has space", PASSWORD, "2-40 letters"),
        ("<script>", PASSWORD, "2-40 letters"),
        ("carol", "short", "at least 8"),
    ],
)
def test_bad_usernames_and_passwords_are_refused_and_nothing_is_written(
    session: Session, username: str, password: str, message: str
) -> None:
    with pytest.raises(auth.UserInvalid, match=message):
        auth.create_user(session=session, username=username, password=password)
    assert session.exec(select(User)).all() == []


def test_a_taken_username_is_refused(session: Session) -> None:
    make_user(session, "alice")
    with pytest.raises(auth.UserInvalid, match="taken"):
        auth.create_user(session=session, username="alice", password=PASSWORD)
    assert len(session.exec(select(User)).all()) == 1
