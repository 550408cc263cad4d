"""Resuming a stream: the cursor, where a stream starts, and what it missed since then.

The store-only functions need a Runtime for its sessions, not a started one: each test
builds one and runs the coroutines with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlmodel import Session

from dashboard.inbox import queries
from dashboard.live import resume
from dashboard.live.hub import RESTYLE_LIMIT
from dashboard.models import Audience, Notification, NotificationRead, User
from dashboard.runtime import Runtime, build_runtime
from dashboard.settings import Settings
from tests.factories import add_notification, make_user


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A Runtime that is built, not started: its sessions read the test's store."""
    runtime = build_runtime(settings)
    yield runtime
    for poller in runtime.pollers().values():
        poller.close()
    runtime.engine.dispose()


def uid(user: User) -> int:
    assert user.id is not None
    return user.id


def nid(notification: Notification) -> int:
    assert notification.id is not None
    return notification.id


def add_many(session: Session, count: int, *, user: User | None = None) -> list[int]:
    """``count`` notifications in one commit (to ``user`` alone, or to everyone)."""
    rows = [
        Notification(
            title=f"n{n}",
            audience=Audience.everyone if user is None else Audience.user,
            user_id=None if user is None else user.id,
        )
        for n in range(count)
    ]
    session.add_all(rows)
    session.commit()
    return [nid(row) for row in rows]


def mark_read(session: Session, user: User, notification_ids: list[int]) -> None:
    session.add_all(
        NotificationRead(user_id=uid(user), notification_id=i) for i in notification_ids
    )
    session.commit()


def missed(runtime: Runtime, user: User, cursor: resume.Cursor) -> list[queries.InboxItem]:
    async def collect() -> list[queries.InboxItem]:
        return [item async for item in resume.missed(runtime, uid(user), cursor)]

    return asyncio.run(collect())


# parse_cursor


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("  42 ", 42),
        ("\t7\r\n", 7),
        ("007", 7),
        ("9" * 18, 10**18 - 1),
        ("1" + "0" * 17, 10**17),
    ],
)
def test_parse_cursor_reads_plain_ascii_numbers(value: str, expected: int) -> None:
    assert resume.parse_cursor(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "-1",
        "+1",
        "1.5",
        "1e3",
        "0x10",
        "12 34",
        "abc",
        "12abc",
        "None",
        "\uff11\uff12",  # fullwidth digits
        "\u0661\u0662",  # Arabic-Indic digits
        "\u00b2",  # superscript two: str.isdigit() says yes, int() says no
        "1\u00b2",
        "9" * 19,  # past 18 digits: over a 64-bit id
        "0" * 19,  # the length counts, not the value
        "1" * 400,
    ],
)
def test_parse_cursor_treats_junk_as_absent(value: str | None) -> None:
    assert resume.parse_cursor(value) is None


# Cursor


def test_a_cursor_advances_only_forwards() -> None:
    cursor = resume.Cursor(5)
    assert cursor.advance(5) is False and cursor.position == 5
    assert cursor.advance(3) is False and cursor.position == 5
    assert cursor.advance(6) is True and cursor.position == 6
    assert cursor.advance(10) is True and cursor.position == 10  # gaps are fine
    assert cursor.advance(8) is False and cursor.position == 10


def test_a_cursor_from_zero_takes_the_first_id() -> None:
    cursor = resume.Cursor(0)
    assert cursor.advance(0) is False
    assert cursor.advance(1) is True and cursor.position == 1


# start


def test_start_without_a_cursor_is_live_from_the_newest(runtime: Runtime, session: Session) -> None:
    assert asyncio.run(resume.start(runtime, None)).position == 0  # an empty store
    newest = add_many(session, 3)[-1]
    assert asyncio.run(resume.start(runtime, None)).position == newest


def test_start_keeps_a_cursor_in_the_past_and_clamps_one_from_the_future(
    runtime: Runtime, session: Session
) -> None:
    ids = add_many(session, 3)
    assert asyncio.run(resume.start(runtime, 0)).position == 0
    assert asyncio.run(resume.start(runtime, ids[0])).position == ids[0]
    assert asyncio.run(resume.start(runtime, ids[-1])).position == ids[-1]
    assert asyncio.run(resume.start(runtime, ids[-1] + 1)).position == ids[-1]
    assert asyncio.run(resume.start(runtime, 10**18 - 1)).position == ids[-1]


# missed


def test_missed_is_what_the_user_may_see_after_the_cursor_oldest_first(
    runtime: Runtime, session: Session
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    before = add_notification(session, "before")
    first = add_notification(session, "first")
    add_notification(session, "for bob", audience=Audience.user, user=bob)
    second = add_notification(session, "second", audience=Audience.user, user=alice)
    mark_read(session, alice, [nid(second)])

    cursor = resume.Cursor(nid(before))
    items = missed(runtime, alice, cursor)

    assert [(nid(item.notification), item.read) for item in items] == [
        (nid(first), False),
        (nid(second), True),
    ]
    assert cursor.position == nid(second)


def test_missed_pages_through_more_than_a_page_in_order(runtime: Runtime, session: Session) -> None:
    alice = make_user(session, "alice")
    ids = add_many(session, resume.PAGE + 25)
    cursor = resume.Cursor(ids[9])

    items = missed(runtime, alice, cursor)

    assert [nid(item.notification) for item in items] == ids[10:]
    assert len(items) == resume.PAGE + 15
    assert cursor.position == ids[-1]


def test_missed_reads_page_after_page_from_the_advancing_cursor(
    runtime: Runtime, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = make_user(session, "alice")
    ids = add_many(session, 6)
    monkeypatch.setattr(resume, "PAGE", 2)
    asked: list[int] = []
    real_page = resume._page

    def page(runtime: Runtime, user_id: int, after: int) -> list[queries.InboxItem]:
        asked.append(after)
        return real_page(runtime, user_id, after)

    monkeypatch.setattr(resume, "_page", page)
    items = missed(runtime, alice, resume.Cursor(0))

    assert [nid(item.notification) for item in items] == ids
    # Three full pages, then an empty one says there is no more.
    assert asked == [0, ids[1], ids[3], ids[5]]


def test_missed_yields_nothing_when_nothing_is_new(runtime: Runtime, session: Session) -> None:
    alice = make_user(session, "alice")
    newest = add_many(session, 2)[-1]
    cursor = resume.Cursor(newest)
    assert missed(runtime, alice, cursor) == []
    assert cursor.position == newest


# badge_up_to


def test_badge_up_to_counts_unread_ones_up_to_the_cursor_only(
    runtime: Runtime, session: Session
) -> None:
    alice = make_user(session, "alice")
    ids = add_many(session, 4)
    mark_read(session, alice, [ids[0]])

    badge = asyncio.run(resume.badge_up_to(runtime, uid(alice), resume.Cursor(ids[2])))

    assert badge == queries.Badge(version=alice.inbox_version, cursor=ids[2], count=2)
    assert badge.stamp == f"{alice.inbox_version}.{ids[2]}"


def test_badge_up_to_a_cursor_before_everything_is_zero(runtime: Runtime, session: Session) -> None:
    alice = make_user(session, "alice")
    add_many(session, 2)
    badge = asyncio.run(resume.badge_up_to(runtime, uid(alice), resume.Cursor(0)))
    assert (badge.count, badge.cursor) == (0, 0)


# read_state


def test_read_state_restyles_changed_ones_up_to_the_cursor_as_they_are_now(
    runtime: Runtime, session: Session
) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    ids = add_many(session, 5)
    bobs = add_many(session, 1, user=bob)[0]
    mark_read(session, alice, [ids[0], ids[1], ids[4]])
    mark_read(session, bob, [bobs])
    cursor = resume.Cursor(ids[3])

    badge, changed = asyncio.run(
        resume.read_state(
            runtime,
            uid(alice),
            cursor,
            # ids[2] was marked unread again, ids[4] is past the cursor, bob's is not alice's.
            frozenset({ids[0], ids[1], ids[2], ids[4], bobs}),
        )
    )

    states = {nid(item.notification): item.read for item in changed}
    assert states == {ids[0]: True, ids[1]: True, ids[2]: False}
    assert badge == queries.Badge(version=alice.inbox_version, cursor=ids[3], count=2)
    assert cursor.position == ids[3]  # only read, never moved


def test_read_state_with_no_ids_is_just_the_badge(runtime: Runtime, session: Session) -> None:
    alice = make_user(session, "alice")
    ids = add_many(session, 2)
    badge, read = asyncio.run(
        resume.read_state(runtime, uid(alice), resume.Cursor(ids[-1]), frozenset())
    )
    assert read == [] and badge.count == 2


def test_read_state_restyles_at_most_the_newest_restyle_limit(
    runtime: Runtime, session: Session
) -> None:
    alice = make_user(session, "alice")
    ids = add_many(session, RESTYLE_LIMIT + 20)
    mark_read(session, alice, ids)
    cursor = resume.Cursor(ids[-6])  # the newest five were not sent yet

    badge, read = asyncio.run(resume.read_state(runtime, uid(alice), cursor, frozenset(ids)))

    shown = sorted(nid(item.notification) for item in read)
    assert shown == ids[-6 - RESTYLE_LIMIT + 1 : -5]
    assert len(shown) == RESTYLE_LIMIT
    assert badge.count == 0
