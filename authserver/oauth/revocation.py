"""Token revocation (RFC 7009).

A revoked JWT access token is remembered by ``jti`` until its ``exp``, so introspection
answers inactive; verifiers that check signatures locally rely on the short lifetime.
Unknown, malformed and already expired tokens answer 200 (RFC 7009 §2.2).
"""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint

from authserver.config import Settings
from authserver.keys.keyring import KeyRing
from authserver.oauth.guards import TokenParameterCheck
from authserver.oauth.tokens import AccessToken, read_access_token, revoke_access_token


class Revocation(TokenParameterCheck, RevocationEndpoint):
    # Public clients may revoke their own tokens with client_id alone (RFC 7009 §2.1).
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def __init__(self, settings: Settings, keyring: KeyRing) -> None:
        super().__init__()
        self.settings = settings
        self.keyring = keyring

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | None:
        token = read_access_token(token_string, self.settings, self.keyring)
        if token is None or token.is_expired():
            return None
        return token

    def revoke_token(self, token: AccessToken, request) -> None:  # noqa: ANN001
        revoke_access_token(token)
