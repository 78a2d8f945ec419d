"""Logging on stderr (structlog over the standard library), each line with its time, level,
logger and the request id: one JSON object per line for a log collector, or structlog's console
renderer for a person at a terminal (``AUTHSERVER_LOG_FORMAT``: auto picks the console format
when stderr is a terminal). Libraries that would print secrets are held back.

Authlib logs issued tokens and client ids at DEBUG (``log.debug("Issue token %r ...")``), and
SQLAlchemy's engine logs statements with their parameters at INFO; so these loggers never go
below WARNING, whatever level the server runs at. The access log is ours (``authserver.access``):
method, path without the query string (a token must not reach a log), status and duration.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

import structlog

from authserver.platform.ip_privacy import minimised_ip
from authserver.platform.request_id import current_request_id

_QUIET_LIBRARIES = ("authlib", "sqlalchemy.engine", "urllib3")
_configured = False

access_log = logging.getLogger("authserver.access")


def _add_request_id(logger, method: str, event_dict: dict) -> dict:  # noqa: ANN001
    event_dict.setdefault("request_id", current_request_id() or "-")
    return event_dict


LOG_FORMATS = ("auto", "json", "console")


def resolved_format(setting: str) -> str:
    """``json`` or ``console``: auto is the console format at a terminal, JSON otherwise."""
    if setting != "auto":
        return setting
    return "console" if sys.stderr.isatty() else "json"


def _shared_processors() -> list:
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _add_request_id,
    ]


def json_formatter() -> logging.Formatter:
    """The formatter of every handler, ours and Granian's (``serve`` hands it to Granian)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )


def _drop_absent_request_id(logger, method: str, event_dict: dict) -> dict:  # noqa: ANN001
    # Outside a request JSON lines keep the key ("-") for a collector; a person needs no "-".
    if event_dict.get("request_id") == "-":
        del event_dict["request_id"]
    return event_dict


def console_formatter() -> logging.Formatter:
    """The same events for a person: time, level, event, then the other keys (coloured only
    when stderr is a terminal, so a redirected file holds no escape codes)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_absent_request_id,
            # plain_traceback: structlog's default (rich, when installed) prints every frame's
            # local variables, secrets among them; a JSON line never did.
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(),
                sort_keys=True,
                exception_formatter=structlog.dev.plain_traceback,
            ),
        ],
    )


_FORMATTERS = {"json": json_formatter, "console": console_formatter}


class AccessLineFormatter(logging.Formatter):
    """The access line as one JSON object with the same keys as every other line, written by a
    single ``json.dumps``: it is formatted on every request, where structlog's processor chain
    cost about 0.1 ms (bench/README.md)."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        return json.dumps(
            {
                "client": record.client,
                "duration_ms": record.duration_ms,
                "event": record.getMessage(),
                "level": "info",
                "logger": record.name,
                "method": record.method,
                "path": record.path,
                "request_id": record.request_id,
                "status": record.status,
                "timestamp": when.isoformat().replace("+00:00", "Z"),
            }
        )


class ConsoleAccessLineFormatter(logging.Formatter):
    """The access line for a person: time, request line, status, duration, request id."""

    def format(self, record: logging.LogRecord) -> str:
        when = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%H:%M:%S")
        took = "" if record.duration_ms is None else f" {record.duration_ms}ms"
        # The path is the client's (percent-decoded): escaped, so that it cannot start a line
        # of its own or send a terminal escape sequence, as JSON escapes it.
        path = record.path.encode("unicode_escape").decode("ascii")
        line = f"{record.method} {path} {record.status}"
        return f"{when} {line}{took} {record.client or '-'} [{record.request_id}]"


def granian_log_config(log_format: str = "json") -> dict:
    """Granian's own lines (start, workers, stop) in the server's format, on stderr."""
    factory = f"authserver.platform.logging_setup.{resolved_format(log_format)}_formatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"ours": {"()": factory}},
        "handlers": {
            "console": {
                "formatter": "ours",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },  # fmt: skip
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def configure_logging(level: str, log_format: str = "json") -> None:
    global _configured
    root = logging.getLogger()
    numeric = getattr(logging, level.upper())
    chosen = resolved_format(log_format)
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_FORMATTERS[chosen]())
        root.addHandler(handler)
        _configured = True
    root.setLevel(numeric)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # Security events and the access log are always written, whatever the level.
    logging.getLogger("authserver.audit").setLevel(logging.INFO)
    access_log.setLevel(logging.INFO)
    if not access_log.handlers:
        access_handler = logging.StreamHandler(sys.stderr)
        access_handler.setFormatter(
            AccessLineFormatter() if chosen == "json" else ConsoleAccessLineFormatter()
        )
        access_log.addHandler(access_handler)
        access_log.propagate = False


#: Paths that carry a secret of their own (a password-reset link's token): logged without it.
_SECRET_PATHS = ("/account/reset/",)


def loggable_path(path: str) -> str:
    """``path`` as a log may hold it: without the secret some paths carry."""
    for prefix in _SECRET_PATHS:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "…"
    return path


def write_access_line(
    method: str, path: str, status: int, duration_ms: float | None, client: str | None,
    request_id: str,
) -> None:  # fmt: skip
    """The access line: method, path without its query (a token must not reach a log), status.

    The record is made here and handed to the logger's handlers directly: ``Logger.info`` would
    also look up the caller's frame, which no line of ours prints, on every request."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    path = loggable_path(path)[:512]
    record = logging.LogRecord(
        access_log.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status), None
    )
    record.request_id = request_id
    record.method = method
    record.path = path
    record.status = status
    record.duration_ms = round(duration_ms, 2) if duration_ms is not None else None
    record.client = minimised_ip(client)
    access_log.handle(record)
