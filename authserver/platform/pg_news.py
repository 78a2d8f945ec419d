"""Revocation news through PostgreSQL itself (``LISTEN``/``NOTIFY``), for PostgreSQL without
Redis: how a revocation in one process reaches the per-process memory of every other
(``authserver.platform.revocation_cache``), on any host.

- In the revoking transaction, at commit (``announce``): the one row of ``revocation_news`` has
  its ``generation`` bumped, and ``pg_notify('authserver_revoked', '<generation> <jti>')`` is
  sent for each jti (``*``: forget everything). PostgreSQL delivers a notification only if its
  transaction commits, and the new generation is visible exactly when the revocation is: both
  are atomic with it. The row's lock also puts the generations in commit order.
- Each process listens on a connection of its own (``start``: a thread, autocommit,
  ``LISTEN authserver_revoked``), forgets each announced jti and notes its generation. While it
  is not listening nothing remembered is trusted (every check reads the database); when it
  (re)subscribes it forgets everything. It reconnects with backoff; a failure is logged once.
- The bound (``catch_up``): a notification may still be lost without the listener knowing (a
  connection cut silently, a stalled thread). So memory answers only if the generation was read
  within the last ``FRESH_SECONDS``; otherwise one cheap read of it first, and if it moved past
  a generation whose notification has not arrived, everything is forgotten. A revoked token
  answers active for at most about a second, whatever happens to the notifications.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import weakref
from collections.abc import Callable, Iterable

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from authserver.platform import clock
from authserver.platform.process_exit import at_exit

log = logging.getLogger(__name__)

CHANNEL = "authserver_revoked"
EVERYTHING = "*"
#: How long a read of the generation vouches for what a process remembers.
FRESH_SECONDS = 1.0
#: More jtis than this in one transaction are announced as "forget everything" (one message).
MANY_JTIS = 100
#: Generations heard ahead of the last read kept at most (past it: everything is forgotten).
MAX_HEARD = 10_000
#: A quiet listening connection is checked this often (a dead one is then replaced).
IDLE_CHECK_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 30.0
# libpq: a connection whose peer vanished without a word is noticed within seconds; named, so
# that pg_stat_activity shows what it is.
_CONNECT_OPTIONS = {"autocommit": True, "application_name": "authserver revocation news",
                    "connect_timeout": 5, "keepalives": 1,
                    "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                    "tcp_user_timeout": 10_000}  # fmt: skip

_BUMP = text("UPDATE revocation_news SET generation = generation + 1 RETURNING generation")
_NOTIFY = text(
    "SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"
)
_READ = "SELECT generation FROM revocation_news"
_COUNTER_EXISTS = text("SELECT to_regclass('revocation_news')")

# Every instance, so that a forked child (a served worker) starts without its parent's thread.
_instances: weakref.WeakSet[PostgresNews] = weakref.WeakSet()
_exit_registered_in: int | None = None  # the process that registered the end-of-process stop


class PostgresNews:
    """One process's end of the channel (one per app)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the state below, shared with the listener thread
        self._catching_up = threading.Lock()  # one read of the generation at a time
        self._forget: Callable[[str], None] = lambda jti: None
        self._listening = False
        self.listening = threading.Event()  # the same, for whoever must wait for it (tests)
        # Every revocation up to ``_baseline`` is accounted for in memory; ``_heard``: the
        # generations past it whose notification arrived; ``_read_at``: when it was read.
        self._baseline: int | None = None
        self._heard: set[int] = set()
        self._read_at: float | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake: int | None = None  # the write end of the thread's wake-up pipe
        self._conninfo = ""
        _instances.add(self)

    @property
    def is_listening(self) -> bool:
        return self._listening

    # The revoking transaction's side.

    @staticmethod
    def announce(session: Session, jtis: Iterable[str]) -> None:
        """In the revoking transaction, just before it commits."""
        jtis = list(dict.fromkeys(jtis))
        if EVERYTHING in jtis or len(jtis) > MANY_JTIS:
            jtis = [EVERYTHING]
        # A database not migrated yet (this release started before `authserver db upgrade`)
        # has no counter: the notification alone then, not a failed revocation.
        counted = session.execute(_COUNTER_EXISTS).scalar() is not None
        generation = session.execute(_BUMP).scalar() if counted else None
        mark = "-" if generation is None else str(generation)  # no row: a database not migrated
        payloads = [f"{mark} {jti}" for jti in jtis]
        session.execute(_NOTIFY, {"channel": CHANNEL, "payloads": payloads})

    # The reading side.

    def catch_up(self) -> bool:
        """Before memory answers (in a request, through its session): unless the generation was
        read within ``FRESH_SECONDS``, read it, and if it moved past a generation whose
        notification has not arrived, forget everything. False while another thread reads it:
        this request reads the database instead of queueing behind that read (which may itself
        wait for a connection of the pool). A database that does not answer raises, as the
        read memory saves would have."""
        if self._is_fresh():
            return True
        if not self._catching_up.acquire(blocking=False):
            return False
        try:
            if self._is_fresh():
                return True  # another thread read it meanwhile
            from authserver.platform.extensions import db

            started = _seconds()
            row = db.session.execute(text(_READ)).first()
            with self._lock:
                missed = self._advance(row[0] if row is not None else None)
            if missed:
                self._forget(EVERYTHING)
            with self._lock:
                self._read_at = started  # counted from before the read
            return True
        finally:
            self._catching_up.release()

    def _is_fresh(self) -> bool:
        read_at = self._read_at
        return read_at is not None and 0 <= _seconds() - read_at < FRESH_SECONDS

    def _advance(self, current: int | None) -> bool:
        """Move the baseline to ``current``; whether a generation on the way was not heard."""
        if current is None:
            return False  # no counter row: the notifications alone
        baseline, self._baseline = self._baseline, current
        heard, self._heard = self._heard, {g for g in self._heard if g > current}
        if baseline is None or current < baseline:
            return True  # nothing to compare with, or a database restored to an older state
        if current - baseline > MAX_HEARD:
            return True
        return any(g not in heard for g in range(baseline + 1, current + 1))

    # The listener.

    def start(self, forget: Callable[[str], None]) -> None:
        """Listen, unless this process does already (in an app context: the app's database)."""
        if self._thread is not None:
            return  # the usual case, without the lock
        from authserver.platform.extensions import db

        with self._lock:
            if self._thread is not None:
                return
            engine = db.engine
            if not event.contains(engine, "engine_disposed", self._disposed):
                # The app's connections closed (tests, a worker's end): this one goes with them,
                # and the next remembered answer starts listening again.
                event.listen(engine, "engine_disposed", self._disposed)
            url = engine.url.set(drivername="postgresql")
            self._conninfo = url.render_as_string(hide_password=False)
            self._forget = forget
            self._stopping = threading.Event()
            wake, self._wake = os.pipe()  # a local pipe: the listener's poll() wakes on it
            thread = threading.Thread(target=self._listen, args=(self._stopping, wake),
                                      name="authserver-revocation-news", daemon=True)  # fmt: skip
            self._thread = thread
            thread.start()
        _register_exit()

    def stop(self) -> None:
        """Stop listening and close the connection (nothing remembered is trusted after)."""
        with self._lock:
            thread, self._thread = self._thread, None
            wake, self._wake = self._wake, None
            self._stopping.set()
        if wake is not None:
            try:
                os.write(wake, b"x")
            except OSError:
                pass  # the thread has ended already
            finally:
                os.close(wake)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

    def _disposed(self, engine: object) -> None:
        self.stop()

    def _after_fork(self) -> None:
        # The parent's thread is not in this process, nor its connection's socket to be used.
        self._lock = threading.Lock()
        self._catching_up = threading.Lock()
        if self._wake is not None:
            os.close(self._wake)  # the parent's pipe; its reading end went with its thread
        self._thread, self._wake = None, None
        self._listening = False
        self.listening.clear()
        self._read_at = None

    def _listen(self, stopping: threading.Event, wake: int) -> None:
        failures = 0
        try:
            import psycopg

            while not stopping.is_set():
                try:
                    with psycopg.connect(self._conninfo, **_CONNECT_OPTIONS) as conn:
                        conn.execute(f"LISTEN {CHANNEL}")
                        row = conn.execute(_READ).fetchone()
                        self._subscribed(row[0] if row is not None else None)
                        if failures:
                            log.info("listening for revocation news on PostgreSQL again")
                        failures = 0
                        self._receive(conn, wake, stopping)
                except Exception as error:  # noqa: BLE001 - reconnect after any failure
                    self._lost()
                    if stopping.is_set():
                        break
                    if failures == 0:
                        log.warning("cannot listen for revocation news on PostgreSQL (%s): every "
                                    "check reads the database until it can",
                                    _first_line(error))  # fmt: skip
                    failures += 1
                    stopping.wait(min(BACKOFF_MAX_SECONDS, 0.5 * 2**failures))
                finally:
                    self._lost()
        finally:
            os.close(wake)

    def _receive(self, conn, wake: int, stopping: threading.Event) -> None:  # noqa: ANN001
        # poll(), not select(): a busy process's descriptors may be past select's 1024.
        waiting = select.poll()
        waiting.register(conn.fileno(), select.POLLIN)
        waiting.register(wake, select.POLLIN)
        while not stopping.is_set():
            ready = {fd for fd, _ in waiting.poll(IDLE_CHECK_SECONDS * 1000)}
            if wake in ready:
                return
            if not ready:
                conn.execute("SELECT 1")  # a dead connection fails here, and is replaced
            for notify in conn.notifies(timeout=0):  # those queued during the SELECT too
                self._heard_news(notify.payload)

    def _subscribed(self, generation: int | None) -> None:
        with self._lock:
            self._baseline, self._heard, self._read_at = generation, set(), _seconds()
        self._forget(EVERYTHING)  # what was announced before this subscription is unknown
        self._listening = True
        self.listening.set()

    def _lost(self) -> None:
        was_listening, self._listening = self._listening, False
        self.listening.clear()
        if was_listening:
            self._forget(EVERYTHING)  # missed messages: trust nothing remembered

    def _heard_news(self, payload: str) -> None:
        generation, _, jti = payload.partition(" ")
        self._forget(jti or EVERYTHING)  # forgotten before its generation counts as heard
        if generation.isdigit():
            with self._lock:
                number = int(generation)
                if self._baseline is None or number > self._baseline:
                    if len(self._heard) >= MAX_HEARD:
                        self._heard.clear()  # the next read then forgets everything
                    self._heard.add(number)


def _seconds() -> float:
    return clock.now().timestamp()


def _first_line(error: Exception) -> str:
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def _stop_all() -> None:
    for news in list(_instances):
        news.stop()


def _register_exit() -> None:
    global _exit_registered_in
    if _exit_registered_in != os.getpid():
        _exit_registered_in = os.getpid()
        at_exit(_stop_all)


def _forget_parents_threads() -> None:
    global _exit_registered_in
    _exit_registered_in = None
    for news in list(_instances):
        news._after_fork()


os.register_at_fork(after_in_child=_forget_parents_threads)
