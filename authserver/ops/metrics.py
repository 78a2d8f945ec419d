"""``GET /metrics``: every worker's counters (``authserver.platform.metrics``) summed, and the
gauges of key lifecycle, API-key expiry and the webhook queue, computed from the database at
scrape time so that every worker reports the same truth."""

from __future__ import annotations

from flask import Blueprint, Response

from authserver.apikeys.service import count_expiring
from authserver.keys.schedule import load_schedules
from authserver.keys.service import list_keys
from authserver.keys.timeline import planned_transitions
from authserver.models import KeyState
from authserver.platform import clock
from authserver.platform.metrics import COUNTERS
from authserver.platform.runtime import current_runtime
from authserver.webhooks.outbox import queue_stats

bp = Blueprint("metrics", __name__)


class KeyLifecycleCollector:
    """Gauges per algorithm, read from the database when scraped."""

    def collect(self):  # noqa: ANN201
        from prometheus_client.core import GaugeMetricFamily

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
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily(
            "authserver_api_keys_expiring_soon",
            "Live API keys that expire within AUTHSERVER_APIKEY_EXPIRY_WARNING",
        )
        gauge.add_metric([], count_expiring(current_runtime().settings))
        yield gauge


class WebhookQueueCollector:
    """The webhook outbox, read from the database when scraped (every worker sees the same)."""

    def collect(self):  # noqa: ANN201
        from prometheus_client.core import GaugeMetricFamily

        depth, age = queue_stats()
        queued = GaugeMetricFamily(
            "authserver_webhook_queue_depth", "Webhook deliveries waiting to be delivered"
        )
        queued.add_metric([], depth)
        oldest = GaugeMetricFamily(
            "authserver_webhook_oldest_undelivered_age_seconds",
            "Age of the oldest webhook delivery not yet delivered (0 when none waits)",
        )
        oldest.add_metric([], age)
        yield from (queued, oldest)


@bp.get("/metrics")
def metrics() -> Response:
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    registry = CollectorRegistry()
    folder = current_runtime().settings.prometheus_multiproc_dir
    if folder:
        multiprocess.MultiProcessCollector(registry, path=folder)
    else:
        for counter in COUNTERS:
            registry.register(counter)
    registry.register(KeyLifecycleCollector())
    registry.register(ApiKeyExpiryCollector())
    registry.register(WebhookQueueCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
