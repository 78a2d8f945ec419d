"""``/gateway/check`` answered in front of Flask, as ``authserver.oauth.direct`` answers token
introspection: a gateway asks once for every API request, and Flask's request cycle (the request
context, the cookie session, URL routing, hook dispatch) cost nearly half of a decision
(bench/README.md, "Gateway decisions"). Here a check is answered inside an app context only
(the database session, ``g``, ``current_app``), with Flask's own ``Request`` for the environ,
and leaves through the same front door (headers, request metrics, access line) as every answer.

This is the endpoint's one route: ``/gateway/check``, ``/gateway/check/`` and
``/gateway/check/<path>`` (Envoy appends the original path). Other paths go to Flask. An
exception while answering is answered as the JSON endpoints answer it (``json_error_for``):
503 with Retry-After when the database is unreachable, 500 for a bug; the gateway passes on
the status only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Flask
from werkzeug.exceptions import MethodNotAllowed

from authserver.gateway.endpoint import METHODS, decide
from authserver.platform.current_request import answering_directly
from authserver.platform.front_door import FrontDoor, WSGIApp
from authserver.platform.runtime import runtime_of
from authserver.web.errors import json_error_for

PATH = "/gateway/check"
_ENDPOINT = "gateway.check"  # the request metrics' label, as Flask would name the view


class GatewayDoor:
    """WSGI middleware: every method to ``/gateway/check`` and below."""

    def __init__(self, app: Flask, inner: WSGIApp) -> None:
        self.app = app
        self.inner = inner
        self.door = FrontDoor(runtime_of(app).settings)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path != PATH and not path.startswith(PATH + "/"):
            return self.inner(environ, start_response)
        appended = path[len(PATH) + 1 :] if path != PATH else None
        started = time.perf_counter()
        request_id = self.door.request_id(environ)
        request = self.app.request_class(environ)
        with answering_directly(self.app, request, request_id, started):
            try:
                if request.method not in METHODS:
                    raise MethodNotAllowed(valid_methods=list(METHODS))
                response = decide(request, appended)
            except Exception as error:  # noqa: BLE001 - answered as Flask's handlers would
                response = json_error_for(error, request.method, path)
            body = response.get_data()
            response.headers["Content-Length"] = str(len(body))  # as Flask's answer had it
            if request.method == "HEAD":
                body = b""
        self.door.respond(environ, start_response, _ENDPOINT, response.status,
                          response.headers.to_wsgi_list(), started, request_id)  # fmt: skip
        return [body]


def install_gateway_door(app: Flask) -> None:
    app.wsgi_app = GatewayDoor(app, app.wsgi_app)
