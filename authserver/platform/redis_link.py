"""Redis as an accelerator, never a single point of failure: one connection pool per process,
and whether Redis is reachable now.

Redis holds shared budgets (``budgets.store``), carries revocation news
(``oauth.revocation_cache``) and remembers DPoP proof ``jti``s (``oauth.dpop``). Each of them asks
through ``run``; when a call fails (connection refused or reset, a timeout: 0.5 s to connect or
answer), the process enters degraded mode: it logs one line, counts it
(``authserver_redis_degraded_transitions_total``, ``authserver_redis_degraded``), and from then
on ``run`` raises ``RedisUnavailable`` at once, without touching the network, so every caller
takes its fallback (the host's budgets, the database) and no request waits on a dead Redis. A
background thread pings every second; the first answer ends degraded mode (one more log line,
one more count) and tells the listeners (the revocation cache then forgets what it learnt while
it could not hear, and announces what it could not).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Connecting and each answer: long enough for a busy Redis, short enough that the first request
#: to meet an outage is not held for long (later ones do not wait at all).
TIMEOUT_SECONDS = 0.5
PROBE_EVERY_SECONDS = 1.0


class RedisUnavailable(Exception):
    """Redis is not reachable now: use the fallback."""


class RedisLink:
    def __init__(self, url: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._monotonic = monotonic
        self._client = None
        self._lock = threading.Lock()
        self._degraded_since: float | None = None
        self._left_at: float | None = None
        self._on_recovered: list[Callable[[], None]] = []
        self._prober: threading.Thread | None = None

    # --- state ---------------------------------------------------------------------------

    @property
    def is_degraded(self) -> bool:
        return self._degraded_since is not None

    def degraded_within(self, seconds: float) -> bool:
        """Degraded now, or recovered less than ``seconds`` ago."""
        if self._degraded_since is not None:
            return True
        return self._left_at is not None and self._monotonic() - self._left_at < seconds

    def on_recovered(self, callback: Callable[[], None]) -> None:
        self._on_recovered.append(callback)

    # --- calls ---------------------------------------------------------------------------

    def client(self):  # noqa: ANN201
        if self._client is None:
            import redis

            with self._lock:
                if self._client is None:
                    self._client = redis.Redis.from_url(
                        self.url,
                        socket_timeout=TIMEOUT_SECONDS,
                        socket_connect_timeout=TIMEOUT_SECONDS,
                        health_check_interval=30,
                    )
        return self._client

    def run(self, call: Callable[[object], T]) -> T:
        """``call(client)``, or RedisUnavailable (at once while degraded)."""
        if self._degraded_since is not None:
            raise RedisUnavailable
        import redis

        try:
            return call(self.client())
        except (redis.RedisError, OSError) as error:
            # Refused, reset, timed out, but also a replica that became read-only in a
            # failover, or one out of memory: each is a Redis that cannot do its part now.
            self.failed(error)
            raise RedisUnavailable from None

    def ping(self) -> bool:
        """Ask Redis now, degraded or not (readiness); True if it answered."""
        import redis

        try:
            self.client().ping()
        except (redis.RedisError, OSError) as error:
            self.failed(error)
            return False
        self._recovered()
        return True

    # --- transitions ---------------------------------------------------------------------

    def failed(self, error: BaseException) -> None:
        """Redis did not answer: enter degraded mode (once) and start probing."""
        from authserver.platform.metrics import redis_degraded, redis_transitions

        with self._lock:
            if self._degraded_since is not None:
                return
            self._degraded_since = self._monotonic()
            prober = self._prober = threading.Thread(
                target=self._probe, name="authserver-redis-probe", daemon=True
            )
        log.error(
            "redis unreachable (%s): degraded mode, budgets per host, revocations and DPoP "
            "proofs checked in the database",
            type(error).__name__,
        )
        redis_transitions.labels("entered").inc()
        redis_degraded.set(1)
        prober.start()

    def _recovered(self) -> None:
        from authserver.platform.metrics import redis_degraded, redis_transitions

        with self._lock:
            if self._degraded_since is None:
                return
            lasted = self._monotonic() - self._degraded_since
            self._degraded_since = None
            self._left_at = self._monotonic()
        log.warning("redis reachable again after %.1f s: degraded mode ends", lasted)
        redis_transitions.labels("left").inc()
        redis_degraded.set(0)
        for callback in self._on_recovered:
            try:
                callback()
            except Exception:  # noqa: BLE001 - one listener's failure must not stop the others
                log.exception("a redis recovery listener failed")

    def _probe(self) -> None:
        import redis

        while self._degraded_since is not None:
            time.sleep(PROBE_EVERY_SECONDS)
            try:
                self.client().ping()
            except (redis.RedisError, OSError):
                continue
            self._recovered()
