"""Record security events.

Every event is a row in ``audit_events``, appended to the hash chain in the caller's
transaction (so an event is stored exactly when the change it records is), and a structured
log line (one JSON object) on the ``authserver.audit`` logger for log shippers. Callers never
pass secrets.

``recorded`` (a blinker signal) is sent with each new row, still in the caller's transaction:
the webhooks outbox listens, so a delivery is written exactly when its event is (audit imports
nothing of webhooks, which records its own events here).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from blinker import Namespace

from authserver.audit.chain import append
from authserver.audit.tags import Tag
from authserver.models import AuditEvent
from authserver.platform import clock
from authserver.platform.current_request import current_request
from authserver.platform.request_id import current_request_id

log = logging.getLogger("authserver.audit")

#: Events an operator must see even with a quiet log level.
_LOUD = {Tag.KEY_REVOKED}
_COLUMNS = ("event", "at", "actor", "outcome")

#: Sent with each appended AuditEvent row (the sender), in the transaction that appends it.
recorded = Namespace().signal("authserver.audit.recorded")


def record(
    tag: Tag,
    *,
    actor: str = "system",
    outcome: str = "success",
    at: dt.datetime | None = None,
    **fields: object,
) -> AuditEvent:
    """Append an event; ``at`` when it happened earlier (a record written in the background)."""
    now = at or clock.now()
    request = current_request()
    if request is not None:
        # Where it came from: enough to follow one request from the proxy to this record.
        fields.setdefault("ip", request.remote_addr)
        fields.setdefault("user_agent", request.headers.get("User-Agent", "")[:200])
        fields.setdefault("request_id", current_request_id())
    event = {"event": tag.value, "at": now.isoformat(), "actor": actor, "outcome": outcome}
    event.update(fields)
    level = logging.CRITICAL if tag in _LOUD else logging.INFO
    line = json.dumps(event, default=str, sort_keys=True)
    # The record as a nested object of the JSON log line (its field names may clash with
    # LogRecord's own, such as ``name``).
    log.log(level, tag.value, extra={"audit": json.loads(line)})
    data = {k: v for k, v in json.loads(line).items() if k not in _COLUMNS}
    row = append(now, tag.value, actor[:200], outcome, data)
    recorded.send(row)
    return row
