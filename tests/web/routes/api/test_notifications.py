"""``/api/notifications``: marking read only what a program has seen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from dashboard.accounts import tokens
from dashboard.inbox import queries
from dashboard.models import Notification
from tests.factories import add_notification, make_user


def test_read_all_up_to_the_newest_seen_leaves_later_ones_unread(
    client: TestClient, session: Session
) -> None:
    alice = make_user(session, "alice")
    assert alice.id is not None
    headers = {
        "Authorization": f"Bearer {tokens.issue(session=session, user_id=alice.id, name='t')[1]}"
    }
    seen = add_notification(session, "seen")
    later = add_notification(session, "later")
    answer = client.post(f"/api/notifications/read-all?up_to={seen.id}", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["marked"] == 1 and answer.json()["unread"] == 1
    unread = queries.inbox(
        session=session, user_id=alice.id, filters=queries.Filters(unread_only=True)
    )
    assert [item.notification.id for item in unread] == [later.id]
    assert client.post("/api/notifications/read-all?up_to=-1", headers=headers).status_code == 422
    everything = client.post("/api/notifications/read-all", headers=headers)
    assert everything.json()["marked"] == 1 and everything.json()["unread"] == 0


def test_a_post_retried_with_its_idempotency_key_is_made_once(
    client: TestClient, session: Session
) -> None:
    # Was: two identical API posts at once created two notifications (issue 18, item 10).
    admin = make_user(session, "admin", is_admin=True)
    assert admin.id is not None
    token = tokens.issue(session=session, user_id=admin.id, name="t")[1]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "retry-42"}
    first = client.post("/api/notifications", json={"title": "once"}, headers=headers)
    again = client.post("/api/notifications", json={"title": "once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    later = {"title": "later", "send_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}
    scheduled = [
        client.post("/api/notifications", json=later, headers={**headers, "Idempotency-Key": "s1"})
        for _ in "ab"
    ]
    assert scheduled[0].status_code == scheduled[1].status_code == 202
    assert scheduled[0].json()["scheduled_id"] == scheduled[1].json()["scheduled_id"]
    plain = {"Authorization": f"Bearer {token}"}
    for _ in "ab":
        assert (
            client.post("/api/notifications", json={"title": "twice"}, headers=plain).status_code
            == 201
        )
    titles = [n.title for n in session.exec(select(Notification)).all()]
    assert sorted(titles) == ["once", "twice", "twice"]
