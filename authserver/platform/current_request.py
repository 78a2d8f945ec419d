"""The request being answered, with or without Flask's request context.

Most requests run inside Flask's request context. The token, introspection and revocation
endpoints are answered in front of Flask (``authserver.oauth.direct``), inside an app context
only, with Flask's ``Request`` object for the environ held here while it is answered. Code on
their path asks here instead of reading ``flask.request``, so that it works the same both ways.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, Request, g, has_request_context, request

# A context variable, like Flask's own: each thread (and each test request's context) has its
# own, and it is read several times per token request, where ``g`` costs a proxy lookup each.
_direct: ContextVar[Request | None] = ContextVar("authserver_direct_request", default=None)


def current_request() -> Request | None:
    direct = _direct.get()
    if direct is not None:
        return direct
    if has_request_context():
        return request._get_current_object()
    return None


@contextmanager
def answering_directly(
    app: Flask, direct: Request, request_id: str, started: float
) -> Iterator[None]:
    """An app context in which ``direct`` is the request being answered, until its teardown
    has run."""
    token = _direct.set(direct)
    try:
        with app.app_context():
            g.request_id = request_id
            g.request_started = started
            yield
    finally:
        _direct.reset(token)


def client_address() -> str | None:
    answering = current_request()
    return answering.remote_addr if answering is not None else None
