"""Brute-force limits: failed attempts are counted, successes are not.

- Client authentication at the token, introspection and revocation endpoints: per client id and
  per IP, so that guessing one client's secret and spraying many clients from one address both
  stop early (default 30 failures a minute each).
- Sign-in: per account, whatever the address (a botnet cannot spread the guesses), and per IP.
- Second factors (codes, recovery codes, passkeys): per IP here; per account, with exponential
  back-off, in ``mfa.service`` (the counter lives on the user row, shared by every process).

Over the limit: 429 with ``Retry-After``, in the endpoint's own error format. Counters live in
memory by default (one process) or in Redis (``AUTHSERVER_RATE_LIMIT_STORAGE``), shared by every
process and host; moving windows (the ``limits`` library, which Flask-Limiter is built on).

Only the limited views are wrapped: no hook runs on other requests. (Flask-Limiter's global
before/after-request hooks resolved the limits of every request, about 0.2 ms each even where no
limit applied; see bench/README.md.) The token, introspection and revocation endpoints, answered
in front of Flask (``oauth.direct``), apply the same ``Budgets``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import unquote

from flask import (
    Flask,
    Request,
    Response,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
)
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import HTTPException

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
_PAGE_ENDPOINTS = (_SIGN_IN_ENDPOINT, "device.enter_code", *_FACTOR_ENDPOINTS)


def remote_address(request: Request) -> str:
    return request.remote_addr or "127.0.0.1"


def _presented_client_id(request: Request) -> str:
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


def _account(request: Request) -> str:
    return (request.form.get("email") or "-").strip().lower()[:320]


def _failed(status: int) -> bool:
    """A failed client authentication or sign-in: 401 (the views answer nothing else for it)."""
    return status == 401


@dataclass(frozen=True)
class Rule:
    """Some limits on one key of the request. ``counts`` decides from a response's status whether
    it is a failure to count; without it every request counts, before the view runs."""

    limits: tuple[RateLimitItem, ...]
    key: Callable[[Request], str]
    scope: str
    counts: Callable[[int], bool] | None = None


@dataclass(frozen=True)
class Budgets:
    """One endpoint's rules over the shared moving windows."""

    endpoint: str
    rules: tuple[Rule, ...]
    window: MovingWindowRateLimiter

    def answer(self, request: Request, respond: Callable[[], Response]) -> Response:
        """``respond()``, unless a budget is spent (then the 429); failures are counted."""
        keyed = [(rule, rule.key(request)) for rule in self.rules]
        for rule, key in keyed:
            for limit in rule.limits:
                allowed = (
                    self.window.test(limit, rule.scope, key)
                    if rule.counts
                    else self.window.hit(limit, rule.scope, key)
                )
                if not allowed:
                    return self._too_many(limit, rule.scope, key)
        response = respond()
        for rule, key in keyed:
            if rule.counts and rule.counts(response.status_code):
                for limit in rule.limits:
                    self.window.hit(limit, rule.scope, key)
        return response

    def _too_many(self, limit: RateLimitItem, scope: str, key: str) -> Response:
        """The 429 in the endpoint's own format, with Retry-After: when the oldest counted failure
        leaves the window (RFC 6585 §4)."""
        rate_limited.labels(self.endpoint).inc()
        response = _too_many_body(self.endpoint)
        reset_at = self.window.get_window_stats(limit, scope, key).reset_time
        response.headers["Retry-After"] = str(max(int(reset_at - time.time()) + 1, 1))
        return response


class FailureLimits:
    def __init__(self, storage_uri: str) -> None:
        self.storage = storage_from_string(storage_uri)
        self.window = MovingWindowRateLimiter(self.storage)
        self.budgets: dict[str, Budgets] = {}

    def guard(self, endpoint: str, view: Callable, rules: list[Rule],
              methods: tuple[str, ...] = ()) -> Callable:  # fmt: skip
        """The Flask view with the endpoint's budgets (each endpoint has its own)."""
        rules = tuple(replace(rule, scope=f"{endpoint}/{rule.scope}") for rule in rules)
        budgets = self.budgets[endpoint] = Budgets(endpoint, rules, self.window)

        @functools.wraps(view)
        def guarded(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if methods and request.method not in methods:
                return view(*args, **kwargs)
            return budgets.answer(
                request._get_current_object(), lambda: _response_of(view, args, kwargs)
            )

        return guarded


def _response_of(view: Callable, args: tuple, kwargs: dict) -> Response:
    """The view's response, or the one its HTTP error would become (an aborted form is a response
    too, and may be a failure to count)."""
    try:
        return current_app.make_response(view(*args, **kwargs))
    except HTTPException as error:
        return current_app.make_response(current_app.handle_user_exception(error))


def _too_many_body(endpoint: str) -> Response:
    if endpoint in _PAGE_ENDPOINTS:
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


def install_rate_limits(app: Flask, settings: Settings) -> FailureLimits:
    limiter = FailureLimits(settings.rate_limit_storage)
    client_auth = tuple(parse_many(settings.rate_limit_client_auth))
    per_ip = tuple(parse_many(settings.rate_limit_sign_in_ip))
    per_account = tuple(parse_many(settings.rate_limit_sign_in_account))

    def wrap(endpoint: str, rules: list[Rule], methods: tuple[str, ...] = ()) -> None:
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.guard(endpoint, view, rules, methods)

    for endpoint in _CLIENT_AUTH_ENDPOINTS:
        wrap(endpoint, [
            Rule(client_auth, _presented_client_id, "client-auth-client", _failed),
            Rule(client_auth, remote_address, "client-auth-ip", _failed),
        ])  # fmt: skip
    wrap(_SIGN_IN_ENDPOINT, [
        Rule(per_account, _account, "sign-in-account", _failed),
        Rule(per_ip, remote_address, "sign-in-ip", _failed),
    ], methods=("POST",))  # fmt: skip
    for endpoint in _FACTOR_ENDPOINTS:
        wrap(endpoint, [Rule(per_ip, remote_address, "second-factor-ip", _failed)],
             methods=("POST",))  # fmt: skip
    # Guessing device user codes: wrong codes count against the address (RFC 8628 §5.1).
    wrap("device.enter_code", [
        Rule(per_ip, remote_address, "device-code-ip", lambda status: status == 400),
    ], methods=("POST",))  # fmt: skip
    # Each call stores a challenge for five minutes: anonymous callers get a budget per IP.
    wrap("mfa.passwordless_options", [Rule(per_ip, remote_address, "passkey-options-ip")])
    app.extensions["authserver.rate_limits"] = limiter
    return limiter
