"""DPoP proofs (RFC 9449 §4): checking one, for the server and for resource servers alike.

joserfc and the standard library only: the server checks proofs at its token, UserInfo and admin
endpoints with it, a resource server through ``authserver_verify.ResourceServer``. Replay (the
``jti``) and server nonces are the caller's business: they need shared state.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import import_key

from authserver_verify import json_input

DPOP_TYP = "dpop+jwt"
#: Asymmetric algorithms only (§4.2: a MAC would need a shared secret).
ALGORITHMS = ("ES256", "ES384", "RS256", "PS256", "EdDSA", "Ed25519")
MAX_AGE_SECONDS = 60
_MAX_PROOF = 8192


class InvalidProof(Exception):
    """The DPoP proof is missing, malformed, not signed by its key, or not for this request."""


@dataclasses.dataclass(frozen=True)
class Proof:
    jkt: str  # RFC 7638 thumbprint of the proof's key: what tokens are bound to (cnf.jkt)
    jti: str
    iat: int
    nonce: str | None


def ath_of(access_token: str) -> str:
    """§4.2: base64url(SHA-256(access token))."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def normalize_htu(url: str) -> str:
    """§4.3: compare without query and fragment; scheme and host case-insensitively."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed host, such as "http://[::1/x"
        raise InvalidProof("htu is not a URL") from None
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def check_proof(
    proof: str, *, method: str, url: str, now: int, leeway: int = 5,
    access_token: str | None = None,
) -> Proof:  # fmt: skip
    if not isinstance(proof, str) or not proof or len(proof) > _MAX_PROOF:
        raise InvalidProof("missing or oversized DPoP proof")
    try:
        extracted = jws.extract_compact(proof.encode("ascii"))
        header = extracted.headers()
    except (JoseError, ValueError, UnicodeError):
        raise InvalidProof("the DPoP proof is not a JWS") from None
    try:
        # joserfc json-loads the payload once the signature verifies, but the key is the
        # proof's own: a deeply nested payload was a RecursionError (RFC 8259 §9 allows a limit).
        json_input.check_depth(extracted.payload)
    except ValueError:
        raise InvalidProof("the DPoP proof's payload is nested too deep") from None
    alg, public = header.get("alg"), header.get("jwk")
    if header.get("typ") != DPOP_TYP or alg not in ALGORITHMS:
        raise InvalidProof("typ must be dpop+jwt with an asymmetric alg")
    if not isinstance(public, dict) or "d" in public or public.get("kty") == "oct":
        raise InvalidProof("jwk must be a public key")
    try:
        key = import_key(public)
        claims = jwt.decode(proof, key, algorithms=[alg]).claims
        jkt = key.thumbprint()
    except (JoseError, ValueError, TypeError):
        raise InvalidProof("the DPoP proof's signature does not verify") from None
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not 8 <= len(jti) <= 256:
        raise InvalidProof("jti is missing")
    if claims.get("htm") != method:
        raise InvalidProof("htm does not match the request method")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalize_htu(htu) != normalize_htu(url):
        raise InvalidProof("htu does not match the request URL")
    if not isinstance(iat, int) or not now - MAX_AGE_SECONDS - leeway <= iat <= now + leeway:
        raise InvalidProof("iat is too old or in the future")
    if access_token is not None and claims.get("ath") != ath_of(access_token):
        raise InvalidProof("ath does not match the access token")
    nonce = claims.get("nonce")
    return Proof(jkt=jkt, jti=jti, iat=iat, nonce=nonce if isinstance(nonce, str) else None)
