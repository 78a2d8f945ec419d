"""Security-event webhooks: subscriptions, their signing secrets, and the outbox of deliveries.

A delivery row is written in the transaction of the audit record it carries (so an event is
delivered exactly when it was recorded) and is the subscription's delivery log afterwards:
state, attempts, the next attempt, the last status, latency and error reason. It never holds
the receiver's answer.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.models.audit import AuditEvent
from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SENDING = "sending"  # claimed by one worker until lease_until
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # the last attempt failed, or the receiver answered 410 Gone
    CANCELLED = "cancelled"  # its subscription was disabled before it was delivered


#: States in which a delivery is still to be sent (the queue).
UNDELIVERED = (DeliveryState.PENDING.value, DeliveryState.SENDING.value)


class WebhookSubscription(db.Model):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Public id, in paths: wh_ + 16 base62 characters.
    webhook_id: Mapped[str] = mapped_column(String(32), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Event tags, prefixes of them ending in ':', or '*' for every event.
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it was disabled (by whom, or "the receiver answered 410 Gone").
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))

    secrets: Mapped[list[WebhookSecret]] = relationship(
        back_populates="subscription", cascade="all, delete-orphan", passive_deletes=True,
        order_by="WebhookSecret.id.desc()",
    )  # fmt: skip


class WebhookSecret(db.Model):
    """A signing secret. The server signs with it, so it must be recovered: sealed under the
    KEK with the row id as associated data (``kek rotate`` re-wraps it). The newest one without
    ``expires_at`` is current; older ones sign too until ``expires_at`` (rotation overlap)."""

    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    kek_id: Mapped[str] = mapped_column(String(32))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    subscription: Mapped[WebhookSubscription] = relationship(back_populates="secrets")

    @property
    def associated_data(self) -> bytes:
        return f"webhook_secrets:{self.id}".encode()

    def signs_at(self, when: dt.datetime) -> bool:
        return self.expires_at is None or when < self.expires_at


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # What workers look for: due pending rows, and sending rows whose lease ran out.
        Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_subscription_log", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    # Standard Webhooks `webhook-id`: the same on every attempt (the receiver's idempotency key).
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    audit_event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # A claim: the worker holding it (a random token) and until when.
    claim: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    # Why the last attempt failed: "status" (see last_status), "gone" (410), or the outbound
    # module's reason ("timeout", "tls", "refused:address", ...). Never the receiver's body.
    last_error: Mapped[str | None] = mapped_column(String(64))
    last_latency_seconds: Mapped[float | None] = mapped_column(Float)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    subscription: Mapped[WebhookSubscription] = relationship()
    audit_event: Mapped[AuditEvent] = relationship()
