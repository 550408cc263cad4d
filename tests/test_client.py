"""The stream client without a server: parsing, the cursor, backoff, and what refusals mean.

Where the reconnect loop itself is exercised, httpx's MockTransport answers instead of a
server (patched into the ``httpx.Client`` the client makes).
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from dashboard import client as client_module
from dashboard.client import StreamClient, StreamRefused, parse_line
from dashboard.live import wire

WHEN = datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)


def note(notification_id: int, *, read: bool = False) -> wire.NotificationEvent:
    return wire.NotificationEvent(
        id=notification_id,
        title=f"n{notification_id}",
        body="",
        severity="info",
        created_at=WHEN,
        link=None,
        read=read,
    )


PRICE = wire.PriceEvent(symbol="ACME", price=10.5, ts=WHEN, tick_id=3, stale=False)


# parse_line


@pytest.mark.parametrize("line", ["", "   ", "\t", b"", b"  "])
def test_a_blank_line_is_a_keepalive(line: str | bytes) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    "event",
    [
        PRICE,
        note(7, read=True),
        wire.UnreadEvent(count=2, version="3.7", read=(5,), archived=(6,)),
        wire.ReadyEvent(after=7),
        wire.ReadyEvent(after=None),
        wire.EndEvent(reason="overflow"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_each_wire_line_parses_to_its_object_from_text_or_bytes(event: wire.WireEvent) -> None:
    encoded = wire.encode(event)
    assert parse_line(encoded) == event
    assert parse_line(encoded.decode()) == event
    assert parse_line(encoded + b"\n") == event


def test_a_line_of_an_unknown_type_is_skipped() -> None:
    assert parse_line('{"type":"from-a-newer-server","x":1}') is None
    assert parse_line(b'{"no_type":true}') is None


# StreamClient._accept


def test_notifications_move_the_cursor_and_repeats_are_dropped() -> None:
    stream = StreamClient("http://example.invalid")
    assert stream._accept(note(5)) == note(5)
    assert stream.after == 5
    assert stream._accept(note(5)) is None  # a replay racing live
    assert stream._accept(note(3)) is None
    assert stream.after == 5
    assert stream._accept(note(9)) == note(9)
    assert stream.after == 9


def test_a_given_cursor_drops_what_came_before_it() -> None:
    stream = StreamClient("http://example.invalid", after=10)
    assert stream._accept(note(10)) is None
    assert stream._accept(note(11)) == note(11)


def test_ready_sets_the_cursor_only_when_there_is_none() -> None:
    fresh = StreamClient("http://example.invalid")
    assert fresh._accept(wire.ReadyEvent(after=4)) is None
    assert fresh.after == 4
    assert fresh._accept(wire.ReadyEvent(after=8)) is None
    assert fresh.after == 4  # the client's own cursor stands
    anonymous = StreamClient("http://example.invalid")
    assert anonymous._accept(wire.ReadyEvent(after=None)) is None
    assert anonymous.after is None


def test_prices_pass_and_everything_else_is_not_an_event() -> None:
    stream = StreamClient("http://example.invalid", after=2)
    assert stream._accept(PRICE) is PRICE
    for other in (
        wire.UnreadEvent(count=0, version="1.2"),
        wire.EndEvent(reason="shutdown"),
        wire.PongEvent(),
        None,
    ):
        assert stream._accept(other) is None
    assert stream.after == 2


# StreamClient._delay


@pytest.mark.parametrize(
    ("attempt", "base"),
    [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (50, 30.0)],
)
def test_the_backoff_doubles_up_to_its_cap_with_30_percent_jitter(
    monkeypatch: pytest.MonkeyPatch, attempt: int, base: float
) -> None:
    stream = StreamClient("http://example.invalid", backoff=0.5, max_backoff=30.0)
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert stream._delay(attempt) == pytest.approx(base * 0.7)
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert stream._delay(attempt) == pytest.approx(base * 1.3)


def test_the_jittered_backoff_stays_within_its_bounds() -> None:
    stream = StreamClient("http://example.invalid", backoff=1.0, max_backoff=4.0)
    delays = [stream._delay(attempt) for attempt in range(1, 10) for _ in range(50)]
    assert all(0.7 <= d <= 4.0 * 1.3 for d in delays)
    assert max(delays) > 4.0  # the cap is jittered too
    assert len(set(delays)) > 1


# StreamClient._failure


def answer(status: int, body: bytes) -> httpx.Response:
    return httpx.Response(status, content=body, request=httpx.Request("GET", "http://x/api/stream"))


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (401, b'{"detail": "Invalid or revoked API token."}', "Invalid or revoked API token."),
        (403, b'{"detail": "This needs an administrator."}', "This needs an administrator."),
        (404, b"<html>Not Found</html>", "<html>Not Found</html>"),
        (422, b'{"detail": [{"msg": "bad"}]}', "[{'msg': 'bad'}]"),
        (401, b"", ""),
    ],
)
def test_refusals_for_good_carry_the_status_and_detail(
    status: int, body: bytes, detail: str
) -> None:
    failure = StreamClient._failure(answer(status, body), body)
    assert isinstance(failure, StreamRefused)
    assert (failure.status_code, failure.detail) == (status, detail)
    assert str(failure) == f"{status}: {detail}"


def test_a_refusal_whose_json_is_not_an_object_is_still_a_refusal() -> None:
    # A proxy in front may answer a JSON list or string; that is a refusal all the same.
    body = b'["not", "an object"]'
    failure = StreamClient._failure(answer(404, body), body)
    assert isinstance(failure, StreamRefused) and failure.status_code == 404


@pytest.mark.parametrize("status", [400, 429, 500, 502, 503])
def test_other_answers_are_worth_another_try(status: int) -> None:
    response = answer(status, b'{"detail": "later"}')
    failure = StreamClient._failure(response, b'{"detail": "later"}')
    assert isinstance(failure, httpx.HTTPStatusError)
    assert failure.response is response and str(failure) == f"status {status}"


# The request


def test_the_request_carries_symbols_cursor_and_token() -> None:
    stream = StreamClient(
        "http://example.invalid/", token="dash_t", symbols=["BTC-USD", "ACME"], after=0
    )
    url, params, headers = stream._request()
    assert url == "http://example.invalid/api/stream"
    assert params == {"symbols": "BTC-USD,ACME", "after": "0"}
    assert headers == {"Accept": "application/x-ndjson", "Authorization": "Bearer dash_t"}
    assert StreamClient("http://h")._request() == (
        "http://h/api/stream",
        {},
        {"Accept": "application/x-ndjson"},
    )


# The reconnect loop, against a MockTransport


Handler = Callable[[httpx.Request], httpx.Response]


def ndjson(*events: wire.WireEvent | str) -> bytes:
    lines = [e if isinstance(e, str) else wire.encode(e).decode() for e in events]
    return ("\n".join(lines) + "\n").encode()


def scripted_server(answers: list[httpx.Response]) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if not answers:
            raise AssertionError("the client asked once too often")
        return answers.pop(0)

    return handle, seen


def serve(monkeypatch: pytest.MonkeyPatch, handler: Handler) -> None:
    transport = httpx.MockTransport(handler)
    monkeypatch.setattr(httpx, "Client", functools.partial(httpx.Client, transport=transport))
    monkeypatch.setattr(
        httpx, "AsyncClient", functools.partial(httpx.AsyncClient, transport=transport)
    )


def stream_answers() -> list[httpx.Response]:
    """A restart (503), then one stream, then a revoked token (401)."""
    return [
        httpx.Response(503, text="restarting"),
        httpx.Response(
            200,
            content=ndjson(
                wire.ReadyEvent(after=4),
                note(5),
                PRICE,
                "",
                note(5),
                '{"type":"from-the-future"}',
                wire.UnreadEvent(count=1, version="1.6"),
                note(6),
                wire.EndEvent(reason="shutdown"),
            ),
        ),
        httpx.Response(401, json={"detail": "Invalid or revoked API token."}),
    ]


def check_requests(seen: list[httpx.Request]) -> None:
    assert [dict(r.url.params) for r in seen] == [
        {"symbols": "ACME"},
        {"symbols": "ACME"},
        {"symbols": "ACME", "after": "6"},  # resumes after the newest it yielded
    ]
    assert all(r.headers["authorization"] == "Bearer dash_t" for r in seen)


def test_the_client_retries_yields_each_event_once_resumes_and_stops_when_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, seen = scripted_server(stream_answers())
    serve(monkeypatch, handler)
    stream = StreamClient("http://example.invalid", token="dash_t", symbols=["ACME"], backoff=0)
    events: list[client_module.Event] = []
    with pytest.raises(StreamRefused) as refused:
        for event in stream:
            events.append(event)
    assert events == [note(5), PRICE, note(6)]
    assert (refused.value.status_code, refused.value.detail) == (
        401,
        "Invalid or revoked API token.",
    )
    assert stream.connections == 1 and stream.after == 6
    check_requests(seen)


def test_the_async_client_does_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    handler, seen = scripted_server(stream_answers())
    serve(monkeypatch, handler)
    stream = StreamClient("http://example.invalid", token="dash_t", symbols=["ACME"], backoff=0)
    events: list[client_module.Event] = []

    async def consume() -> None:
        async for event in stream:
            events.append(event)

    with pytest.raises(StreamRefused):
        asyncio.run(consume())
    assert events == [note(5), PRICE, note(6)]
    assert stream.connections == 1 and stream.after == 6
    check_requests(seen)


def test_a_closed_client_stops_at_the_next_line_without_reconnecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, seen = scripted_server(
        [httpx.Response(200, content=ndjson(note(1), note(2), note(3)))]
    )
    serve(monkeypatch, handler)
    stream = StreamClient("http://example.invalid", backoff=0)
    events = []
    for event in stream:
        events.append(event)
        stream.close()
    assert events == [note(1)] and len(seen) == 1


def test_a_client_closed_before_it_starts_asks_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    handler, seen = scripted_server([])
    serve(monkeypatch, handler)
    stream = StreamClient("http://example.invalid")
    stream.close()
    assert list(stream) == []

    async def consume() -> list[client_module.Event]:
        return [event async for event in stream]

    assert asyncio.run(consume()) == []
    assert seen == [] and stream.connections == 0


def test_the_refusal_detail_is_the_servers_json_detail(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"detail": "Unknown symbols: NOPE."}
    handler, _ = scripted_server([httpx.Response(422, content=json.dumps(body).encode())])
    serve(monkeypatch, handler)
    with pytest.raises(StreamRefused, match=r"^422: Unknown symbols: NOPE\.$"):
        list(StreamClient("http://example.invalid", symbols=["NOPE"]))
