"""The ways a token is refused, each with its RFC 6750 §3.1 error code and HTTP status."""

from __future__ import annotations

__all__ = [
    "ExpiredToken",
    "InsufficientScope",
    "InvalidClaims",
    "IntrospectionUnavailable",
    "InvalidToken",
    "JWKSUnavailable",
    "TokenVerificationError",
    "UnknownKey",
]


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


class IntrospectionUnavailable(TokenVerificationError):
    """The introspection endpoint could not be asked or gave no usable answer."""

    error = "temporarily_unavailable"
    status = 503
