"""OAuth clients (relying parties and service accounts) and their hashed secrets.

The model implements the hooks of Authlib's ``ClientMixin``. Unlike Authlib's
SQLAlchemy mixin it never stores a secret in plain text: ``client_secrets`` holds
HMAC-SHA256 hashes, several at once so that a rotation can keep the old one valid
for a grace period.
"""

from __future__ import annotations

import datetime as dt

from authlib.oauth2.rfc6749 import ClientMixin
from sqlalchemy import JSON, Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver import clock
from authserver.extensions import db
from authserver.models.rbac import Role, client_roles
from authserver.models.types import UTCDateTime
from authserver.security import secret_matches_any


class Client(db.Model, ClientMixin):
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Space-separated scopes the client may be granted (RFC 6749 §3.3).
    scope: Mapped[str] = mapped_column(Text, default="")
    # Public keys for private_key_jwt (RFC 7523), as a JWK Set.
    jwks: Mapped[dict | None] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    secrets: Mapped[list[ClientSecret]] = relationship(
        back_populates="client", cascade="all, delete-orphan", lazy="selectin"
    )
    roles: Mapped[list[Role]] = relationship(secondary=client_roles, lazy="selectin")

    # --- state predicates -------------------------------------------------------------
    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())

    def has_permission(self, permission: str) -> bool:
        return any(permission in role.permission_names for role in self.roles)

    # --- Authlib ClientMixin hooks --------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        # RFC 6749 §3.3: an omitted scope means the pre-defined default, here the registration.
        if not scope:
            return self.scope
        return " ".join(s for s in scope.split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        now = clock.now()
        hashes = [s.secret_hash for s in self.secrets if s.is_valid_at(now)]
        return secret_matches_any(client_secret, hashes)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class ClientSecret(db.Model):
    __tablename__ = "client_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    # HMAC-SHA256(pepper, secret), hex; see security.py for why not argon2.
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Set when a rotation gives the secret a grace period; None means valid until replaced.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    client: Mapped[Client] = relationship(back_populates="secrets")

    def is_valid_at(self, when: dt.datetime) -> bool:
        return self.expires_at is None or when < self.expires_at
