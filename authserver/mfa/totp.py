"""Time-based one-time passwords (RFC 6238) for authenticator apps.

160-bit secrets (RFC 4226 §4), HMAC-SHA1, 6 digits, 30-second steps: what every authenticator
app understands. One step of clock drift is accepted either way (RFC 6238 §5.2), and a code is
accepted only for a step later than the last accepted one, so a code cannot be replayed.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.hotp import HOTP
from cryptography.hazmat.primitives.twofactor.totp import TOTP

SECRET_BYTES = 20
DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as authenticator apps take it for manual entry: base32, in groups of four."""
    encoded = base64.b32encode(secret).decode().rstrip("=")
    return " ".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def provisioning_uri(secret: bytes, account: str, issuer_name: str) -> str:
    """The otpauth:// URI a QR code carries."""
    # HMAC-SHA1 is RFC 6238's default and the one every app supports; HMAC does not rely on
    # SHA-1's collision resistance.
    totp = TOTP(secret, DIGITS, SHA1(), STEP_SECONDS)  # noqa: S303  # nosec B303
    return totp.get_provisioning_uri(account, issuer_name)


def step_at(when: dt.datetime) -> int:
    return int(when.timestamp()) // STEP_SECONDS


def code_at(secret: bytes, step: int) -> str:
    return HOTP(secret, DIGITS, SHA1()).generate(step).decode()  # noqa: S303  # nosec B303


def normalize(code: str) -> str:
    return "".join(code.split())


def matching_step(
    secret: bytes, code: str, when: dt.datetime, last_used_step: int | None
) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than the last used one."""
    code = normalize(code)
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    current = step_at(when)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if last_used_step is not None and step <= last_used_step:
            continue  # replay of an accepted code, or of an older one
        if hmac.compare_digest(code_at(secret, step), code) and found is None:
            found = step
    return found
