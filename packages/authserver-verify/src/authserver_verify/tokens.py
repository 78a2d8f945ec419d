"""Local verification of an RFC 9068 access token against the issuer's published keys."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from joserfc import jws, jwt
from joserfc.errors import JoseError

from authserver_verify.errors import (
    ExpiredToken,
    InsufficientScope,
    InvalidClaims,
    InvalidToken,
)
from authserver_verify.jwks import ALLOWED_ALGORITHMS, JWKSCache

ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - RFC 9068 §2.1


def verify_access_token(
    token: str,
    *,
    jwks: JWKSCache,
    issuer: str,
    audience: str,
    required_scopes: Iterable[str] = (),
    leeway_seconds: int = 30,
    now: Callable[[], float] = time.time,
) -> dict:
    """The verified claims of an RFC 9068 access token, or a TokenVerificationError."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 16384:
        raise InvalidToken("not a compact JWS")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError) as e:
        raise InvalidToken("malformed token") from e
    # RFC 9068 §4: refuse anything that is not typed as an access token.
    if str(header.get("typ", "")).lower() not in (ACCESS_TOKEN_TYP, "application/at+jwt"):
        raise InvalidToken("not an access token (typ must be at+jwt)")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALLOWED_ALGORITHMS:
        raise InvalidToken(f"algorithm {alg!r} is not allowed")
    if not isinstance(kid, str):
        raise InvalidToken("no kid")
    key_alg, key = jwks.get(kid)
    if key_alg != alg:
        raise InvalidToken("the algorithm does not match the key's")
    try:
        decoded = jwt.decode(token, key, algorithms=[alg])
    except (JoseError, ValueError) as e:
        raise InvalidToken("bad signature") from e
    claims = dict(decoded.claims)
    _check_claims(claims, issuer, audience, leeway_seconds, int(now()))
    granted = set(str(claims.get("scope", "")).split())
    missing = set(required_scopes) - granted
    if missing:
        raise InsufficientScope(f"missing scope: {' '.join(sorted(missing))}")
    return claims


def _check_claims(claims: dict, issuer: str, audience: str, leeway: int, now: int) -> None:
    for name in ("iss", "sub", "aud", "exp", "iat", "client_id"):
        if name not in claims:
            raise InvalidClaims(f"missing claim {name!r}")
    if claims["iss"] != issuer:
        raise InvalidClaims("wrong issuer")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if audience not in audiences:
        raise InvalidClaims("wrong audience")
    for name in ("exp", "iat", "nbf"):
        if name in claims and (
            not isinstance(claims[name], int | float) or isinstance(claims[name], bool)
        ):
            raise InvalidClaims(f"claim {name!r} is not a number")
    if claims["exp"] <= now - leeway:
        raise ExpiredToken("the token has expired")
    if claims.get("nbf", 0) > now + leeway or claims["iat"] > now + leeway:
        raise InvalidClaims("the token is not valid yet")
