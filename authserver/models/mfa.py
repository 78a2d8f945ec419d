"""Second factors: an authenticator app (TOTP), passkeys (WebAuthn), recovery codes, and the
short-lived challenges of the ceremonies that use them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class TotpCredential(db.Model):
    """One authenticator app per user. The shared secret must be recovered to check codes, so it
    is encrypted under the KEK (the row id is the associated data), never hashed."""

    __tablename__ = "totp_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True, index=True
    )
    kek_id: Mapped[str] = mapped_column(String(32))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    # RFC 6238 §5.2: a code is accepted once; the last accepted time step is remembered.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # None while enrolment waits for the first valid code.
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @property
    def associated_data(self) -> bytes:
        return f"totp_credentials:{self.id}".encode()

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class WebAuthnCredential(db.Model):
    """A passkey: the public key an authenticator made for this server's RP ID."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # base64url of the raw credential id (at most 1023 bytes, WebAuthn L3 §5.1).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(100))
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Backup-eligible (synced) passkeys live in software keychains: amr "swk", else "hwk".
    is_backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class RecoveryCode(db.Model):
    """A single-use recovery code, stored as an HMAC under the pepper."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class MfaChallenge(db.Model):
    """A step of a sign-in or enrolment in progress: a password-verified sign-in waiting for its
    second factor, or a WebAuthn challenge. The browser holds a random handle (in its signed
    CSRF cookie); the table holds its HMAC. Each row is used once and lives minutes."""

    __tablename__ = "mfa_challenges"

    handle_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    challenge: Mapped[bytes | None] = mapped_column(LargeBinary)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
