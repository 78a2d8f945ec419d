"""Pruning the oldest audit records behind a signed checkpoint, so that retention does not cost
the chain its verifiability.

The records before the first one to keep are deleted, except the last of them, which becomes
the **checkpoint**: it keeps its id and its hash (the next record's ``prev_hash`` still links to
it), and in place of its content it carries how many records it stands for and an HMAC over
``id | hash | count | time`` under a key derived from the pepper (which the database holds only
sealed under the KEK). ``verify`` accepts a checkpoint only as the first record and only with a
valid signature, then checks the rest of the chain from its hash: a change to the checkpoint, a
record inserted before it, a forged checkpoint after deleting more, or any change after it is
caught as before. The pruning itself is recorded at the head (``audit:chain:pruned``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, func, select, update

from authserver.audit.checkpoint import CHECKPOINT_PREV, signature
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import AuditChain, AuditEvent, WebhookDelivery
from authserver.platform.extensions import db


@dataclasses.dataclass(frozen=True)
class Pruned:
    removed: int
    checkpoint_id: int | None


def prune_before(cutoff: dt.datetime) -> Pruned:
    """Prune every record before the first one written at or after ``cutoff`` (the chain is
    in id order; a record written later with an earlier time is kept with those around it).
    The caller commits."""
    # The chain's head row, locked first (a row lock on PostgreSQL, the write lock on SQLite):
    # the processes that prune at once take turns, and the second finds nothing left to do.
    db.session.execute(update(AuditChain).where(AuditChain.id == 1)
                       .values(length=AuditChain.length))  # fmt: skip
    first_kept = db.session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.at >= cutoff))
    if first_kept is None:  # every record is old: keep the newest as the chain's tail
        first_kept = db.session.scalar(select(func.max(AuditEvent.id)))
    last = db.session.scalar(
        select(AuditEvent).where(AuditEvent.id < (first_kept or 0))
        .order_by(AuditEvent.id.desc()).limit(1)
    )  # fmt: skip
    if last is None or last.event == Tag.AUDIT_CHECKPOINT:
        return Pruned(0, last.id if last is not None else None)
    earlier = select(AuditEvent.id).where(AuditEvent.id <= last.id)
    count = _stands_for(last.id)
    # Deliveries of pruned records go with them (the delivery log keeps 30 days by default).
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.audit_event_id.in_(earlier)))
    removed = db.session.execute(delete(AuditEvent).where(AuditEvent.id < last.id)).rowcount
    last.event, last.actor, last.outcome = Tag.AUDIT_CHECKPOINT.value, "system", "success"
    last.prev_hash = CHECKPOINT_PREV
    last.data = {"records": count, "signature": signature(last.id, last.hash, count, last.at)}
    db.session.flush()
    record(Tag.AUDIT_PRUNED, records=removed + 1, before=cutoff.isoformat(), checkpoint=last.id)
    return Pruned(removed + 1, last.id)


def _stands_for(last_id: int) -> int:
    """How many records the new checkpoint stands for: those it replaces, and those an earlier
    checkpoint among them stood for."""
    previous = db.session.scalar(
        select(AuditEvent).where(AuditEvent.id <= last_id,
                                 AuditEvent.event == Tag.AUDIT_CHECKPOINT.value)
    )  # fmt: skip
    rows = db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.id <= last_id)
    )
    if previous is None:
        return rows
    return rows - 1 + int(previous.data.get("records", 0))
