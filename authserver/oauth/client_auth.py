"""Client authentication by signed assertion: ``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9).

Authlib verifies the assertion; we supply the client's keys, the accepted audiences, the
bounds on its lifetime and the replay cache of ``jti`` values (RFC 7523 §3 items 4, 6 and 7).
An assertion is accepted once: its ``jti`` is remembered until its ``exp`` (RFC 7521 §5.2), and
``exp`` may lie at most ``client_assertion_max_lifetime_seconds`` ahead, so that memory is
bounded and an assertion cannot be a long-lived password.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import math

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authserver_verify import json_input
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, insert

from authserver.models import UsedAssertion
from authserver.oauth import paths
from authserver.oauth.guards import CLIENT_AUTH_FAILED
from authserver.oauth.remote_jwks import RemoteJwks
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.single_use import insert_apart


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, settings: Settings, remote_jwks: RemoteJwks) -> None:
        super().__init__(leeway=settings.clock_skew_seconds)
        self.settings = settings
        self.remote_jwks = remote_jwks

    def extract_assertion(self, assertion: str) -> tuple[dict, dict]:
        """The header and the claims, read before the signature is checked (to find the client):
        Authlib's own reading json-loads the payload with no depth limit, and a deeply nested
        one was a RecursionError (a 500) rather than a failed authentication."""
        try:
            extracted = jws.extract_compact(assertion.encode("utf-8"))
            claims = json_input.loads(extracted.payload)
        except (JoseError, ValueError):
            raise InvalidClientError(description=CLIENT_AUTH_FAILED) from None
        if not isinstance(claims, dict):
            raise InvalidClientError(description=CLIENT_AUTH_FAILED)
        headers = extracted.headers()
        # Which key signed it: a kid the client's published set lacks means it rotated its keys.
        kid = headers.get("kid")
        _assertion_kid.set(kid if isinstance(kid, str) else None)
        return headers, claims

    def get_audiences(self) -> list[str]:
        # The issuer, or the URL of the endpoint the assertion is presented to.
        return [self.settings.issuer, *(self.settings.url(p) for p in paths.CLIENT_AUTH_ENDPOINTS)]

    def resolve_client_public_key(self, client) -> KeySet:  # noqa: ANN001
        jwks = client.jwks
        if jwks is None and client.jwks_uri:
            jwks = self.remote_jwks.get(client.jwks_uri, _assertion_kid.get())
        if not jwks:
            raise InvalidClientError(description=CLIENT_AUTH_FAILED)
        try:
            return KeySet.import_key_set(jwks)
        except (JoseError, ValueError, TypeError, KeyError) as e:
            raise InvalidClientError(description=CLIENT_AUTH_FAILED) from e

    def verify_claims(self, claims: dict) -> None:
        self.check_lifetime(claims)
        super().verify_claims(claims)

    def check_lifetime(self, claims: dict) -> None:
        """RFC 7523 §3: refuse an ``exp`` unreasonably far ahead, and an assertion without
        ``iat`` or issued in the future. Read on the server's clock, as the jti's memory is
        (Authlib checks ``exp`` against the system's)."""
        now, skew = clock.timestamp(), self.settings.clock_skew_seconds
        exp, iat = claims.get("exp"), claims.get("iat")
        if not _is_numeric_date(exp) or exp <= now - skew:
            raise InvalidClientError(description="The assertion has expired or has no exp.")
        if exp > now + self.settings.client_assertion_max_lifetime_seconds + skew:
            raise InvalidClientError(description="The assertion's exp lies too far ahead.")
        if not _is_numeric_date(iat) or iat > now + skew:
            raise InvalidClientError(description="The assertion needs an iat, not in the future.")

    def validate_jti(self, claims: dict, jti: str) -> bool:
        # Until exp (and the skew by which it is still accepted): check_lifetime bounded it.
        until = dt.datetime.fromtimestamp(claims["exp"], tz=dt.UTC) + dt.timedelta(
            seconds=self.settings.clock_skew_seconds
        )
        return consume_assertion_jti(claims["sub"], jti, until)


#: The kid of the assertion being checked (Authlib hands resolve_client_public_key the client only).
_assertion_kid: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "authserver_assertion_kid", default=None
)


def _is_numeric_date(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def consume_assertion_jti(client_id: str, jti: object, until: dt.datetime) -> bool:
    """Record a jti until ``until``; False if it was seen before. Committed at once, on its
    own connection, so that a replay is caught even when the first request fails later on."""
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        return False
    return insert_apart(
        insert(UsedAssertion).values(key=f"{client_id}:{jti}", expires_at=until),
        prune=delete(UsedAssertion).where(UsedAssertion.expires_at <= clock.now()),
    )
