"""Token revocation (RFC 7009), for JWT access tokens and API keys.

A revoked JWT access token is remembered by ``jti`` until its ``exp``, so introspection
answers inactive; verifiers that check signatures locally rely on the short lifetime. An API
key may be revoked here by the client that owns it. Unknown, malformed and already expired
tokens answer 200 (RFC 7009 §2.2).
"""

from __future__ import annotations

from authlib.oauth2.rfc7009 import RevocationEndpoint

from authserver.apikeys.service import revoke_api_key
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.clients.service import find_client
from authserver.oauth.guards import PresentedTokenEndpoint
from authserver.oauth.presented import ApiKeyToken, read_presented
from authserver.oauth.tokens import AccessToken, revoke_access_token
from authserver.platform.vocabulary import AUTH_METHODS
from authserver.rbac.containment import caller_for


class Revocation(PresentedTokenEndpoint, RevocationEndpoint):
    # Public clients may revoke their own tokens with client_id alone (RFC 7009 §2.1).
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> AccessToken | ApiKeyToken | None:
        token = read_presented(token_string, self.settings, self.keyring)
        if isinstance(token, AccessToken) and token.is_expired():
            return None
        return token

    def revoke_token(self, token: AccessToken | ApiKeyToken, request) -> None:  # noqa: ANN001
        if isinstance(token, ApiKeyToken):
            # Only the owner client gets here (check_client): it acts on its own key.
            owner = find_client(request.client.get_client_id())
            caller = caller_for(owner, f"client:{owner.client_id}")
            revoke_api_key(token.key.key_id, reason="revoked at RFC 7009 endpoint", caller=caller)
        elif revoke_access_token(token):
            record(
                Tag.TOKEN_REVOKED,
                actor=f"client:{request.client.get_client_id()}",
                jti=token.jti,
                client=token.client_id,
                subject=token.claims.get("sub"),
            )
