"""``dashboard serve --workers 2``: every worker's streams get every write, on either store."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from dashboard.accounts import tokens
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user
from tests.servers import ServeProcess
from tests.sse import SSEReader


def test_two_workers_deliver_every_notification_once_in_order(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    admin = make_user(session, "admin", is_admin=True)
    make_user(session, "alice")
    assert admin.id is not None
    _, admin_token = tokens.issue(session=session, user_id=admin.id, name="t")
    server = ServeProcess(
        tmp_path, "workers", {"DASHBOARD_DATABASE_URL": database_url}, "--workers", "2"
    )
    try:
        with server.client() as alice:
            token = csrf_from(alice.get("/login").text)
            alice.post(
                "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
            )
            streams = [SSEReader(alice, "/events?view=inbox&after=0") for _ in range(4)]
            for stream in streams:
                stream.wait_for(lambda m: 'id="unread-count"' in m.data)
            posted: list[str] = []
            for i in range(6):
                # Separate connections: the kernel spreads them over both workers.
                with server.client() as api:
                    response = api.post(
                        "/api/notifications",
                        json={"title": f"n{i}"},
                        headers={"Authorization": f"Bearer {admin_token}"},
                    )
                assert response.status_code == 201, response.text
                posted.append(str(response.json()["id"]))
            for stream in streams:
                stream.wait_for(lambda m: m.id == posted[-1], timeout=15)
                assert [m.id for m in stream.seen if m.id is not None] == posted
                stream.close()
    finally:
        server.stop()
    assert "Started parent process" in server.log.read_text()
