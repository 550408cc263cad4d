"""``/api/notifications``: marking read only what a program has seen."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from dashboard.accounts import tokens
from dashboard.inbox import queries
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
