"""The request being answered, with or without Flask's request context.

Most requests run inside Flask's request context. The token, introspection and revocation
endpoints are answered in front of Flask (``authserver.oauth.direct``), inside an app context
only, with Flask's ``Request`` object for the environ kept on ``g``. Code on their path asks
here instead of reading ``flask.request``, so that it works the same both ways.
"""

from __future__ import annotations

from flask import Request, g, has_app_context, has_request_context, request

_DIRECT = "direct_request"


def current_request() -> Request | None:
    if has_request_context():
        return request._get_current_object()
    if has_app_context():
        return g.get(_DIRECT)
    return None


def answer_directly(direct: Request, request_id: str, started: float) -> None:
    """Make ``direct`` this app context's request (its context must be fresh: one request)."""
    setattr(g, _DIRECT, direct)
    g.request_id = request_id
    g.request_started = started


def client_address() -> str | None:
    answering = current_request()
    return answering.remote_addr if answering is not None else None
