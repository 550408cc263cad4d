"""The ASGI middleware on tiny apps of their own: body size limits, request ids, headers.

A real app through the TestClient where the HTTP side matters, bare ASGI calls where a
request must carry what no HTTP client sends (a junk ``Content-Length``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.logs import request_id
from dashboard.web.middleware import (
    CONTENT_SECURITY_POLICY,
    BodySizeLimit,
    RequestContext,
)

LIMIT = 1024
BIG_LIMIT = 4096
TOO_LARGE = {"detail": "The request body is larger than 1,024 bytes; nothing was read or written."}


# Bare ASGI calls


def http_scope(path: str = "/echo", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers or [],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


def call(app: ASGIApp, scope: Scope, chunks: tuple[bytes, ...] = (b"",)) -> list[Message]:
    """Run one request through ``app``; return what it sent."""
    incoming: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        await app(scope, receive, send)

    asyncio.run(main())
    return sent


class Recorder:
    """An inner ASGI app that answers 200 with the body it read, and records its calls."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.receives: list[Receive] = []
        self.request_ids: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        self.receives.append(receive)
        self.request_ids.append(request_id.get())
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def limited(inner: ASGIApp) -> BodySizeLimit:
    return BodySizeLimit(inner, limit_for=lambda path: BIG_LIMIT if path == "/big" else LIMIT)


# An app with a route that reads the body (FastAPI turns the middleware's error into 413).


@pytest.fixture
def echo_app() -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    seen: list[int] = []

    @app.post("/echo")
    @app.post("/big")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"length": len(body)}

    app.add_middleware(BodySizeLimit, limit_for=lambda path: BIG_LIMIT if path == "/big" else LIMIT)
    return app, seen


@pytest.fixture
def echo(echo_app: tuple[FastAPI, list[int]]) -> Iterator[TestClient]:
    with TestClient(echo_app[0]) as client:
        yield client


def chunks(total: int, size: int = 100) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked): only counting can catch it."""
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


# BodySizeLimit


def test_a_declared_body_over_the_limit_is_refused_before_the_app_runs(
    echo: TestClient, echo_app: tuple[FastAPI, list[int]]
) -> None:
    response = echo.post("/echo", content=b"x" * (LIMIT + 1))
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert response.headers["connection"] == "close"
    assert echo_app[1] == []


def test_a_declared_body_at_the_limit_is_let_through(echo: TestClient) -> None:
    response = echo.post("/echo", content=b"x" * LIMIT)
    assert response.status_code == 200 and response.json() == {"length": LIMIT}


def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(
    echo: TestClient, echo_app: tuple[FastAPI, list[int]]
) -> None:
    response = echo.post("/echo", content=chunks(LIMIT + 1))
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert echo_app[1] == []  # the route never got a body


def test_a_streamed_body_within_the_limit_is_read_whole(echo: TestClient) -> None:
    response = echo.post("/echo", content=chunks(LIMIT))
    assert response.status_code == 200 and response.json() == {"length": LIMIT}


def test_the_limit_is_chosen_by_path(echo: TestClient) -> None:
    body = b"x" * (LIMIT + 1)
    assert echo.post("/echo", content=body).status_code == 413
    assert echo.post("/big", content=body).json() == {"length": LIMIT + 1}
    assert echo.post("/big", content=chunks(BIG_LIMIT)).status_code == 200
    assert echo.post("/big", content=b"x" * (BIG_LIMIT + 1)).status_code == 413
    too_large = echo.post("/big", content=chunks(BIG_LIMIT + 1))
    assert too_large.status_code == 413
    assert too_large.json()["detail"].startswith("The request body is larger than 4,096 bytes")


@pytest.mark.parametrize("declared", [b"abc", b"-5", b"12x", b"1e3", b"", b"+5", b"0x10"])
def test_a_junk_content_length_is_refused(declared: bytes) -> None:
    inner = Recorder()
    sent = call(limited(inner), http_scope(headers=[(b"content-length", declared)]))
    assert sent[0]["status"] == 413
    assert inner.scopes == []


def test_the_content_length_header_is_found_whatever_its_case() -> None:
    inner = Recorder()
    sent = call(limited(inner), http_scope(headers=[(b"Content-Length", b"99999")]))
    assert sent[0]["status"] == 413 and inner.scopes == []


def test_a_content_length_in_non_ascii_digits_is_refused_not_a_crash() -> None:
    # str.isdigit() accepts "²" (and int() then raises): such a header must be refused
    # like any other junk length, not end the request with an unhandled ValueError.
    inner = Recorder()
    sent = call(limited(inner), http_scope(headers=[(b"content-length", "²".encode("latin-1"))]))
    assert sent[0]["status"] == 413
    assert inner.scopes == []


def test_a_refusal_is_a_complete_json_answer() -> None:
    sent = call(limited(Recorder()), http_scope(headers=[(b"content-length", b"5000")]))
    start, body = sent
    assert dict(start["headers"]) == {
        b"content-type": b"application/json",
        b"content-length": str(len(body["body"])).encode(),
        b"connection": b"close",
    }
    assert body == {
        "type": "http.response.body",
        "body": b'{"detail": "The request body is larger than 1,024 bytes; nothing was read or '
        b'written."}',
    }


def test_a_bare_app_sees_the_overflow_as_an_error_from_receive() -> None:
    # Without a framework to turn it into a 413, the error surfaces where the body is read.
    inner = Recorder()
    with pytest.raises(HTTPException, match="larger than 1,024 bytes") as raised:
        call(limited(inner), http_scope(), chunks=(b"x" * 1000, b"x" * 25))
    assert raised.value.status_code == 413
    assert inner.scopes != []  # the app ran: only the body gave it away


def test_other_scopes_pass_through_untouched() -> None:
    inner = Recorder()
    middleware = limited(inner)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    for kind in ("websocket", "lifespan"):
        asyncio.run(middleware({"type": kind, "path": "/ws", "headers": []}, receive, send))
    assert [scope["type"] for scope in inner.scopes] == ["websocket", "lifespan"]
    assert inner.receives == [receive, receive]  # not wrapped


# RequestContext


def headers_app(*, hsts: bool = False) -> TestClient:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> PlainTextResponse:
        return PlainTextResponse(request_id.get())

    @app.get("/framed")
    def framed() -> PlainTextResponse:
        return PlainTextResponse(
            "ok",
            headers={"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "default-src *"},
        )

    @app.get("/docs/extra")
    def docs_extra() -> PlainTextResponse:
        return PlainTextResponse("swagger")

    @app.get("/api/docs")
    def api_docs() -> PlainTextResponse:
        return PlainTextResponse("not swagger")

    @app.get("/static/app.css")
    def asset() -> PlainTextResponse:
        return PlainTextResponse("body {}")

    @app.get("/cached")
    def cached() -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"Cache-Control": "max-age=60"})

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(request_id.get())
        await websocket.close()

    app.add_middleware(RequestContext, hsts=hsts)
    return TestClient(app)


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "cache-control": "no-store",
}


def test_every_answer_gets_the_security_headers_and_no_hsts_by_default() -> None:
    with headers_app() as client:
        response = client.get("/hello")
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, name
        assert "strict-transport-security" not in response.headers
        assert client.get("/missing").headers["x-frame-options"] == "DENY"  # a 404 too


def test_answers_are_not_stored_by_caches_except_static_assets_and_what_a_route_says() -> None:
    # Was: private pages and /api/notifications carried no Cache-Control at all.
    with headers_app() as client:
        assert client.get("/hello").headers["cache-control"] == "no-store"
        assert client.get("/missing").headers["cache-control"] == "no-store"
        assert "cache-control" not in client.get("/static/app.css").headers
        assert client.get("/cached").headers.get_list("cache-control") == ["max-age=60"]


def test_hsts_is_added_when_asked_for() -> None:
    with headers_app(hsts=True) as client:
        assert (
            client.get("/hello").headers["strict-transport-security"]
            == "max-age=31536000; includeSubDomains"
        )


def test_headers_the_app_sets_itself_are_kept() -> None:
    with headers_app() as client:
        response = client.get("/framed")
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["content-security-policy"] == "default-src *"
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_regression_the_api_docs_pages_get_the_content_security_policy_too() -> None:
    # Was: /docs and /redoc went without it, so FastAPI's CDN-hosted Swagger UI could run its
    # inline script; /docs is now served from vendored files and runs under the policy.
    with headers_app() as client:
        for path in ("/docs", "/redoc", "/docs/extra", "/api/docs"):
            assert client.get(path).headers["content-security-policy"] == (
                CONTENT_SECURITY_POLICY
            ), path


def test_a_request_without_an_id_gets_a_fresh_one_seen_by_the_handler() -> None:
    with headers_app() as client:
        first, second = client.get("/hello"), client.get("/hello")
    for response in (first, second):
        rid = response.headers["x-request-id"]
        assert len(rid) == 16 and all(c in "0123456789abcdef" for c in rid)
        assert response.text == rid  # what log lines in the handler carry
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("incoming", ["abc-123", "A.b_c-9", "x" * 64])
def test_a_sane_request_id_from_the_client_is_kept(incoming: str) -> None:
    with headers_app() as client:
        response = client.get("/hello", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming and response.text == incoming


@pytest.mark.parametrize("incoming", ["x" * 65, "a b", "a/b", "<script>", "id;drop", ""])
def test_an_unusable_request_id_is_replaced(incoming: str) -> None:
    with headers_app() as client:
        response = client.get("/hello", headers={"X-Request-ID": incoming})
    rid = response.headers["x-request-id"]
    assert rid != incoming and len(rid) == 16 and response.text == rid


def test_a_websocket_gets_a_request_id_too() -> None:
    with (
        headers_app() as client,
        client.websocket_connect("/ws", headers={"X-Request-ID": "ws-7"}) as websocket,
    ):
        assert websocket.receive_text() == "ws-7"


def test_each_request_is_logged_with_its_status_and_timing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="dashboard.access"), headers_app() as client:
        client.get("/hello?x=1", headers={"X-Request-ID": "req-1"})
    (record,) = [r for r in caplog.records if r.name == "dashboard.access"]
    assert record.getMessage() == "GET /hello 200"
    fields = record.__dict__
    assert (fields["method"], fields["path"], fields["status"]) == ("GET", "/hello", 200)
    assert isinstance(fields["duration_ms"], float) and fields["duration_ms"] >= 0


def test_a_failing_app_is_logged_without_a_status_and_the_id_is_reset(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        assert request_id.get() == "req-9"
        raise RuntimeError("boom")

    context = RequestContext(failing, hsts=False)
    scope = http_scope("/boom", headers=[(b"x-request-id", b"req-9")])
    with (
        caplog.at_level(logging.INFO, logger="dashboard.access"),
        pytest.raises(RuntimeError, match="boom"),
    ):
        call(context, scope)
    (record,) = [r for r in caplog.records if r.name == "dashboard.access"]
    assert record.getMessage() == "POST /boom -"
    assert record.__dict__["status"] == 0
    assert request_id.get() == "-"


def test_a_websocket_is_logged_as_ws_and_lifespan_passes_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = Recorder()
    context = RequestContext(inner, hsts=False)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    with caplog.at_level(logging.INFO, logger="dashboard.access"):
        ws_scope = {"type": "websocket", "path": "/ws", "headers": [(b"x-request-id", b"w1")]}
        asyncio.run(context(ws_scope, receive, send))
        asyncio.run(context({"type": "lifespan"}, receive, send))
    assert inner.request_ids == ["w1", "-"]  # lifespan: no request, no id
    assert [r.getMessage() for r in caplog.records if r.name == "dashboard.access"] == ["WS /ws -"]
