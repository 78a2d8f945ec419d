"""The audit hash chain: how a record is hashed, appended under the head's lock, and verified.

hash = SHA-256(prev_hash || canonical JSON of the record's content), hex. The first record's
prev_hash is GENESIS, or the first record is a signed checkpoint standing for pruned ones
(audit/pruning.py). The canonical form is JSON with sorted keys and no spaces, so it does not
depend on the database or on the order fields were given.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterator

from sqlalchemy import bindparam, select, update

from authserver.audit.checkpoint import CHECKPOINT_PREV, head_mac, head_mac_holds, signature_holds
from authserver.audit.tags import Tag
from authserver.models import AuditChain, AuditEvent
from authserver.platform.extensions import db

GENESIS = "0" * 64


def content_hash(prev_hash: str, at: dt.datetime, event: str, actor: str, outcome: str,
                 data: dict) -> str:  # fmt: skip
    content = {
        "at": at.astimezone(dt.UTC).isoformat(),
        "event": event,
        "actor": actor,
        "outcome": outcome,
        "data": data,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def append(at: dt.datetime, event: str, actor: str, outcome: str, data: dict) -> AuditEvent:
    """Add a record at the head of the chain, in the caller's transaction."""
    # Taking the head row first serialises appends: a row lock on PostgreSQL, the database
    # write lock on SQLite. A second writer waits here and then sees the new head.
    # The head's statements are Core (no ORM session synchronisation), and the first returns the
    # head it locked: three statements under the lock instead of four.
    prev_hash, length = db.session.execute(
        _TAKE_HEAD, execution_options={"synchronize_session": False}
    ).one()
    digest = content_hash(prev_hash, at, event, actor, outcome, data)
    row = AuditEvent(
        at=at, event=event, actor=actor, outcome=outcome, data=data,
        prev_hash=prev_hash, hash=digest,
    )  # fmt: skip
    db.session.add(row)
    db.session.execute(
        _MOVE_HEAD, {"digest": digest, "mac": head_mac(digest, length)},
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    return row


_HEAD = AuditChain.__table__
_TAKE_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(length=_HEAD.c.length + 1)
    .returning(_HEAD.c.last_hash, _HEAD.c.length)
)  # fmt: skip
_MOVE_HEAD = (
    update(_HEAD).where(_HEAD.c.id == 1).values(last_hash=bindparam("digest"), mac=bindparam("mac"))
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    checked: int  # records, counting those a checkpoint stands for
    broken_at: int | None = None  # id of the first record that does not fit
    reason: str = ""
    pruned: int = 0  # records the checkpoint stands for (audit/pruning.py)

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(batch: int = 1000) -> Verdict:
    """Walk the chain in id order; the first record whose links or content do not match."""
    expected_prev, checked, pruned = GENESIS, 0, 0
    for row in _rows(batch):
        if row.event == Tag.AUDIT_CHECKPOINT:
            # Only the first record may stand for pruned ones, and only with its signature.
            if expected_prev != GENESIS:
                return Verdict(checked, row.id, "a checkpoint inside the chain", pruned)
            if row.prev_hash != CHECKPOINT_PREV or not signature_holds(row):
                return Verdict(checked, row.id, "its checkpoint signature does not hold")
            expected_prev, checked = row.hash, row.data["records"]
            pruned = checked
            continue
        if row.prev_hash != expected_prev:
            return Verdict(checked, row.id, "does not follow the record before it", pruned)
        recomputed = content_hash(row.prev_hash, row.at, row.event, row.actor, row.outcome,
                                  row.data)  # fmt: skip
        if recomputed != row.hash:
            return Verdict(checked, row.id, "its content was changed", pruned)
        expected_prev, checked = row.hash, checked + 1
    head = db.session.get(AuditChain, 1)
    if head is None or head.last_hash != expected_prev or head.length != checked:
        return Verdict(checked, -1, "records after the last one were removed", pruned)
    if checked and not head_mac_holds(head.mac, head.last_hash, head.length):
        # Consistent but not signed by this server: rewritten (from its start, or from a
        # removed checkpoint) by someone without the pepper.
        return Verdict(checked, -1, "the head's signature does not hold", pruned)
    return Verdict(checked, pruned=pruned)


def _rows(batch: int) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        rows = list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
                .limit(batch)
            )
        )  # fmt: skip
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        db.session.expunge_all()
