"""Security events, one row each, written in the same transaction as the change they record.

The hardening issue chains these rows (each carrying the hash of the one before) so that an
edit cannot go unnoticed; until then they are append-only by convention.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.types import UTCDateTime


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
