"""The signature of an audit checkpoint (audit/pruning.py): HMAC-SHA256 over
``id | hash | count | time`` under a key derived from the pepper, which the database holds only
sealed under the KEK, so whoever can write to the database alone cannot forge one."""

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


def _key() -> bytes:
    return hmac.new(current_runtime().pepper(), b"audit-checkpoint", hashlib.sha256).digest()
