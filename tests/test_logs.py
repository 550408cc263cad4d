"""Log lines carry the id of the request they were written in."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from dashboard.logs import RedactCredentialsFilter, logging_config, redact, request_id


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_each_line_carries_the_request_id(log_format: str) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    config = logging_config(log_format=log_format, level="info")
    stream = io.StringIO()
    del config["handlers"]["stderr"]["stream"]
    logging.config.dictConfig(config)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    token = request_id.set("req-42")
    try:
        logging.getLogger("dashboard.test").info("hello")
    finally:
        request_id.reset(token)
    logging.getLogger("dashboard.test").info("outside")
    first, second = stream.getvalue().strip().splitlines()
    if log_format == "json":
        record = json.loads(first)
        assert record["request_id"] == "req-42" and record["message"] == "hello"
        assert record["level"] == "INFO" and record["logger"] == "dashboard.test"
        assert json.loads(second)["request_id"] == "-"
    else:
        assert "[req-42] hello" in first and "[-] outside" in second
    root.handlers[:], root.level = saved[0], saved[1]


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        (
            '127.0.0.1:5 - "WebSocket /ws?token=dash_secret&after=3" [accepted]',
            '127.0.0.1:5 - "WebSocket /ws?[redacted]" [accepted]',
        ),
        ("GET /api/stream?symbols=A,B 200", "GET /api/stream?[redacted] 200"),
        ("no request target here? fine", "no request target here? fine"),
        ("/plain/path 200", "/plain/path 200"),
        ("< authorization: Bearer dash_secret", "< authorization: [redacted]"),
        (
            "< Sec-WebSocket-Protocol: dashboard, bearer.dash_s",
            "< Sec-WebSocket-Protocol: [redacted]",
        ),
        ("> Set-Cookie: dashboard_session=abc; Path=/", "> Set-Cookie: [redacted]"),
        ("Cookie: dashboard_session=abc", "Cookie: [redacted]"),
        ("< user-agent: Python/3.11", "< user-agent: Python/3.11"),
        ("the authorization header was missing", "the authorization header was missing"),
    ],
)
def test_request_targets_and_credential_headers_lose_their_secrets(line: str, logged: str) -> None:
    assert redact(line) == logged


def test_a_credential_in_a_query_never_reaches_a_log_line() -> None:
    # Was: uvicorn's own "WebSocket /ws?token=…" line wrote every token, wrong ones too.
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactCredentialsFilter())
    logger = logging.getLogger("uvicorn.error.redaction-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning('%s - "WebSocket %s" 403', "127.0.0.1:9", "/ws?token=dash_abc123")
        logger.warning("refused /ws?token=dash_def456 outright")
        # The WebSocket library's debug lines pass each header as arguments.
        logger.warning("< %s: %s", "authorization", "Bearer dash_ghi789")
        logger.warning("< %s: %s", "sec-websocket-protocol", "dashboard, bearer.dash_jkl0")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "dash_" not in text and text.count("?[redacted]") == 2
    assert text.count(": [redacted]") == 2
