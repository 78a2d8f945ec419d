"""Verify authserver's access tokens in the API they protect.

    from authserver_verify import ResourceServer

    api = ResourceServer("https://id.example.com", audience="https://api.example.com")
    claims = api.verify(token, scopes=["orders:read"])

Locally, against the issuer's published keys (``JWKSCache`` honours ``Cache-Control`` and
``ETag`` and refreshes on an unknown kid at most once per interval), with DPoP proofs checked
(RFC 9449) and, for APIs that must see revocation at once or take API keys, introspection
(``Introspector``, RFC 7662) with a small cache. Adapters for Flask, Starlette/FastAPI and
Django are in ``authserver_verify.integrations``; this package imports none of them.

Local verification cannot see revocation before a token expires. authserver publishes every
key before it signs and keeps it published until its tokens have expired, and its JWKS
``max-age`` is derived from that schedule, so a cache that honours ``Cache-Control`` never
misses a key.
"""

from __future__ import annotations

from authserver_verify.errors import (
    ExpiredToken,
    InsufficientScope,
    IntrospectionUnavailable,
    InvalidClaims,
    InvalidToken,
    JWKSUnavailable,
    TokenVerificationError,
    UnknownKey,
)
from authserver_verify.introspection import Introspector
from authserver_verify.jwks import ALLOWED_ALGORITHMS, JWKSCache
from authserver_verify.resource import Refusal, ResourceServer, refusal_for
from authserver_verify.tokens import verify_access_token

__all__ = [
    "ALLOWED_ALGORITHMS",
    "ExpiredToken",
    "InsufficientScope",
    "IntrospectionUnavailable",
    "Introspector",
    "InvalidClaims",
    "InvalidToken",
    "JWKSCache",
    "JWKSUnavailable",
    "Refusal",
    "ResourceServer",
    "TokenVerificationError",
    "UnknownKey",
    "refusal_for",
    "verify_access_token",
]
