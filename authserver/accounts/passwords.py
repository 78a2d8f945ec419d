"""Human-chosen passwords: argon2id (argon2-cffi), the only place a slow hash belongs."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authserver.errors import InvalidInput

MIN_LENGTH = 12  # NIST SP 800-63B §3.1.1.2 (no composition rules)
MAX_LENGTH = 1024
_hasher = PasswordHasher()


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
