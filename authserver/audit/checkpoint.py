"""The audit chain's signatures, HMAC-SHA256 under a key derived from the pepper (which the
database holds only sealed under the KEK, so whoever can write to the database alone cannot
forge one): a checkpoint's (audit/pruning.py) over ``id | hash | count | time``, and the head's
over ``head | last hash | length``, renewed at each append."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from authserver.models import AuditEvent
from authserver.platform.runtime import current_runtime

#: The checkpoint's prev_hash: it links to no stored record.
CHECKPOINT_PREV = "checkpoint"


def signature(event_id: int, digest: str, count: int, at: dt.datetime) -> str:
    message = f"{event_id}|{digest}|{count}|{at.astimezone(dt.UTC).isoformat()}"
    return hmac.new(_key(), message.encode(), hashlib.sha256).hexdigest()


def signature_holds(row: AuditEvent) -> bool:
    data = row.data or {}
    count = data.get("records")
    if not isinstance(count, int) or not isinstance(data.get("signature"), str):
        return False
    return hmac.compare_digest(signature(row.id, row.hash, count, row.at), data["signature"])


def head_mac(last_hash: str, length: int) -> str:
    """The head's signature: what ``verify`` requires of the chain it walked."""
    message = f"head|{last_hash}|{length}"
    return hmac.new(_key(), message.encode(), hashlib.sha256).hexdigest()


def head_mac_holds(mac: str | None, last_hash: str, length: int) -> bool:
    return mac is not None and hmac.compare_digest(mac, head_mac(last_hash, length))


def _key() -> bytes:
    return hmac.new(current_runtime().pepper(), b"audit-checkpoint", hashlib.sha256).digest()
