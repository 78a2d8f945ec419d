"""Audit records the request must not wait for: token issuance, when it is audited at all
(``AUTHSERVER_AUDIT_TOKEN_ISSUANCE``). The token endpoint only puts the event on an in-memory
queue; one thread per process appends queued events to the chain in batches, in its own
transaction. The price is stated in the README: events still queued when a process is killed
are lost (a clean stop flushes them).
"""

from __future__ import annotations

import logging

from flask import Flask

from authserver.audit.tags import Tag
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.job_queue import JobQueue
from authserver.platform.process_exit import at_exit

log = logging.getLogger(__name__)

_EXTENSION = "authserver.background_audit"
_BATCH = 200


class BackgroundAudit:
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._jobs = JobQueue("authserver-audit", self._write, batch=_BATCH)
        at_exit(self.flush, 5.0)

    def submit(self, tag: Tag, *, actor: str, **fields: object) -> None:
        self._jobs.submit((clock.now(), tag, actor, fields))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        return self._jobs.wait_idle(timeout)

    def _write(self, batch: list) -> None:
        from authserver.audit.service import record

        with self._app.app_context():
            try:
                for at, tag, actor, fields in batch:
                    record(tag, actor=actor, at=at, **fields)
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("could not write %d queued audit events", len(batch))


def install_background_audit(app: Flask) -> BackgroundAudit:
    audit = BackgroundAudit(app)
    app.extensions[_EXTENSION] = audit
    return audit


def background_audit(app: Flask) -> BackgroundAudit:
    return app.extensions[_EXTENSION]
