"""Logging for ``dashboard serve``: text or JSON lines, each with its request id."""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

# Set by dashboard.web.middleware.RequestContext for each request. Here, not there, so that
# a command that logs need not import the web stack (FastAPI takes a quarter of a second to import).
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request it was logged in ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


# A request target's query string: "/ws?token=…" as uvicorn writes it in its own lines.
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")
REDACTED = "?[redacted]"
# A header that can carry a credential, as a debug line of the WebSocket library shows it
# ("< authorization: Bearer …"): the name stays, the value goes.
_CREDENTIAL_HEADER = re.compile(
    r"(?im)^([<>]?\s*(?:authorization|proxy-authorization|cookie|set-cookie"
    r"|sec-websocket-protocol|x-csrf-token)\s*:\s*).*$"
)


def redact(text: str) -> str:
    """``text`` without credentials: request targets' query strings (``WS /ws?token=…``)
    and the values of headers that carry one are replaced."""
    text = _QUERY.sub(lambda match: match[1] + REDACTED, text)
    return _CREDENTIAL_HEADER.sub(lambda match: match[1] + "[redacted]", text)


class RedactCredentialsFilter(logging.Filter):
    """Redact credentials in every record, the ASGI server's and libraries' included.

    The message is formatted here, once, so a credential passed as an argument (the
    WebSocket library logs each header as ``"< %s: %s"``) is caught with its name.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
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
            "redact_credentials": {"()": RedactCredentialsFilter},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_id", "redact_credentials"],
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
