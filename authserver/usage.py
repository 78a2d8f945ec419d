"""Hourly counts of busy events (tokens issued) for the admin overview, without a database write
on the hot path: each process counts in memory and a background thread adds its counts to the
``usage_counts`` rows of the hour every few seconds (and when the process stops)."""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import logging
import threading
import time

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from authserver.models import UsageCount
from authserver.platform import clock
from authserver.platform.extensions import db

log = logging.getLogger(__name__)

TOKENS_ISSUED = "tokens_issued"
_EXTENSION = "authserver.usage"


def _hour(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


class UsageCounter:
    def __init__(self, app: Flask, flush_seconds: float) -> None:
        """``flush_seconds`` 0: no background thread; ``flush`` is called by whoever owns it."""
        self._app = app
        self._flush_seconds = flush_seconds
        self._counts: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[(_hour(clock.now()), name)] += 1
        if self._thread is None and self._flush_seconds > 0:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="authserver-usage",
                                                daemon=True)  # fmt: skip
                self._thread.start()
                atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            time.sleep(self._flush_seconds)
            self.flush()

    def flush(self) -> None:
        """Add the counts gathered so far to the database (kept for the next try on failure)."""
        with self._lock:
            pending, self._counts = self._counts, collections.Counter()
        if not pending:
            return
        with self._app.app_context():
            try:
                for (hour, name), n in pending.items():
                    _add(hour, name, n)
                db.session.commit()
            except (OperationalError, IntegrityError):
                db.session.rollback()
                with self._lock:
                    self._counts.update(pending)
                log.warning("usage counts not saved yet; will retry")


def _add(hour: dt.datetime, name: str, n: int) -> None:
    row = UsageCount.__table__
    added = db.session.execute(
        update(row).where(row.c.hour == hour, row.c.name == name).values(count=row.c.count + n)
    ).rowcount
    if added == 0:
        # Another process may insert the same hour at once: a savepoint keeps our transaction.
        try:
            with db.session.begin_nested():
                db.session.add(UsageCount(hour=hour, name=name, count=n))
        except IntegrityError:
            db.session.execute(
                update(row)
                .where(row.c.hour == hour, row.c.name == name)
                .values(count=row.c.count + n)
            )


def install_usage_counter(app: Flask, flush_seconds: float) -> UsageCounter:
    counter = UsageCounter(app, flush_seconds)
    app.extensions[_EXTENSION] = counter
    return counter


def usage_counter(app: Flask) -> UsageCounter:
    return app.extensions[_EXTENSION]


def count_since(name: str, since: dt.datetime) -> int:
    """Counted since ``since``, to the hour (the hour ``since`` falls in counts whole)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(UsageCount.count), 0)).where(
            UsageCount.name == name, UsageCount.hour >= _hour(since)
        )
    )
