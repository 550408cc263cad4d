"""The stream client without a server: parsing, the cursor, backoff, what refusals mean,
and the connection statuses it reports (tests/integration/test_program_honesty.py has them
against real sockets).

Where the reconnect loop itself is exercised, httpx's MockTransport answers instead of a
server (patched into the ``httpx.Client`` the client makes).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from dashboard import client as client_module
from dashboard.client import (
    DEFAULT_KEEPALIVE_INTERVAL,
    StreamClient,
    StreamRefused,
    StreamStatus,
    parse_line,
)
from dashboard.live import wire
from dashboard.settings import Settings

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


def check_statuses(statuses: list[StreamStatus], stream: StreamClient) -> None:
    """Each change told once, in order: the 503, the connection, its end, the refusal."""
    assert [(s.state, s.problem, s.reason, s.attempt) for s in statuses] == [
        ("retrying", "http-error", "HTTP 503 Service Unavailable", 2),
        ("connected", None, None, 2),
        ("retrying", "ended", "shutdown", 1),
        ("closed", "refused", "401: Invalid or revoked API token.", 0),
    ]
    assert re.fullmatch(
        r"connected to http://example\.invalid after [\d.]+ s \(attempt 2\)", statuses[1].message
    )
    assert [s.message for i, s in enumerate(statuses) if i != 1] == [
        "http://example.invalid answered HTTP 503 Service Unavailable; retrying in 0 s (attempt 2)",
        "http://example.invalid ended the stream: shutdown; reconnecting in 0 s (attempt 1)",
        "http://example.invalid refused the stream (401: Invalid or revoked API token.); "
        "not retrying",
    ]
    assert statuses[1].connected and not statuses[1].reconnected
    assert stream.status is statuses[-1]


def test_the_client_retries_yields_each_event_once_resumes_and_stops_when_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, seen = scripted_server(stream_answers())
    serve(monkeypatch, handler)
    statuses: list[StreamStatus] = []
    stream = StreamClient(
        "http://example.invalid",
        token="dash_t",
        symbols=["ACME"],
        backoff=0,
        on_status=statuses.append,
    )
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
    check_statuses(statuses, stream)


def test_the_async_client_does_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    handler, seen = scripted_server(stream_answers())
    serve(monkeypatch, handler)
    statuses: list[StreamStatus] = []
    stream = StreamClient(
        "http://example.invalid",
        token="dash_t",
        symbols=["ACME"],
        backoff=0,
        on_status=statuses.append,
    )
    events: list[client_module.Event] = []

    async def consume() -> None:
        async for event in stream:
            events.append(event)

    with pytest.raises(StreamRefused):
        asyncio.run(consume())
    assert events == [note(5), PRICE, note(6)]
    assert stream.connections == 1 and stream.after == 6
    check_requests(seen)
    check_statuses(statuses, stream)


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


# Connection statuses


def status(**fields: object) -> StreamStatus:
    return StreamStatus(url="http://127.0.0.1:8000", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"state": "connecting"}, "connecting to http://127.0.0.1:8000"),
        ({"state": "connected", "attempt": 1}, "connected to http://127.0.0.1:8000"),
        (
            {"state": "connected", "attempt": 3, "down_for": 1.26},
            "connected to http://127.0.0.1:8000 after 1.3 s (attempt 3)",
        ),
        (
            {"state": "connected", "attempt": 1, "down_for": 0.05, "reconnected": True},
            "connected to http://127.0.0.1:8000 again after 0.05 s (attempt 1)",
        ),
        (
            {
                "state": "retrying",
                "attempt": 2,
                "problem": "unreachable",
                "reason": "connection refused",
                "retry_in": 1.04,
            },
            "cannot reach http://127.0.0.1:8000: connection refused; retrying in 1 s (attempt 2)",
        ),
        (
            {
                "state": "retrying",
                "attempt": 5,
                "problem": "unreachable",
                "reason": "no answer within 3 s",
                "retry_in": 10.4,
            },
            "cannot reach http://127.0.0.1:8000: no answer within 3 s; retrying in 10 s "
            "(attempt 5)",
        ),
        (
            {
                "state": "retrying",
                "attempt": 2,
                "problem": "no-response",
                "reason": "no response within 30 s",
                "retry_in": 0.5,
            },
            "no answer from http://127.0.0.1:8000: no response within 30 s; retrying in 0.5 s "
            "(attempt 2)",
        ),
        (
            {
                "state": "retrying",
                "attempt": 1,
                "problem": "silent",
                "reason": "no data for 30 s",
                "retry_in": 0.45,
            },
            "lost the stream from http://127.0.0.1:8000: no data for 30 s, taken for dead; "
            "reconnecting in 0.45 s (attempt 1)",
        ),
        (
            {
                "state": "retrying",
                "attempt": 1,
                "problem": "ended",
                "reason": "overflow",
                "retry_in": 0.004,
            },
            "http://127.0.0.1:8000 ended the stream: overflow; reconnecting in 0 s (attempt 1)",
        ),
        (
            {
                "state": "retrying",
                "attempt": 1,
                "problem": "dropped",
                "reason": "connection reset by peer",
                "retry_in": 0.5,
            },
            "lost the stream from http://127.0.0.1:8000: connection reset by peer; "
            "reconnecting in 0.5 s (attempt 1)",
        ),
        ({"state": "closed"}, "stopped following http://127.0.0.1:8000"),
    ],
)
def test_each_status_reads_as_one_line(fields: dict[str, object], message: str) -> None:
    assert status(**fields).message == message


def test_the_default_silence_limit_is_two_of_the_servers_default_keepalive_intervals() -> None:
    assert Settings.model_fields["keepalive_interval"].default == DEFAULT_KEEPALIVE_INTERVAL
    timeout = StreamClient("http://h")._timeout()
    assert (timeout.connect, timeout.read, timeout.pool) == (3.0, 30.0, 3.0)
    assert StreamClient("http://h", keepalive_interval=5)._timeout().read == 10.0
    explicit = StreamClient("http://h", keepalive_interval=5, silence_limit=1.5, connect_timeout=1)
    assert (explicit._timeout().connect, explicit._timeout().read) == (1, 1.5)


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("127.0.0.1:8000", {}),
        ("localhost:8000", {}),
        ("ws://127.0.0.1:8000", {}),
        ("http://", {}),
        ("http://h:port", {}),
        ("http://h", {"connect_timeout": 0}),
        ("http://h", {"keepalive_interval": -1}),
        ("http://h", {"silence_limit": 0}),
    ],
)
def test_an_address_or_timing_that_cannot_work_is_refused_at_once(
    url: str, options: dict[str, float]
) -> None:
    with pytest.raises(ValueError):
        StreamClient(url, **options)  # type: ignore[arg-type]


def refused_connect() -> httpx.ConnectError:
    """What httpx raises for a closed port, with the operating system's error inside."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as cause:
            raise httpx.ConnectError("All connection attempts failed") from cause
    except httpx.ConnectError as error:
        return error


def unknown_host() -> httpx.ConnectError:
    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except OSError as cause:
            raise httpx.ConnectError(str(cause)) from cause
    except httpx.ConnectError as error:
        return error


@pytest.mark.parametrize(
    ("error", "opened", "problem", "reason"),
    [
        (refused_connect(), False, "unreachable", "connection refused"),
        (
            unknown_host(),
            False,
            "unreachable",
            "cannot resolve the host name (Name or service not known)",
        ),
        (httpx.ConnectTimeout("timed out"), False, "unreachable", "no answer within 3 s"),
        (httpx.ReadTimeout("timed out"), False, "no-response", "no response within 30 s"),
        (httpx.ReadTimeout("timed out"), True, "silent", "no data for 30 s"),
        (
            httpx.RemoteProtocolError("incomplete chunked read"),
            True,
            "dropped",
            "the connection closed mid-stream",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected"),
            False,
            "no-response",
            "the connection closed without an answer",
        ),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), True, "dropped", None),
    ],
)
def test_each_failure_has_a_problem_and_a_short_reason(
    error: httpx.HTTPError, opened: bool, problem: str, reason: str | None
) -> None:
    got = StreamClient("http://h")._trouble(error, opened=opened)
    assert got[0] == problem
    if reason is not None:
        assert got[1] == reason


def test_no_status_ever_shows_a_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "dash_s3cr3t-token"

    def handle(request: httpx.Request) -> httpx.Response:
        # A library that echoes a header in its error must not leak it into the status.
        raise httpx.ConnectError(f"refused for {request.headers['authorization']}")

    serve(monkeypatch, handle)

    def three_attempts(base_url: str) -> list[StreamStatus]:
        statuses: list[StreamStatus] = []

        def told(status: StreamStatus) -> None:
            statuses.append(status)
            if len(statuses) == 3:
                stream.close()

        stream = StreamClient(base_url, token=token, backoff=0, on_status=told)
        assert list(stream) == []
        assert [s.state for s in statuses] == ["retrying", "retrying", "retrying", "closed"]
        return statuses

    for base_url, secret, sent in (
        ("http://example.invalid:8000/", token, "Bearer"),
        ("http://carol:pa55word@example.invalid:8000/", "pa55word", "Basic"),  # httpx's choice
    ):
        statuses = three_attempts(base_url)
        assert statuses[0].reason == f"refused for {sent} …"
        assert statuses[0].message.startswith(
            f"cannot reach http://example.invalid:8000: refused for {sent} …; retrying in 0 s"
        )
        for told in statuses:
            assert secret not in repr(told) and secret not in told.message
            assert "carol" not in told.message


def test_without_on_status_trouble_is_a_warning_and_a_connection_is_news(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handler, _ = scripted_server(
        [httpx.Response(502, text="bad gateway"), httpx.Response(401, json={"detail": "no"})]
    )
    serve(monkeypatch, handler)
    caplog.set_level(logging.INFO, logger="dashboard.client")
    with pytest.raises(StreamRefused):
        list(StreamClient("http://example.invalid", backoff=0))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.WARNING,
            "http://example.invalid answered HTTP 502 Bad Gateway; retrying in 0 s (attempt 2)",
        ),
        (
            logging.WARNING,
            "http://example.invalid refused the stream (401: no); not retrying",
        ),
    ]
