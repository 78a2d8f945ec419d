"""Prometheus metrics (``GET /metrics``).

Counters are per event and shared by all worker processes through prometheus_client's
multiprocess mode (``authserver serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at
``AUTHSERVER_METRICS_DIR`` before the workers start). Key-lifecycle gauges are computed
from the database at scrape time, so every worker reports the same truth.
"""

from __future__ import annotations

import functools

from flask import Blueprint, Flask, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from authserver import clock
from authserver.keys.schedule import load_schedules
from authserver.keys.service import list_keys
from authserver.keys.timeline import planned_transitions
from authserver.models import KeyState
from authserver.request_id import request_elapsed
from authserver.runtime import current_runtime

tokens_signed = Counter(
    "authserver_tokens_signed_total", "Tokens signed, per algorithm and key", ["alg", "kid"]
)
jwks_requests = Counter("authserver_jwks_requests_total", "JWKS documents served")
http_requests = Counter(
    "authserver_http_requests_total",
    "HTTP requests, per endpoint",
    ["endpoint", "method", "status"],
)
http_duration = Histogram(
    "authserver_http_request_duration_seconds",
    "Time to answer, per endpoint",
    ["endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
tokens_issued = Counter("authserver_tokens_issued_total", "Access tokens issued", ["grant_type"])
introspections = Counter("authserver_introspections_total", "Introspection answers", ["result"])
sign_in_failures = Counter("authserver_sign_in_failures_total", "Failed sign-in checks", ["method"])
rate_limited = Counter("authserver_rate_limited_total", "Requests refused with 429", ["endpoint"])
lockouts = Counter(
    "authserver_lockouts_total",
    "Failure budgets that ran out (effect refused) or began to slow sign-ins (effect slowed)",
    ["budget", "effect"],
)
sign_ins_slowed = Counter(
    "authserver_sign_ins_slowed_total", "Sign-ins from unknown devices held back before checking"
)
redis_transitions = Counter(
    "authserver_redis_degraded_transitions_total",
    "Redis became unreachable (entered) or reachable again (left), per process",
    ["transition"],
)
redis_degraded = Gauge(
    "authserver_redis_degraded",
    "1 while a process cannot reach Redis (budgets per host, database checks)",
    multiprocess_mode="livemax",
)
_COUNTERS = (
    tokens_signed, jwks_requests, http_requests, http_duration, tokens_issued, introspections,
    sign_in_failures, rate_limited, lockouts, sign_ins_slowed, redis_transitions, redis_degraded,
)  # fmt: skip

bp = Blueprint("metrics", __name__)


class KeyLifecycleCollector:
    """Gauges per algorithm, read from the database when scraped."""

    def collect(self):  # noqa: ANN201
        age = GaugeMetricFamily(
            "authserver_signing_key_active_age_seconds", "Age of the active key", labels=["alg"]
        )
        next_transition = GaugeMetricFamily(
            "authserver_signing_key_next_transition_seconds",
            "Seconds until the next planned key transition",
            labels=["alg"],
        )
        overdue = GaugeMetricFamily(
            "authserver_signing_key_retirement_overdue_seconds",
            "How long a key that should have retired has kept signing (alert when > 0 for long)",
            labels=["alg"],
        )
        now = clock.now()
        settings = current_runtime().settings
        keys = list_keys()
        plans = planned_transitions(load_schedules(settings), keys)
        for key in keys:
            if key.state != KeyState.ACTIVE or key.activated_at is None:
                continue
            age.add_metric([key.alg], (now - key.activated_at).total_seconds())
            upcoming = [
                when
                for k in keys
                if k.alg == key.alg
                for when in plans.get(k.kid, {}).values()
                if when > now
            ]
            if upcoming:
                next_transition.add_metric([key.alg], (min(upcoming) - now).total_seconds())
            retire_at = plans[key.kid]["retire"]
            overdue.add_metric([key.alg], max(0.0, (now - retire_at).total_seconds()))
        yield from (age, next_transition, overdue)


class ApiKeyExpiryCollector:
    """API keys that expire within the warning window, read from the database when scraped."""

    def collect(self):  # noqa: ANN201
        from authserver.apikeys.service import count_expiring

        gauge = GaugeMetricFamily(
            "authserver_api_keys_expiring_soon",
            "Live API keys that expire within AUTHSERVER_APIKEY_EXPIRY_WARNING",
        )
        gauge.add_metric([], count_expiring(current_runtime().settings))
        yield gauge


def register_request_metrics(app: Flask) -> None:
    """Count and time every request by endpoint (a bounded label: the route, not the path)."""

    @app.after_request
    def observe(response: Response) -> Response:
        observe_request(request.endpoint or "unmatched", request.method, response.status_code,
                        request_elapsed())  # fmt: skip
        return response


def observe_request(endpoint: str, method: str, status: int, seconds: float | None) -> None:
    counter, histogram = _request_series(endpoint, method, status)
    counter.inc()
    if seconds is not None:
        histogram.observe(seconds)


@functools.lru_cache(maxsize=1024)
def _request_series(endpoint: str, method: str, status: int) -> tuple:
    """The labelled series of one kind of request, looked up once (``labels`` costs more than
    the increment)."""
    return http_requests.labels(endpoint, method, str(status)), http_duration.labels(endpoint)


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry()
    if current_runtime().settings.prometheus_multiproc_dir:
        multiprocess.MultiProcessCollector(registry)
    else:
        for counter in _COUNTERS:
            registry.register(counter)
    registry.register(KeyLifecycleCollector())
    registry.register(ApiKeyExpiryCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
