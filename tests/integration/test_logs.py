"""What ``dashboard serve`` writes to its log: never a credential."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from dashboard.accounts import tokens
from tests.factories import make_user
from tests.servers import ServeProcess
from tests.ws_client import until_ready


def test_regression_no_api_token_reaches_the_log_whichever_way_it_came_in(
    tmp_path: Path, database_url: str, session: Session
) -> None:
    # Was: every "WebSocket /ws?token=…" line of the ASGI server held the token, wrong
    # ones included.
    alice = make_user(session, "alice")
    assert alice.id is not None
    good = tokens.issue(session=session, user_id=alice.id, name="bot")[1]
    wrong = "dash_" + "x" * 43
    server = ServeProcess(
        tmp_path, "logs", {"DASHBOARD_DATABASE_URL": database_url, "DASHBOARD_LOG_LEVEL": "debug"}
    )
    ws_base = server.base_url.replace("http", "ws")
    try:
        for secret in (good, wrong):
            # Each way a socket can bring its token: query, header, subprotocol.
            ways = [
                connect(f"{ws_base}/ws?token={secret}&after=0"),
                connect(f"{ws_base}/ws", additional_headers={"Authorization": f"Bearer {secret}"}),
                connect(
                    f"{ws_base}/ws",
                    subprotocols=[Subprotocol("dashboard"), Subprotocol(f"bearer.{secret}")],
                ),
            ]
            for way in ways:
                with way as ws:
                    if secret == good:
                        until_ready(ws)
                    else:
                        with pytest.raises(ConnectionClosed):
                            ws.recv(timeout=10)
        with server.client() as client:
            headers = {"Authorization": f"Bearer {good}"}
            assert client.get("/api/notifications", headers=headers).status_code == 200
            refused = client.get(
                f"/api/notifications?token={wrong}", headers={"Authorization": f"Bearer {wrong}"}
            )
            assert refused.status_code == 401
            with client.stream("GET", "/api/stream", headers=headers) as stream:
                assert stream.status_code == 200
    finally:
        server.stop()
    log = server.log.read_text()
    assert "/ws?[redacted]" in log  # the ASGI server's own lines are there, redacted
    for secret in (good, wrong, good[:20], wrong[:20]):
        assert secret not in log
