"""Server-side sign-in sessions. The cookie holds a random id; the table holds only its HMAC."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.models.types import UTCDateTime
from authserver.models.user import User
from authserver.platform.extensions import db


class UserSession(db.Model):
    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # HMAC-SHA256(pepper, cookie value): a stolen database does not yield live sessions.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The public session id: the `sid` claim of ID tokens (OIDC Front/Back-Channel Logout).
    sid: Mapped[str] = mapped_column(String(43), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    user: Mapped[User] = relationship(lazy="joined")

    def is_live_at(self, when: dt.datetime) -> bool:
        return self.ended_at is None and when < self.expires_at and self.user.is_active


class PasswordReset(db.Model):
    """A password-reset link sent by mail: the table holds only its HMAC; single use (the
    UPDATE that sets ``used_at`` decides), short-lived."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
