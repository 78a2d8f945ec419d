"""Audit records the request must not wait for: token issuance, when it is audited at all
(``AUTHSERVER_AUDIT_TOKEN_ISSUANCE``). The token endpoint only puts the event on an in-memory
queue; one thread per process appends queued events to the chain in batches, in its own
transaction. The price is stated in the README: events still queued when a process is killed
are lost (a clean stop flushes them).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading

from flask import Flask

from authserver import clock
from authserver.audit.tags import Tag
from authserver.extensions import db

log = logging.getLogger(__name__)

_EXTENSION = "authserver.background_audit"
_BATCH = 200


class BackgroundAudit:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        atexit.register(self.flush, 5.0)

    def submit(self, tag: Tag, *, actor: str, **fields: object) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put((clock.now(), tag, actor, fields))
        self._ensure_thread()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="authserver-audit", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        from authserver.audit.service import record

        while True:
            batch = [self._queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            with self._app.app_context():
                try:
                    for at, tag, actor, fields in batch:
                        record(tag, actor=actor, at=at, **fields)
                    db.session.commit()
                except Exception:
                    db.session.rollback()
                    log.exception("could not write %d queued audit events", len(batch))
            with self._idle:
                self._pending -= len(batch)
                self._idle.notify_all()


def install_background_audit(app: Flask) -> BackgroundAudit:
    audit = BackgroundAudit(app)
    app.extensions[_EXTENSION] = audit
    return audit


def background_audit(app: Flask) -> BackgroundAudit:
    return app.extensions[_EXTENSION]
