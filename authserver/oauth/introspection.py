"""Token introspection (RFC 7662), for JWT access tokens and API keys; answered as a signed JWT
(RFC 9701) when the resource server asks with ``Accept: application/token-introspection+jwt``.

Default deny: Authlib answers ``{"active": false}`` whenever ``query_token`` finds nothing,
``check_permission`` refuses, or the token is expired or revoked. A client holding the
``tokens:introspect`` permission (the ``resource-server`` role) may introspect any token;
any other client only the tokens issued to it (or the API keys it owns).
"""

from __future__ import annotations

from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import current_app
from joserfc import jwt

from authserver.apikeys.service import note_use
from authserver.budgets.credential_limits import (
    charge,
    limit_state,
    limits_of,
    token_limits,
)
from authserver.oauth.guards import PresentedTokenEndpoint
from authserver.oauth.presented import ApiKeyToken, introspection_of, read_presented
from authserver.oauth.tokens import AccessToken
from authserver.platform import clock
from authserver.platform.current_request import client_address
from authserver.platform.metrics import introspections
from authserver.platform.runtime import runtime_of
from authserver.platform.vocabulary import CONFIDENTIAL_AUTH_METHODS
from authserver.rbac.permissions import Permission

INTROSPECTION_JWT_TYPE = "token-introspection+jwt"
_JWT_MEDIA_TYPE = "application/" + INTROSPECTION_JWT_TYPE
_JWT_HEADERS = [("Content-Type", _JWT_MEDIA_TYPE), ("Cache-Control", "no-store")]


def _wants_jwt(request) -> bool:  # noqa: ANN001
    return _JWT_MEDIA_TYPE in request.headers.get("Accept", "")


class Introspection(PresentedTokenEndpoint, IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(CONFIDENTIAL_AUTH_METHODS)

    def create_endpoint_response(self, request):  # noqa: ANN001, ANN201
        status, body, headers = super().create_endpoint_response(request)
        if status == 200:
            introspections.labels("active" if body.get("active") else "inactive").inc()
            if _wants_jwt(request):
                return status, self._signed(body, request.client), _JWT_HEADERS
        return status, body, headers

    def _signed(self, answer: dict, client) -> str:  # noqa: ANN001
        """RFC 9701 §5: the answer under ``token_introspection``, for this resource server."""
        alg = self.settings.access_token_alg
        kid, key = self.keyring.signer(alg)
        claims = {
            "iss": self.settings.issuer,
            "aud": client.get_client_id(),
            "iat": clock.timestamp(),
            "token_introspection": answer,
        }
        header = {"typ": INTROSPECTION_JWT_TYPE, "alg": alg, "kid": kid}
        return jwt.encode(header, claims, key, algorithms=[alg])

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> AccessToken | ApiKeyToken | None:
        # The hint only speeds up a lookup (RFC 7662 §2.1); the token's form tells its type.
        return read_presented(token_string, self.settings, self.keyring)

    def check_permission(self, token, client, request) -> bool:  # noqa: ANN001
        return client.has_permission(Permission.TOKENS_INTROSPECT) or token.check_client(client)

    def introspect_token(self, token: AccessToken | ApiKeyToken) -> dict:
        runtime = runtime_of(current_app)
        if isinstance(token, ApiKeyToken):
            note_use(token.key, client_address())
            principal = f"apikey:{token.key.key_id}"
            rate_limit, quota_of = limits_of(token.key, None, runtime)
        else:
            principal, rate_limit, quota_of = token_limits(token.claims, runtime)
        if rate_limit is None and quota_of is None:
            return introspection_of(token)
        # The credential's own limits, the same buckets and quota as at /gateway/check: over
        # them the token is not to be honoured now, and the answer says why and until when.
        charged = charge(runtime.counters, principal, rate_limit, quota_of)
        if not charged.allowed:
            return {"active": False, "limit": {"exceeded": charged.outcome,
                                               "retry_after": charged.retry_after}}  # fmt: skip
        return {**introspection_of(token), "limit": limit_state(charged)}
