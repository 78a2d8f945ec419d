"""Records written before the audit keys (migration 0021) name people by email and hold their
request's address and user agent in the clear, which erasure could then not reach. ``init``
reseals them once: each such record is rewritten as today's code writes it (the person by
subject, their fields sealed under their key, an address of no account as its keyed hash) and
the chain is re-hashed from the first changed record to the head, in one transaction under the
head's lock. The rewrite is recorded (``audit:chain:resealed``) with the head it replaced, so an
anchor kept of the old head can be told apart from tampering. ``audit_chain.format`` says it ran.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update

from authserver.audit.chain import GENESIS, content_hash
from authserver.audit.checkpoint import CHECKPOINT_PREV, head_mac
from authserver.audit.sealing import REQUEST_FIELDS, SEALED, address_actor, person_of, seal
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import AuditChain, AuditEvent, User
from authserver.platform.extensions import db

#: audit_chain.format once every record is in today's form.
SEALED_FORMAT = 2
_BATCH = 500
_USER_NAMED = re.compile(r"\buser (\S+@\S+)")


def reseal_legacy_records() -> int:
    """Reseal if this chain has not been; returns how many records were rewritten. The caller
    commits."""
    head = db.session.execute(
        select(AuditChain).where(AuditChain.id == 1).with_for_update()
    ).scalar_one()  # fmt: skip
    if head.format >= SEALED_FORMAT:
        return 0
    people = {u.email: u for u in db.session.scalars(select(User))}
    previous_head, prev, changed, last_id = head.last_hash, GENESIS, 0, 0
    while True:
        rows = list(db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id)
            .limit(_BATCH)
        ))  # fmt: skip
        if not rows:
            break
        for row in rows:
            if row.prev_hash == CHECKPOINT_PREV:
                prev = row.hash  # a checkpoint stands for what it replaced, signed as it is
                continue
            actor, data = _today(row.actor, dict(row.data or {}), people)
            if (actor, data, prev) != (row.actor, row.data, row.prev_hash):
                row.actor, row.data, row.prev_hash = actor, data, prev
                row.hash = content_hash(prev, row.at, row.event, actor, row.outcome, data)
                changed += 1
            prev = row.hash
        db.session.flush()
        last_id = rows[-1].id
    db.session.execute(update(AuditChain).where(AuditChain.id == 1)
                       .values(last_hash=prev, format=SEALED_FORMAT,
                               mac=head_mac(prev, head.length)))  # fmt: skip
    if changed:
        record(Tag.AUDIT_RESEALED, records=changed, previous_head=previous_head)
    return changed


def _today(actor: str, data: dict, people: dict[str, User]) -> tuple[str, dict]:
    """The record's actor and data as ``audit.service.record`` writes them now."""
    if "@" in actor and not actor.startswith(("user:", "address:")):
        known = people.get(actor)
        actor = known.actor if known is not None else address_actor(actor)
    if isinstance(data.get("user"), str) and data["user"] in people:
        data["user"] = people[data["user"]].subject
    if isinstance(data.get("target"), str):
        data["target"] = _USER_NAMED.sub(lambda m: _named(m.group(1), people), data["target"])
    subject = person_of(actor)
    if subject and SEALED not in data:
        private = {k: data.pop(k) for k in (*REQUEST_FIELDS, "name", "passkey") if k in data}
        if private:
            data[SEALED] = seal(subject, private)
    return actor[:200], data


def _named(email: str, people: dict[str, User]) -> str:
    known = people.get(email)
    return known.actor if known is not None else "user (unknown)"
