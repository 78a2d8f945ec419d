"""Error mapping for the HTTP faces, in one place.

Protocol and JSON endpoints answer in the RFC 6749 §5.2 shape (``error`` and
``error_description``); the text is ours, never an exception's. Unexpected errors are
logged with their detail and answered with a generic ``server_error``.
"""

from __future__ import annotations

import logging

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Flask, Response, jsonify, make_response, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from authserver.keys.kek import KekError
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.logging_setup import loggable_path
from authserver.rbac.containment import NotPermitted, audit_refusal
from authserver.web.problems import problem_for
from authserver.web.wording import page_words

log = logging.getLogger(__name__)

_HTTP_ERROR_CODES = {405: "invalid_request", 404: "not_found", 413: "invalid_request"}
# Browser pages answer with the error page; everything else is JSON.
_PAGE_BLUEPRINTS = frozenset({"accounts", "mfa", "home", "admin", "device", "reset"})
_PAGE_ENDPOINTS = frozenset({"authorize.authorize", "authorize.end_session"})
#: How long a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_SECONDS = 5


def roll_back(error: AuthServerError) -> None:
    """Undo what a refused change wrote; a refusal by the no-escalation rule is then recorded
    on its own, committed (an attempt to escalate is a security event)."""
    db.session.rollback()
    if isinstance(error, NotPermitted):
        audit_refusal(error)
        db.session.commit()


def _json_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _is_admin_api() -> bool:
    return request.path.startswith("/api/")


def _wants_a_page() -> bool:
    """A browser asking for a page that is not there (not the API, not a protocol client)."""
    if _is_admin_api() or request.path.startswith(("/oauth/", "/.well-known/")):
        return False
    accept = request.accept_mimetypes
    return accept.accept_html and accept["text/html"] >= accept["application/json"]


def _problem(status: int, detail: str) -> Response:
    """RFC 9457, the admin API's error format."""
    return problem_for(status, detail).response()


def json_error_for(error: Exception, method: str, path: str) -> Response:
    """What a JSON endpoint answers to ``error``: the handlers below for every such endpoint, and
    the endpoints answered without a request context (``oauth.direct``) directly."""
    if isinstance(error, RequestEntityTooLarge):
        return _json_error(413, "invalid_request", "The request body is too large.")
    if isinstance(error, HTTPException):
        status = error.code or 400
        response = _json_error(status, _HTTP_ERROR_CODES.get(status, "invalid_request"),
                               error.name or "Bad request")  # fmt: skip
        if status == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response
    if isinstance(error, AuthServerError):
        if error.detail:
            log.info("request failed: %s (%s)", error.error, error.detail)
        response = _json_error(error.status, error.error, error.description)
        if error.retry_after is not None:
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, OAuth2Error):
        # Raised before Authlib's own error handling (InsecureTransportError: plain http to a
        # host that is not this machine, RFC 6749 §3.1, §3.2 require TLS): its own answer.
        description = error.get_error_description() or "The request is not valid."
        return _json_error(error.status_code or 400, error.error, description)
    if isinstance(error, _DEPENDENCY_DOWN):
        _dependency_down(error, method, path)
        response = _json_error(503, "temporarily_unavailable", _UNAVAILABLE)
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response
    log.exception("unexpected error on %s %s", method, loggable_path(path))
    return _json_error(500, "server_error", "The server could not handle the request.")


_UNAVAILABLE = "The service is temporarily unavailable. Try again shortly."


# What the server cannot work without and may get back without a restart: the database
# (stopped, restarting, network), or KEKs that open what the database holds (a database
# restored without its KEK, a KEK rotated away too early: AUTHSERVER_KEK_PREVIOUS).
_DEPENDENCY_DOWN = (OperationalError, KekError)


def _dependency_down(error: Exception, method: str, path: str) -> None:
    """Logged and this request's session rolled back; the pool reconnects by itself."""
    if isinstance(error, KekError):
        log.error("cannot open a sealed secret on %s %s (%s): is AUTHSERVER_KEK the key this "
                  "database was sealed with?", method, path, error)  # fmt: skip
    else:
        cause = error.orig if error.orig is not None else error
        log.error("database unavailable on %s %s: %s", method, path, type(cause).__name__)
    try:
        db.session.rollback()
    except DBAPIError:
        pass  # the connection is gone already; the pool discards it


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(e: RequestEntityTooLarge) -> Response:
        if _is_admin_api():
            return _problem(413, "The request body is too large.")
        return json_error_for(e, request.method, request.path)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Response:
        status = e.code or 400
        if request.path.startswith("/admin/") or request.path == "/admin":
            message = "No such page." if status == 404 else (e.name or "Bad request")
            return make_response(render_template("error.html", message=message), status)
        if status == 404 and _wants_a_page():
            return make_response(render_template("error.html", message="No such page."), 404)
        if not _is_admin_api():
            return json_error_for(e, request.method, request.path)
        response = _problem(status, e.name or "Bad request")
        if status == 405 and getattr(e, "valid_methods", None):
            response.headers["Allow"] = ", ".join(e.valid_methods)
        return response

    @app.errorhandler(AuthServerError)
    def domain_error(e: AuthServerError) -> Response:
        if not _is_admin_api():
            return json_error_for(e, request.method, request.path)
        response = _problem(e.status, e.description)
        if e.retry_after is not None:
            response.headers["Retry-After"] = str(e.retry_after)
        return response

    @app.errorhandler(OAuth2Error)
    def protocol_error(e: OAuth2Error) -> Response:
        if request.blueprint in _PAGE_BLUEPRINTS or request.endpoint in _PAGE_ENDPOINTS:
            return make_response(render_template("error.html", message=page_words(e)), 400)
        return json_error_for(e, request.method, request.path)

    def dependency_down(e: Exception) -> Response:
        """503 with Retry-After in the endpoint's format."""
        if _is_admin_api():
            _dependency_down(e, request.method, request.path)
            response = _problem(503, _UNAVAILABLE)
        elif request.blueprint in _PAGE_BLUEPRINTS or request.endpoint in _PAGE_ENDPOINTS:
            _dependency_down(e, request.method, request.path)
            response = make_response(render_template("error.html", message=_UNAVAILABLE), 503)
        else:
            return json_error_for(e, request.method, request.path)
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    for dependency_error in _DEPENDENCY_DOWN:
        app.register_error_handler(dependency_error, dependency_down)

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Response:
        if _is_admin_api():
            log.exception("unexpected error on %s %s", request.method,
                          loggable_path(request.path))  # fmt: skip
            return _problem(500, "The server could not handle the request.")
        return json_error_for(e, request.method, request.path)
