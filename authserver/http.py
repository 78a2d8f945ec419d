"""Error mapping for the HTTP faces, in one place.

Protocol and JSON endpoints answer in the RFC 6749 §5.2 shape (``error`` and
``error_description``); the text is ours, never an exception's. Unexpected errors are
logged with their detail and answered with a generic ``server_error``.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, make_response, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from authserver.errors import AuthServerError

log = logging.getLogger(__name__)

_HTTP_ERROR_CODES = {405: "invalid_request", 404: "not_found", 413: "invalid_request"}
# Browser pages answer with the error page; everything else is JSON.
_PAGE_BLUEPRINTS = frozenset({"accounts", "mfa", "home", "admin", "device"})
_PAGE_ENDPOINTS = frozenset({"authorize.authorize", "authorize.end_session"})
#: How long a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5


def _json_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _is_admin_api() -> bool:
    return request.path.startswith("/api/")


def _problem(status: int, detail: str) -> Response:
    """RFC 9457, the admin API's error format."""
    from authserver.api.v1.framework import problem_for

    return problem_for(status, detail).response()


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e: RequestEntityTooLarge) -> Response:
        if _is_admin_api():
            return _problem(413, "The request body is too large.")
        return _json_error(413, "invalid_request", "The request body is too large.")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        status = e.code or 400
        if request.path.startswith("/admin/") or request.path == "/admin":
            message = "No such page." if status == 404 else (e.name or "Bad request")
            return make_response(render_template("error.html", message=message), status)
        if _is_admin_api():
            response = _problem(status, e.name or "Bad request")
        else:
            response = _json_error(
                status, _HTTP_ERROR_CODES.get(status, "invalid_request"), e.name or "Bad request"
            )
        if status == 405 and getattr(e, "valid_methods", None):
            response.headers["Allow"] = ", ".join(e.valid_methods)
        return response

    @app.errorhandler(AuthServerError)
    def domain_error(e: AuthServerError) -> Response:
        if _is_admin_api():
            return _problem(e.status, e.description)
        if e.detail:
            log.info("request failed: %s (%s)", e.error, e.detail)
        return _json_error(e.status, e.error, e.description)

    @app.errorhandler(OperationalError)
    def database_unavailable(e: DBAPIError) -> Response:
        """The database is unreachable (stopped, restarting, network): 503 with Retry-After in
        the endpoint's format; the pool reconnects by itself once it is back."""
        from authserver.extensions import db

        log.error("database unavailable on %s %s: %s", request.method, request.path,
                  type(e.orig).__name__ if e.orig is not None else type(e).__name__)  # fmt: skip
        try:
            db.session.rollback()
        except DBAPIError:
            pass  # the connection is gone already; the pool discards it
        message = "The service is temporarily unavailable. Try again shortly."
        if _is_admin_api():
            response = _problem(503, message)
        elif request.blueprint in _PAGE_BLUEPRINTS or request.endpoint in _PAGE_ENDPOINTS:
            response = make_response(render_template("error.html", message=message), 503)
        else:
            response = _json_error(503, "temporarily_unavailable", message)
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        if _is_admin_api():
            return _problem(500, "The server could not handle the request.")
        return _json_error(500, "server_error", "The server could not handle the request.")
