"""What an answer given in front of Flask adds, as Flask's hooks would have.

JWKS and discovery (``authserver.oauth.published``) and the token, introspection and revocation
endpoints (``authserver.oauth.direct``) are answered by WSGI middleware without Flask's request
machinery. Their responses still carry the request id, ``nosniff`` (and HSTS over https), are
counted and timed in the metrics, and get their access line, exactly as ``request_id``,
``headers``, ``metrics`` and ``logging_setup`` do for every other response.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from authserver.config import Settings
from authserver.logging_setup import write_access_line
from authserver.metrics import observe_request
from authserver.request_id import HEADER as REQUEST_ID_HEADER
from authserver.request_id import request_id_for

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

    def respond(
        self, environ: dict, start_response: Callable, endpoint: str, status: str,
        headers: list[tuple[str, str]], started: float, request_id: str,
    ) -> None:  # fmt: skip
        """Start the response with the shared headers; count, time and log it."""
        names = {name.lower() for name, _ in headers}
        extra = [(name, value) for name, value in self.fixed_headers if name.lower() not in names]
        start_response(status, [*headers, *extra, (REQUEST_ID_HEADER, request_id)])
        code = int(status[:3])
        method = environ.get("REQUEST_METHOD", "")
        elapsed = time.perf_counter() - started
        observe_request(endpoint, method, code, elapsed)
        if self.access_log:
            write_access_line(method, environ.get("PATH_INFO", ""), code, elapsed * 1000,
                              environ.get("REMOTE_ADDR"), request_id)  # fmt: skip
