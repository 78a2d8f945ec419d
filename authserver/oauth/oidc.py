"""OpenID Connect on top of the code flow: ID tokens (Core §2, §3.1.3.6), the UserInfo endpoint
(Core §5.3) and RP-initiated logout (RP-Initiated Logout 1.0), as Authlib extensions.

ID tokens are signed with exactly the active key of the client's algorithm (RS256 by
default) and name it in ``kid``; ``sub`` is the user's opaque subject, never the email or
the row number.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oidc.core import OpenIDCode, UserInfo, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import request as flask_request
from joserfc.jwk import KeySet
from sqlalchemy import select

from authserver.clients.cache import ClientCache
from authserver.keys.keyring import KeyRing
from authserver.models import AuthorizationCode, KeyState, SigningKey, User
from authserver.oauth import paths
from authserver.oauth.dpop import check_request
from authserver.oauth.tokens import AccessToken, is_for, read_access_token
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.extensions import db


def user_claims(user: User, scope: str) -> UserInfo:
    """Claims by scope (Core §5.4): openid → sub; profile → name; email → email."""
    scopes = set(scope.split())
    info = UserInfo(sub=user.subject)
    if "profile" in scopes:
        info["name"] = user.display_name
    if "email" in scopes:
        info["email"] = user.email
        # Addresses are set by administrators, not self-asserted by the user.
        info["email_verified"] = True
    return info


class IDToken(OpenIDCode):
    def __init__(self, settings: Settings, keyring: KeyRing) -> None:
        super().__init__(require_nonce=False)
        self.settings = settings
        self.keyring = keyring

    def resolve_client_private_key(self, client):  # noqa: ANN001, ANN201
        return self.keyring.signer(self.get_client_algorithm(client))[1]

    def get_client_algorithm(self, client) -> str:  # noqa: ANN001
        return client.id_token_signed_response_alg

    def get_encode_header(self, client) -> dict:  # noqa: ANN001
        alg = self.get_client_algorithm(client)
        return {"alg": alg, "kid": self.keyring.signer(alg)[0], "typ": "JWT"}

    def get_client_claims(self, client) -> dict:  # noqa: ANN001
        now = clock.timestamp()
        return {
            "iss": self.settings.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + self.settings.id_token_ttl_seconds,
        }

    def get_authorization_code_claims(self, authorization_code: AuthorizationCode) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        claims["sid"] = authorization_code.sid
        return claims

    def exists_nonce(self, nonce: str, request) -> bool:  # noqa: ANN001
        # A nonce seen before for this client is a replayed request.
        found = db.session.scalar(
            select(AuthorizationCode.code_hash).where(
                AuthorizationCode.client_id == request.payload.client_id,
                AuthorizationCode.nonce == nonce,
            )
        )
        if found is not None:
            # Authlib's own description is "Replay attack"; the person who sees this is most
            # likely the application's user, who reloaded or went back.
            raise InvalidRequestError(
                "This sign-in request was used already (its nonce); start again from the "
                "application."
            )
        return False

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_claims(user, scope)


class AccessTokenValidator(BearerTokenValidator):
    """Bearer access tokens (RFC 6750) for the UserInfo endpoint: our JWTs, not revoked."""

    def __init__(self, settings: Settings, keyring: KeyRing, clients: ClientCache) -> None:
        super().__init__()
        self.settings = settings
        self.keyring = keyring
        self.clients = clients

    def authenticate_token(self, token_string: str) -> AccessToken | None:
        token = read_access_token(token_string, self.settings, self.keyring)
        if token is None or not is_for(token.claims, self.settings.audience):
            return None
        if not self._proof_matches(token, token_string):
            return None
        token.client = self.clients.get(token.client_id)
        token.user = db.session.scalar(select(User).where(User.subject == token.claims["sub"]))
        if token.client is None or token.user is None or not token.user.is_active:
            return None
        return token

    def _proof_matches(self, token: AccessToken, token_string: str) -> bool:
        """A Bearer token must not be DPoP-bound (RFC 9449 §7.2)."""
        return "cnf" not in token.claims


class DPoPTokenValidator(AccessTokenValidator):
    """``Authorization: DPoP <token>`` with a proof for this request and key (RFC 9449 §7.1)."""

    TOKEN_TYPE = "dpop"  # noqa: S105 - the Authorization scheme

    def _proof_matches(self, token: AccessToken, token_string: str) -> bool:
        jkt = (token.claims.get("cnf") or {}).get("jkt")
        if not jkt:
            return False
        try:
            proof = check_request(
                self.settings, flask_request, self.settings.url(paths.USERINFO), token_string
            )
        except OAuth2Error:
            return False
        return proof is not None and proof.jkt == jkt


class UserInfoView(UserInfoEndpoint):
    def __init__(self, settings: Settings, protector: ResourceProtector) -> None:
        super().__init__(resource_protector=protector)
        self.settings = settings

    def get_issuer(self) -> str:
        return self.settings.issuer

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_claims(user, scope)


class EndSession(EndSessionEndpoint):
    """Logout: an ``id_token_hint`` from any key still on record verifies (an expired key keeps
    its public half), so a rotation never breaks logout; a revoked key's hints do not."""

    def __init__(self, settings: Settings, on_end) -> None:  # noqa: ANN001
        super().__init__()
        self.settings = settings
        self.on_end = on_end

    def get_server_jwks(self) -> KeySet:
        keys = db.session.scalars(select(SigningKey).where(SigningKey.state != KeyState.REVOKED))
        return KeySet.import_key_set({"keys": [k.public_jwk for k in keys]})

    def resolve_client_from_id_token_claims(self, id_token_claims: dict):  # noqa: ANN201
        # Our ID tokens name exactly one audience, as a one-element list.
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def end_session(self, end_session_request) -> None:  # noqa: ANN001
        self.on_end(end_session_request)
