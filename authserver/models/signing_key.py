"""Signing keys: the public half in the clear, the private half encrypted under the KEK.

States follow ARCHITECTURE.md: pending → active → retired → expired, or revoked from any
state. The database, not application code alone, guarantees one active key per algorithm
(a partial unique index).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class KeyState(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"
    EXPIRED = "expired"
    REVOKED = "revoked"


#: States whose public key is published in JWKS.
PUBLISHED_STATES = (KeyState.PENDING, KeyState.ACTIVE, KeyState.RETIRED)
#: States whose signatures are still honoured (pending keys have signed nothing yet).
VERIFYING_STATES = (KeyState.ACTIVE, KeyState.RETIRED)

_STATE_LIST = ", ".join(f"'{s.value}'" for s in KeyState)


class SigningKey(db.Model):
    __tablename__ = "signing_keys"
    __table_args__ = (
        CheckConstraint(f"state IN ({_STATE_LIST})", name="state"),
        Index(
            "uq_signing_keys_one_active_per_alg",
            "alg",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # RFC 7638 JWK thumbprint of the public key.
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    public_jwk: Mapped[dict] = mapped_column(JSON)
    # AES-256-GCM(KEK, PKCS#8 PEM) with "signing_keys:<id>" as associated data; erased on expiry.
    private_key_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    kek_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    # Plans, fixed when the key enters the state: a pending key signs from
    # planned_activation_at; a retired key leaves JWKS at planned_expiry_at.
    planned_activation_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    planned_expiry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # An emergency rotation (`keys rotate --now`, a revoked active key): the key is published
    # only for the key-propagation interval before it signs, not for publish_ahead.
    expedited: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def associated_data(self) -> bytes:
        return f"signing_keys:{self.id}".encode()

    def is_published(self) -> bool:
        return self.state in PUBLISHED_STATES


class KeySchedule(db.Model):
    """The rotation schedule of one algorithm; its row is also the lock that serialises
    transitions of that algorithm across processes and hosts."""

    __tablename__ = "key_schedules"

    alg: Mapped[str] = mapped_column(String(16), primary_key=True)
    rotate_every_seconds: Mapped[int] = mapped_column(Integer)
    publish_ahead_seconds: Mapped[int] = mapped_column(Integer)
    retire_after_seconds: Mapped[int] = mapped_column(Integer)
    # Bumped by every transition run: the UPDATE takes the row lock (PostgreSQL) or the
    # database write lock (SQLite) before anything is read.
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
