"""Record security events.

Until the tamper-evident audit table exists (the hardening issue), events are structured log
lines (one JSON object each) on the ``authserver.audit`` logger. Callers never pass secrets.
"""

from __future__ import annotations

import json
import logging

from authserver import clock
from authserver.audit.tags import Tag

log = logging.getLogger("authserver.audit")

#: Events an operator must see even with a quiet log level.
_LOUD = {Tag.KEY_REVOKED}


def record(tag: Tag, *, actor: str = "system", outcome: str = "success", **fields: object) -> None:
    event = {"event": tag.value, "at": clock.now().isoformat(), "actor": actor, "outcome": outcome}
    event.update(fields)
    level = logging.CRITICAL if tag in _LOUD else logging.INFO
    log.log(level, json.dumps(event, default=str, sort_keys=True))
