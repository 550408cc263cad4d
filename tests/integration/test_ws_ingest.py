"""``WS /ws/ingest``: a feed handler streams ticks in over one socket, against a real uvicorn."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, col, select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from dashboard.accounts import tokens
from dashboard.models import ApiToken, Instrument, Tick
from dashboard.prices import ingest
from dashboard.runtime import Runtime
from dashboard.settings import Settings
from dashboard.web.app import create_app
from dashboard.web.routes import ws_ingest
from tests.conftest import LiveServer, wait_until
from tests.factories import make_instrument, make_user


def ingest_url(server: LiveServer, query: str = "") -> str:
    return server.base_url.replace("http://", "ws://") + "/ws/ingest" + query


def feed_socket(server: LiveServer, token: str, query: str = "") -> ClientConnection:
    """An ingest socket that sends ``token`` as ``Authorization: Bearer``."""
    return connect(
        ingest_url(server, query), additional_headers={"Authorization": f"Bearer {token}"}
    )


def feed_token(session: Session, *, scope: str = "feed", admin: bool = False) -> tuple[str, int]:
    user = make_user(session, f"feeder-{scope}-{admin}", is_admin=admin)
    assert user.id is not None
    row, token = tokens.issue(session=session, user_id=user.id, name="feed", scope=scope)
    assert row.id is not None
    return token, row.id


def reply(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(ws.recv(timeout=10))
    assert isinstance(message, dict)
    return message


def closed_with(ws: ClientConnection) -> tuple[int | None, str | None]:
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def stored(session: Session) -> list[tuple[int, float]]:
    session.expire_all()
    return [(t.id or 0, t.price) for t in session.exec(select(Tick).order_by(col(Tick.id))).all()]


def test_pipelined_messages_are_acked_in_order_with_their_tick_ids_and_reach_the_tiles(
    live_server: LiveServer, session: Session
) -> None:
    make_instrument(session, "ACME")
    make_instrument(session, "GLBX")
    token, _ = feed_token(session)
    with feed_socket(live_server, token) as ws:
        # Three shapes, sent before any ack is read: the server answers each, in order.
        ws.send(json.dumps([{"symbol": "ACME", "price": 10.5}, {"symbol": "GLBX", "price": 3}]))
        ws.send(json.dumps({"symbol": "ACME", "price": 11, "ts": "2026-11-29T10:00:00Z"}))
        ws.send('{"symbol": "GLBX", "price": 4}\n{"symbol": "GLBX", "price": 5}\n')
        acks = [reply(ws) for _ in range(3)]
    assert [a["ack"] for a in acks] == [1, 2, 3]
    ids = [i for a in acks for i in a["ids"]]
    assert [len(a["ids"]) for a in acks] == [2, 1, 2]
    assert stored(session) == list(zip(ids, [10.5, 3, 11, 4, 5], strict=True))
    # 11 is older by event time than 10.5 (sent "now"): the tile keeps the newest, 10.5.
    wait_until(lambda: _tile_prices(live_server) == {"ACME": 10.5, "GLBX": 5})


def _tile_prices(server: LiveServer) -> dict[str, float | None]:
    return {t.symbol: t.price for t in server.runtime.price_poller.tiles()}


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ("{not json", "not JSON"),
        ('[{"symbol": "ACME"}]', "price"),
        ('[{"symbol": "ACME", "price": -1}]', "price"),
        ('[{"symbol": "NOPE", "price": 1}]', "unknown"),
        ('[{"symbol": "ACME", "price": 1, "ts": "2999-01-01T00:00:00Z"}]', "future"),
        ("[]", "no tick"),
        ('[{"symbol": "ACME", "price": ', "unreadable"),
    ],
)
def test_a_bad_message_gets_an_error_nothing_of_it_is_written_and_the_socket_goes_on(
    live_server: LiveServer, session: Session, sent: str, error: str
) -> None:
    make_instrument(session, "ACME")
    token, _ = feed_token(session)
    with feed_socket(live_server, token) as ws:
        ws.send(json.dumps([{"symbol": "ACME", "price": 1}]))
        ws.send(sent)
        ws.send(json.dumps([{"symbol": "ACME", "price": 3}]))
        first, bad, last = reply(ws), reply(ws), reply(ws)
    assert first["ack"] == 1 and last["ack"] == 3
    assert bad["error"] == 2 and error in json.dumps(bad["errors"]), bad
    assert [price for _id, price in stored(session)] == [1, 3]


def test_one_error_names_every_kind_of_problem_of_a_message(
    live_server: LiveServer, session: Session
) -> None:
    make_instrument(session, "ACME")
    token, _ = feed_token(session, scope="all", admin=True)
    sent = json.dumps(
        [{"symbol": "NOPE", "price": 1}, {"symbol": "ACME", "price": "x"}, {"symbol": "NOPE"}]
    )
    with feed_socket(live_server, token) as ws:
        ws.send(sent)
        errors = reply(ws)["errors"]
    # The unknown symbol is named with the bad items, not in a second round once they are
    # fixed; it is named once, where it is first given, counting the good items naming it.
    assert [(e["index"], e["symbol"]) for e in errors] == [(0, "NOPE"), (1, "ACME"), (2, "NOPE")]
    assert errors[0]["error"].startswith("unknown symbol (1 item(s) of this symbol)")
    assert [e["error"] for e in errors[1:]] == ["price must be a number", "price is missing"]
    with feed_socket(live_server, token, "?create_missing=true") as ws:
        ws.send(sent)
        errors = reply(ws)["errors"]
    # Adding the missing instruments, a bad item is the only problem; nothing is added.
    assert [e["index"] for e in errors] == [1, 2]
    session.expire_all()
    assert session.exec(select(Instrument).where(Instrument.symbol == "NOPE")).first() is None
    assert stored(session) == []


def test_create_missing_adds_the_instrument_with_decimals_from_the_data(
    live_server: LiveServer, session: Session
) -> None:
    token, _ = feed_token(session, scope="all", admin=True)
    with feed_socket(live_server, token, "?create_missing=true") as ws:
        ws.send(json.dumps([{"symbol": "NEWCO", "price": 12.345}]))
        assert "ack" in reply(ws)
    session.expire_all()
    created = session.exec(select(Instrument).where(Instrument.symbol == "NEWCO")).one()
    assert created.decimals == 3 and not created.simulated


def test_the_token_may_come_as_a_subprotocol_for_browsers(
    live_server: LiveServer, session: Session
) -> None:
    make_instrument(session, "ACME")
    token, _ = feed_token(session)
    offered = [Subprotocol("dashboard-ingest"), Subprotocol(f"bearer.{token}")]
    with connect(ingest_url(live_server), subprotocols=offered) as ws:
        assert ws.subprotocol == "dashboard-ingest"
        ws.send(json.dumps({"symbol": "ACME", "price": 2}))
        assert "ack" in reply(ws)


@pytest.fixture
def user_tokens(session: Session) -> Iterator[dict[str, str]]:
    plain = make_user(session, "plain")
    assert plain.id is not None
    yield {
        "none": "",
        "wrong": "dash_nope",
        "a non-admin's full token": tokens.issue(session=session, user_id=plain.id, name="p")[1],
    }


@pytest.mark.parametrize(
    ("who", "reason"),
    [
        ("none", "token required"),
        ("wrong", "invalid token"),
        ("a non-admin's full token", "token may not write ticks"),
    ],
)
def test_without_a_token_that_may_feed_the_socket_closes_1008_and_nothing_is_written(
    live_server: LiveServer,
    session: Session,
    user_tokens: dict[str, str],
    who: str,
    reason: str,
) -> None:
    make_instrument(session, "ACME")
    headers = {"Authorization": f"Bearer {user_tokens[who]}"} if user_tokens[who] else {}
    with connect(ingest_url(live_server), additional_headers=headers) as ws:
        assert closed_with(ws) == (1008, reason)
    assert stored(session) == []


def test_a_revoked_token_writes_nothing_more_and_its_socket_closes(
    live_server: LiveServer, session: Session
) -> None:
    make_instrument(session, "ACME")
    token, token_id = feed_token(session)
    with feed_socket(live_server, token) as ws:
        ws.send(json.dumps({"symbol": "ACME", "price": 1}))
        assert "ack" in reply(ws)
        row = session.get(ApiToken, token_id)
        assert row is not None
        assert tokens.revoke(session=session, user_id=row.user_id, token_id=token_id)
        ws.send(json.dumps({"symbol": "ACME", "price": 2}))
        assert closed_with(ws) == (1008, "revoked")
    assert [price for _id, price in stored(session)] == [1]


def test_an_idle_socket_closes_soon_after_its_token_is_revoked(
    live_server: LiveServer, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_ingest, "IDLE_CHECK_SECONDS", 0.1)
    make_instrument(session, "ACME")
    token, token_id = feed_token(session)
    with feed_socket(live_server, token) as ws:
        ws.send(json.dumps({"symbol": "ACME", "price": 1}))
        assert "ack" in reply(ws)  # the socket is past its token check
        row = session.get(ApiToken, token_id)
        assert row is not None
        tokens.revoke(session=session, user_id=row.user_id, token_id=token_id)
        assert closed_with(ws) == (1008, "revoked")  # within IDLE_CHECK_SECONDS


def test_a_message_over_the_ingest_limit_closes_1009_and_is_not_written(
    settings: Settings, session: Session
) -> None:
    make_instrument(session, "ACME")
    token, _ = feed_token(session)
    small = settings.model_copy(update={"max_ingest_bytes": 2048})
    server = LiveServer(lambda: create_app(small))
    server.start()
    try:
        with feed_socket(server, token) as ws:
            ws.send(json.dumps([{"symbol": "ACME", "price": 1}]))
            assert "ack" in reply(ws)
            ws.send(json.dumps([{"symbol": "ACME", "price": 2}] * 100))
            assert closed_with(ws) == (1009, "message too large")
    finally:
        server.stop()
    assert [price for _id, price in stored(session)] == [1]


def test_binary_frames_are_read_as_utf_8_text(live_server: LiveServer, session: Session) -> None:
    make_instrument(session, "ACME")
    token, _ = feed_token(session)
    with feed_socket(live_server, token) as ws:
        ws.send(json.dumps([{"symbol": "ACME", "price": 4.5}]).encode())
        assert "ack" in reply(ws)
    assert [price for _id, price in stored(session)] == [4.5]


def test_an_idle_socket_with_a_live_token_stays_open_and_writes_after(
    live_server: LiveServer, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_ingest, "IDLE_CHECK_SECONDS", 0.05)
    checks: list[bool] = []
    real_check = ws_ingest._token_is_live

    def counted(runtime: Runtime, token_id: int) -> bool:
        checks.append(real_check(runtime, token_id))
        return checks[-1]

    monkeypatch.setattr(ws_ingest, "_token_is_live", counted)
    make_instrument(session, "ACME")
    token, _ = feed_token(session)
    with feed_socket(live_server, token) as ws:
        ws.send(json.dumps({"symbol": "ACME", "price": 1}))
        assert "ack" in reply(ws)
        wait_until(lambda: len(checks) >= 3)  # idle checks, each finding the token live
        assert all(checks)
        ws.send(json.dumps({"symbol": "ACME", "price": 2}))
        assert "ack" in reply(ws)
    assert [price for _id, price in stored(session)] == [1, 2]


def test_a_store_failure_closes_1011_and_is_logged(
    live_server: LiveServer,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_instrument(session, "ACME")
    token, _ = feed_token(session)

    def broken(**_kwargs: object) -> list[int]:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ingest, "write", broken)
    with feed_socket(live_server, token) as ws:
        ws.send(json.dumps({"symbol": "ACME", "price": 1}))
        assert closed_with(ws) == (1011, "error")
    assert any("ingest socket of feeder-feed-False failed" in r.message for r in caplog.records)
    assert stored(session) == []


def test_shutdown_closes_the_socket_with_1012(settings: Settings, session: Session) -> None:
    make_instrument(session, "ACME")
    token, _ = feed_token(session)
    server = LiveServer(lambda: create_app(settings))
    server.start()
    try:
        with feed_socket(server, token) as ws:
            ws.send(json.dumps({"symbol": "ACME", "price": 1}))
            assert "ack" in reply(ws)
            server.stop()
            code, _reason = closed_with(ws)
            assert code == 1012
    finally:
        server.stop()
