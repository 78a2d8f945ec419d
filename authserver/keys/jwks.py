"""The JWKS document (RFC 7517 §5): public halves of every published key, nothing else."""

from __future__ import annotations

from authserver.keys.keyring import KeyRing

_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def jwks_document(keyring: KeyRing) -> dict:
    keys = []
    for info in keyring.published():
        # Defence in depth: public_jwk never holds private members, and we check anyway.
        keys.append({k: v for k, v in info.public_jwk.items() if k not in _PRIVATE_MEMBERS})
    return {"keys": keys}
