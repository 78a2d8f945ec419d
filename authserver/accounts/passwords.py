"""Human-chosen passwords: argon2id (argon2-cffi), the only place a slow hash belongs."""

from __future__ import annotations

import base64
import functools
import secrets
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authserver.platform.errors import InvalidInput
from authserver.platform.password_cost import DEFAULT, PasswordCost

MIN_LENGTH = 12  # NIST SP 800-63B §3.1.1.2 (no composition rules)
MAX_LENGTH = 1024


def _b64(n: int) -> str:
    return base64.b64encode(secrets.token_bytes(n)).decode().rstrip("=")


def use_cost(cost: PasswordCost) -> None:
    """The cost of every hash made from now on in this process (``AUTHSERVER_PASSWORD_HASH``,
    set by the app at start). A hash of another cost still verifies, and is remade at the next
    sign-in (``needs_rehash``)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(
        time_cost=cost.time_cost, memory_cost=cost.memory_kib, parallelism=cost.parallelism
    )
    # Compared against when the email is unknown, so that both answers cost one argon2
    # verify: a hash of the same cost with a random salt and digest (no password has it).
    # Written out rather than hashed, since hashing here would cost every process (each CLI
    # call, each worker) a full argon2 computation before it did anything.
    _DUMMY_HASH = (
        f"$argon2id$v=19$m={cost.memory_kib},t={cost.time_cost},p={cost.parallelism}"
        f"${_b64(_hasher.salt_len)}${_b64(_hasher.hash_len)}"
    )


_hasher: PasswordHasher
_DUMMY_HASH: str
use_cost(DEFAULT)


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("authserver.accounts").joinpath("common_passwords.txt").read_text()
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def check_policy(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password: at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"password: at most {MAX_LENGTH} characters")
    if password.lower() in common_passwords():
        raise InvalidInput("password: one of the most common passwords; choose another")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant work: an account without a hash still costs one argon2 verification."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
