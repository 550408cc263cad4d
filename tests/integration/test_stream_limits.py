"""Limits on open streams per user and per address: a clear refusal, no effect on others."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import Session
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from dashboard.accounts import tokens
from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.conftest import LiveServer, wait_until
from tests.factories import make_user
from tests.ndjson import NdjsonReader


@pytest.fixture
def limited(settings: Settings) -> Iterator[LiveServer]:
    limited_settings = settings.model_copy(
        update={"max_streams_per_user": 2, "max_streams_per_address": 4}
    )
    server = LiveServer(lambda: create_app(limited_settings))
    server.start()
    yield server
    server.stop()


def token_for(session: Session, username: str) -> str:
    user = make_user(session, username)
    assert user.id is not None
    return tokens.issue(session=session, user_id=user.id, name="t")[1]


def test_one_stream_too_many_is_refused_clearly_and_others_are_not_affected(
    limited: LiveServer, session: Session
) -> None:
    # Was: no limit at all (200 streams from one address were accepted).
    alice, bob = token_for(session, "alice"), token_for(session, "bob")
    hub = limited.runtime.hub
    held = [NdjsonReader(limited, "/api/stream", token=alice) for _ in range(2)]
    wait_until(lambda: hub.streams_of(1) == 2)
    with httpx.Client(base_url=limited.base_url, timeout=10) as client:
        refused = client.get("/api/stream", headers={"Authorization": f"Bearer {alice}"})
        assert refused.status_code == 429
        assert "2 streams open, the most allowed" in refused.json()["detail"]
    # Her pages count too: one more stream is refused however it is asked for.
    browser = limited.login("alice")
    with browser.stream("GET", "/events?view=inbox") as page:
        assert page.status_code == 429
    browser.close()
    ws_url = limited.base_url.replace("http", "ws") + f"/ws?token={alice}"
    with connect(ws_url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "too many streams")
    # Bob is not affected by alice's limit.
    bobs = NdjsonReader(limited, "/api/stream", token=bob)
    assert bobs.status == 200
    # Closing one of alice's makes room again.
    held[0].close()
    wait_until(lambda: hub.streams_of(1) == 1)
    again = NdjsonReader(limited, "/api/stream", token=alice)
    assert again.status == 200
    for reader in (held[1], bobs, again):
        reader.close()


def test_the_address_limit_counts_anonymous_and_signed_in_streams_alike(
    limited: LiveServer, session: Session
) -> None:
    alice = token_for(session, "alice")
    anonymous = [NdjsonReader(limited, "/api/stream") for _ in range(3)]
    mine = NdjsonReader(limited, "/api/stream", token=alice)
    wait_until(lambda: limited.runtime.hub.streams_from("127.0.0.1") == 4)
    with httpx.Client(base_url=limited.base_url, timeout=10) as client:
        refused = client.get("/api/stream")
        assert refused.status_code == 429
        assert "Your address has 4 streams open" in refused.json()["detail"]
    for reader in (*anonymous, mine):
        reader.close()
