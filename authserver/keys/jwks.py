"""The JWKS document (RFC 7517 §5): public halves of every published key, nothing else.

Served on every downstream cache refresh, so it is serialised once per key-ring reload (about
once a second per worker) with its ETag, not once per request.
"""

from __future__ import annotations

import hashlib
import json
import threading

from authserver.keys.keyring import KeyRing

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def jwks_document(keyring: KeyRing) -> dict:
    keys = []
    for info in keyring.published():
        # Defence in depth: public_jwk never holds private members, and we check anyway.
        keys.append({k: v for k, v in info.public_jwk.items() if k not in _PRIVATE_MEMBERS})
    return {"keys": keys}


class SerializedJwks:
    """(body, ETag) of the JWKS, remade only when the key ring has reloaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: object = None
        self._value: tuple[bytes, str] = (b"", "")

    def get(self, keyring: KeyRing) -> tuple[bytes, str]:
        snapshot = keyring.snapshot()
        if snapshot is not self._snapshot:
            body = json.dumps(jwks_document(keyring), separators=(",", ":")).encode()
            with self._lock:
                self._value = (body, hashlib.sha256(body).hexdigest()[:32])
                self._snapshot = snapshot
        return self._value
