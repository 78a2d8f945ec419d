"""A short-lived, per-process memory of "this jti is not revoked", so that introspecting the same
token again costs no database read (a busy resource server may introspect every request).

A revocation forgets the jti at once in its own process and tells the others:

- with Redis (``AUTHSERVER_RATE_LIMIT_STORAGE=redis://…``) it publishes the jti, and every
  process, on any host, forgets it. A process trusts its memory only while it is subscribed
  (it may otherwise have missed a revocation) and Redis answers it: while Redis is
  unreachable every check reads the database, so a revocation stays immediate; a revocation
  made then, which could not be published, is announced as "forget everything" once Redis
  answers again, and a process that subscribes again forgets everything too;
- with SQLite (one host: every process shares the database file) it bumps the modification time
  of a stamp file beside the database, and every process, which looks at that time (one
  ``stat``) before trusting its memory, forgets everything it remembered;
- with PostgreSQL without Redis (processes possibly on several hosts) PostgreSQL carries the news
  (``authserver.platform.pg_news``): the revoking transaction itself bumps a generation counter
  and sends ``NOTIFY`` (both commit with the revocation or not at all), and every process
  listens on a connection of its own. As with Redis, memory is trusted only while the process
  listens, and a process that subscribes again forgets everything; besides, memory answers only
  if the counter was read within the last second, and a counter that moved past a notification
  that did not arrive means "forget everything": a lost notification lets a revoked token
  answer active for about a second at most.

An answer read from the database is remembered only if no revocation reached this process while
it was being read (the ``generation`` taken before the read), so a revocation that commits between
the read and the remembering is never covered up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flask import has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from authserver.platform.pg_news import PostgresNews
from authserver.platform.redis_link import RedisLink, RedisUnavailable

log = logging.getLogger(__name__)

CHANNEL = "authserver:revoked-jti"
# Announced when an API key, or the user or client that owns keys, changed in a way that may end
# a key's use: every process forgets all it remembered (such changes are rare).
EVERYTHING = "*"
MAX_ENTRIES = 100_000  # jtis: about 100 bytes each
MAX_KEYS = 20_000  # API keys' facts: about 1 kB each


class RevocationCache:
    def __init__(
        self,
        ttl_seconds: float,
        redis: RedisLink | None = None,
        stamp: Path | None = None,
        on_forget_all: Callable[[], None] | None = None,
        news: PostgresNews | None = None,
    ) -> None:
        self._ttl = ttl_seconds
        # What else must forget when everything is forgotten: the client snapshots, so that a
        # remembered answer is never rebuilt from a client disabled a moment ago.
        self._on_forget_all = on_forget_all
        self._fresh_until: dict[str, float] = {}
        self._keys: dict[tuple[str, str], tuple[float, object]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._redis = redis
        # Subscribed to the revocation channel: until then (and while Redis is unreachable)
        # nothing remembered may be trusted.
        self._subscribed = False
        self.subscribed = threading.Event()  # the same, for whoever must wait for it (tests)
        self._owed = False  # a revocation that could not be published
        self._listener: threading.Thread | None = None
        if redis is not None:
            redis.on_recovered(self._announce_owed)
        self._stamp = stamp
        self._stamp_seen = self._read_stamp()
        # PostgreSQL's LISTEN/NOTIFY (PostgreSQL without Redis): announced in the revoking
        # transaction itself (_announce_in_transaction), heard by a listener of its own.
        self.news = news

    def _trusting(self) -> bool:
        if self._ttl <= 0:
            return False
        if self.news is not None:
            return self.news.is_listening
        if self._redis is None:
            return True
        return self._subscribed and not self._redis.is_degraded

    def _recall(self, store: dict, key: object) -> object | None:
        if not self._trusting():
            return None
        self._check_stamp()
        if key not in store:
            return None  # the caller reads the database anyway: no need to catch up first
        if self.news is not None and not self.news.catch_up():
            return None  # the generation is being read: the database answers this one
        return store.get(key)

    def known_unrevoked(self, jti: str) -> bool:
        until = self._recall(self._fresh_until, jti)
        return until is not None and until > time.monotonic()

    def generation(self) -> int:
        """Taken before reading the database; hand it back to ``remember_unrevoked``."""
        self._check_stamp()
        return self._generation

    def remember_unrevoked(self, jti: str, generation: int) -> None:
        self._remember(self._fresh_until, MAX_ENTRIES, jti, time.monotonic() + self._ttl,
                       generation)  # fmt: skip

    def known_key(self, lookup: tuple[str, str]) -> object | None:
        """The facts remembered for an API key that authenticated, by (key id, secret HMAC)."""
        entry = self._recall(self._keys, lookup)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def remember_key(self, lookup: tuple[str, str], facts: object, generation: int) -> None:
        self._remember(self._keys, MAX_KEYS, lookup, (time.monotonic() + self._ttl, facts),
                       generation)  # fmt: skip

    def _remember(self, store: dict, cap: int, key: object, value: object, generation: int) -> None:
        if self._ttl <= 0:
            return
        if self._redis is not None and self._listener is None:
            self._start_listening()
        if self.news is not None:
            self.news.start(self.forget)  # with the first answer to remember
        if not self._trusting():
            return
        with self._lock:
            if generation != self._generation:
                return  # a revocation arrived while the database was read: trust nothing
            if len(store) >= cap:
                store.clear()  # bounded memory; the next lookups refill it
            store[key] = value

    def forget(self, jti: str) -> None:
        with self._lock:
            self._generation += 1
            if jti == EVERYTHING:
                self._fresh_until.clear()
                self._keys.clear()
            else:
                self._fresh_until.pop(jti, None)
        if jti == EVERYTHING and self._on_forget_all is not None:
            self._on_forget_all()

    def _forget_all(self) -> None:
        self.forget(EVERYTHING)

    def _read_stamp(self) -> int | None:
        if self._stamp is None:
            return None
        try:
            return os.stat(self._stamp).st_mtime_ns
        except OSError:
            return None

    def _check_stamp(self) -> None:
        if self._stamp is None:
            return
        seen = self._read_stamp()
        if seen != self._stamp_seen:
            self._forget_all()
            self._stamp_seen = seen

    def _bump_stamp(self) -> None:
        """A new modification time, always different from the one the others last saw."""
        previous = self._read_stamp() or 0
        stamp_ns = max(time.time_ns(), previous + 1)
        try:
            self._stamp.touch()
            os.utime(self._stamp, ns=(stamp_ns, stamp_ns))
        except OSError:
            log.warning("could not mark a revocation for the other processes; they forget it "
                        "within the cache TTL")  # fmt: skip

    def revoked(self, jti: str) -> None:
        """A revocation here: forget it, and tell the other processes."""
        self.forget(jti)
        if self._stamp is not None:
            self._bump_stamp()
        if self._redis is not None:
            try:
                self._redis.run(lambda client: client.publish(CHANNEL, jti))
            except RedisUnavailable:
                # Every process that cannot reach Redis checks the database meanwhile; once
                # it answers, everyone is told to forget everything (_announce_owed).
                self._owed = True

    def _announce_owed(self) -> None:
        if self._owed:
            try:
                self._redis.run(lambda client: client.publish(CHANNEL, EVERYTHING))
            except RedisUnavailable:
                return
            self._owed = False

    def _start_listening(self) -> None:
        # Started with the first cached answer: a process that caches nothing needs no listener.
        with self._lock:
            if self._listener is None:
                listener = threading.Thread(target=self._listen, name="authserver-revocations")
                listener.daemon = True
                listener.start()
                self._listener = listener

    def _listen(self) -> None:
        import redis

        while True:
            pubsub = None
            try:
                connection = redis.Redis.from_url(
                    self._redis.url, socket_connect_timeout=1, socket_timeout=5,
                    health_check_interval=2,
                )  # fmt: skip
                pubsub = connection.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                pubsub.get_message(timeout=1)  # the subscription's confirmation
                self._forget_all()  # what was announced before this subscription is unknown
                self._subscribed = True
                self.subscribed.set()
                while True:
                    message = pubsub.get_message(timeout=1)
                    data = message.get("data") if message else None
                    if isinstance(data, bytes):
                        self.forget(data.decode("ascii", "replace"))
            except Exception as error:  # noqa: BLE001 - reconnect after a Redis outage
                self._subscribed = False
                self.subscribed.clear()
                self._forget_all()  # missed messages: trust nothing cached
                self._redis.failed(error)
                time.sleep(1)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001, S110 - the connection is gone already
                        pass


_PENDING = "authserver.revoked_jtis"
# Changes that may end an API key's or a token's use, or narrow what a key grants: a key revoked
# or its expiry moved (rotation), its owner or a token's user or client disabled, a role given or
# taken; a key's or client's gateway limits changed; any deletion of such a row.
_WATCHED = {"api_keys": ("revoked_at", "expires_at", "rate_limit", "quota_limit"),
            "users": ("is_active", "roles", "tokens_valid_after"),
            "clients": ("is_active", "roles", "tokens_valid_after", "rate_limit",
                        "quota_limit")}  # fmt: skip
# Any change to these narrows or widens what roles permit.
_ROLE_TABLES = frozenset({"roles", "role_permissions"})


def note_revoked(jti: str) -> None:
    """A revocation in this transaction: the caches forget the jti once it commits."""
    from authserver.platform.extensions import db

    db.session.info.setdefault(_PENDING, []).append(jti)


@event.listens_for(Session, "after_flush")
def _watch_key_owners(session: Session, flush_context) -> None:  # noqa: ANN001
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(obj, "__tablename__", "")
        if table in _ROLE_TABLES or _ends_use(session, obj, _WATCHED.get(table)):
            session.info.setdefault(_PENDING, []).append(EVERYTHING)
            return


def _ends_use(session: Session, obj: object, watched: tuple[str, ...] | None) -> bool:
    if watched is None or obj in session.new:
        return False
    state = inspect(obj)
    return obj in session.deleted or any(state.attrs[a].history.has_changes() for a in watched)


# SQLAlchemy sends before_commit, after_commit and after_rollback for a savepoint too: the news
# waits for the outermost transaction, and a savepoint rolled back keeps what was noted before
# it (forgetting a jti that was not revoked after all costs one read; the reverse, a revocation
# never announced, would let another process answer active for its TTL).


@event.listens_for(Session, "before_commit")
def _announce_in_transaction(session: Session) -> None:
    """PostgreSQL without Redis: the news goes out in the revoking transaction (pg_news)."""
    if not has_app_context() or session.in_nested_transaction():
        return
    if not (session.info.get(_PENDING) or session.new or session.dirty or session.deleted):
        return  # nothing revoked, nor anything left to flush that could be
    from authserver.platform.runtime import current_runtime

    news = current_runtime().revocations.news
    if news is None:
        return
    session.flush()  # the commit's own flush may note revocations too (_watch_key_owners)
    jtis = session.info.get(_PENDING)
    if jtis:
        news.announce(session, jtis)


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    if session.in_nested_transaction():
        return
    jtis = session.info.pop(_PENDING, None)
    if jtis and has_app_context():
        from authserver.platform.runtime import current_runtime

        for jti in jtis:
            current_runtime().revocations.revoked(jti)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_PENDING, None)
