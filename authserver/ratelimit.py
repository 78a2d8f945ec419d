"""Brute-force limits (Flask-Limiter): failed attempts are counted, successes are not.

- Client authentication at the token, introspection and revocation endpoints: per client id and
  per IP, so that guessing one client's secret and spraying many clients from one address both
  stop early (default 30 failures a minute each).
- Sign-in: per account, whatever the address (a botnet cannot spread the guesses), and per IP.
- Second factors (codes, recovery codes, passkeys): per IP here; per account, with exponential
  back-off, in ``mfa.service`` (the counter lives on the user row, shared by every process).

Over the limit: 429 with ``Retry-After``, in the endpoint's own error format. Counters live in
memory by default (one process) or in Redis (``AUTHSERVER_RATE_LIMIT_STORAGE``), shared by every
process and host.
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import unquote

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from authserver.config import Settings
from authserver.metrics import rate_limited

_CLIENT_AUTH_ENDPOINTS = (
    "oauth.token",
    "oauth.introspect",
    "oauth.revoke",
    "oauth.device_authorization",
    "oauth.pushed_authorization",
)
_SIGN_IN_ENDPOINT = "accounts.login"
# Second factors and passkey sign-in: per IP here; per account by the back-off in mfa.service.
_FACTOR_ENDPOINTS = ("mfa.second_factor", "mfa.second_factor_passkey", "mfa.passwordless_sign_in")


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


def _too_many(limiter: Limiter, error: RateLimitExceeded) -> Response:
    """The 429 in the endpoint's own format, with Retry-After: when the oldest counted failure
    leaves the window. (Flask-Limiter's own headers are off: it would stamp a Retry-After on
    every response of a limited endpoint, overriding the MFA back-off's own.)"""
    rate_limited.labels(request.endpoint or "unmatched").inc()
    response = _too_many_body()
    current = limiter.current_limit
    retry = int(current.reset_at - time.time()) + 1 if current is not None else 60
    response.headers["Retry-After"] = str(max(retry, 1))
    return response


def _too_many_body() -> Response:
    if request.endpoint in (_SIGN_IN_ENDPOINT, "device.enter_code", *_FACTOR_ENDPOINTS):
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
        headers_enabled=False,
    )
    app.register_error_handler(RateLimitExceeded, lambda error: _too_many(limiter, error))
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
    for endpoint in _FACTOR_ENDPOINTS:
        app.view_functions[endpoint] = limiter.limit(
            settings.rate_limit_sign_in_ip,
            key_func=get_remote_address,
            scope="second-factor-ip",
            methods=["POST"],
            deduct_when=_failed_sign_in,
        )(app.view_functions[endpoint])
    # Guessing device user codes: wrong codes count against the address (RFC 8628 §5.1).
    app.view_functions["device.enter_code"] = limiter.limit(
        settings.rate_limit_sign_in_ip, key_func=get_remote_address, scope="device-code-ip",
        methods=["POST"], deduct_when=lambda response: response.status_code == 400,
    )(app.view_functions["device.enter_code"])  # fmt: skip
    # Each call stores a challenge for five minutes: anonymous callers get a budget per IP.
    app.view_functions["mfa.passwordless_options"] = limiter.limit(
        settings.rate_limit_sign_in_ip, key_func=get_remote_address, scope="passkey-options-ip"
    )(app.view_functions["mfa.passwordless_options"])
    return limiter
