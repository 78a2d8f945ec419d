"""Brute-force limits (Flask-Limiter): failed attempts are counted, successes are not.

- Client authentication at the token, introspection and revocation endpoints: per client id and
  per IP, so that guessing one client's secret and spraying many clients from one address both
  stop early (default 30 failures a minute each).
- Sign-in: per account, whatever the address (a botnet cannot spread the guesses), and per IP.

Over the limit: 429 with ``Retry-After``, in the endpoint's own error format. Counters live in
memory by default (one process) or in Redis (``AUTHSERVER_RATE_LIMIT_STORAGE``), shared by every
process and host.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from authserver.config import Settings

_CLIENT_AUTH_ENDPOINTS = ("oauth.token", "oauth.introspect", "oauth.revoke")
_SIGN_IN_ENDPOINT = "accounts.login"


def _presented_client_id() -> str:
    """The client id the request claims (Basic header or form), for counting failures."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value, validate=True).decode().partition(":")[0]
            return unquote(user)[:128]
        except (binascii.Error, UnicodeDecodeError):
            return "-"
    # Cache the raw body before parsing the form, so that the request guards still see it.
    request.get_data(cache=True)
    return (request.form.get("client_id") or "-")[:128]


def _account() -> str:
    return (request.form.get("email") or "-").strip().lower()[:320]


def _failed_client_auth(response: Response) -> bool:
    return response.status_code == 401


def _failed_sign_in(response: Response) -> bool:
    return request.method == "POST" and response.status_code == 401


def _too_many(error: RateLimitExceeded) -> Response:
    """The 429 in the endpoint's own format; Flask-Limiter adds Retry-After to it."""
    if request.endpoint == _SIGN_IN_ENDPOINT:
        return make_response(
            render_template("error.html", message="Too many sign-in attempts. Try again later."),
            429,
        )
    response = jsonify(
        error="too_many_requests", error_description="Too many failed attempts; retry later."
    )
    response.status_code = 429
    response.headers["Cache-Control"] = "no-store"
    return response


def install_rate_limits(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage,
        strategy="moving-window",
        key_prefix="authserver",
        headers_enabled=True,
    )
    app.register_error_handler(RateLimitExceeded, _too_many)
    for endpoint in _CLIENT_AUTH_ENDPOINTS:
        view = app.view_functions[endpoint]
        for key_func, scope in ((_presented_client_id, "client"), (get_remote_address, "ip")):
            view = limiter.limit(
                settings.rate_limit_client_auth,
                key_func=key_func,
                scope=f"client-auth-{scope}",
                deduct_when=_failed_client_auth,
            )(view)
        app.view_functions[endpoint] = view
    view = app.view_functions[_SIGN_IN_ENDPOINT]
    for limit, key_func, scope in (
        (settings.rate_limit_sign_in_account, _account, "account"),
        (settings.rate_limit_sign_in_ip, get_remote_address, "ip"),
    ):
        view = limiter.limit(
            limit,
            key_func=key_func,
            scope=f"sign-in-{scope}",
            methods=["POST"],
            deduct_when=_failed_sign_in,
        )(view)
    app.view_functions[_SIGN_IN_ENDPOINT] = view
    return limiter
