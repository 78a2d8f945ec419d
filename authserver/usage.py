"""Hourly counts of busy events (tokens issued) for the admin overview, without a database write
on the hot path: each process counts in memory and a background thread adds its counts to the
``usage_counts`` rows of the hour every few seconds (and when the process stops)."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Hashable

from flask import Flask
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from authserver.models import GatewayUsage, UsageCount
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.process_exit import at_exit

log = logging.getLogger(__name__)

TOKENS_ISSUED = "tokens_issued"
_EXTENSION = "authserver.usage"


def _hour(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


#: Adds ``n`` counted in ``hour`` under ``key`` to the database (in the caller's transaction).
Writer = Callable[[dt.datetime, Hashable, int], None]


class UsageCounter:
    def __init__(self, app: Flask, flush_seconds: float, writer: Writer | None = None) -> None:
        """``flush_seconds`` 0: no background thread; ``flush`` is called by whoever owns it.
        ``writer`` saves one count (default: the ``usage_counts`` row of a name)."""
        self._app = app
        self._flush_seconds = flush_seconds
        self._writer = writer or _add
        self._counts: collections.Counter = collections.Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def count(self, key: Hashable) -> None:
        with self._lock:
            self._counts[(_hour(clock.now()), key)] += 1
        if self._thread is None and self._flush_seconds > 0:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="authserver-usage",
                                                daemon=True)  # fmt: skip
                self._thread.start()
                at_exit(self.flush)

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
                for (hour, key), n in pending.items():
                    self._writer(hour, key, n)
                db.session.commit()
            except (OperationalError, IntegrityError):
                db.session.rollback()
                with self._lock:
                    self._counts.update(pending)
                log.warning("usage counts not saved yet; will retry")


def add_count(model: type, n: int, **identity: object) -> None:
    """``count += n`` on the row of ``model`` that ``identity`` names, made if missing."""
    table = model.__table__
    where = [table.c[name] == value for name, value in identity.items()]
    adding = update(table).where(*where).values(count=table.c.count + n)
    if db.session.execute(adding).rowcount == 0:
        # Another process may insert the same row at once: a savepoint keeps our transaction.
        try:
            with db.session.begin_nested():
                db.session.add(model(**identity, count=n))
        except IntegrityError:
            db.session.execute(adding)


def _add(hour: dt.datetime, name: Hashable, n: int) -> None:
    add_count(UsageCount, n, hour=hour, name=name)


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


# -- the gateway's usage, per principal and outcome -------------------------------------------

#: The outcomes counted per principal (a request with no credential has none).
GATEWAY_OUTCOMES = ("allowed", "denied_scope", "rate_limited", "quota_exhausted", "invalid")
#: Hours are kept this long, then summed into their day.
HOURS_KEPT = dt.timedelta(hours=48)


def add_gateway_count(hour: dt.datetime, key: Hashable, n: int) -> None:
    principal, outcome = key
    add_count(GatewayUsage, n, granularity="hour", period_start=hour, principal=principal,
              outcome=outcome)  # fmt: skip


def roll_up_gateway_usage(now: dt.datetime) -> int:
    """Hours older than two days summed into their days; returns the hour rows folded."""
    cutoff = _hour(now - HOURS_KEPT)
    hours = GatewayUsage.__table__
    rows = db.session.execute(
        select(hours.c.period_start, hours.c.principal, hours.c.outcome, hours.c.count).where(
            hours.c.granularity == "hour", hours.c.period_start < cutoff
        )
    ).all()
    for row in rows:
        day = row.period_start.replace(hour=0)
        add_count(GatewayUsage, row.count, granularity="day", period_start=day,
                  principal=row.principal, outcome=row.outcome)  # fmt: skip
    db.session.execute(
        delete(hours).where(hours.c.granularity == "hour", hours.c.period_start < cutoff)
    )
    return len(rows)


def gateway_series(
    principal: str, granularity: str, since: dt.datetime
) -> dict[dt.datetime, dict[str, int]]:
    """Counts by period and outcome; days include their hours not yet rolled up."""
    table = GatewayUsage.__table__
    start = since.replace(minute=0, second=0, microsecond=0)
    rows = db.session.execute(
        select(table.c.granularity, table.c.period_start, table.c.outcome, table.c.count).where(
            table.c.principal == principal, table.c.period_start >= start
        )
    ).all()
    series: dict[dt.datetime, dict[str, int]] = {}
    for row in rows:
        if granularity == "hour" and row.granularity != "hour":
            continue
        when = row.period_start if granularity == "hour" else row.period_start.replace(hour=0)
        bucket = series.setdefault(when, dict.fromkeys(GATEWAY_OUTCOMES, 0))
        bucket[row.outcome] = bucket.get(row.outcome, 0) + row.count
    return series


def top_gateway_principals(since: dt.datetime, limit: int = 10) -> list[tuple[str, int, int]]:
    """(principal, requests, of which allowed), busiest first, since ``since``."""
    table = GatewayUsage.__table__
    allowed = func.sum(case((table.c.outcome == "allowed", table.c.count), else_=0))
    total = func.sum(table.c.count)
    rows = db.session.execute(
        select(table.c.principal, total, allowed)
        .where(table.c.period_start >= since.replace(minute=0, second=0, microsecond=0))
        .group_by(table.c.principal)
        .order_by(total.desc(), table.c.principal)
        .limit(limit)
    ).all()
    return [(principal, int(requests), int(ok)) for principal, requests, ok in rows]
