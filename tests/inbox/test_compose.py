from __future__ import annotations

import pytest
from sqlmodel import Session, select

from dashboard.inbox import compose
from dashboard.models import Notification, Severity
from tests.factories import make_topic, make_user


def test_a_valid_draft_is_resolved_and_published(session: Session) -> None:
    make_topic(session, "markets")
    bob = make_user(session, "bob")
    topical = compose.publish(
        session=session,
        checked=compose.check(
            session=session,
            draft=compose.Draft(
                title="  Open  ", audience="topic", topic="markets", severity="warning"
            ),
        ),
        created_by=None,
    )
    assert topical.id is not None
    assert topical.title == "Open" and topical.topic_id is not None
    direct = compose.publish(
        session=session,
        checked=compose.check(
            session=session,
            draft=compose.Draft(title="Hi", audience="user", username="bob", link="/settings"),
        ),
        created_by=None,
    )
    assert direct.user_id == bob.id and direct.link == "/settings"
    assert session.exec(select(Notification.title)).all() == ["Open", "Hi"]


@pytest.mark.parametrize(
    ("draft", "field", "message"),
    [
        (compose.Draft(title=""), "title", "Enter a title"),
        (compose.Draft(title="   "), "title", "Enter a title"),
        (compose.Draft(title="x" * 121), "title", "120 characters"),
        (compose.Draft(title="ok", body="x" * 2001), "body", "2000 characters"),
        (compose.Draft(title="ok", severity="loud"), "severity", "Choose info"),
        (compose.Draft(title="ok", audience="martians"), "audience", "Choose everyone"),
        (compose.Draft(title="ok", audience="topic", topic="nope"), "topic", "No topic 'nope'"),
        (compose.Draft(title="ok", audience="topic"), "topic", "Choose an existing topic"),
        (compose.Draft(title="ok", audience="user", username="ghost"), "username", "No user"),
        (compose.Draft(title="ok", audience="user"), "username", "Enter a username"),
        (compose.Draft(title="ok", link="javascript:alert(1)"), "link", "https:// or http://"),
        (compose.Draft(title="ok", link="//evil.example"), "link", "starting with one /"),
        # Browsers read \ as / (issue 18, item 8: this one passed and led off-site).
        (compose.Draft(title="ok", link="/\\evil.example/"), "link", "without spaces or back"),
        (compose.Draft(title="ok", link="/\t/evil.example"), "link", "without spaces or back"),
    ],
)
def test_an_invalid_draft_names_the_field_and_writes_nothing(
    session: Session, draft: compose.Draft, field: str, message: str
) -> None:
    with pytest.raises(compose.DraftInvalid) as raised:
        compose.check(session=session, draft=draft)
    assert message in raised.value.errors[field]
    assert session.exec(select(Notification)).all() == []


def test_preview_writes_nothing(session: Session) -> None:
    shown = compose.preview(
        session=session, draft=compose.Draft(title="<b>hi</b>", severity="critical")
    )
    assert shown.title == "<b>hi</b>" and shown.severity == Severity.critical
    assert session.exec(select(Notification)).all() == []


def test_the_same_key_from_the_same_poster_posts_once(session: Session) -> None:
    admin, other = make_user(session, "admin", is_admin=True), make_user(session, "other")
    checked = compose.check(session=session, draft=compose.Draft(title="once"))
    first = compose.publish(
        session=session, checked=checked, created_by=admin.id, idempotency_key="k1"
    )
    again = compose.publish(
        session=session, checked=checked, created_by=admin.id, idempotency_key="k1"
    )
    assert again.id == first.id
    theirs = compose.publish(
        session=session, checked=checked, created_by=other.id, idempotency_key="k1"
    )
    keyless = [compose.publish(session=session, checked=checked, created_by=admin.id) for _ in "ab"]
    assert theirs.id != first.id and keyless[0].id != keyless[1].id
    assert len(session.exec(select(Notification)).all()) == 4


def test_regression_two_posts_with_one_key_at_once_write_one_row(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Was: a double click on Send posted the broadcast twice. Here both requests pass the
    # look-up before either commits; the unique constraint decides, the loser gets the row.
    admin = make_user(session, "admin", is_admin=True)
    checked = compose.check(session=session, draft=compose.Draft(title="raced"))
    first = compose.publish(
        session=session, checked=checked, created_by=admin.id, idempotency_key="k"
    )
    looked_up: list[object] = []
    real_posted = compose._posted

    def blind_first_look(session: Session, row: Notification) -> Notification | None:
        looked_up.append(row)
        return None if len(looked_up) == 1 else real_posted(session, row)

    monkeypatch.setattr(compose, "_posted", blind_first_look)
    second = compose.publish(
        session=session, checked=checked, created_by=admin.id, idempotency_key="k"
    )
    assert second.id == first.id and len(looked_up) == 2
    assert len(session.exec(select(Notification)).all()) == 1
