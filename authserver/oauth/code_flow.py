"""The authorization code grant (RFC 6749 §4.1) with PKCE S256 required for every client
(RFC 7636; OAuth 2.1, RFC 9700 §2.1.1), and the refresh-token grant with rotation.

Codes are ≥ 256-bit random, stored as an HMAC, live 60 s and are claimed with one conditional
UPDATE, so a code works once; a second use fails and revokes what the first one issued (RFC 6749
§4.1.2). A redemption by the code's own client that fails after the claim (a wrong PKCE
verifier, redirect_uri or user) still spends it (``single_use.Standing``): a code that leaked
gets one guess. Refresh tokens are claimed the same way, and spent only with their successor
(``refresh_tokens.claim_refresh_token``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from sqlalchemy import select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.mfa.policy import without_step_up_scopes
from authserver.models import AuthorizationCode, RefreshToken, User
from authserver.oauth.consent import scope_to_grant
from authserver.oauth.dpop import bound_key
from authserver.oauth.grants import check_requested_scope
from authserver.oauth.refresh_tokens import claim_refresh_token, revoke_family
from authserver.oauth.resources import (
    InvalidTargetError,
    check_resources,
    grant_resources,
    requested,
)
from authserver.oauth.tokens import remember_revoked
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.request_state import request_state
from authserver.platform.runtime import current_settings
from authserver.platform.security import generate_secret, hash_secret
from authserver.platform.vocabulary import AUTH_METHODS
from authserver.single_use import Standing, commit_now
from authserver.web.browser import current_session

TOKEN_AUTH_METHODS = list(AUTH_METHODS)


class S256Only(CodeChallenge):
    """PKCE with S256 only; ``plain`` (and an omitted method, which means plain) refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri) -> None:  # noqa: ANN001
        super().validate_code_challenge(grant, redirect_uri)
        if grant.request.payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                description="code_challenge_method must be S256.", redirect_uri=redirect_uri
            )

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge_method


class AuthorizationCodeFlow(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def validate_requested_scope(self) -> None:
        check_requested_scope(self.request.payload.scope, self.request.client, self.redirect_uri)

    @staticmethod
    def validate_authorization_redirect_uri(request, client):  # noqa: ANN001, ANN205
        # Authlib quotes an unregistered redirect URI in its error description, and refuses
        # (ValueError: a 500) a description with '"' or '\', which RFC 6749 §5.2 forbids there.
        # Not registered: no redirect (§4.1.2.1), the error page (or, at PAR, JSON) says so.
        uri = request.payload.redirect_uri
        if uri and not client.check_redirect_uri(uri):
            raise InvalidRequestError(description="The redirect URI is not registered.")
        return grants.AuthorizationCodeGrant.validate_authorization_redirect_uri(request, client)

    def validate_authorization_request(self):  # noqa: ANN201
        redirect_uri = super().validate_authorization_request()
        try:
            check_resources(requested(self.request.payload), self.request.client,
                            redirect_uri=redirect_uri)  # fmt: skip
        except InvalidTargetError as error:
            error.state = self.request.payload.state
            raise
        return redirect_uri

    def __init__(self, request, server) -> None:  # noqa: ANN001
        super().__init__(request, server)
        self.code_claim = Standing()

    def validate_token_request(self) -> None:
        with self.code_claim.kept_on_failure():
            super().validate_token_request()
            code = self.request.authorization_code
            asked = requested(self.request.payload)
            # RFC 8707 §2.2: a token request may narrow the resources of its authorization.
            check_resources(asked, self.request.client, allowed=code.resources or None)
            grant_resources(asked or code.resources)

    def create_token_response(self):  # noqa: ANN201
        with self.code_claim.kept_on_failure():
            return super().create_token_response()

    def generate_authorization_code(self) -> str:
        return generate_secret()

    def save_authorization_code(self, code: str, request) -> None:  # noqa: ANN001
        session = current_session()
        now = clock.now()
        payload = request.payload
        db.session.add(
            AuthorizationCode(
                code_hash=hash_secret(code),
                client_id=request.client.get_client_id(),
                user_id=request.user.id,
                sid=session.sid,
                redirect_uri=payload.redirect_uri or request.client.get_default_redirect_uri(),
                # What the consent page showed (oauth.consent.scope_to_grant), so that a role
                # given between consent and exchange adds nothing unseen; and, in depth, no
                # step-up scope the sign-in did not earn (the endpoint stepped up already).
                scope=without_step_up_scopes(
                    _shown_scope(request), session.amr, current_settings()
                ),  # fmt: skip
                nonce=payload.data.get("nonce"),
                code_challenge=payload.data["code_challenge"],
                code_challenge_method=payload.data["code_challenge_method"],
                auth_time=session.auth_time,
                amr=list(session.amr),
                resources=requested(payload) or None,
                created_at=now,
                expires_at=now
                + dt.timedelta(seconds=current_settings().authorization_code_ttl_seconds),
            )
        )
        db.session.flush()

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:  # noqa: ANN001
        if not isinstance(code, str) or len(code) > 200:
            return None
        code_hash = hash_secret(code)
        now = clock.now()
        # The claim names the client: a code presented by another one is not touched (RFC 6749
        # §4.1.3 binds it to the client it was issued to), so it cannot be burnt by a stranger.
        claimed = self.code_claim.claim(
            update(AuthorizationCode)
            .where(
                AuthorizationCode.code_hash == code_hash,
                AuthorizationCode.client_id == client.get_client_id(),
                AuthorizationCode.used_at.is_(None),
                AuthorizationCode.expires_at > now,
            )
            .values(used_at=now)
        )
        row = db.session.get(AuthorizationCode, code_hash, populate_existing=True)
        if claimed:
            return row
        if row is not None and row.used_at is not None and row.client_id == client.get_client_id():
            # The claim waited for the first redemption's outcome, so what it issued is known.
            _revoke_what_a_code_issued(row)
        return None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Claimed already (used_at); the row stays so that a replay is recognised."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        user = db.session.get(User, authorization_code.user_id)
        if user is None or not user.is_active:
            return None
        remember_authentication(authorization_code.auth_time, authorization_code.amr)
        return user


def remember_authentication(auth_time: dt.datetime, amr: list[str]) -> None:
    """How the user signed in, for the access token this request issues (RFC 9068 §2.2.1)."""
    request_state().authentication = (int(auth_time.timestamp()), list(amr))


def _revoke_what_a_code_issued(row: AuthorizationCode) -> None:
    if row.issued_family:
        revoke_family(row.issued_family)
    if row.issued_jti:  # replays at once: one of them writes it
        remember_revoked(row.issued_jti, row.issued_jti_expires_at)
    record(Tag.CODE_REPLAYED, actor=f"client:{row.client_id}", outcome="failure")
    commit_now()  # the token request fails; the revocation must stand


def remember_issued(row: AuthorizationCode, token: dict, family_id: str | None) -> None:
    claims = _unverified_claims(token["access_token"])
    row.issued_jti = claims["jti"]
    row.issued_jti_expires_at = dt.datetime.fromtimestamp(claims["exp"], tz=dt.UTC)
    row.issued_family = family_id


def _unverified_claims(jwt: str) -> dict:
    # We signed it a moment ago; only its jti and exp are read.
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class RefreshTokenFlow(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self) -> None:
        super().validate_token_request()
        row = self.request.refresh_token
        if row.dpop_jkt is not None and bound_key() != row.dpop_jkt:
            # RFC 9449 §5: only the key the refresh token was bound to may use it.
            raise InvalidGrantError(description="The refresh token is bound to another DPoP key.")
        asked = requested(self.request.payload)
        check_resources(asked, self.request.client, allowed=row.resources or None)
        grant_resources(asked or row.resources)

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        return claim_refresh_token(refresh_token, self.request.client.get_client_id())

    def authenticate_user(self, refresh_token: RefreshToken) -> User | None:
        user = db.session.get(User, refresh_token.user_id)
        if user is None or not user.is_active:
            return None
        remember_authentication(refresh_token.auth_time, refresh_token.amr)
        return user

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Rotated already: claimed when it was authenticated, committed with its successor."""


def family_of(row: RefreshToken) -> tuple[str, dt.datetime]:
    return row.family_id, row.expires_at


def live_refresh_tokens(user_id: int) -> list[RefreshToken]:
    return list(
        db.session.scalars(
            select(RefreshToken).where(
                RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
            )
        )
    )


def _shown_scope(request) -> str:  # noqa: ANN001 - Authlib's request
    """The scope the consent page showed; the request's when that is empty (an empty scope
    would mean the client's whole registration)."""
    asked = request.scope or ""
    return scope_to_grant(request.client, request.user, asked) or asked
