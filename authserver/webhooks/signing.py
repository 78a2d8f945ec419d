"""Standard Webhooks 1.0 (https://www.standardwebhooks.com), "Verifying webhook authenticity":
symmetric signatures.

- The secret is random (here 32 bytes from ``secrets``), shown to people as ``whsec_`` + its
  base64.
- The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``: the message id (no ``.`` in
  it), the attempt's Unix time in seconds, and the exact bytes of the body.
- The signature is ``v1,`` + base64 of HMAC-SHA256 under the secret; ``webhook-signature``
  holds one per secret that signs, separated by spaces (the newest first), so a receiver keeps
  verifying while a rotated secret's overlap lasts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """How the secret is shown, once: ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(secret).decode("ascii")


def secret_bytes(text: str) -> bytes:
    """The key in ``whsec_<base64>`` (tests and receivers; the server keeps the bytes)."""
    if not text.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        return base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ and base64") from None


def signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    if "." in message_id:
        raise ValueError("a message id must not contain '.'")
    return f"{message_id}.{int(timestamp)}.".encode("ascii") + body


def sign(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret, signed_content(message_id, timestamp, body), hashlib.sha256)
    return f"{SIGNATURE_VERSION}," + base64.b64encode(digest.digest()).decode("ascii")


def signature_header(keys: Iterable[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """``webhook-signature``: one ``v1,<signature>`` per key, space-separated."""
    return " ".join(sign(key, message_id, timestamp, body) for key in keys)


def headers(keys: Iterable[bytes], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature_header(keys, message_id, timestamp, body),
    }
