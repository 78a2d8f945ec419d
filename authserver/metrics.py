"""Prometheus metrics (``GET /metrics``).

Counters are per event and shared by all worker processes through prometheus_client's
multiprocess mode (``authserver serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at
``AUTHSERVER_METRICS_DIR`` before the workers start). Key-lifecycle gauges are computed
from the database at scrape time, so every worker reports the same truth.
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from authserver import clock
from authserver.keys.schedule import load_schedules
from authserver.keys.service import list_keys
from authserver.keys.timeline import planned_transitions
from authserver.models import KeyState
from authserver.runtime import current_runtime

tokens_signed = Counter(
    "authserver_tokens_signed_total", "Tokens signed, per algorithm and key", ["alg", "kid"]
)
jwks_requests = Counter("authserver_jwks_requests_total", "JWKS documents served")

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


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry()
    if current_runtime().settings.prometheus_multiproc_dir:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(tokens_signed)
        registry.register(jwks_requests)
    registry.register(KeyLifecycleCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
