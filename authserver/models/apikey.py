"""API keys: only an HMAC of the secret is stored; the owner is a user or a client, never both."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.models.client import Client
from authserver.models.types import UTCDateTime
from authserver.models.user import User
from authserver.platform.extensions import db


class ApiKey(db.Model):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("(owner_user_id IS NULL) != (owner_client_pk IS NULL)", name="one_owner"),
        Index("ix_api_keys_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    # HMAC-SHA256(pepper, secret), hex.
    secret_hash: Mapped[str] = mapped_column(String(64))
    last4: Mapped[str] = mapped_column(String(4))
    name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    owner_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    owner_client_pk: Mapped[int | None] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text, default="")
    allowed_cidrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # None: never expires (only where policy allows it).
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    # Set on the old key by a rotation; the old key then expires after the grace period.
    replaced_by_key_id: Mapped[str | None] = mapped_column(String(32))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_ip: Mapped[str | None] = mapped_column(String(64))
    expiry_warned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Gateway limits (``/gateway/check``, introspection): token buckets in the rates syntax
    # ("100/second burst 200;10000/day"), and a usage quota of ``quota_limit`` requests refilled
    # each "day" or "month" (None: never refilled). ``quota_remaining`` is spent by one
    # conditional UPDATE per request.
    rate_limit: Mapped[str | None] = mapped_column(String(200))
    quota_limit: Mapped[int | None] = mapped_column(BigInteger)
    quota_period: Mapped[str | None] = mapped_column(String(8))
    quota_remaining: Mapped[int | None] = mapped_column(BigInteger)
    quota_resets_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    owner_user: Mapped[User | None] = relationship(lazy="joined")
    owner_client: Mapped[Client | None] = relationship(lazy="joined")

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())

    @property
    def owner_active(self) -> bool:
        owner = self.owner_user or self.owner_client
        return owner is not None and owner.is_active

    @property
    def subject(self) -> str:
        """The `sub` of tokens made from this key: the owner's id."""
        if self.owner_client is not None:
            return self.owner_client.client_id
        return self.owner_user.subject

    @property
    def owner_client_id(self) -> str | None:
        return self.owner_client.client_id if self.owner_client is not None else None

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired_at(self, when: dt.datetime) -> bool:
        return self.expires_at is not None and when >= self.expires_at

    def is_usable_at(self, when: dt.datetime) -> bool:
        return not self.is_revoked() and not self.is_expired_at(when) and self.owner_active
