"""JWKS and discovery answered in front of Flask.

Every downstream verifier and client fetches these two documents, and they only change when the
key ring reloads (JWKS) or never during a process's life (metadata). Through Flask each request
paid for the request context, routing, the session interface and half a dozen hooks, about
0.25 ms, more than building the response; here a GET is a dictionary lookup, the cached bytes
and the same headers, access line and metrics the hooks would have written (bench/README.md).

These paths have no Flask view: other methods get 405 here, and a JWKS request while the key ring
cannot reload (database unreachable) gets the 503 every JSON endpoint gives then
(``web.errors.json_error_for``). Other paths go to Flask. The headers, metrics and access line
are the ones every response gets (``front_door``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from flask import Flask, Response
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import MethodNotAllowed

from authserver.oauth import paths
from authserver.oauth.documents import (
    JWKS_MEDIA_TYPE,
    METADATA_MEDIA_TYPE,
    jwks_document,
    metadata_document,
)
from authserver.platform.front_door import FrontDoor, WSGIApp
from authserver.platform.metrics import jwks_requests
from authserver.platform.runtime import runtime_of
from authserver.web.errors import json_error_for


class PublishedDocuments:
    """WSGI middleware: GET/HEAD of the JWKS and the metadata documents, from memory."""

    def __init__(self, app: Flask, inner: WSGIApp) -> None:
        self.app = app
        self.inner = inner
        self.runtime = runtime_of(app)
        self.door = FrontDoor(self.runtime.settings)
        self.routes: dict[str, tuple[str, Callable[[], tuple[bytes, str, list]]]] = {
            paths.JWKS: ("oauth.jwks", self._jwks),
            paths.OPENID_CONFIGURATION: ("oauth.metadata", self._metadata),
            paths.AS_METADATA: ("oauth.metadata", self._metadata),
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None:
            return self.inner(environ, start_response)
        started = time.perf_counter()
        endpoint, document = route
        method = environ.get("REQUEST_METHOD", "")
        if method not in ("GET", "HEAD"):
            return self._error(environ, start_response, endpoint, started,
                               MethodNotAllowed(valid_methods=["GET", "HEAD"]))  # fmt: skip
        try:
            body, etag, headers = document()
        except SQLAlchemyError as error:
            return self._error(environ, start_response, endpoint, started, error)
        quoted = f'"{etag}"'
        headers = [*headers, ("ETag", quoted)]
        if _matches(environ.get("HTTP_IF_NONE_MATCH"), quoted):
            status, body = "304 NOT MODIFIED", b""
        else:
            status = "200 OK"
            headers.append(("Content-Length", str(len(body))))
        self.door.respond(environ, start_response, endpoint, status, headers, started,
                          self.door.request_id(environ))  # fmt: skip
        return [body] if method == "GET" else []

    def _error(self, environ: dict, start_response: Callable, endpoint: str, started: float,
               error: Exception) -> Iterable[bytes]:  # fmt: skip
        with self.app.app_context():  # jsonify; a session to roll back
            response: Response = json_error_for(error, environ.get("REQUEST_METHOD", ""),
                                                environ.get("PATH_INFO", ""))  # fmt: skip
        body = response.get_data() if environ.get("REQUEST_METHOD") != "HEAD" else b""
        self.door.respond(environ, start_response, endpoint, response.status, response.headers,
                          started, self.door.request_id(environ))  # fmt: skip
        return [body]

    def _jwks(self) -> tuple[bytes, str, list]:
        jwks_requests.inc()
        with self.app.app_context():  # a key-ring reload reads the database
            body, etag, max_age = jwks_document(self.runtime.keyring)
        return (
            body,
            etag,
            [
                ("Content-Type", JWKS_MEDIA_TYPE),
                ("Cache-Control", f"public, max-age={max_age}"),
            ],
        )

    def _metadata(self) -> tuple[bytes, str, list]:
        body, etag = metadata_document(self.runtime.settings)
        return body, etag, [("Content-Type", METADATA_MEDIA_TYPE)]


def _matches(if_none_match: str | None, quoted_etag: str) -> bool:
    """RFC 9110 §13.1.2: a weak comparison against any listed tag, or ``*``."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or quoted_etag in tags


def install_published_documents(app: Flask) -> None:
    app.wsgi_app = PublishedDocuments(app, app.wsgi_app)
