"""Compact JWS (RFC 7515 §7.1) for the access tokens signed on every token request.

joserfc's ``jwt.encode`` checks the header against its registry, looks the algorithm up and
serialises the header on every call: about a third of minting an access token. Our header is
fixed per signing key (``typ``, ``alg``, ``kid``), so its segment is encoded once per key; the
signature is still joserfc's algorithm over the key object the key ring loaded once, and the
claims are serialised as joserfc serialises them. Tokens are read back with joserfc alone
(``oauth.tokens.read_access_token``).
"""

from __future__ import annotations

import json
from functools import lru_cache

from joserfc.jwk import Key
from joserfc.jws import JWSRegistry
from joserfc.util import json_b64encode, urlsafe_b64encode

from authserver.platform.config import SIGNING_ALGORITHMS

_REGISTRY = JWSRegistry(algorithms=list(SIGNING_ALGORITHMS))


@lru_cache(maxsize=64)  # a few keys per algorithm over a rotation; bounded all the same
def _header_segment(typ: str, alg: str, kid: str) -> bytes:
    return json_b64encode({"typ": typ, "alg": alg, "kid": kid})


def sign_jwt(typ: str, alg: str, kid: str, key: Key, claims: dict) -> str:
    """``claims`` signed with ``key`` under the header {typ, alg, kid}."""
    algorithm = _REGISTRY.get_alg(alg)
    algorithm.check_key(key)
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    signing_input = _header_segment(typ, alg, kid) + b"." + urlsafe_b64encode(payload)
    signature = urlsafe_b64encode(algorithm.sign(signing_input, key))
    return (signing_input + b"." + signature).decode("ascii")
