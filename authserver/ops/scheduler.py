"""Periodic jobs inside each server process: due key transitions (so a deployment without
cron still rotates), API-key expiry warnings and retention (privacy/retention.py). Safe to
run in every worker on every host: each job is idempotent, and key transitions serialise on
the per-algorithm lock.

Between runs the scheduler sleeps ``key_rotation_check_seconds``, or less when a pending key
becomes ready to sign sooner (an emergency rotation signs seconds after it was made); a change
made in this process (the admin API or UI) wakes it (``keys.events.keys_changed``)."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading

from flask import Flask
from sqlalchemy.exc import OperationalError

from authserver.apikeys.service import warn_expiring
from authserver.gateway.endpoint import denial_digest_of
from authserver.keys.events import keys_changed
from authserver.keys.lifecycle import next_activation_at, run_due_transitions
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.process_exit import at_exit
from authserver.platform.runtime import runtime_of
from authserver.privacy.retention import prune as prune_retention

log = logging.getLogger(__name__)


_EXTENSION = "authserver.scheduler"


class Scheduler:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="authserver-jobs", daemon=True)
        self._last_retention: dt.datetime | None = None

    def start(self) -> Scheduler:
        self._app.extensions[_EXTENSION] = self
        # A key change made in this process (the admin API or UI) wakes it.
        keys_changed.connect(self._key_changed, sender=self._app)
        self._thread.start()
        # A worker that stops records the denials of its last hour (as usage counts are saved).
        at_exit(self.record_denials, everything=True)
        return self

    def stop(self) -> None:
        keys_changed.disconnect(self._key_changed, sender=self._app)
        self._stop.set()
        self._wake.set()
        self.record_denials(everything=True)

    def record_denials(self, everything: bool = False) -> None:
        """The gateway's denial digest: the finished hours, or (stopping) all it holds."""
        with self._app.app_context():
            self._job("gateway denial digest", denial_digest_of(self._app).record_finished,
                      everything)  # fmt: skip

    def _key_changed(self, app: Flask, **_: object) -> None:
        self.wake()

    def wake(self) -> None:
        """Look at what is due now, and when the next key is ready (after a change here)."""
        self._wake.set()

    def run_once(self) -> int:
        """Run every job once; returns how many key transitions were performed."""
        runtime = runtime_of(self._app)
        performed = []
        with self._app.app_context():
            performed = self._job("key rotation check", run_due_transitions, runtime.settings,
                                  runtime.envelope()) or []  # fmt: skip
            self._job("API-key expiry check", warn_expiring, runtime.settings)
            if self._retention_due(runtime.settings.retention_check_seconds):
                self._job("retention", prune_retention, runtime.settings)
        self.record_denials()
        if performed:
            runtime.keyring.invalidate()
        return len(performed)

    @staticmethod
    def _job(name: str, job, *args):  # noqa: ANN001, ANN205
        try:
            result = job(*args)
            db.session.commit()
            return result
        except OperationalError as e:
            # The database is unreachable: one line, not a traceback a minute per worker.
            _rollback()
            log.error("%s: database unavailable (%s); will retry", name, type(e.orig).__name__)
        except Exception:
            _rollback()
            log.exception("%s failed; will retry", name)
        return None

    def _loop(self) -> None:
        interval = runtime_of(self._app).settings.key_rotation_check_seconds
        # Jitter spreads the workers of many hosts over the interval.
        delay = random.uniform(0, min(interval, 5))  # noqa: S311 - not a secret
        while True:
            self._wake.wait(delay)
            if self._stop.is_set():
                return
            self._wake.clear()
            self.run_once()
            delay = interval * random.uniform(0.9, 1.1)  # noqa: S311
            soon = self._seconds_to_next_activation()
            if soon is not None:
                delay = min(delay, max(soon, 0.05))

    def _retention_due(self, interval: int) -> bool:
        now = clock.now()
        last = self._last_retention
        if last is not None and dt.timedelta(0) <= now - last < dt.timedelta(seconds=interval):
            return False
        self._last_retention = now
        return True

    def _seconds_to_next_activation(self) -> float | None:
        with self._app.app_context():
            moment = self._job("next key activation", next_activation_at,
                               runtime_of(self._app).settings)  # fmt: skip
        if moment is None:
            return None
        return (moment - clock.now()).total_seconds()


def _rollback() -> None:
    try:
        db.session.rollback()
    except OperationalError:
        pass  # the connection is gone already
