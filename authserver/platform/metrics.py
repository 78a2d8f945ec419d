"""Prometheus metrics: the counters, gauges and request histogram the floors count in
(``GET /metrics`` and the gauges read from the database at scrape time are
``authserver.ops.metrics``).

Counters and the request histogram are per event. Under ``authserver serve`` every worker
writes them to files in its instance's folder (prometheus_client's multiprocess mode; see
authserver/serving.py), and whichever worker answers a scrape sums every worker's files, dead
workers' included, so totals never go back. In one process (tests, embedding) they are plain
in-memory values. Series with known labels start at zero (``initialise_series``), so that a
rate over them exists before the first event.

prometheus_client chooses between the two kinds of values once, when it is first imported,
from ``PROMETHEUS_MULTIPROC_DIR``. The CLI loads every module (this one included) before
``serve`` knows its instance's folder and sets the variable; so nothing here imports
prometheus_client at module level, and each metric is built at its first use (in a worker,
for a served process). ``serve`` refuses to start if something imported it earlier, and a
worker whose values are in memory all the same refuses too (``require_multiprocess_values``).
"""

from __future__ import annotations

import functools
import threading
from typing import Any


class _Family:
    """A prometheus_client ``Counter``, ``Histogram`` or ``Gauge``, built at its first use."""

    def __init__(self, kind: str, name: str, documentation: str, labelnames: tuple = (),
                 **options: Any) -> None:  # fmt: skip
        self.kind, self.name, self.documentation = kind, name, documentation
        self.labelnames, self.options = labelnames, options
        self._built: Any = None
        self._lock = threading.Lock()

    @property
    def metric(self) -> Any:
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    import prometheus_client

                    kind = getattr(prometheus_client, self.kind)
                    self._built = kind(self.name, self.documentation, self.labelnames,
                                       registry=None, **self.options)  # fmt: skip
                built = self._built
        return built

    def labels(self, *labelvalues: str, **labelkwargs: str) -> Any:
        return self.metric.labels(*labelvalues, **labelkwargs)

    def inc(self, amount: float = 1) -> None:
        self.metric.inc(amount)

    def set(self, value: float) -> None:  # a Gauge
        self.metric.set(value)

    def collect(self):  # noqa: ANN201 - a prometheus_client collector
        return self.metric.collect()

    def describe(self):  # noqa: ANN201
        return self.metric.describe()


tokens_signed = _Family(
    "Counter", "authserver_tokens_signed_total", "Tokens signed, per algorithm and key",
    ("alg", "kid"),
)  # fmt: skip
jwks_requests = _Family("Counter", "authserver_jwks_requests_total", "JWKS documents served")
http_requests = _Family(
    "Counter", "authserver_http_requests_total", "HTTP requests, per endpoint",
    ("endpoint", "method", "status"),
)  # fmt: skip
http_duration = _Family(
    "Histogram", "authserver_http_request_duration_seconds", "Time to answer, per endpoint",
    ("endpoint",), buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)  # fmt: skip
tokens_issued = _Family(
    "Counter", "authserver_tokens_issued_total", "Access tokens issued", ("grant_type",)
)
introspections = _Family(
    "Counter", "authserver_introspections_total", "Introspection answers", ("result",)
)
sign_in_failures = _Family(
    "Counter", "authserver_sign_in_failures_total", "Failed sign-in checks", ("method",)
)
gateway_decisions = _Family(
    "Counter", "authserver_gateway_decisions_total",
    "Decisions of /gateway/check, per rule (none: no rule matched) and outcome",
    ("rule", "outcome"),
)  # fmt: skip
rate_limited = _Family(
    "Counter", "authserver_rate_limited_total", "Requests refused with 429", ("endpoint",)
)
webhook_deliveries = _Family(
    "Counter", "authserver_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, retry (another attempt is scheduled), "
    "failed (no attempt left, or 410 Gone)",
    ("outcome",),
)  # fmt: skip
lockouts = _Family(
    "Counter", "authserver_lockouts_total",
    "Failure budgets that ran out (effect refused) or began to slow sign-ins (effect slowed)",
    ("budget", "effect"),
)  # fmt: skip
sign_ins_slowed = _Family(
    "Counter", "authserver_sign_ins_slowed_total",
    "Sign-ins from unknown devices held back before checking",
)  # fmt: skip
redis_transitions = _Family(
    "Counter", "authserver_redis_degraded_transitions_total",
    "Redis became unreachable (entered) or reachable again (left), per process",
    ("transition",),
)  # fmt: skip
redis_degraded = _Family(
    "Gauge", "authserver_redis_degraded",
    "1 while a process cannot reach Redis (budgets per host, database checks)",
    multiprocess_mode="livemax",
)  # fmt: skip
access_lines_dropped = _Family(
    "Counter", "authserver_access_lines_dropped_total",
    "Access lines not written because this process's queue of lines was full (its stderr "
    "did not keep up)",
)  # fmt: skip
COUNTERS = (
    tokens_signed, jwks_requests, http_requests, http_duration, tokens_issued, introspections,
    sign_in_failures, rate_limited, webhook_deliveries, lockouts, sign_ins_slowed,
    redis_transitions, redis_degraded, access_lines_dropped,
)  # fmt: skip


def initialise_series(grant_types: tuple[str, ...], limited_endpoints: tuple[str, ...]) -> None:
    """Export every series whose labels are known in advance at zero (Prometheus'
    instrumentation practice: a missing series breaks rates, ratios and absence alerts)."""
    for grant_type in grant_types:
        tokens_issued.labels(grant_type)
    for result in ("active", "inactive"):
        introspections.labels(result)
    sign_in_failures.labels("password")
    for outcome in ("delivered", "retry", "failed"):
        webhook_deliveries.labels(outcome)
    for transition in ("entered", "left"):
        redis_transitions.labels(transition)
    sign_ins_slowed.inc(0)
    access_lines_dropped.inc(0)
    redis_degraded.set(0)
    for endpoint in limited_endpoints:
        rate_limited.labels(endpoint)


def require_multiprocess_values(folder: str | None) -> None:
    """Stop a worker whose counters would never reach ``/metrics``: prometheus_client picked
    in-memory values because it was imported before ``PROMETHEUS_MULTIPROC_DIR`` was set."""
    from prometheus_client import values

    if folder and not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported: this "
            "process's counters would be invisible to /metrics (start it with `authserver serve`)"
        )


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
