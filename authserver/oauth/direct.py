"""The token, introspection and revocation endpoints answered in front of Flask.

They carry most of an authorization server's traffic, and through Flask's full request cycle
each request paid about as much for the machinery around the view (the request context, URL
routing, the session interface, hook dispatch, the response's WSGI iteration) as for the OAuth
work itself (bench/README.md). Here a POST to one of them is answered inside an app context only
(the database session, ``g``, ``current_app``), with Flask's own ``Request`` object for the
environ (the same form parsing and size limits), the answer functions of ``oauth.views`` (these
paths have no Flask view: this is their one route), the same failure budgets
(``web.ratelimit``) and the same headers, metrics and access line (``front_door``). Code on this
path reads the request through ``authserver.platform.current_request``, never ``flask.request``.

A request of the lean door's shape (``oauth.lean``: client_credentials with a client secret,
introspection) is answered by it first, through the same services, unless it hands it on.

Other methods get 405 here; other paths go to Flask. An exception while answering (a body over
the size limit, the database unreachable, a bug) is answered in the OAuth error format exactly as
Flask's error handlers answer it for these endpoints (``web.errors.json_error_for``): 413, 503
with Retry-After, 500.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Flask
from werkzeug.exceptions import MethodNotAllowed

from authserver.oauth import paths
from authserver.oauth.lean import LeanDoor
from authserver.oauth.views import DIRECT_ANSWERS
from authserver.platform.current_request import answering_directly
from authserver.platform.front_door import FrontDoor, WSGIApp
from authserver.platform.runtime import runtime_of
from authserver.web.errors import json_error_for
from authserver.web.ratelimit import RateLimits

_ROUTES = {
    paths.TOKEN: "oauth.token",
    paths.INTROSPECTION: "oauth.introspect",
    paths.REVOCATION: "oauth.revoke",
}


class ProtocolEndpoints:
    """WSGI middleware: POST to the token, introspection and revocation endpoints."""

    def __init__(
        self, app: Flask, inner: WSGIApp, limits: RateLimits, lean: LeanDoor | None = None
    ) -> None:
        self.app = app
        self.inner = inner
        self.limits = limits
        self.door = FrontDoor(runtime_of(app).settings)
        self.lean = lean

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        endpoint = _ROUTES.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            return self.inner(environ, start_response)
        started = time.perf_counter()
        request_id = self.door.request_id(environ)
        if self.lean is not None:
            # The lean door answers what it can answer exactly as below, or hands it on.
            answer = self.lean.answer(environ, endpoint, request_id, started)
            if answer is not None:
                status, headers, body = answer
                self.door.respond(environ, start_response, endpoint, status, headers, started,
                                  request_id)  # fmt: skip
                return [body]
        request = self.app.request_class(environ)
        with answering_directly(self.app, request, request_id, started):
            try:
                if request.method != "POST":
                    raise MethodNotAllowed(valid_methods=["POST"])
                response = self.limits.budgets[endpoint].answer(
                    request, lambda: DIRECT_ANSWERS[endpoint](request)
                )
            except Exception as error:  # noqa: BLE001 - answered as Flask's handlers would
                response = json_error_for(error, "POST", environ.get("PATH_INFO", ""))
            body = response.get_data()
        self.door.respond(environ, start_response, endpoint, response.status,
                          response.headers.to_wsgi_list(), started, request_id)  # fmt: skip
        return [body]


def install_protocol_endpoints(app: Flask, limits: RateLimits) -> None:
    lean = LeanDoor(app, limits) if runtime_of(app).settings.lean_path else None
    app.wsgi_app = ProtocolEndpoints(app, app.wsgi_app, limits, lean)
