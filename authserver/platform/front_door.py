"""The last step of every answer, through whichever door it leaves: the headers every response
carries (``nosniff``, HSTS over https, the request id), the request metrics and the access line.

JWKS and discovery (``authserver.oauth.published``), the token, introspection and revocation
endpoints (``authserver.oauth.direct``) and the gateway's decision (``authserver.gateway.door``)
are answered by WSGI middleware in front of Flask and call ``FrontDoor.respond``; every other
response passes Flask's ``after_request`` hook that ``FrontDoor.install`` registers. Both end
in the same two methods, so the doors cannot drift apart. (Pages add their own headers on top:
``authserver.platform.headers``.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Flask, Response, request
from werkzeug.datastructures import Headers

from authserver.platform.config import Settings
from authserver.platform.logging_setup import write_access_line
from authserver.platform.metrics import observe_request
from authserver.platform.request_id import HEADER as REQUEST_ID_HEADER
from authserver.platform.request_id import current_request_id, request_elapsed, request_id_for

_REQUEST_ID_ENVIRON = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class FrontDoor:
    def __init__(self, settings: Settings) -> None:
        self.access_log = settings.access_log
        self.fixed_headers = [("X-Content-Type-Options", "nosniff")]
        if settings.issuer.startswith("https://"):
            self.fixed_headers.append(("Strict-Transport-Security", "max-age=31536000"))

    @staticmethod
    def request_id(environ: dict) -> str:
        return request_id_for(environ.get(_REQUEST_ID_ENVIRON, ""))

    def add_headers(self, headers: Headers, request_id: str | None) -> None:
        for name, value in self.fixed_headers:
            headers.setdefault(name, value)
        if request_id is not None:
            headers[REQUEST_ID_HEADER] = request_id

    def count_and_log(
        self, endpoint: str, method: str, path: str, status: int, elapsed: float | None,
        client: str | None, request_id: str | None,
    ) -> None:  # fmt: skip
        observe_request(endpoint, method, status, elapsed)
        if self.access_log:
            write_access_line(method, path, status, elapsed * 1000 if elapsed is not None else None,
                              client, request_id or "-")  # fmt: skip

    def respond(
        self, environ: dict, start_response: Callable, endpoint: str, status: str,
        headers: Headers | list[tuple[str, str]], started: float, request_id: str,
    ) -> None:  # fmt: skip
        """Start an answer given in front of Flask; count, time and log it."""
        headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.add_headers(headers, request_id)
        start_response(status, headers.to_wsgi_list())
        self.count_and_log(endpoint, environ.get("REQUEST_METHOD", ""),
                           environ.get("PATH_INFO", ""), int(status[:3]),
                           time.perf_counter() - started, environ.get("REMOTE_ADDR"),
                           request_id)  # fmt: skip

    def install(self, app: Flask) -> None:
        """The same last step for every response Flask gives."""

        @app.after_request
        def finish(response: Response) -> Response:
            request_id = current_request_id()
            self.add_headers(response.headers, request_id)
            self.count_and_log(request.endpoint or "unmatched", request.method, request.path,
                               response.status_code, request_elapsed(), request.remote_addr,
                               request_id)  # fmt: skip
            return response
