"""Verify authserver access tokens in a downstream API, locally, against the published JWKS.

Importable without the server: this module needs only joserfc and the standard library
(and ``authserver.json_input``, which needs only the standard library; ``require_token``
imports Flask when it is used).

    jwks = JWKSCache("https://id.example.com/.well-known/jwks.json")
    claims = verify_access_token(
        token, jwks=jwks, issuer="https://id.example.com",
        audience="https://api.example.com", required_scopes=["orders:read"],
    )

Local verification cannot see revocation before a token expires: an API that must honour
revocation at once asks the introspection endpoint instead. The server publishes every key
before it signs and keeps it published until its tokens have expired, and its JWKS
``max-age`` is derived from that schedule, so a cache that honours ``Cache-Control`` never
misses a key; a kid it does not know still triggers one rate-limited refresh.
"""

from __future__ import annotations

import email.utils
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authserver import json_input

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ExpiredToken",
    "InsufficientScope",
    "InvalidClaims",
    "InvalidToken",
    "JWKSCache",
    "JWKSUnavailable",
    "TokenVerificationError",
    "UnknownKey",
    "require_token",
    "verify_access_token",
]

#: Asymmetric algorithms only: never "none", never an HMAC keyed with a public key.
ALLOWED_ALGORITHMS = ("ES256", "RS256", "Ed25519")
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - RFC 9068 §2.1


class TokenVerificationError(Exception):
    """The token must be refused. ``error`` is the RFC 6750 §3.1 error code."""

    error = "invalid_token"
    status = 401


class InvalidToken(TokenVerificationError):
    """Malformed, wrong type, disallowed algorithm, or a bad signature."""


class UnknownKey(InvalidToken):
    """Signed by a key the issuer does not publish (unknown, expired or revoked)."""


class ExpiredToken(TokenVerificationError):
    """``exp`` has passed (beyond the allowed skew)."""


class InvalidClaims(TokenVerificationError):
    """Wrong issuer or audience, a missing claim, or not yet valid."""


class InsufficientScope(TokenVerificationError):
    error = "insufficient_scope"
    status = 403


class JWKSUnavailable(TokenVerificationError):
    """No key set has ever been fetched from the issuer."""

    error = "temporarily_unavailable"
    status = 503


def _http_get(url: str, etag: str | None, timeout: float) -> tuple[int, dict[str, str], bytes]:
    # Only http(s): urllib would also open file: and ftp: URLs.
    if not url.startswith(("https://", "http://")):
        raise ValueError("the JWKS URL must be http(s)")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    if etag:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # nosec B310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return 304, dict(e.headers), b""
        raise


class JWKSCache:
    """A JWKS that honours ``Cache-Control: max-age`` and ``ETag``, refreshes on an unknown
    kid at most once per ``min_refresh_seconds``, and keeps serving the last good set while
    the issuer is unreachable."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        min_refresh_seconds: float = 10.0,
        default_max_age_seconds: float = 300.0,
        timeout_seconds: float = 5.0,
        fetch: Callable[[str, str | None, float], tuple[int, dict[str, str], bytes]] = _http_get,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jwks_uri = jwks_uri
        self.min_refresh_seconds = min_refresh_seconds
        self.default_max_age_seconds = default_max_age_seconds
        self.timeout_seconds = timeout_seconds
        self._fetch = fetch
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._has_set = False
        self._etag: str | None = None
        self._fresh_until = float("-inf")
        self._last_attempt = float("-inf")
        self.fetches = 0

    def get(self, kid: str) -> Any:
        """The key for ``kid``; raises UnknownKey or JWKSUnavailable."""
        with self._lock:
            now = self._monotonic()
            if now >= self._fresh_until:
                self._refresh(now)
            elif kid not in self._keys and now - self._last_attempt >= self.min_refresh_seconds:
                self._refresh(now)
            if not self._has_set:
                raise JWKSUnavailable("the issuer's JWKS could not be fetched")
            key = self._keys.get(kid)
        if key is None:
            raise UnknownKey(f"no published key with kid {kid!r}")
        return key

    def _refresh(self, now: float) -> None:
        self._last_attempt = now
        try:
            status, headers, body = self._fetch(self.jwks_uri, self._etag, self.timeout_seconds)
            self.fetches += 1
            if status == 304 and self._has_set:
                self._fresh_until = now + self._max_age(headers)
                return
            if status != 200:
                raise OSError(f"JWKS answered {status}")
            keys = self._parse(body)
        except (OSError, ValueError, JoseError):
            # Keep the last good set; try again after the minimum interval.
            self._fresh_until = now + self.min_refresh_seconds
            return
        self._keys = keys
        self._has_set = True
        self._etag = _header(headers, "ETag")
        self._fresh_until = now + self._max_age(headers)

    @staticmethod
    def _parse(body: bytes) -> dict[str, Any]:
        # Depth-limited: a deeply nested document was a RecursionError, not a bad JWKS.
        document = json_input.loads(body)
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("not a JWK Set")
        keys = {}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            kid, alg = entry.get("kid"), entry.get("alg")
            if not isinstance(kid, str) or alg not in ALLOWED_ALGORITHMS:
                continue
            keys[kid] = (alg, KeySet.import_key_set({"keys": [entry]}).keys[0])
        return keys

    def _max_age(self, headers: dict[str, str]) -> float:
        cache_control = _header(headers, "Cache-Control") or ""
        for directive in cache_control.split(","):
            name, _, value = directive.strip().partition("=")
            if name.lower() == "max-age" and value.strip().isdigit():
                return float(value)
            if name.lower() in ("no-store", "no-cache"):
                return 0.0
        expires = _header(headers, "Expires")
        if expires:
            try:
                return max(
                    0.0, email.utils.parsedate_to_datetime(expires).timestamp() - time.time()
                )
            except (TypeError, ValueError):
                pass
        return self.default_max_age_seconds


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


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


class _SeenProofs:
    """DPoP proof jtis this process accepted recently (RFC 9449 §11.1), bounded in size."""

    def __init__(self, limit: int = 100_000) -> None:
        self._until: dict[str, float] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def first_use(self, jti: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if len(self._until) >= self._limit:
                self._until = {k: v for k, v in self._until.items() if v > now}
            if self._until.get(jti, 0) > now:
                return False
            self._until[jti] = now + ttl
            return True


def require_token(
    scopes: Iterable[str] = (),
    *,
    jwks: JWKSCache,
    issuer: str,
    audience: str,
    dpop: bool = False,
) -> Callable:
    """Flask view decorator: a valid access token with ``scopes``, or an RFC 6750 error. The
    claims are in ``flask.g.token_claims``. With ``dpop`` the token must come as
    ``Authorization: DPoP`` with a proof of its key for this request (RFC 9449 §7); without,
    a DPoP-bound token is refused as a Bearer token (§7.2)."""
    required = tuple(scopes)
    scheme_name = "DPoP" if dpop else "Bearer"
    seen = _SeenProofs()

    def decorate(view: Callable) -> Callable:
        import functools

        from flask import g, jsonify, request

        from authserver.dpop_proof import MAX_AGE_SECONDS, InvalidProof, check_proof

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            token = token.strip()
            try:
                if scheme.lower() != scheme_name.lower() or not token:
                    raise InvalidToken(f"a {scheme_name} token is required")
                claims = verify_access_token(
                    token, jwks=jwks, issuer=issuer, audience=audience, required_scopes=required
                )
                bound = (claims.get("cnf") or {}).get("jkt")
                if not dpop and bound:
                    raise InvalidToken("a DPoP-bound token must be sent with its proof")
                if dpop:
                    try:
                        proof = check_proof(request.headers.get("DPoP", ""), method=request.method,
                                            url=request.url, now=int(time.time()),
                                            access_token=token)  # fmt: skip
                    except InvalidProof as e:
                        raise InvalidToken(f"DPoP proof: {e}") from None
                    if not bound or proof.jkt != bound:
                        raise InvalidToken("the DPoP proof is not from the token's key")
                    if not seen.first_use(proof.jti, MAX_AGE_SECONDS + 10):
                        raise InvalidToken("the DPoP proof was used already")
                g.token_claims = claims
            except TokenVerificationError as e:
                response = jsonify(error=e.error, error_description=str(e))
                response.status_code = e.status
                challenge = f'{scheme_name} error="{e.error}"'
                if isinstance(e, InsufficientScope):
                    challenge += f', scope="{" ".join(required)}"'
                response.headers["WWW-Authenticate"] = challenge
                return response
            return view(*args, **kwargs)

        return wrapper

    return decorate
