"""Faults a long-open dashboard meets: the server killed outright, clients that stop reading."""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlmodel import Session, col
from websockets.sync.client import connect

from dashboard.accounts import tokens
from dashboard.client import NotificationEvent, StreamClient
from dashboard.models import Instrument, Notification
from dashboard.settings import Settings
from tests.conftest import LiveServer, csrf_from, wait_until
from tests.factories import PASSWORD, add_notification, add_tick, make_instrument, make_user
from tests.servers import ServeProcess
from tests.sse import Message, SSEReader
from tests.ws_client import until_ready


def test_kill_9_then_restart_every_kind_of_client_gets_each_missed_one_once(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    alice = make_user(session, "alice")
    acme = make_instrument(session, "ACME")
    add_tick(session, acme, 10.0)
    assert alice.id is not None
    _, token = tokens.issue(session=session, user_id=alice.id, name="t")
    first = add_notification(session, "before")
    env = {"DASHBOARD_DATABASE_URL": database_url}
    servers: list[ServeProcess] = []
    try:
        _kill_and_resume(tmp_path, env, token, session, acme, first, servers)
    finally:
        for server in servers:
            server.stop()  # also when a step failed: no server outlives its test


def _kill_and_resume(
    tmp_path: Path,
    env: dict[str, str],
    token: str,
    session: Session,
    acme: Instrument,
    first: Notification,
    servers: list[ServeProcess],
) -> None:
    server = ServeProcess(tmp_path, "before-kill", env)
    servers.append(server)
    port = server.port

    browser = server.client()
    csrf = csrf_from(browser.get("/login").text)
    browser.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": csrf})
    sse = SSEReader(browser, "/events?after=0")
    sse.wait_for(lambda m: m.id == str(first.id))

    program_events: queue.Queue[object] = queue.Queue()
    program = StreamClient(server.base_url, token=token, after=0, backoff=0.05, max_backoff=0.3)

    def read_program() -> None:
        for event in program:
            program_events.put(event)

    threading.Thread(target=read_program, daemon=True).start()
    ws_url = server.base_url.replace("http", "ws") + f"/ws?token={token}&after=0"
    sockets = contextlib.ExitStack()
    ws = sockets.enter_context(connect(ws_url))
    assert [frame["id"] for frame in until_ready(ws)] == [first.id]

    server.kill()
    missed = [add_notification(session, f"while dead {i}") for i in range(5)]
    tick = add_tick(session, acme, 12.25)
    restarted = ServeProcess(tmp_path, "after-kill", env, port=port)
    servers.append(restarted)
    expected = [str(n.id) for n in missed]
    # The browser: EventSource reconnects with the last id it saw.
    resumed = SSEReader(browser, "/events?after=0", headers={"Last-Event-ID": str(first.id)})
    snapshot = resumed.wait_for(lambda m: 'id="tile-ACME"' in m.data)
    assert f'data-tick-id="{tick.id}"' in snapshot.data  # tiles are current
    resumed.wait_for(lambda m: m.id == expected[-1])
    assert [m.id for m in resumed.seen if m.id] == expected

    # The Python client reconnects by itself with ?after= the last id it saw.
    got: list[int] = []
    while len(got) < 1 + len(missed):
        event = program_events.get(timeout=20)
        if isinstance(event, NotificationEvent):
            got.append(event.id)
    assert got == [first.id] + [n.id for n in missed]
    program.close()

    # The WebSocket program reconnects with ?after= likewise.
    sockets.close()
    ws_url = restarted.base_url.replace("http", "ws") + f"/ws?token={token}&after={first.id}"
    with connect(ws_url) as again:
        frames = until_ready(again)
    assert [f["id"] for f in frames] == [n.id for n in missed]
    resumed.close()
    sse.close()
    browser.close()


FROZEN_REQUESTS = {
    "sse": b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n",
    "ndjson": b"GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n",
}


# The WebSocket variant is in test_ws.py: its buffers take minutes to fill on loopback.
@pytest.mark.parametrize("kind", ["sse", "ndjson"])
def test_a_client_that_stops_reading_is_cut_off_and_others_keep_up(
    settings: Settings, session: Session, kind: str
) -> None:
    from dashboard.models import Tick, utcnow
    from dashboard.web.app import create_app

    if kind != "sse" and settings.database_url.startswith("postgresql"):
        pytest.skip("the stall rule is store-independent: the SQLite run covers it")

    # Pages get ~75 bytes a price update and programs ~130: 400 instruments changing at
    # once fill the buffers in few batches (fewer took 20-40 s of CI time).
    count = 400
    instruments = [make_instrument(session, f"S{i:03d}") for i in range(count)]
    for instrument in instruments:
        add_tick(session, instrument, 1.0)
    quick = settings.model_copy(update={"sse_send_timeout": 1.0})
    server = LiveServer(lambda: create_app(quick))
    server.start()
    # A tiny receive buffer, set before connecting (so the window it offers stays small
    # too), and never a read: once the kernel's buffers are full the server's writes
    # block, and the send timeout ends it.
    frozen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    frozen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    frozen.connect(("127.0.0.1", server.port))
    try:
        frozen.sendall(FROZEN_REQUESTS[kind])
        with server.client() as client:
            healthy = SSEReader(client, "/events")
            healthy.wait_for(lambda m: f'id="tile-S{count - 1:03d}"' in m.data)
            hub = server.runtime.hub
            wait_until(lambda: hub.connection_count == 2)
            for step in range(6000):
                # Every tile changes in each batch: about 30 KB per page message and 52 KB
                # of quotes.
                now = utcnow()
                rows = [
                    {"instrument_id": i.id, "price": 2.0 + step / 100, "ts": now}
                    for i in instruments
                ]
                # Core, not the ORM: 200 ORM objects a step were most of this test's time.
                ids = session.execute(insert(Tick).returning(col(Tick.id)), rows).scalars().all()
                session.commit()
                server.runtime.price_poller.wake()
                assert ids
                newest = f"{2.0 + step / 100:,.2f}"

                def shows_newest(m: Message, price: str = newest) -> bool:
                    return m.shows_price(f"S{count - 1:03d}", price)

                if step % 20 == 0:  # the healthy page keeps up all along
                    healthy.wait_for(shows_newest)
                    healthy.seen.clear()
                if hub.connection_count == 1:
                    break
            wait_until(lambda: hub.connection_count == 1, timeout=15)  # the frozen one is gone
            metrics = client.get("/metrics").text
            assert "dashboard_stalled_streams_cut_off_total 1.0" in metrics
            add_tick(session, instruments[0], 999.0)
            healthy.wait_for(lambda m: m.shows_price("S000", "999.00"))
            print(f"frozen client cut off after {step + 1} batches")
            healthy.close()
    finally:
        frozen.close()
        server.stop()
