"""Security events, one row each, written in the same transaction as the change they record,
and chained: each row stores the SHA-256 of the one before it together with its own, so an
edited, removed or inserted row breaks the chain (``authserver audit verify``). The single
``audit_chain`` row holds the head; appends lock it, so concurrent writers never fork the chain.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_event_id", "event", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    # A Tag value, `source:subject:action`.
    event: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    # What the event is about (kid, key id, role, ...): never a secret.
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChain(db.Model):
    """The head of the chain: one row, id 1, made by the migration."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(Integer)
    # 1: records older than migration 0021 may hold people's data in the clear; 2: resealed
    # (audit/reseal.py), or none were.
    format: Mapped[int] = mapped_column(Integer, default=2, server_default="1")
    # HMAC over the head and the length under a key from the pepper (audit/checkpoint.py): a
    # chain rewritten from its start, or cut short, with a head to match is still found.
    mac: Mapped[str | None] = mapped_column(String(64))


class PersonKey(db.Model):
    """A person's key for the personal fields of their audit records (an AES-256 key, sealed
    under the KEK). Erasure deletes the row: the records stay in the chain, verifiable, and
    their personal fields can no longer be opened (crypto-shredding)."""

    __tablename__ = "person_keys"

    # The person's ``users.subject``.
    subject: Mapped[str] = mapped_column(String(43), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    @property
    def associated_data(self) -> bytes:
        return f"person_keys:{self.subject}".encode()
