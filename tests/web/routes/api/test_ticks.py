from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from starlette.types import Message

from dashboard.accounts import tokens
from dashboard.models import Tick
from dashboard.settings import Settings
from dashboard.web.app import create_app
from tests.factories import make_instrument, make_user


@pytest.fixture
def admin_token(session: Session) -> str:
    admin = make_user(session, "admin", is_admin=True)
    assert admin.id is not None
    return tokens.issue(session=session, user_id=admin.id, name="feed")[1]


def test_a_token_ingests_a_json_array_and_gets_the_ids(
    client: TestClient, session: Session, admin_token: str
) -> None:
    make_instrument(session, "ACME")
    response = client.post(
        "/api/ticks",
        json=[{"symbol": "ACME", "price": 1.5}, {"symbol": "ACME", "price": 1.75}],
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert response.status_code == 200, response.text
    ids = response.json()["ids"]
    stored = session.exec(select(Tick).order_by(col(Tick.id))).all()
    assert ids == [t.id for t in stored]
    assert [t.price for t in stored] == [1.5, 1.75]


def test_ndjson_is_accepted_too(client: TestClient, session: Session, admin_token: str) -> None:
    make_instrument(session, "ACME")
    response = client.post(
        "/api/ticks",
        content=b'{"symbol": "ACME", "price": 2}\n{"symbol": "ACME", "price": 3}\n',
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200 and len(response.json()["ids"]) == 2


def test_a_batch_with_bad_items_is_refused_whole_naming_each(
    client: TestClient, session: Session, admin_token: str
) -> None:
    make_instrument(session, "ACME")
    response = client.post(
        "/api/ticks",
        content=b'[{"symbol": "ACME", "price": 1}, {"symbol": "NOPE", "price": 1},'
        b' {"symbol": "ACME", "price": -3},'
        b' {"symbol": "ACME", "price": 1, "ts": "2999-01-01T00:00:00Z"}]',
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    # Every kind of problem in one reply: the unknown symbol with the bad items (it once
    # came only after they were fixed, a second round).
    assert [(d["index"], d["symbol"]) for d in detail] == [(1, "NOPE"), (2, "ACME"), (3, "ACME")]
    assert detail[0]["error"].startswith("unknown symbol (1 item(s) of this symbol)")
    assert [d["error"] for d in detail[1:]] == [
        "price must be a finite number above 0",
        "ts is too far in the future (more than 5 minutes ahead of the server's clock)",
    ]
    assert session.exec(select(Tick)).all() == []
    unknown = client.post(
        "/api/ticks",
        json=[{"symbol": "ACME", "price": 1}, {"symbol": "NOPE", "price": 1}],
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert unknown.status_code == 422
    (detail,) = unknown.json()["detail"]
    assert (detail["index"], detail["symbol"]) == (1, "NOPE")
    assert detail["error"].startswith("unknown symbol (1 item(s) of this symbol)")
    assert session.exec(select(Tick)).all() == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"symbol": "ACME"}', b"\xff\xfe", b"[" + b'{"price":1},' * 10_001 + b"{}]"],
)
def test_unreadable_bodies_are_a_clear_422(
    client: TestClient, session: Session, admin_token: str, body: bytes
) -> None:
    response = client.post(
        "/api/ticks",
        content=body,
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"]


def test_the_ingest_body_limit_is_the_setting(
    settings: Settings, session: Session, admin_token: str
) -> None:
    make_instrument(session, "ACME")
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    with TestClient(create_app(settings.model_copy(update={"max_ingest_bytes": 3_000_000}))) as c:
        # Over the 2 MB the route used to refuse on its own account, under the setting.
        padded = b'[{"symbol": "ACME", "price": 1}' + b" " * 2_500_000 + b"]"
        taken = c.post("/api/ticks", content=padded, headers=headers)
        assert taken.status_code == 200, taken.text
        assert len(taken.json()["ids"]) == 1

        declared = c.post("/api/ticks", content=b" " * 3_000_001, headers=headers)
        assert declared.status_code == 413
        assert "larger than 3,000,000 bytes" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(4):
                yield b" " * 1_000_000

        streamed = c.post("/api/ticks", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        assert "larger than 3,000,000 bytes" in streamed.json()["detail"]
    assert len(session.exec(select(Tick)).all()) == 1


def test_who_may_ingest(
    client: TestClient, session: Session, login_as: Callable[[str], str]
) -> None:
    make_instrument(session, "ACME")
    body = [{"symbol": "ACME", "price": 1}]
    assert client.post("/api/ticks", json=body).status_code == 401
    bad = client.post("/api/ticks", json=body, headers={"Authorization": "Bearer dash_nope"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    alice = make_user(session, "alice")
    assert alice.id is not None
    alice_token = tokens.issue(session=session, user_id=alice.id, name="x")[1]
    assert (
        client.post(
            "/api/ticks", json=body, headers={"Authorization": f"Bearer {alice_token}"}
        ).status_code
        == 403
    )
    make_user(session, "admin", is_admin=True)
    csrf = login_as("admin")
    assert client.post("/api/ticks", json=body).status_code == 403  # session without CSRF
    ok = client.post("/api/ticks", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200
    assert len(session.exec(select(Tick)).all()) == 1


def test_a_feed_token_writes_ticks_and_nothing_else(client: TestClient, session: Session) -> None:
    # A feed handler's host holds a token that can write prices, not read anyone's inbox
    # nor act as its (non-admin) user anywhere else.
    make_instrument(session, "ACME")
    feeder = make_user(session, "feeder")
    assert feeder.id is not None
    feed_token = tokens.issue(session=session, user_id=feeder.id, name="feed", scope="feed")[1]
    auth = {"Authorization": f"Bearer {feed_token}"}
    written = client.post("/api/ticks", json=[{"symbol": "ACME", "price": 2}], headers=auth)
    assert written.status_code == 200, written.text
    assert [t.price for t in session.exec(select(Tick)).all()] == [2]
    assert client.get("/api/notifications", headers=auth).status_code == 401
    assert client.post("/api/instruments", json={"symbol": "NEW"}, headers=auth).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b'[{"symbol": "ACME", "price": 1' + b"0" * 400 + b"}]",  # a number no float holds
        b"[" * 100_000,  # nested past the parser's recursion limit
    ],
)
def test_regression_extreme_bodies_are_a_422_not_a_500(
    client: TestClient, session: Session, admin_token: str, body: bytes
) -> None:
    # Found in review: OverflowError and RecursionError escaped as 500s.
    make_instrument(session, "ACME")
    response = client.post(
        "/api/ticks",
        content=body,
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert session.exec(select(Tick)).all() == []


def test_csv_is_accepted_and_its_errors_name_lines(
    client: TestClient, session: Session, admin_token: str
) -> None:
    make_instrument(session, "ACME")
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "text/csv"}
    body = "Symbol;Price;Date\nACME;1,5;2026-11-01\nACME;2,25;2026-11-02\n"
    written = client.post("/api/ticks", content=body, headers=headers)
    assert written.status_code == 200, written.text
    prices = session.exec(select(Tick.price).order_by(col(Tick.id))).all()
    assert list(prices) == [1.5, 2.25]
    bad = client.post("/api/ticks", content="symbol,price\nACME,1\nACME,x\n", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"] == [
        {"index": 1, "symbol": "ACME", "error": "price must be a number", "line": 3}
    ]


def test_regression_a_csv_body_is_read_with_the_options_a_file_has(
    client: TestClient, session: Session, admin_token: str
) -> None:
    # Was: no way to say a body's columns, symbol or time zone, so a single-series or
    # header-less CSV could not be posted at all ("symbol is missing" on every row), and
    # the errors told the caller to use command-line flags.
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "text/csv"}
    german = "\ufeffDatum;Kurs;Volumen\n02.01.2024;121,72;2921077\n03.01.2024;120,10;100\n"
    refused = client.post("/api/ticks", content=german.encode(), headers=headers)
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "no price column" in detail and "price_column=" in detail
    assert "--" not in detail
    query = {
        "symbol": "SAP",
        "price_column": "Kurs",
        "time_column": "Datum",
        "tz": "Europe/Berlin",
        "create_missing": "true",
    }
    written = client.post("/api/ticks", params=query, content=german.encode(), headers=headers)
    assert written.status_code == 200, written.text
    stored = session.exec(select(Tick.price, Tick.ts).order_by(col(Tick.id))).all()
    assert [(price, ts.date().isoformat()) for price, ts in stored] == [
        (121.72, "2024-01-02"),
        (120.10, "2024-01-03"),
    ]
    headerless = "1733500000123,ETHUSD,3901.53\n1733500000456,ETHUSD,3902.5\n"
    by_position = {"time_column": "1", "symbol_column": "2", "price_column": "3"}
    answer = client.post(
        "/api/ticks",
        params={**by_position, "create_missing": "true"},
        content=headerless,
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    for name in ("Mars/Olympus", "America"):  # "America" is a directory: was a 500
        zone = client.post("/api/ticks", params={"tz": name}, content="x", headers=headers)
        assert zone.status_code == 422 and "unknown time zone" in zone.text
    anonymous = client.post("/api/ticks", params={"tz": "America"}, content="x")
    assert anonymous.status_code == 401  # the caller first, then the query
    blank = client.post(
        "/api/ticks", params={"symbol": ""}, content="symbol,price\nSAP,3\n", headers=headers
    )
    assert blank.status_code == 200, blank.text  # a blank symbol= is none
    naive = client.post(
        "/api/ticks", content="symbol,price,ts\nSAP,1,2024-01-02 09:30\n", headers=headers
    )
    assert naive.status_code == 422
    assert "(tz=)" in naive.json()["detail"][0]["error"]


@pytest.mark.parametrize("body", ["\r0", 'symbol,price\n"ACME,1\n', "\x00"])
def test_regression_text_that_is_not_csv_is_a_422_not_a_500(
    client: TestClient, admin_token: str, body: str
) -> None:
    # Found by the schema fuzzer: "\r0" as text/csv raised csv.Error inside the route.
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "text/csv"}
    answer = client.post("/api/ticks", content=body, headers=headers)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    "length_header",
    [[(b"content-length", b"10000000")], [(b"transfer-encoding", b"chunked")]],
    ids=["a big body", "a body of unannounced size"],
)
def test_an_unknown_caller_is_refused_before_a_big_body_is_read(
    app: FastAPI, length_header: list[tuple[bytes, bytes]]
) -> None:
    # Bodies of a usual size are read first and checked with the write, in one hop to a
    # worker thread; a caller may not make the server read megabytes before its 401.
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the body was read before the caller was checked")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/ticks",
        "raw_path": b"/api/ticks",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", b"Bearer dash_nope")]
        + length_header,
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    with TestClient(app):  # the lifespan: the app's runtime and store
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 401


def test_a_small_body_from_an_unknown_caller_is_refused_and_nothing_is_written(
    client: TestClient, session: Session, admin_token: str
) -> None:
    make_instrument(session, "ACME")
    body = [{"symbol": "ACME", "price": 1}]
    for token in ("dash_nope", admin_token + "x"):
        refused = client.post("/api/ticks", json=body, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
    # Neither an unknown symbol nor an unreadable body is looked at before the caller is.
    unknown = client.post(
        "/api/ticks",
        json=[{"symbol": "NOPE", "price": 1}],
        headers={"Authorization": "Bearer dash_nope"},
    )
    assert unknown.status_code == 401
    unreadable = client.post(
        "/api/ticks",
        content=b"\xff[{not json",
        headers={"Authorization": "Bearer dash_nope", "Content-Type": "application/json"},
    )
    assert unreadable.status_code == 401
    assert session.exec(select(Tick)).all() == []
