"""The inbox pages and forms: history filters, opening, archiving, topics, admin tools."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.inbox import queries
from dashboard.models import (
    Audience,
    Notification,
    NotificationArchive,
    NotificationRead,
    ScheduledNotification,
    Severity,
    Subscription,
    Topic,
    User,
    utcnow,
)
from tests.conftest import csrf_from
from tests.factories import add_notification, make_topic, make_user, subscribe

Login = Callable[[str], str]


def test_history_filters_work_without_javascript(
    client: TestClient, session: Session, login_as: Login
) -> None:
    alice = make_user(session, "alice")
    rates = make_topic(session, "rates")
    subscribe(session, alice, rates)
    add_notification(session, "plain info")
    add_notification(session, "a warning", severity=Severity.warning)
    add_notification(session, "rates news", audience=Audience.topic, topic=rates)
    login_as("alice")
    page = client.get("/notifications").text
    assert "plain info" in page and "a warning" in page and "rates news" in page
    assert 'id="inbox"' in page  # the unfiltered first page takes live arrivals
    warnings = client.get("/notifications?severity=warning").text
    assert "a warning" in warnings and "plain info" not in warnings
    assert 'id="inbox"' not in warnings
    topical = client.get("/notifications?topic=rates").text
    assert "rates news" in topical and "a warning" not in topical
    assert client.get("/notifications?severity=loud").status_code == 422
    unknown = client.get("/notifications?topic=nope")
    assert unknown.status_code == 422 and "No topic" in unknown.text


def test_history_pages_by_id_keeping_the_filters(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "alice")
    made = [add_notification(session, f"warn {i:02}", severity=Severity.warning) for i in range(55)]
    add_notification(session, "not a warning")
    login_as("alice")
    first = client.get("/notifications?severity=warning").text
    assert "warn 54" in first and "warn 04" not in first
    older_url = f"/notifications?severity=warning&amp;before={made[5].id}"
    assert older_url in first
    second = client.get(older_url.replace("&amp;", "&")).text
    assert "warn 04" in second and "warn 00" in second and "warn 05" not in second
    assert "Newest" in second


def test_regression_no_get_marks_read_and_following_a_link_is_a_post(
    client: TestClient, session: Session, login_as: Login
) -> None:
    # Was: opening /notifications/N or /notifications/N/open marked it read, so a link on
    # any site, or a prefetcher, could.
    make_user(session, "alice")
    linked = add_notification(session, "with link", link="https://example.com/report")
    plain = add_notification(session, "<script>x</script>", body="body <i>text</i>")
    token = login_as("alice")

    def read_ids() -> set[int | None]:
        return {r.notification_id for r in session.exec(select(NotificationRead)).all()}

    detail = client.get(f"/notifications/{plain.id}")
    assert detail.status_code == 200
    assert "&lt;script&gt;x&lt;/script&gt;" in detail.text and "<i>text</i>" not in detail.text
    assert "data-mark-read-on-view" in detail.text  # the page posts it once seen
    old_link = client.get(f"/notifications/{linked.id}/open", follow_redirects=False)
    assert old_link.status_code == 303
    assert old_link.headers["location"] == f"/notifications/{linked.id}"
    assert read_ids() == set()

    forged = client.post(f"/notifications/{linked.id}/open", follow_redirects=False)
    assert forged.status_code == 403 and read_ids() == set()
    followed = client.post(
        f"/notifications/{linked.id}/open", data={"csrf_token": token}, follow_redirects=False
    )
    assert followed.status_code == 303
    assert followed.headers["location"] == "https://example.com/report"
    assert read_ids() == {linked.id}
    no_link = client.post(f"/notifications/{plain.id}/open", data={"csrf_token": token})
    assert no_link.status_code == 404 and read_ids() == {linked.id}
    read_page = client.get(f"/notifications/{linked.id}").text
    assert "data-mark-read-on-view" not in read_page


def test_regression_a_stored_link_a_browser_reads_as_off_site_is_neither_shown_nor_followed(
    client: TestClient, session: Session, login_as: Login
) -> None:
    # Was: "/\\evil.example/" passed as an on-site path and "Open link" went to evil.example.
    # A row written before the rule (or by another writer) is checked where it is shown too.
    make_user(session, "alice")
    sneaky = add_notification(session, "sneaky", link="/\\evil.example/")
    login_as("alice")
    detail = client.get(f"/notifications/{sneaky.id}").text
    assert "evil.example" not in detail and "Open link" not in detail
    assert "Open link" not in client.get("/").text
    token = csrf_from(client.get("/").text)
    refused = client.post(
        f"/notifications/{sneaky.id}/open", data={"csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 404


def test_archive_and_unarchive_as_plain_forms_and_with_htmx(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "alice")
    n = add_notification(session, "to archive")
    token = login_as("alice")
    response = client.post(
        f"/notifications/{n.id}/archive",
        data={"csrf_token": token, "next": "/notifications"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/notifications"
    assert "to archive" not in client.get("/notifications").text
    archived = client.get("/notifications?archived=1").text
    assert "to archive" in archived and "Move to inbox" in archived
    back = client.post(
        f"/notifications/{n.id}/unarchive",
        headers={"X-CSRF-Token": token, "HX-Request": "true"},
    )
    assert back.status_code == 200
    assert session.exec(select(NotificationArchive)).all() == []
    assert "to archive" in client.get("/notifications").text


def test_no_route_reveals_or_changes_another_users_notification(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "alice")
    bob = make_user(session, "bob")
    private = add_notification(session, "bob's secret", audience=Audience.user, user=bob)
    private.link = "/settings"
    session.add(private)
    session.commit()
    token = login_as("alice")
    missing = add_notification(session, "placeholder")
    gone = (missing.id or 0) + 1000
    for notification_id in (private.id, gone):
        assert client.get(f"/notifications/{notification_id}").status_code == 404
        for action in ("read", "unread", "archive", "unarchive", "open"):
            response = client.post(
                f"/notifications/{notification_id}/{action}", data={"csrf_token": token}
            )
            assert response.status_code == 404, action
        api = client.post(
            f"/api/notifications/{notification_id}/read", headers={"X-CSRF-Token": token}
        )
        assert api.status_code == 404
    for selected in ("read", "archive"):
        several = client.post(
            "/notifications/selected",
            data={"csrf_token": token, "action": selected, "id": [private.id, gone]},
            follow_redirects=False,
        )
        assert several.status_code == 303  # nothing of alice's was selected: nothing changed
    for page in ("/", "/notifications", "/notifications?archived=1", "/inbox/items"):
        assert "bob&#39;s secret" not in client.get(page).text
    assert "bob's secret" not in client.get("/api/notifications").text
    assert session.exec(select(NotificationRead)).all() == []
    assert session.exec(select(NotificationArchive)).all() == []


def test_a_user_mutes_announcements_but_not_critical_ones(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "alice")
    add_notification(session, "routine")
    add_notification(session, "outage", severity=Severity.critical)
    token = login_as("alice")
    client.post("/settings/broadcasts", data={"csrf_token": token, "muted": "true"})
    page = client.get("/notifications").text
    assert "outage" in page and "routine" not in page
    assert "Unmute announcements" in client.get("/settings").text
    client.post("/settings/broadcasts", data={"csrf_token": token, "muted": "false"})
    assert "routine" in client.get("/notifications").text


def test_subscribing_to_a_retired_topic_is_a_clear_422(
    client: TestClient, session: Session, login_as: Login
) -> None:
    alice = make_user(session, "alice")
    rates = make_topic(session, "rates")
    rates.archived_at = utcnow()
    session.add(rates)
    session.commit()
    token = login_as("alice")
    response = client.post(
        f"/settings/topics/{rates.id}", data={"csrf_token": token, "subscribed": "true"}
    )
    assert response.status_code == 422 and "retired" in response.text
    assert session.exec(select(Subscription).where(Subscription.user_id == alice.id)).all() == []


def test_admin_previews_without_sending(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    response = client.post(
        "/admin/notifications",
        data={"csrf_token": token, "title": "<img src=x>", "intent": "preview"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "Preview" in response.text and "&lt;img src=x&gt;" in response.text
    assert 'value="&lt;img src=x&gt;"' in response.text  # the draft stays in the form
    assert session.exec(select(Notification)).all() == []


def test_admin_schedules_and_cancels_and_a_past_time_is_a_422(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    past = client.post(
        "/admin/notifications",
        data={"csrf_token": token, "title": "late", "send_at": "2020-01-01T09:00"},
    )
    assert past.status_code == 422 and "That time has passed" in past.text
    when = (utcnow() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    scheduled = client.post(
        "/admin/notifications",
        data={"csrf_token": token, "title": "later", "send_at": when},
        follow_redirects=False,
    )
    assert scheduled.status_code == 303 and "scheduled=" in scheduled.headers["location"]
    assert session.exec(select(Notification)).all() == []
    row = session.exec(select(ScheduledNotification)).one()
    page = client.get("/admin").text
    assert "later" in page and "Nothing scheduled" not in page
    client.post(f"/admin/scheduled/{row.id}/cancel", data={"csrf_token": token})
    assert session.exec(select(ScheduledNotification)).all() == []
    gone = client.post(f"/admin/scheduled/{row.id}/cancel", data={"csrf_token": token})
    assert gone.status_code == 404


def test_admin_recent_shows_read_counts(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    alice = make_user(session, "alice")
    n = add_notification(session, "all")
    session.add(NotificationRead(user_id=alice.id or 0, notification_id=n.id or 0))
    session.commit()
    login_as("admin")
    assert "1 / 2" in client.get("/admin").text


def test_admin_creates_renames_retires_and_restores_topics(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    token = login_as("admin")
    bad = client.post("/admin/topics", data={"csrf_token": token, "slug": "Bad Slug", "name": ""})
    assert bad.status_code == 422 and 'id="slug-error"' in bad.text
    assert session.exec(select(Topic)).all() == []
    client.post("/admin/topics", data={"csrf_token": token, "slug": "rates", "name": "Rates"})
    blank = client.post("/admin/topics/rates/rename", data={"csrf_token": token, "name": " "})
    assert blank.status_code == 422 and 'id="rename-rates-error"' in blank.text
    client.post("/admin/topics/rates/rename", data={"csrf_token": token, "name": "Interest"})
    client.post("/admin/topics/rates/retire", data={"csrf_token": token})
    topic = session.exec(select(Topic)).one()
    session.refresh(topic)
    assert topic.name == "Interest" and topic.archived_at is not None
    post = client.post(
        "/admin/notifications",
        data={"csrf_token": token, "title": "t", "audience": "topic", "topic": "rates"},
    )
    assert post.status_code == 422 and "retired" in post.text
    client.post("/admin/topics/rates/restore", data={"csrf_token": token})
    session.refresh(topic)
    assert topic.archived_at is None
    assert client.post("/admin/topics/nope/retire", data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/admin/topics",
        "/admin/topics/rates/rename",
        "/admin/topics/rates/retire",
        "/admin/scheduled/1/cancel",
    ],
)
def test_admin_tools_need_the_admin_role(
    client: TestClient, session: Session, login_as: Login, path: str
) -> None:
    make_user(session, "alice")
    make_topic(session, "rates")
    token = login_as("alice")
    assert client.post(path, data={"csrf_token": token, "name": "x"}).status_code == 403
    assert client.get("/admin/online").status_code == 403


def test_admin_online_card_counts_open_streams(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    login_as("admin")
    card = client.get("/admin/online", headers={"HX-Request": "true"}).text
    assert 'id="online"' in card and "open stream" in card and "<html" not in card


def test_api_schedules_with_send_at_and_retires_topics(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "admin", is_admin=True)
    make_topic(session, "rates")
    token = login_as("admin")
    headers = {"X-CSRF-Token": token}
    when = (utcnow() + timedelta(minutes=30)).isoformat()
    response = client.post(
        "/api/notifications", json={"title": "later", "send_at": when}, headers=headers
    )
    assert response.status_code == 202, response.text
    assert response.json()["scheduled_id"] >= 1
    past = client.post(
        "/api/notifications",
        json={"title": "late", "send_at": "2020-01-01T00:00:00Z"},
        headers=headers,
    )
    assert past.status_code == 422 and "send_at" in past.json()["detail"]
    retired = client.patch("/api/topics/rates", json={"retired": True}, headers=headers)
    assert retired.status_code == 200 and retired.json()["retired"] is True
    assert client.get("/api/topics").json() == []
    assert [t["slug"] for t in client.get("/api/topics?retired=true").json()] == ["rates"]
    to_retired = client.post(
        "/api/notifications",
        json={"title": "x", "audience": "topic", "topic": "rates"},
        headers=headers,
    )
    assert to_retired.status_code == 422 and "retired" in to_retired.json()["detail"]["topic"]
    assert session.exec(select(Notification)).all() == []
    assert len(session.exec(select(User)).all()) == 1


def test_regression_mark_all_read_leaves_what_the_page_never_showed_unread(
    client: TestClient, session: Session, login_as: Login
) -> None:
    # Was: a critical notification posted after the page was rendered, or hidden by the
    # page's filter, was marked read too (issue 18, item 6).
    alice = make_user(session, "alice")
    assert alice.id is not None
    shown = add_notification(session, "shown", severity=Severity.warning)
    hidden = add_notification(session, "filtered out", severity=Severity.info)
    csrf = login_as("alice")
    page = client.get("/notifications?severity=warning").text
    up_to = re.search(r'name="up_to" value="(\d+)"', page)
    assert up_to is not None and int(up_to[1]) == hidden.id  # the page's cursor
    assert 'name="severity" value="warning"' in page
    later = add_notification(session, "posted after the page", severity=Severity.critical)
    marked = client.post(
        "/notifications/read-all",
        data={"csrf_token": csrf, "up_to": up_to[1], "severity": "warning"},
        follow_redirects=False,
    )
    assert marked.status_code == 303
    unread = queries.inbox(
        session=session, user_id=alice.id, filters=queries.Filters(unread_only=True)
    )
    assert [item.notification.id for item in unread] == [later.id, hidden.id]
    assert shown.id not in [item.notification.id for item in unread]
    # A bad filter is a clear 422 and marks nothing.
    bad = client.post("/notifications/read-all", data={"csrf_token": csrf, "severity": "loud"})
    assert bad.status_code == 422
    assert queries.unread_count(session=session, user_id=alice.id) == 2


def test_mark_unread_as_a_plain_form_and_with_htmx(
    client: TestClient, session: Session, login_as: Login
) -> None:
    alice = make_user(session, "alice")
    n = add_notification(session, "come back to this")
    token = login_as("alice")
    client.post(f"/notifications/{n.id}/read", data={"csrf_token": token})
    assert queries.unread_count(session=session, user_id=alice.id or 0) == 0
    again = client.post(
        f"/notifications/{n.id}/unread",
        data={"csrf_token": token, "next": "/notifications"},
        follow_redirects=False,
    )
    assert again.status_code == 303 and again.headers["location"] == "/notifications"
    assert queries.unread_count(session=session, user_id=alice.id or 0) == 1
    client.post(f"/notifications/{n.id}/read", data={"csrf_token": token})
    swapped = client.post(
        f"/notifications/{n.id}/unread", headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert swapped.status_code == 200
    assert "is-unread" in swapped.text and ">Mark read<" in swapped.text
    assert 'id="unread-count"' in swapped.text and ">1<" in swapped.text
    forged = client.post(f"/notifications/{n.id}/unread", data={"csrf_token": "forged"})
    assert forged.status_code == 403


def test_several_selected_are_read_or_archived_in_one_go(
    client: TestClient, session: Session, login_as: Login
) -> None:
    alice = make_user(session, "alice")
    notes = [add_notification(session, f"note {i}") for i in range(4)]
    token = login_as("alice")
    read = client.post(
        "/notifications/selected",
        data={"csrf_token": token, "action": "read", "id": [notes[0].id, notes[1].id]},
        follow_redirects=False,
    )
    assert read.status_code == 303
    assert queries.unread_count(session=session, user_id=alice.id or 0) == 2
    archived = client.post(
        "/notifications/selected",
        data={"csrf_token": token, "action": "archive", "id": [notes[1].id, notes[2].id]},
        headers={"HX-Request": "true"},
    )
    assert archived.status_code == 200
    assert f'hx-swap-oob="delete:#notification-{notes[2].id}"' in archived.text
    assert ">1<" in archived.text  # the badge: only notes[3] is unread
    stored = {row.notification_id for row in session.exec(select(NotificationArchive)).all()}
    assert stored == {notes[1].id, notes[2].id}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "read"}, "Select a notification first."),
        ({"action": "read", "id": list(range(1, 502))}, "Select at most 500"),
        ({"action": "read", "id": ["0"]}, "Not a notification id."),
        ({"action": "read", "id": ["two"]}, "id"),
        ({"action": "delete", "id": ["1"]}, "action"),
    ],
)
def test_a_bad_selection_is_a_clear_422_and_changes_nothing(
    client: TestClient,
    session: Session,
    login_as: Login,
    form: dict[str, object],
    message: str,
) -> None:
    make_user(session, "alice")
    add_notification(session, "untouched")
    token = login_as("alice")
    response = client.post("/notifications/selected", data={"csrf_token": token, **form})
    assert response.status_code == 422 and message in response.text
    assert session.exec(select(NotificationRead)).all() == []
    assert session.exec(select(NotificationArchive)).all() == []


def test_inbox_items_come_a_page_at_a_time_newest_first(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "alice")
    made = [add_notification(session, f"item {i:03}") for i in range(120)]
    login_as("alice")
    top = client.get("/inbox/items").text
    titles = re.findall(r"item (\d{3})</a>", top)
    assert titles == [f"{i:03}" for i in range(119, 69, -1)]  # the newest 50
    assert "inbox-empty" in top  # the top page holds the empty state, as the page does
    older = re.search(r'hx-get="/inbox/items\?before=(\d+)"', top)
    assert older is not None and int(older.group(1)) == made[70].id
    second = client.get(f"/inbox/items?before={older.group(1)}").text
    assert re.findall(r"item (\d{3})</a>", second)[0] == "069" and "inbox-empty" not in second
    last = client.get(f"/inbox/items?before={made[20].id}").text
    assert len(re.findall(r"item (\d{3})</a>", last)) == 20 and "inbox-older" not in last
    assert client.get("/inbox/items?before=0").status_code == 422


def test_the_dashboard_inbox_offers_older_ones_and_selection(
    client: TestClient, session: Session, login_as: Login
) -> None:
    make_user(session, "alice")
    made = [add_notification(session, f"item {i:03}") for i in range(25)]
    login_as("alice")
    page = client.get("/").text
    assert len(re.findall(r'<li id="notification-', page)) == 20
    assert f'hx-get="/inbox/items?before={made[5].id}"' in page
    assert 'id="inbox-selection"' in page and 'form="inbox-selection"' in page
    assert 'data-keep="100"' in page
