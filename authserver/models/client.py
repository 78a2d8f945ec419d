"""OAuth clients (relying parties and service accounts) and their hashed secrets.

Unlike Authlib's SQLAlchemy mixin this never stores a secret in plain text:
``client_secrets`` holds HMAC-SHA256 hashes, several at once so that a rotation can keep
the old one valid for a grace period. The OAuth endpoints see a client through
``clients/view.py`` (Authlib's ``ClientMixin`` hooks on a cached snapshot).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from authserver.models.rbac import Role, client_roles
from authserver.models.types import UTCDateTime
from authserver.platform.extensions import db


class Client(db.Model):
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
    # Public keys for private_key_jwt (RFC 7523), as a JWK Set, or where to fetch them.
    jwks: Mapped[dict | None] = mapped_column(JSON)
    jwks_uri: Mapped[str | None] = mapped_column(String(2000))
    # OpenID Connect: where logout may return, the ID-token algorithm, first-party clients
    # that skip the consent page.
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    id_token_signed_response_alg: Mapped[str] = mapped_column(String(16), default="RS256")
    skip_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # RFC 8707: the resource servers (audience URIs) this client may ask tokens for.
    resources: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # RFC 7592: HMAC of the registration access token of a dynamically registered client.
    registration_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # OpenID Connect Back-Channel Logout 1.0: where logout tokens are POSTed.
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    # RFC 9449 §5.2: this client's access tokens must be DPoP-bound.
    dpop_bound_access_tokens: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # RFC 9126 §6: this client's authorization requests must come through PAR.
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Optional quotas (token buckets, authserver.platform.rates syntax: "600/minute burst 100")
    # on this client's token and introspection requests; None: no quota.
    token_quota: Mapped[str | None] = mapped_column(String(100))
    introspection_quota: Mapped[str | None] = mapped_column(String(100))
    # Gateway limits (``/gateway/check``, introspection): token buckets in the rates syntax
    # ("100/second burst 200;10000/day"), and a usage quota of ``quota_limit`` requests refilled
    # each "day" or "month" (None: never refilled). ``quota_remaining`` is spent by one
    # conditional UPDATE per request.
    rate_limit: Mapped[str | None] = mapped_column(String(200))
    quota_limit: Mapped[int | None] = mapped_column(BigInteger)
    quota_period: Mapped[str | None] = mapped_column(String(8))
    quota_remaining: Mapped[int | None] = mapped_column(BigInteger)
    quota_resets_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Access tokens issued before this (a disable) stay dead after the client is enabled again.
    tokens_valid_after: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    secrets: Mapped[list[ClientSecret]] = relationship(
        back_populates="client", cascade="all, delete-orphan", lazy="selectin"
    )
    roles: Mapped[list[Role]] = relationship(secondary=client_roles, lazy="selectin")

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())


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
