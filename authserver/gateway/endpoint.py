"""``/gateway/check``: the decision endpoint an API gateway calls for every API request.

2xx allows (``200`` with the identity in ``X-Auth-*`` headers for the upstream, and with the
rule's ``forward_token`` an ``X-Auth-Token``: a signed RFC 9068 JWT for the upstream's
audience that ``authserver-verify`` checks); ``401`` no or bad credential (with
``WWW-Authenticate``, RFC 6750 §3), ``403`` no rule or not permitted, ``429`` over a rate
limit or quota (with ``Retry-After``). The body says nothing worth reading: gateways pass the
status and headers on. ``RateLimit-Policy``/``RateLimit`` describe the credential's limits on
every answer once it has authenticated.
"""

from __future__ import annotations

import secrets

from flask import Request, Response, current_app
from joserfc import jwt

from authserver.apikeys.service import note_use
from authserver.budgets.credential_limits import QuotaState, charge, limits_of, token_limits
from authserver.budgets.fields import add_fields
from authserver.gateway import decision as d
from authserver.gateway.digest import DenialDigest
from authserver.gateway.rules import RuleBook, first_match
from authserver.oauth.bearer import REALM, challenges
from authserver.oauth.tokens import GATEWAY_CLAIM
from authserver.platform import clock
from authserver.platform.metrics import gateway_decisions
from authserver.platform.runtime import Runtime, runtime_of
from authserver.usage import UsageCounter

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_BOOK = "authserver.gateway_rules"
_USAGE = "authserver.gateway_usage"
_DIGEST = "authserver.gateway_denials"


def install(app, book: RuleBook, usage: UsageCounter) -> None:  # noqa: ANN001
    app.extensions[_BOOK] = book
    app.extensions[_USAGE] = usage
    app.extensions[_DIGEST] = DenialDigest()


def denial_digest_of(app) -> DenialDigest:  # noqa: ANN001
    return app.extensions[_DIGEST]


def rule_book_of(app) -> RuleBook:  # noqa: ANN001
    return app.extensions[_BOOK]


def gateway_usage_of(app) -> UsageCounter:  # noqa: ANN001
    return app.extensions[_USAGE]


def decide(request: Request, appended: str | None) -> Response:
    """The answer to one check; ``appended`` is the path after ``/gateway/check/`` (Envoy)."""
    runtime = runtime_of(current_app)
    original = d.original_request(request, appended)
    if original is None:
        return _answer(d.Refusal(400, d.BAD_REQUEST), None)
    match = first_match(rule_book_of(current_app).rules(), original.method, original.host,
                        original.path)  # fmt: skip
    rule = match.rule
    if rule is None:
        return _answer(d.Refusal(403, d.NO_RULE, description="No rule allows this request."),
                       None)  # fmt: skip
    found = d.presented(request, runtime)
    if found is None:
        if "anonymous" in rule.spec.credentials:
            return _allow(rule, None, runtime, original, [])
        return _answer(d.Refusal(401, d.NO_CREDENTIAL), rule)
    credential = d.check_credential(request, original, *found, runtime)
    if isinstance(credential, d.Refusal):
        return _answer(credential, rule)
    refusal = d.check_rule(rule, credential)
    if refusal is not None:
        return _answer(refusal, rule)
    return _limited(request, rule, credential, runtime, original)


def _limited(request: Request, rule, credential: d.Credential, runtime: Runtime,  # noqa: ANN001
             original: d.Original) -> Response:  # fmt: skip
    if credential.token is not None:
        limited, rate_limit, quota_of = token_limits(credential.token.claims, runtime)
    else:
        limited = credential.principal
        rate_limit, quota_of = limits_of(credential.key, credential.client_id, runtime)
    charged = charge(runtime.counters, limited, rate_limit, quota_of)
    verdicts = [("rate-limit", charged.verdict)] if charged.verdict is not None else []
    if not charged.allowed:
        refusal = d.Refusal(429, charged.outcome, principal=credential.principal)
        return _answer(refusal, rule, verdicts, retry_after=charged.retry_after,
                       quota=charged.quota)  # fmt: skip
    if credential.key is not None:
        note_use(credential.key, request.remote_addr)
    return _allow(rule, credential, runtime, original, verdicts, charged.quota)


def _allow(rule, credential: d.Credential | None, runtime: Runtime, original: d.Original,  # noqa: ANN001
           verdicts: list, quota: QuotaState | None = None) -> Response:  # fmt: skip
    response = Response(status=200, content_type="text/plain")
    headers = response.headers
    headers["X-Auth-Rule"] = rule.spec.name
    if credential is None:
        headers["X-Auth-Credential"] = "anonymous"
    else:
        headers["X-Auth-Subject"] = credential.subject
        headers["X-Auth-Credential"] = credential.kind
        headers["X-Auth-Scope"] = " ".join(sorted(credential.scopes))
        if credential.client_id:
            headers["X-Auth-Client-Id"] = credential.client_id
        if credential.key_id:
            headers["X-Auth-Key-Id"] = credential.key_id
        if rule.spec.forward_token:
            headers["X-Auth-Token"] = _identity_token(rule, credential, runtime, original)
    _finish(response, rule, d.ALLOWED, credential.principal if credential else None, verdicts,
            quota)  # fmt: skip
    return response


def _identity_token(rule, credential: d.Credential, runtime: Runtime, original: d.Original) -> str:  # noqa: ANN001
    """An RFC 9068 access token for the upstream: who called, with what, for a short while."""
    settings = runtime.settings
    now = clock.timestamp()
    expires = now + settings.gateway_token_ttl_seconds
    if credential.token is not None:
        expires = min(expires, int(credential.token.claims["exp"]))
    elif credential.key is not None and credential.key.expires_at is not None:
        expires = min(expires, int(credential.key.expires_at.timestamp()))
    claims = {
        "iss": settings.issuer,
        "sub": credential.subject,
        "aud": rule.spec.audience or original.origin,
        "client_id": credential.client_id or "",
        "scope": " ".join(sorted(credential.scopes)),
        "iat": now,
        "exp": expires,
        "jti": secrets.token_urlsafe(16),
        GATEWAY_CLAIM: {"rule": rule.spec.name, "credential": credential.kind,
                    **({"key_id": credential.key_id} if credential.key_id else {})},
    }  # fmt: skip
    alg = settings.access_token_alg
    kid, key = runtime.keyring.signer(alg)
    return jwt.encode({"typ": "at+jwt", "alg": alg, "kid": kid}, claims, key, algorithms=[alg])


def _answer(  # noqa: ANN001
    refusal: d.Refusal,
    rule,
    verdicts: list | None = None,
    retry_after: int | None = None,
    quota: QuotaState | None = None,
) -> Response:
    response = Response(status=refusal.status, content_type="text/plain")
    if refusal.status == 401:
        response.headers["WWW-Authenticate"] = challenges(refusal.error, refusal.description)
    elif refusal.error == "insufficient_scope":
        scope = " ".join(rule.spec.scopes)
        response.headers["WWW-Authenticate"] = (
            f'Bearer {REALM}, error="insufficient_scope", '
            f'error_description="{refusal.description}", scope="{scope}"'
        )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    _finish(response, rule, refusal.outcome, refusal.principal, verdicts or [], quota)
    return response


def _finish(response: Response, rule, outcome: str, principal: str | None,  # noqa: ANN001
            verdicts: list, quota: QuotaState | None) -> None:  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    add_fields(response.headers, verdicts)
    if quota is not None:
        _add_quota_fields(response, quota)
    rule_name = rule.spec.name if rule else "none"
    gateway_decisions.labels(rule_name, outcome).inc()
    if outcome != d.ALLOWED:
        denial_digest_of(current_app).count(rule_name, outcome)
    if principal is not None:
        gateway_usage_of(current_app).count((principal, outcome))


def _add_quota_fields(response: Response, quota: QuotaState) -> None:
    """The quota as one more policy (draft-ietf-httpapi-ratelimit-headers-11 §3, §4): ``q`` the
    quota, ``w`` and ``t`` the seconds to its refill (none when it is never refilled)."""
    reset = quota.reset_seconds(clock.now())
    window = f";w={reset}" if reset else ""
    _append(response, "RateLimit-Policy", f'"quota";q={quota.limit}{window}')
    _append(
        response, "RateLimit", f'"quota";r={quota.remaining}' + (f";t={reset}" if reset else "")
    )


def _append(response: Response, name: str, value: str) -> None:
    have = response.headers.get(name)
    response.headers[name] = f"{have}, {value}" if have else value
