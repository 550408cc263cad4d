"""Log lines carry the id of the request they were written in."""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest

from dashboard.logs import logging_config
from dashboard.web.middleware import request_id


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
