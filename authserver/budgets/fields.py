"""The RateLimit and RateLimit-Policy response fields (draft-ietf-httpapi-ratelimit-headers-11,
§3 and §4: Structured Field lists of String items).

``RateLimit-Policy: "device-ip";q=10;w=60`` says the policy allows ``q`` requests in ``w``
seconds; ``RateLimit: "device-ip";r=7;t=18`` that ``r`` are left and the bucket is full again in
``t`` seconds. For a token bucket (rate and burst) ``q`` is the burst and ``w`` the time an empty
bucket takes to fill. On a 429 ``t`` is when the next request fits, the same as ``Retry-After``
(§6: Retry-After must not point before the end of the effective window). A budget of several
tiers names each tier by its window (``"sign-in-ip-900"``). No partition key is sent (``pk``):
the server's keys (an address, an account) are not the client's business.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from werkzeug.datastructures import Headers

from authserver.budgets.buckets import TierState, Verdict
from authserver.platform.request_state import state_of


def _name(policy: str, state: TierState, several: bool) -> str:
    return f'"{policy}-{state.rate.window_seconds}"' if several else f'"{policy}"'


def add_fields(headers: Headers, verdicts: Iterable[tuple[str, Verdict]]) -> None:
    """RateLimit-Policy and RateLimit for each named verdict's tiers."""
    policies, limits = [], []
    for policy, verdict in verdicts:
        several = len(verdict.tiers) > 1
        for state in verdict.tiers:
            name = _name(policy, state, several)
            policies.append(f"{name};q={state.rate.burst};w={state.rate.window_seconds}")
            if state.retry_after > 0:
                limits.append(f"{name};r=0;t={retry_after_seconds(state.retry_after)}")
            else:
                limits.append(f"{name};r={state.remaining};t={math.ceil(state.reset_seconds)}")
    if policies:
        headers["RateLimit-Policy"] = ", ".join(policies)
        headers["RateLimit"] = ", ".join(limits)


def retry_after_seconds(seconds: float) -> int:
    """Whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3 delay-seconds)."""
    return max(math.ceil(seconds - 1e-9), 1)


def note(environ: dict, policy: str, verdict: Verdict) -> None:
    """What a charged budget tells the response (request budgets and client quotas are charged
    in different places on the way to one response)."""
    state_of(environ).budgets.append((policy, verdict))


def noted(environ: dict) -> list[tuple[str, Verdict]]:
    return state_of(environ).budgets
