"""The in-server rotation scheduler: every process checks for due key transitions itself,
so a deployment without cron still rotates. Safe to run in every worker on every host:
``run_due_transitions`` serialises on the per-algorithm lock and is idempotent."""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from authserver.extensions import db
from authserver.keys.lifecycle import run_due_transitions
from authserver.runtime import runtime_of

log = logging.getLogger(__name__)


class RotationScheduler:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="key-rotation", daemon=True)

    def start(self) -> RotationScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> int:
        runtime = runtime_of(self._app)
        with self._app.app_context():
            try:
                performed = run_due_transitions(runtime.settings, runtime.envelope())
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("key rotation check failed; will retry")
                return 0
        if performed:
            runtime.keyring.invalidate()
        return len(performed)

    def _loop(self) -> None:
        interval = runtime_of(self._app).settings.key_rotation_check_seconds
        # Jitter spreads the workers of many hosts over the interval.
        delay = random.uniform(0, min(interval, 5))  # noqa: S311 - not a secret
        while not self._stop.wait(delay):
            self.run_once()
            delay = interval * random.uniform(0.9, 1.1)  # noqa: S311
