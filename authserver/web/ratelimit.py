"""Budgets around the views: what is counted, when, and what a caller over budget is told.

Three kinds, each counted first and decided on the count (``budgets.buckets``), in the counters
every worker of the host shares, or every instance with Redis (``budgets.store``):

- **Request budgets** (token buckets, rate and burst), taken before the view: dynamic
  registration per initial access token and per IP; device authorization and PAR per client and,
  for callers that present no client credentials (public clients), per IP; passkey options per
  IP; per-client quotas for token and introspection requests (``oauth.quotas``). Every answer
  carries ``RateLimit`` and ``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers-11).
- **Attempt budgets**, reserved before a guess is checked and kept only when it failed
  (refunded otherwise): sign-in, second factors, device user codes. Of 20 concurrent wrong
  passwords against a budget of 5, 5 are checked and 15 answered 429 unchecked.
- **Failure budgets**, counted after the check: client authentication at the OAuth endpoints
  and credentials at /api/v1. Their secrets are server-made (256-bit secrets, signatures, API
  keys), so checking one first costs microseconds and tells a guesser nothing; a right one is
  then never refused because others failed from the same address or with the same client id.
  A failure over budget is answered 429 instead of 401.

Sign-in (OWASP Credential Stuffing Prevention, Keycloak brute-force detection) cannot be used to
lock an owner out: the budgets that refuse are per (account, IP) and per IP, so an attacker
spends only their own; the account-wide budget over every unknown device only slows sign-ins
(1 s, doubling per attempt beyond it, at most ``AUTHSERVER_SIGN_IN_SLOWDOWN_MAX``; the right
password still works); and a browser that signed in to the account before (its device cookie,
``web.device_cookies``) is counted on a budget of its own that nothing else touches.

Over budget: 429 with ``Retry-After`` and the RateLimit fields, in the endpoint's own format
(RFC 6749 JSON, RFC 9457 problem+json at /api/v1, the error page on browser pages). The moment a
failure budget runs out is audited (``ratelimit:lockout:started``) and counted
(``authserver_lockouts_total``). Only the limited views are wrapped, and on the token endpoint's
success path nothing is counted at all. The token, introspection and revocation endpoints,
answered in front of Flask (``oauth.direct``), call the same ``EndpointBudgets``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Sequence
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
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.budgets.buckets import Charge, Mode, Outcome, Verdict
from authserver.budgets.fields import add_fields, noted, retry_after_seconds
from authserver.budgets.store import Counters
from authserver.platform.config import Settings
from authserver.platform.extensions import db
from authserver.platform.metrics import lockouts, rate_limited, sign_ins_slowed
from authserver.platform.rates import Rate, parse_rates
from authserver.platform.runtime import runtime_of
from authserver.web.device_cookies import device_of
from authserver.web.problems import problem_for

log = logging.getLogger(__name__)

_CLIENT_AUTH_ENDPOINTS = (
    "oauth.token",
    "oauth.introspect",
    "oauth.revoke",
    "oauth.device_authorization",
    "oauth.pushed_authorization",
)
_SIGN_IN_ENDPOINT = "accounts.login"
_FACTOR_ENDPOINTS = ("mfa.second_factor", "mfa.second_factor_passkey", "mfa.passwordless_sign_in")
_PASSKEY_OPTIONS = ("mfa.passwordless_options", "mfa.second_factor_passkey_options")
#: Slowed sign-ins waiting at once in one process: the rest are told to come back, so that an
#: attack on one account cannot hold every thread of a worker.
MAX_WAITING = 2

#: The endpoint's error format for a 429.
PAGE, JSON, OAUTH, PROBLEM = "page", "json", "oauth", "problem"
QUOTA_EXCEEDED = "https://iana.org/assignments/http-problem-types#quota-exceeded"
_TOO_MANY_FAILED = "Too many failed attempts; retry later."
_TOO_MANY_REQUESTS = "Too many requests; retry later."
_PAGE_MESSAGES = {
    _SIGN_IN_ENDPOINT: "Too many sign-in attempts. Try again later.",
    "device.enter_code": "Too many attempts. Try again later.",
}


def client_address(request: Request) -> str:
    """The caller's address as budgets key it: an IPv4 address, or the /64 of an IPv6 one (a
    single host is routinely given a whole /64)."""
    raw = request.remote_addr or "127.0.0.1"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _presented_client_id(request: Request) -> str:
    """The client id the request claims (Basic header or form)."""
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


def _presents_client_credentials(request: Request) -> bool:
    if request.headers.get("Authorization"):
        return True
    request.get_data(cache=True)
    return bool(request.form.get("client_secret") or request.form.get("client_assertion"))


def _account(request: Request) -> str:
    return (request.form.get("email") or "-").strip().lower()[:320]


def _bearer(request: Request) -> str | None:
    """A digest of the request's credential (its initial access token), never the token."""
    value = request.headers.get("Authorization", "")
    if not value:
        return None
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One budget: its name (in the RateLimit fields, metrics and audit), its rates, and the
    key of a request (None: the rule does not apply to it). ``actor`` names who the audit
    record of a lockout is about."""

    policy: str
    rates: tuple[Rate, ...]
    key: Callable[[Request], str | None]
    actor: Callable[[Request], str] = lambda request: "anonymous"

    def charge(self, request: Request) -> Charge | None:
        if not self.rates:
            return None
        key = self.key(request)
        return None if key is None else Charge(f"{self.policy}|{key}", self.rates)


Named = list[tuple[Rule, Charge]]


def _charges(rules: Sequence[Rule], request: Request) -> Named:
    named = []
    for rule in rules:
        charge = rule.charge(request)
        if charge is not None:
            named.append((rule, charge))
    return named


class RateLimits:
    """The counters and every endpoint's budgets."""

    def __init__(self, counters: Counters, settings: Settings) -> None:
        self.counters = counters
        self.settings = settings
        self.budgets: dict[str, EndpointBudgets] = {}
        # Replaceable in tests, which never wait.
        self.sleep: Callable[[float], None] = time.sleep
        self._waiting = threading.BoundedSemaphore(MAX_WAITING)

    def apply(self, named: Named, mode: Mode) -> Outcome:
        return self.counters.apply([charge for _, charge in named], mode)

    def try_wait(self, seconds: float) -> bool:
        """Hold this request ``seconds``, unless too many already wait in this process."""
        if not self._waiting.acquire(blocking=False):
            return False
        try:
            self.sleep(seconds)
        finally:
            self._waiting.release()
        return True

    def locked(self, request: Request, rule: Rule, effect: str, verdict: Verdict) -> None:
        """A budget just ran out (or began to slow): audited once, counted."""
        lockouts.labels(rule.policy, effect).inc()
        try:
            db.session.rollback()  # what the failed request left unwritten stays so
            wait = verdict.retry_after or _next_token(verdict)
            record(Tag.LOCKOUT_STARTED, actor=rule.actor(request)[:320], outcome="failure",
                   budget=rule.policy, effect=effect,
                   retry_after=retry_after_seconds(wait))  # fmt: skip
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.warning("could not audit a lockout of %s (database unavailable)", rule.policy)


def _next_token(verdict: Verdict) -> float:
    """When a spent budget takes its next request: one token's time in the emptiest tier."""
    spent = [t for t in verdict.tiers if t.remaining == 0]
    if not spent:
        return 0.0
    return max(t.reset_seconds - t.rate.capacity + t.rate.interval for t in spent)


class EndpointBudgets:
    """One endpoint's budgets around its answer."""

    def __init__(self, limits: RateLimits, endpoint: str, fmt: str, *,
                 requests: Sequence[Rule] = (), attempts: Sequence[Rule] = (),
                 failures: Sequence[Rule] = (),
                 failed: Callable[[int], bool] = lambda status: status == 401) -> None:  # fmt: skip
        self.limits, self.endpoint, self.fmt = limits, endpoint, fmt
        self.requests, self.attempts, self.failures = tuple(requests), tuple(attempts), failures
        self.failed = failed

    def answer(self, request: Request, respond: Callable[[], Response]) -> Response:
        """``respond()`` within the endpoint's budgets."""
        limits = self.limits
        if self.requests:
            named = _charges(self.requests, request)
            if named:
                outcome = limits.apply(named, Mode.TAKE)
                _note(request, named, outcome)
                if not outcome.allowed:
                    return self._too_many(request, named, outcome, _TOO_MANY_REQUESTS)
        reserved: Named = _charges(self.attempts, request) if self.attempts else []
        if reserved:
            taken = limits.apply(reserved, Mode.TAKE)
            if not taken.allowed:
                return self._too_many(request, reserved, taken)
        response = respond()
        failed = self.failed(response.status_code)
        if reserved:
            if failed:
                self._report_spent(request, reserved, taken)
            else:
                limits.apply(reserved, Mode.REFUND)
        if failed and self.failures:
            named = _charges(self.failures, request)
            outcome = limits.apply(named, Mode.TAKE)
            if not outcome.allowed:
                response = self._too_many(request, named, outcome)
            else:
                self._report_spent(request, named, outcome)
        return self._with_fields(request, response)

    def _report_spent(self, request: Request, named: Named, outcome: Outcome) -> None:
        for (rule, _), verdict in zip(named, outcome.verdicts, strict=True):
            if verdict.is_spent:
                self.limits.locked(request, rule, "refused", verdict)

    def _with_fields(self, request: Request, response: Response) -> Response:
        fields = noted(request.environ)
        if fields:
            add_fields(response.headers, fields)
        return response

    def _too_many(
        self, request: Request, named: Named, outcome: Outcome, description: str = _TOO_MANY_FAILED
    ) -> Response:
        """The 429 in the endpoint's own format, with Retry-After and the refusing budgets'
        RateLimit fields."""
        rate_limited.labels(self.endpoint).inc()
        refusing = [
            (rule.policy, verdict)
            for (rule, _), verdict in zip(named, outcome.verdicts, strict=True)
            if not verdict.allowed
        ]
        response = too_many_response(self.fmt, self.endpoint, description,
                                     [policy for policy, _ in refusing])  # fmt: skip
        response.headers["Retry-After"] = str(retry_after_seconds(outcome.retry_after))
        fields = noted(request.environ)
        add_fields(response.headers, [*fields, *(f for f in refusing if f not in fields)])
        return response


def _note(request: Request, named: Named, outcome: Outcome) -> None:
    from authserver.budgets.fields import note

    for (rule, _), verdict in zip(named, outcome.verdicts, strict=True):
        note(request.environ, rule.policy, verdict)


class SignInBudgets(EndpointBudgets):
    """The sign-in form: a known device on its own budget; otherwise per (account, IP) and per
    IP, reserved first, and the account-wide slow-down."""

    def __init__(self, limits: RateLimits, *, device: Rule, account_ip: Rule, ip: Rule,
                 slowdown: Rule) -> None:  # fmt: skip
        super().__init__(limits, _SIGN_IN_ENDPOINT, PAGE)
        self.device, self.account_ip, self.ip, self.slowdown = device, account_ip, ip, slowdown

    def answer(self, request: Request, respond: Callable[[], Response]) -> Response:
        if request.method != "POST":
            return respond()
        limits = self.limits
        account = _account(request)
        reserved: Named = []
        taken: Outcome | None = None
        nonce = device_of(request, account) if account != "-" else None
        if nonce is not None:
            named = _charges([self.device], request)
            outcome = limits.apply(named, Mode.TAKE)
            if outcome.allowed:  # else: a spent device cookie counts for nothing
                reserved, taken = named, outcome
        slowed: Named = []
        if not reserved:
            reserved = _charges([self.account_ip, self.ip], request)
            taken = limits.apply(reserved, Mode.TAKE)
            if not taken.allowed:
                return self._too_many(request, reserved, taken)
            slowed = _charges([self.slowdown], request)
            if slowed:
                delay = self._slow_down(request, slowed)
                if delay and not limits.try_wait(delay):
                    limits.apply(reserved, Mode.REFUND)
                    limits.apply(slowed, Mode.REFUND)
                    return self._busy(delay)
        response = respond()
        status = response.status_code
        if status == 401:
            self._report_spent(request, reserved, taken)
        elif 300 <= status < 400:
            # Signed in (or on to the second factor): the right password. The budgets of this
            # account from here start afresh; what others counted loses only this attempt.
            limits.apply(reserved[:1], Mode.RESET)
            limits.apply(reserved[1:] + slowed, Mode.REFUND)
        else:
            limits.apply(reserved + slowed, Mode.REFUND)
        return response

    def _slow_down(self, request: Request, slowed: Named) -> float:
        """Count the attempt on the account's budget; seconds to wait when beyond it."""
        outcome = self.limits.apply(slowed, Mode.FORCE)
        over = outcome.verdicts[0].over
        if over <= 0:
            return 0.0
        if over == 1:
            self.limits.locked(request, self.slowdown, "slowed", outcome.verdicts[0])
        sign_ins_slowed.inc()
        return float(min(2 ** (over - 1), self.limits.settings.sign_in_slowdown_max_seconds))

    def _busy(self, delay: float) -> Response:
        rate_limited.labels(self.endpoint).inc()
        response = too_many_response(PAGE, self.endpoint, "", [])
        response.headers["Retry-After"] = str(retry_after_seconds(delay))
        return response


def too_many_response(fmt: str, endpoint: str, description: str, policies: list[str]) -> Response:
    if fmt == PAGE:
        message = _PAGE_MESSAGES.get(endpoint, "Too many sign-in attempts. Try again later.")
        return make_response(render_template("error.html", message=message), 429)
    if fmt == PROBLEM:
        problem = problem_for(429, description)
        # The problem type of draft-ietf-httpapi-ratelimit-headers-11 §5.1.
        problem.extensions = {"type": QUOTA_EXCEEDED, "violated-policies": policies}
        return problem.response()
    response = jsonify(error="too_many_requests", error_description=description)
    response.status_code = 429
    response.headers["Cache-Control"] = "no-store"
    return response


def _response_of(view: Callable, args: tuple, kwargs: dict) -> Response:
    """The view's response, or the one its HTTP error would become (an aborted form is a response
    too, and may be a failure to count)."""
    try:
        return current_app.make_response(view(*args, **kwargs))
    except HTTPException as error:
        return current_app.make_response(current_app.handle_user_exception(error))


def _signed_in_subject(request: Request) -> str | None:
    from authserver.web.browser import current_session

    session = current_session()
    return session.user.subject if session is not None else None


def install_rate_limits(app: Flask, settings: Settings) -> RateLimits:
    runtime = runtime_of(app)
    limits = RateLimits(runtime.counters, settings)
    rates = {field: parse_rates(getattr(settings, field)) for field in (
        "rate_limit_client_auth", "rate_limit_sign_in_account", "rate_limit_sign_in_ip",
        "sign_in_slowdown", "rate_limit_registration", "rate_limit_registration_ip",
        "rate_limit_device_authorization", "rate_limit_device_authorization_ip",
        "rate_limit_par", "rate_limit_par_ip", "rate_limit_passkey_options_ip",
    )}  # fmt: skip

    def wrap(budgets: EndpointBudgets, methods: tuple[str, ...] = ()) -> None:
        endpoint = budgets.endpoint
        limits.budgets[endpoint] = budgets
        view = app.view_functions.get(endpoint)
        if view is None:
            return  # answered in front of Flask (oauth.direct), which calls budgets.answer

        @functools.wraps(view)
        def guarded(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if methods and request.method not in methods:
                return view(*args, **kwargs)
            return budgets.answer(
                request._get_current_object(), lambda: _response_of(view, args, kwargs)
            )

        app.view_functions[endpoint] = guarded

    by_ip = client_address
    client_auth = rates["rate_limit_client_auth"]
    client_failures = [
        Rule("client-auth-client", client_auth, _presented_client_id, _presented_client_id),
        Rule("client-auth-ip", client_auth, by_ip),
    ]
    public_only = _when(lambda r: not _presents_client_credentials(r), by_ip)
    request_rules = {
        "oauth.device_authorization": [
            Rule("device-authorization-client", rates["rate_limit_device_authorization"],
                 _presented_client_id),
            Rule("device-authorization-ip", rates["rate_limit_device_authorization_ip"],
                 public_only),
        ],
        "oauth.pushed_authorization": [
            Rule("par-client", rates["rate_limit_par"], _presented_client_id),
            Rule("par-ip", rates["rate_limit_par_ip"], public_only),
        ],
    }  # fmt: skip
    for endpoint in _CLIENT_AUTH_ENDPOINTS:
        wrap(EndpointBudgets(limits, endpoint, OAUTH, requests=request_rules.get(endpoint, ()),
                             failures=client_failures))  # fmt: skip
    per_account, per_ip = rates["rate_limit_sign_in_account"], rates["rate_limit_sign_in_ip"]

    def account_and(part: Callable[[Request], str | None]) -> Callable[[Request], str | None]:
        return lambda r: f"{_account(r)}|{part(r)}"

    wrap(SignInBudgets(
        limits,
        device=Rule("sign-in-device", per_account,
                    account_and(lambda r: device_of(r, _account(r))), _account),
        account_ip=Rule("sign-in-account-ip", per_account, account_and(by_ip), _account),
        ip=Rule("sign-in-ip", per_ip, by_ip),
        slowdown=Rule("sign-in-account", rates["sign_in_slowdown"], _account, _account),
    ), methods=("POST",))  # fmt: skip
    for endpoint in _FACTOR_ENDPOINTS:
        wrap(EndpointBudgets(limits, endpoint, PAGE,
                             attempts=[Rule("second-factor-ip", per_ip, by_ip)]),
             methods=("POST",))  # fmt: skip
    # Guessing the current password from a signed-in session: wrong ones count against the
    # address, as second-factor attempts do.
    wrap(EndpointBudgets(limits, "accounts.password", PAGE, attempts=[
        Rule("password-change-ip", per_ip, by_ip),
        # and against the account, as sign-in does: many addresses do not make many guesses
        Rule("password-change-account", per_account, _signed_in_subject),
    ], failed=lambda status: status == 400), methods=("POST",))  # fmt: skip
    # Reset mail: each request may send one, so a budget per address (as for passkey options);
    # guessing a link's token counts its failures against the address.
    wrap(EndpointBudgets(limits, "reset.ask", PAGE,
                         requests=[Rule("password-reset-ip", per_ip, by_ip)]),
         methods=("POST",))  # fmt: skip
    wrap(EndpointBudgets(limits, "reset.choose", PAGE,
                         attempts=[Rule("password-reset-link-ip", per_ip, by_ip)],
                         failed=lambda status: status == 400), methods=("POST",))  # fmt: skip
    # Guessing device user codes: wrong codes count against the address (RFC 8628 §5.1).
    wrap(EndpointBudgets(limits, "device.enter_code", PAGE,
                         attempts=[Rule("device-code-ip", per_ip, by_ip)],
                         failed=lambda status: status == 400), methods=("POST",))  # fmt: skip
    # Each options call stores a challenge for five minutes: a budget per IP.
    for endpoint in _PASSKEY_OPTIONS:
        options = Rule("passkey-options-ip", rates["rate_limit_passkey_options_ip"], by_ip)
        wrap(EndpointBudgets(limits, endpoint, JSON, requests=[options]))
    registering = _when(lambda r: settings.dynamic_registration, by_ip)
    wrap(EndpointBudgets(limits, "registration.register", OAUTH, requests=[
        Rule("registration-token", rates["rate_limit_registration"],
             _when(lambda r: settings.dynamic_registration, _bearer)),
        Rule("registration-ip", rates["rate_limit_registration_ip"], registering),
    ]))  # fmt: skip
    # Credentials at the admin API: counted when they fail, like client credentials.
    api_failures = [Rule("api-auth-ip", client_auth, by_ip)]
    for endpoint in [e for e in app.view_functions if e.startswith("api_v1.")]:
        wrap(EndpointBudgets(limits, endpoint, PROBLEM, failures=api_failures))
    app.extensions["authserver.rate_limits"] = limits
    return limits


def _when(condition: Callable[[Request], bool],
          key: Callable[[Request], str | None]) -> Callable[[Request], str | None]:  # fmt: skip
    return lambda request: key(request) if condition(request) else None
