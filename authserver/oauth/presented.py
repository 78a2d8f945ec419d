"""What a token presented at introspection or revocation turns out to be: a JWT access token
this server signed, an API key, or nothing (every failure looks the same)."""

from __future__ import annotations

import dataclasses

from authserver.apikeys import format as keyformat
from authserver.apikeys.service import PresentedKey, check_presented_key
from authserver.keys.keyring import KeyRing
from authserver.models import ApiKey
from authserver.oauth.tokens import AccessToken, read_access_token
from authserver.platform.config import Settings
from authserver.platform.runtime import current_runtime

_JWT_CLAIMS = (
    "scope",
    "roles",
    "client_id",
    "sub",
    "aud",
    "iss",
    "exp",
    "iat",
    "nbf",
    "jti",
    "cnf",
)


def _introspect_jwt(token: AccessToken) -> dict:
    payload = {name: token.claims[name] for name in _JWT_CLAIMS if name in token.claims}
    bound = "cnf" in token.claims  # RFC 9449 §6.2: cnf is in the answer
    payload.update(active=True, token_type="DPoP" if bound else "Bearer")  # noqa: S106
    return payload


@dataclasses.dataclass
class ApiKeyToken:
    """An API key that authenticated: usable now (checked by authenticate_api_key)."""

    key: ApiKey | PresentedKey
    issuer: str

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False

    def check_client(self, client) -> bool:  # noqa: ANN001
        return self.key.owner_client_id == client.get_client_id()

    def introspection(self) -> dict:
        payload = {
            "active": True,
            "token_type": "api_key",
            "scope": self.key.scope,
            "sub": self.key.subject,
            "iss": self.issuer,
            "iat": int(self.key.created_at.timestamp()),
            "key_id": self.key.key_id,
        }
        if self.key.owner_client_id:
            payload["client_id"] = self.key.owner_client_id
        if self.key.expires_at is not None:
            payload["exp"] = int(self.key.expires_at.timestamp())
        return payload


def introspection_of(token: AccessToken | ApiKeyToken) -> dict:
    if isinstance(token, ApiKeyToken):
        return token.introspection()
    return _introspect_jwt(token)


def read_presented(
    token: str, settings: Settings, keyring: KeyRing
) -> AccessToken | ApiKeyToken | None:
    if keyformat.looks_like_key(token, settings.apikey_prefix):
        key = check_presented_key(settings, token, current_runtime().revocations)
        return ApiKeyToken(key, settings.issuer) if key is not None else None
    return read_access_token(token, settings, keyring)
