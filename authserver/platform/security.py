"""Server-generated secrets: how they are made, hashed and compared.

Client secrets, API keys, refresh tokens and authorization codes are ≥ 256-bit random
values from ``secrets``. They are stored as HMAC-SHA256 under a server-side pepper, not
with argon2: a slow hash exists to make guessing a low-entropy human password expensive,
and nobody can enumerate a 2^256 space however fast the hash is. Argon2 on these values
would buy no security and would cap the token endpoint at a few dozen requests a second.
The pepper (random, made at ``init``, stored encrypted under the KEK) means a stolen
database alone does not even allow offline checks of a guessed secret. It is not derived
from the KEK, so changing the KEK leaves every hash valid.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app

SECRET_BYTES = 32  # 256 bits


def generate_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret_with(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def hash_secret(secret: str) -> str:
    return hash_secret_with(_pepper(), secret)


def secret_matches_any(secret: str, stored_hashes: list[str]) -> bool:
    """Constant-time check of ``secret`` against every stored hash (all are compared)."""
    candidate = hash_secret(secret)
    matched = False
    for stored in stored_hashes:
        matched |= hmac.compare_digest(candidate, stored)
    return matched


def _pepper() -> bytes:
    from authserver.platform.runtime import runtime_of

    return runtime_of(current_app).pepper()
