"""Recovery codes: ten single-use codes for when the authenticator is lost.

Each is 80 random bits written as 16 base32 letters in groups of four. They are stored as an
HMAC under the pepper like every server-generated secret; guessing online is bounded by the
per-account back-off, and 2^80 is out of reach offline even with the pepper.
"""

from __future__ import annotations

import base64
import secrets

COUNT = 10
_CODE_BYTES = 10


def new_codes(count: int = COUNT) -> list[str]:
    codes = []
    for _ in range(count):
        text = base64.b32encode(secrets.token_bytes(_CODE_BYTES)).decode().lower()
        codes.append("-".join(text[i : i + 4] for i in range(0, len(text), 4)))
    return codes


def normalize(code: str) -> str:
    """What is hashed: lower case, no spaces or dashes, so that typing variants match."""
    return "".join(c for c in code.lower() if c not in " -\t")[:64]
