"""What an API key looks like: ``<prefix>_<key id>_<secret><checksum>``.

- prefix: fixed and recognisable (default ``ask``), so secret scanners can find leaked keys;
- key id: 16 base62 characters, public, the database lookup key;
- secret: 44 base62 characters from ``secrets`` (≥ 256 bits);
- checksum: CRC32 of everything before it, 6 base62 characters, so a typo or a random
  string is refused offline, before any database lookup.

Example: ``ask_3fJ9kQ2mXw8LpT4a_<44 characters><6 characters>``.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import string
import zlib

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
KEY_ID_LENGTH = 16
SECRET_LENGTH = 44  # 44 × log2(62) ≈ 262 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9]{1,15}$")
_BASE62 = f"[{ALPHABET}]"


@dataclasses.dataclass(frozen=True)
class ParsedKey:
    prefix: str
    key_id: str
    secret: str


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def new_key_id() -> str:
    return _random(KEY_ID_LENGTH)


def generate(prefix: str, key_id: str | None = None) -> tuple[str, ParsedKey]:
    """(the full key, its parts). The full key exists only in the caller's hands."""
    parts = ParsedKey(prefix, key_id or new_key_id(), _random(SECRET_LENGTH))
    body = f"{parts.prefix}_{parts.key_id}_{parts.secret}"
    return body + checksum(body), parts


def _pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(
        rf"^{re.escape(prefix)}_({_BASE62}{{{KEY_ID_LENGTH}}})_"
        rf"({_BASE62}{{{SECRET_LENGTH}}})({_BASE62}{{{CHECKSUM_LENGTH}}})$"
    )


def looks_like_key(text: str, prefix: str) -> bool:
    return isinstance(text, str) and text.startswith(prefix + "_")


def parse(text: str, prefix: str) -> ParsedKey | None:
    """The parts of a well-formed key with a correct checksum, else None (no hint why)."""
    if not isinstance(text, str) or len(text) > 200:
        return None
    match = _pattern(prefix).match(text)
    if match is None:
        return None
    key_id, secret, check = match.groups()
    body = f"{prefix}_{key_id}_{secret}"
    if not secrets.compare_digest(checksum(body), check):
        return None
    return ParsedKey(prefix, key_id, secret)


def masked(prefix: str, key_id: str, last4: str) -> str:
    """How a key is shown after creation: prefix, key id and the last 4 characters only."""
    return f"{prefix}_{key_id}_…{last4}"
