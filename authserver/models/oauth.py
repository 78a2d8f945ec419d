"""Protocol artefacts that outlive a request: revoked access-token ids, used assertion ids,
authorization codes, refresh tokens and remembered consent."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from authserver.models.types import UTCDateTime
from authserver.platform.acr import acr_of
from authserver.platform.extensions import db


class RevokedAccessToken(db.Model):
    """A JWT access token revoked before its `exp` (RFC 7009); pruned once it has expired."""

    __tablename__ = "revoked_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class UsedAssertion(db.Model):
    """A client-assertion `jti` already seen (RFC 7523 §3 item 7: replay protection)."""

    __tablename__ = "used_assertions"

    # "<client_id>:<jti>", so that two clients cannot collide.
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)


class AuthorizationCode(db.Model):
    """A single-use code (RFC 6749 §4.1.2), stored as an HMAC, with what it will issue."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sid: Mapped[str] = mapped_column(String(43))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    # RFC 8707: the resources (audiences) this authorization is for; None: the default.
    resources: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # What the exchange issued, so that a replay can revoke it (RFC 6749 §4.1.2).
    issued_jti: Mapped[str | None] = mapped_column(String(64))
    issued_jti_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    issued_family: Mapped[str | None] = mapped_column(String(43))

    # --- Authlib AuthorizationCodeMixin hooks ------------------------------------------------
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return acr_of(list(self.amr))

    def get_amr(self) -> list[str]:
        return list(self.amr)


class RefreshToken(db.Model):
    """An opaque refresh token, stored as an HMAC, rotated on every use; tokens descended from
    one authorization share a family, revoked whole when a rotated token is used again."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(43), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sid: Mapped[str | None] = mapped_column(String(43))
    scope: Mapped[str] = mapped_column(Text, default="")
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    resources: Mapped[list[str] | None] = mapped_column(JSON)
    # RFC 9449 §5: a public client's refresh token works only with the same DPoP key.
    dpop_jkt: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The family's absolute end (fixed at the first token) and this token's idle end.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    idle_expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    def is_usable_at(self, when: dt.datetime) -> bool:
        return (
            self.rotated_at is None
            and self.revoked_at is None
            and when < self.expires_at
            and when < self.idle_expires_at
        )

    # --- Authlib hooks ------------------------------------------------------------------------
    def get_scope(self) -> str:
        return self.scope

    def check_client(self, client) -> bool:  # noqa: ANN001
        return self.client_id == client.get_client_id()

    def is_expired(self) -> bool:
        return False  # checked when the token is looked up

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ConsentGrant(db.Model):
    """Scopes a user has allowed a client; a request within them skips the consent page."""

    __tablename__ = "consent_grants"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
