"""Logging for ``dashboard serve``: text or JSON lines, each with its request id."""

from __future__ import annotations

import logging
import re
from typing import Any

from dashboard.web.middleware import request_id


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request it was logged in ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


# A request target's query string: "/ws?token=…" as uvicorn writes it in its own lines.
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")
REDACTED = "?[redacted]"


def redact_queries(text: str) -> str:
    """``text`` with the query string of every request target in it replaced.

    A query can carry a credential (``WS /ws?token=…``), so no log line keeps one.
    """
    return _QUERY.sub(lambda match: match[1] + REDACTED, text)


class RedactQueriesFilter(logging.Filter):
    """Redact request targets' query strings in every record, the ASGI server's included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_queries(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_queries(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and the app (uvicorn's own access log is
    replaced by ``dashboard.access``, which carries the request id and duration)."""
    formatter: dict[str, Any]
    if log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "redact_queries": {"()": RedactQueriesFilter},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id", "redact_queries"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "": {"handlers": ["stderr"], "level": upper},
            "uvicorn": {"handlers": ["stderr"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
