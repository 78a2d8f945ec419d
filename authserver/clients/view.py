"""A client as the OAuth endpoints see it: an immutable snapshot implementing Authlib's
``ClientMixin`` hooks. Snapshots are cached per process (``clients/cache.py``) so that the
token endpoint does not load a client, its secrets, roles and permissions on every request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from authlib.oauth2.rfc6749 import ClientMixin

from authserver.models import Client
from authserver.platform import clock
from authserver.platform.security import secret_matches_any


@dataclasses.dataclass(frozen=True)
class ClientView(ClientMixin):
    client_id: str
    name: str
    is_public: bool
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scope: str
    jwks: dict | None
    # (HMAC of a secret, end of its grace period or None)
    secrets: tuple[tuple[str, dt.datetime | None], ...]
    permissions: frozenset[str]
    role_names: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    id_token_signed_response_alg: str = "RS256"  # noqa: S105
    skip_consent: bool = False
    require_pushed_authorization_requests: bool = False
    backchannel_logout_uri: str | None = None
    resources: tuple[str, ...] = ()
    dpop_bound_access_tokens: bool = False
    jwks_uri: str | None = None
    token_quota: str | None = None
    introspection_quota: str | None = None
    # The gateway's limits on this client's tokens (gateway/limits.py).
    rate_limit: str | None = None
    quota_limit: int | None = None
    # POSIX seconds: tokens with an earlier iat are dead (clients.tokens_valid_after).
    tokens_valid_after: int | None = None

    @classmethod
    def of(cls, client: Client) -> ClientView:
        return cls(
            client_id=client.client_id,
            name=client.name,
            is_public=client.is_public,
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            grant_types=tuple(client.grant_types),
            redirect_uris=tuple(client.redirect_uris),
            scope=client.scope,
            jwks=client.jwks,
            secrets=tuple((s.secret_hash, s.expires_at) for s in client.secrets),
            permissions=frozenset(p for role in client.roles for p in role.permission_names),
            role_names=tuple(sorted(role.name for role in client.roles)),
            post_logout_redirect_uris=tuple(client.post_logout_redirect_uris or ()),
            id_token_signed_response_alg=client.id_token_signed_response_alg or "RS256",
            skip_consent=client.skip_consent,
            require_pushed_authorization_requests=client.require_pushed_authorization_requests,
            backchannel_logout_uri=client.backchannel_logout_uri,
            resources=tuple(client.resources or ()),
            dpop_bound_access_tokens=client.dpop_bound_access_tokens,
            jwks_uri=client.jwks_uri,
            token_quota=client.token_quota,
            introspection_quota=client.introspection_quota,
            rate_limit=client.rate_limit,
            quota_limit=client.quota_limit,
            tokens_valid_after=(
                int(client.tokens_valid_after.timestamp()) if client.tokens_valid_after else None
            ),
        )

    @property
    def client_metadata(self) -> dict:
        """The RFC 7591 / OIDC metadata Authlib reads (logout URIs; no signed UserInfo)."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    @property
    def scopes(self) -> set[str]:
        return set(self.scope.split())

    def has_permission(self, permission: str) -> bool:
        return permission in self.permissions

    # --- Authlib ClientMixin hooks --------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        # RFC 6749 §3.3: an omitted scope means the pre-defined default, here the registration.
        if not scope:
            return self.scope
        allowed = self.scopes
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        now = clock.now()
        valid = [h for h, expires_at in self.secrets if expires_at is None or now < expires_at]
        return secret_matches_any(client_secret, valid)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types
