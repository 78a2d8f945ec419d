"""A request id on every request: taken from ``X-Request-Id`` when a proxy set a sane one,
made here otherwise; echoed in the response, written on every log line and audit record of
the request, so one failed sign-in can be followed from the proxy to the audit trail."""

from __future__ import annotations

import re
import secrets
import time

from flask import Flask, g, request

from authserver.platform.current_request import current_request

HEADER = "X-Request-Id"
_SANE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def current_request_id() -> str | None:
    return g.get("request_id") if current_request() is not None else None


def request_elapsed() -> float | None:
    """Seconds since this request's first hook ran, if it ran."""
    started = g.get("request_started")
    return time.perf_counter() - started if started is not None else None


def request_id_for(inbound: str) -> str:
    """The proxy's id when it is sane, else a new one."""
    return inbound if _SANE.match(inbound) else secrets.token_hex(8)


def register_request_id(app: Flask) -> None:
    @app.before_request
    def assign() -> None:
        g.request_id = request_id_for(request.headers.get(HEADER, ""))
        g.request_started = time.perf_counter()  # one clock for the metrics and the access line
