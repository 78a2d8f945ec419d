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
from authserver.audit.sealing import REQUEST_FIELDS, SEALED, as_recorded_actor, person_of, seal
from authserver.audit.tags import Tag
from authserver.models import AuditEvent
from authserver.platform import clock
from authserver.platform.current_request import current_request
from authserver.platform.ip_privacy import minimised_ip
from authserver.platform.request_id import current_request_id

log = logging.getLogger("authserver.audit")

#: Events an operator must see even with a quiet log level.
_LOUD = {Tag.KEY_REVOKED}

#: Sent with each appended AuditEvent row (the sender), in the transaction that appends it.
recorded = Namespace().signal("authserver.audit.recorded")


def record(
    tag: Tag,
    *,
    actor: str = "system",
    outcome: str = "success",
    at: dt.datetime | None = None,
    personal: tuple[str, ...] = (),
    about: str | None = None,
    **fields: object,
) -> AuditEvent:
    """Append an event; ``at`` when it happened earlier (a record written in the background).

    Where a person acts (``actor`` is ``user:<subject>``), their request's address and user
    agent, and the fields named in ``personal``, are sealed under that person's key
    (audit/sealing.py): erasing the person makes them unreadable, the chain unchanged. ``about``
    names the person (a subject) when a client acts for them (a token issued to a user).
    An email given as the actor is never stored: a person's becomes ``user:<subject>``, one of
    no account its keyed hash."""
    now = at or clock.now()
    request = current_request()
    if request is not None:
        # Where it came from: enough to follow one request from the proxy to this record.
        fields.setdefault("ip", minimised_ip(request.remote_addr))
        fields.setdefault("user_agent", request.headers.get("User-Agent", "")[:200])
        fields.setdefault("request_id", current_request_id())
    # Through JSON once: what is stored, hashed and logged is the same plain data.
    data = json.loads(json.dumps(fields, default=str, sort_keys=True))
    actor = as_recorded_actor(actor)
    subject = about or person_of(actor)
    private = {k: data.pop(k) for k in (*REQUEST_FIELDS, *personal) if k in data}
    if subject and private:
        box = seal(subject, private)
        if box is not None:  # None: the person was erased, and their fields are not kept
            data[SEALED] = box
    else:
        data.update(private)
    event = {"event": tag.value, "at": now.isoformat(), "actor": actor, "outcome": outcome}
    # The log line is the record as stored: a person's sealed fields stay out of the logs too.
    level = logging.CRITICAL if tag in _LOUD else logging.INFO
    log.log(level, tag.value, extra={"audit": event | data})
    row = append(now, tag.value, actor[:200], outcome, data)
    recorded.send(row)
    return row
