"""A short-lived, per-process memory of "this jti is not revoked", so that introspecting the same
token again costs no database read (a busy resource server may introspect every request).

A revocation forgets the jti at once in its own process and, when Redis is configured
(``AUTHSERVER_RATE_LIMIT_STORAGE=redis://…``), publishes it so that every other process forgets
it too. Without Redis, another process may answer "active" for at most
``AUTHSERVER_REVOCATION_CACHE_TTL`` after a revocation elsewhere, so the cache is off by default
without Redis.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "authserver:revoked-jti"
MAX_ENTRIES = 100_000


class RevocationCache:
    def __init__(self, ttl_seconds: float, redis_url: str | None = None) -> None:
        self._ttl = ttl_seconds
        self._fresh_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._redis_url = redis_url
        self._publisher = None
        self._listener: threading.Thread | None = None

    def known_unrevoked(self, jti: str) -> bool:
        if self._ttl <= 0:
            return False
        until = self._fresh_until.get(jti)
        return until is not None and until > time.monotonic()

    def remember_unrevoked(self, jti: str) -> None:
        if self._ttl <= 0:
            return
        if self._redis_url and self._listener is None:
            self._start_listening()
        with self._lock:
            if len(self._fresh_until) >= MAX_ENTRIES:
                self._fresh_until.clear()  # bounded memory; the next lookups refill it
            self._fresh_until[jti] = time.monotonic() + self._ttl

    def forget(self, jti: str) -> None:
        with self._lock:
            self._fresh_until.pop(jti, None)

    def revoked(self, jti: str) -> None:
        """A revocation here: forget it, and tell the other processes."""
        self.forget(jti)
        if self._redis_url:
            try:
                self._redis().publish(CHANNEL, jti)
            except Exception:  # noqa: BLE001 - Redis down: the TTL still bounds staleness
                log.warning("could not publish a revocation; other processes forget it "
                            "within the cache TTL")  # fmt: skip

    def _start_listening(self) -> None:
        # Started with the first cached answer: a process that caches nothing needs no listener.
        with self._lock:
            if self._listener is None:
                listener = threading.Thread(target=self._listen, name="authserver-revocations")
                listener.daemon = True
                listener.start()
                self._listener = listener

    def _redis(self):  # noqa: ANN202
        if self._publisher is None:
            import redis

            self._publisher = redis.Redis.from_url(self._redis_url)
        return self._publisher

    def _listen(self) -> None:
        import redis

        while True:
            try:
                pubsub = redis.Redis.from_url(self._redis_url).pubsub(
                    ignore_subscribe_messages=True
                )
                pubsub.subscribe(CHANNEL)
                for message in pubsub.listen():
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self.forget(data.decode("ascii", "replace"))
            except Exception:  # noqa: BLE001 - reconnect after a Redis outage
                with self._lock:
                    self._fresh_until.clear()  # missed messages: trust nothing cached
                time.sleep(1)


_PENDING = "authserver.revoked_jtis"


def note_revoked(jti: str) -> None:
    """A revocation in this transaction: the caches forget the jti once it commits."""
    from authserver.extensions import db

    db.session.info.setdefault(_PENDING, []).append(jti)


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    jtis = session.info.pop(_PENDING, None)
    if jtis and has_app_context():
        from authserver.runtime import current_runtime

        for jti in jtis:
            current_runtime().revocations.revoked(jti)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
