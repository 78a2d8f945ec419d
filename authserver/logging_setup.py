"""Logging: one JSON object per line on stderr (structlog over the standard library), each with
its time, level, logger and the request id; libraries that would print secrets are held back.

Authlib logs issued tokens and client ids at DEBUG (``log.debug("Issue token %r ...")``), and
SQLAlchemy's engine logs statements with their parameters at INFO; so these loggers never go
below WARNING, whatever level the server runs at. The access log is ours (``authserver.access``):
method, path without the query string (a token must not reach a log), status and duration.
"""

from __future__ import annotations

import logging
import sys
import time

import structlog
from flask import Flask, Response, g, request

from authserver.request_id import current_request_id

_QUIET_LIBRARIES = ("authlib", "sqlalchemy.engine", "urllib3")
_configured = False

access_log = logging.getLogger("authserver.access")


def _add_request_id(logger, method: str, event_dict: dict) -> dict:  # noqa: ANN001
    event_dict.setdefault("request_id", current_request_id() or "-")
    return event_dict


def json_formatter() -> logging.Formatter:
    """The formatter of every handler, ours and Granian's (``serve`` hands it to Granian)."""
    shared = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _add_request_id,
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
    )


def granian_log_config() -> dict:
    """Granian's own lines (start, workers, stop) as JSON too, on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "authserver.logging_setup.json_formatter"}},
        "handlers": {
            "console": {
                "formatter": "json",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },  # fmt: skip
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }


def configure_logging(level: str) -> None:
    global _configured
    root = logging.getLogger()
    numeric = getattr(logging, level.upper())
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(json_formatter())
        root.addHandler(handler)
        _configured = True
    root.setLevel(numeric)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    # Security events and the access log are always written, whatever the level.
    logging.getLogger("authserver.audit").setLevel(logging.INFO)
    access_log.setLevel(logging.INFO)


def register_access_log(app: Flask) -> None:
    @app.before_request
    def start() -> None:
        g.access_started = time.perf_counter()

    @app.after_request
    def write(response: Response) -> Response:
        started = g.pop("access_started", None)
        duration = (time.perf_counter() - started) * 1000 if started is not None else None
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path[:512],
                "status": response.status_code,
                "duration_ms": round(duration, 2) if duration is not None else None,
                "client": request.remote_addr,
            },
        )
        return response
