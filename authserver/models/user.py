"""People who sign in."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.models.rbac import Role, user_roles
from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The `sub` of tokens: stable and opaque (not the email, not the row number).
    subject: Mapped[str] = mapped_column(String(43), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # argon2id, see accounts/passwords.py
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Access tokens issued before this (a disable, a password change) stay dead, also after
    # the user is enabled again (a "not before" time, as Keycloak's; iat in whole seconds).
    tokens_valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Failed second-factor checks in a row, and the back-off they earned (per account, any IP).
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    mfa_blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set when the person was erased: the row stays as a tombstone (its subject is never given
    # again, and tokens that name it stay dead); every personal field is gone.
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")

    def get_user_id(self) -> str:
        return self.subject

    @property
    def actor(self) -> str:
        """How audit records name the person: by subject, never by email (the email may be
        erased; the records may not change)."""
        return f"user:{self.subject}"

    @property
    def role_names(self) -> list[str]:
        return sorted(role.name for role in self.roles)

    @property
    def requires_mfa(self) -> bool:
        """A role of this user demands a second factor."""
        return any(role.requires_mfa for role in self.roles)

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(p for role in self.roles for p in role.permission_names)
