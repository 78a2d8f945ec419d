"""Per-client quotas on token and introspection requests: a token bucket per client
(``clients create --token-quota "600/minute burst 100"``, ``token_quota`` in the admin API),
charged once the client has authenticated, so only its own requests spend it.

A client without a quota pays nothing. One with a quota is charged in the shared counters
(``budgets.store``: this host's, or Redis's for every instance); every answer then carries
``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers-11), and over quota
the request is ``429 too_many_requests`` with ``Retry-After``, in the RFC 6749 §5.2 shape.
"""

from __future__ import annotations

import functools

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import current_app

from authserver.budgets.buckets import Charge
from authserver.budgets.fields import note, retry_after_seconds
from authserver.clients.view import ClientView
from authserver.platform.current_request import current_request
from authserver.platform.metrics import rate_limited
from authserver.platform.rates import Rate, parse_rates
from authserver.platform.runtime import runtime_of

#: Authlib's endpoint name → (the quota's field on the client, its policy name).
_QUOTAS = {
    "token": ("token_quota", "token-quota"),
    "introspection": ("introspection_quota", "introspection-quota"),
}
_ENDPOINTS = {"token": "oauth.token", "introspection": "oauth.introspect"}


class QuotaExceeded(OAuth2Error):
    error = "too_many_requests"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(description="The client's request quota is spent; retry later.")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


@functools.lru_cache(maxsize=256)
def _rates(text: str) -> tuple[Rate, ...]:
    return parse_rates(text)


def quota_rates(client: ClientView, endpoint: str) -> tuple[Rate, ...]:
    """The rates of ``client``'s quota at ``endpoint`` (Authlib's endpoint name); empty when it
    has none. The lean door (``oauth.lean``) leaves a client with a quota to this path."""
    field, _ = _QUOTAS.get(endpoint, (None, None))
    text = getattr(client, field, None) if field else None
    return _rates(text) if text else ()


def charge_quota(client: ClientView, endpoint: str) -> None:
    """Spend one request of ``client``'s quota at ``endpoint``; QuotaExceeded when it is out."""
    rates = quota_rates(client, endpoint)
    if not rates:
        return
    _, policy = _QUOTAS[endpoint]
    counters = runtime_of(current_app).counters
    outcome = counters.take([Charge(f"{policy}|{client.client_id}", rates)])
    request = current_request()
    if request is not None:
        note(request.environ, policy, outcome.verdicts[0])
    if not outcome.allowed:
        rate_limited.labels(_ENDPOINTS[endpoint]).inc()
        raise QuotaExceeded(retry_after_seconds(outcome.retry_after))
