"""Token introspection (RFC 7662).

Default deny: Authlib answers ``{"active": false}`` whenever ``query_token`` finds nothing,
``check_permission`` refuses, or the token is expired or revoked. A client holding the
``tokens:introspect`` permission (the ``resource-server`` role) may introspect any token;
any other client only the tokens issued to it.
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from authserver.clients.service import CONFIDENTIAL_AUTH_METHODS
from authserver.config import Settings
from authserver.keys.keyring import KeyRing
from authserver.oauth.guards import TokenParameterCheck
from authserver.oauth.tokens import AccessToken, read_access_token
from authserver.rbac.permissions import Permission

_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti")


class Introspection(TokenParameterCheck, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(CONFIDENTIAL_AUTH_METHODS)

    def __init__(self, settings: Settings, keyring: KeyRing) -> None:
        super().__init__()
        self.settings = settings
        self.keyring = keyring

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | None:
        # The hint only speeds up a lookup (RFC 7662 §2.1); every token here is a JWT.
        return read_access_token(token_string, self.settings, self.keyring)

    def check_permission(self, token: AccessToken, client, request) -> bool:  # noqa: ANN001
        return client.has_permission(Permission.TOKENS_INTROSPECT) or token.check_client(client)

    def introspect_token(self, token: AccessToken) -> dict:
        payload = {name: token.claims[name] for name in _CLAIMS if name in token.claims}
        payload["active"] = True
        payload["token_type"] = "Bearer"  # noqa: S105
        return payload
