"""Several processes on one PostgreSQL: commit order, LISTEN/NOTIFY, the feed lease.

These always run on PostgreSQL (127.0.0.1:5432, a schema of their own per test).
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from dashboard.accounts import tokens
from dashboard.models import Audience, Lease, Notification, Tick, utcnow
from dashboard.runtime import build_runtime
from dashboard.settings import Settings
from tests.conftest import csrf_from, wait_until
from tests.factories import PASSWORD, add_tick, make_instrument, make_user
from tests.servers import ServeProcess
from tests.sse import SSEReader

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_a_late_committing_id_is_never_skipped(engine: Engine, settings: Settings) -> None:
    """A takes id N and stays open; B inserts N+1. The poller must deliver N, then N+1."""
    runtime = build_runtime(settings)
    poller, hub = runtime.notification_poller, runtime.hub
    asyncio.run(poller.prime())
    reader = hub.connect(user_id=1)

    def add(connection: Connection, title: str) -> int:
        row = connection.execute(
            insert(Notification)
            .values(
                title=title,
                body="",
                severity="info",
                audience=Audience.everyone,
                created_at=utcnow(),
            )
            .returning(col(Notification.id))
        )
        notification_id = row.scalar_one()
        assert notification_id is not None
        return int(notification_id)

    slow = engine.connect()
    slow_tx = slow.begin()
    first = add(slow, "A: takes its id first, commits last")
    second: list[int] = []
    b_done = threading.Event()

    def other_writer() -> None:
        with engine.begin() as fast:
            second.append(add(fast, "B: starts later, would commit first"))
        b_done.set()

    threading.Thread(target=other_writer, daemon=True).start()
    with engine.connect() as watcher:

        def b_waits_for_the_lock() -> bool:
            return bool(
                watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                ).scalar_one()
            )

        wait_until(lambda: b_done.is_set() or b_waits_for_the_lock())
    asyncio.run(poller.poll_once())  # what a poller sees while A is still open
    slow_tx.commit()
    slow.close()
    assert b_done.wait(10)
    asyncio.run(poller.poll_once())
    delivered = [notice.id for notice in reader.notices]
    assert first < second[0]
    assert delivered == [first, second[0]]  # both, in order: the late commit was not skipped
    runtime.engine.dispose()


def _serve(tmp_path: Path, name: str, database_url: str, **env: str) -> ServeProcess:
    return ServeProcess(tmp_path, name, {"DASHBOARD_DATABASE_URL": database_url, **env})


def test_two_servers_share_one_store_through_listen_notify(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    admin = make_user(session, "admin", is_admin=True)
    make_user(session, "alice")
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 10.0)
    assert admin.id is not None
    _, admin_token = tokens.issue(session=session, user_id=admin.id, name="t")
    # Polling every 60 s: within the test's deadlines only a NOTIFY can wake the other side.
    slow_polls = {
        "DASHBOARD_PRICE_POLL_INTERVAL": "60",
        "DASHBOARD_NOTIFICATION_POLL_INTERVAL": "60",
    }
    a = _serve(tmp_path, "a", database_url, **slow_polls)
    b = _serve(tmp_path, "b", database_url, **slow_polls)
    try:
        with b.client() as alice, a.client() as anonymous, a.client() as admin_on_a:
            token = csrf_from(alice.get("/login").text)
            alice.post(
                "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token}
            )
            inbox_on_b = SSEReader(alice, "/events?view=inbox")
            inbox_on_b.wait_for(lambda m: 'id="unread-count"' in m.data)
            tiles_on_a = SSEReader(anonymous, "/events")
            tiles_on_a.wait_for(lambda m: 'id="tile-ACME"' in m.data)

            auth = {"Authorization": f"Bearer {admin_token}"}
            posted = admin_on_a.post("/api/notifications", json={"title": "From A"}, headers=auth)
            assert posted.status_code == 201, posted.text
            notification_id = posted.json()["id"]
            inbox_on_b.wait_for(lambda m: m.id == str(notification_id))

            with b.client() as admin_on_b:
                ingested = admin_on_b.post(
                    "/api/ticks", json=[{"symbol": "ACME", "price": 12.5}], headers=auth
                )
            assert ingested.status_code == 200, ingested.text
            tick_id = ingested.json()["ids"][0]
            assert tick_id
            tiles_on_a.wait_for(lambda m: m.shows_price("ACME", "12.50"))

            barrier = admin_on_a.post("/api/notifications", json={"title": "Barrier"}, headers=auth)
            inbox_on_b.wait_for(lambda m: m.id == str(barrier.json()["id"]))
            ids = [m.id for m in inbox_on_b.seen if m.id is not None]
            assert ids == [str(notification_id), str(barrier.json()["id"])]  # each once
            inbox_on_b.close()
            tiles_on_a.close()
    finally:
        a.stop()
        b.stop()


def test_the_feed_lease_moves_to_another_server_when_its_holder_is_killed(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    make_instrument(session, "ACME", simulated=True)  # the feed walks simulated ones only
    feed = {"DASHBOARD_FEED_ENABLED": "true", "DASHBOARD_FEED_LEASE_SECONDS": "1"}
    servers = [_serve(tmp_path, name, database_url, **feed) for name in ("a", "b")]
    try:

        def lease_holder_pid() -> int | None:
            session.expire_all()
            lease = session.exec(select(Lease)).first()
            match = re.search(r":(\d+):", lease.holder) if lease else None
            return int(match.group(1)) if match else None

        wait_until(lambda: lease_holder_pid() is not None, timeout=20)
        holder = next(s for s in servers if s.process.pid == lease_holder_pid())
        survivor = next(s for s in servers if s is not holder)
        wait_until(lambda: session.exec(select(Tick)).first() is not None, timeout=20)
        holder.kill()
        session.expire_all()
        newest_at_kill = max(t.id or 0 for t in session.exec(select(Tick)).all())
        wait_until(lambda: lease_holder_pid() == survivor.process.pid, timeout=20)

        def survivor_writes() -> bool:
            session.expire_all()
            return any((t.id or 0) > newest_at_kill for t in session.exec(select(Tick)).all())

        wait_until(survivor_writes, timeout=20)
    finally:
        for server in servers:
            server.stop()
