"""The access tokens' compact JWS: what joserfc (and so any JOSE library) reads back."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from authserver.keys.compact import sign_jwt
from authserver.platform.config import SIGNING_ALGORITHMS

KEYS = {
    "ES256": lambda: ECKey.import_key(ec.generate_private_key(ec.SECP256R1())),
    "RS256": lambda: RSAKey.import_key(rsa.generate_private_key(65537, 2048)),
    "Ed25519": lambda: OKPKey.import_key(ed25519.Ed25519PrivateKey.generate()),
}
CLAIMS = {"iss": "https://as.example", "sub": "client-1", "exp": 1_900_000_000,
          "scope": "api:read", "roles": ["api-user"], "name": "Zoë \u00e9\u4e2d"}  # fmt: skip


def test_every_signing_algorithm_is_covered():
    assert set(KEYS) == set(SIGNING_ALGORITHMS)


@pytest.mark.parametrize("alg", SIGNING_ALGORITHMS)
def test_signed_token_verifies_with_joserfc_and_has_exactly_our_header(alg):
    key = KEYS[alg]()
    token = sign_jwt("at+jwt", alg, "kid-1", key, CLAIMS)

    public = type(key).import_key(key.as_dict(private=False))
    decoded = jwt.decode(token, public, algorithms=[alg])
    assert decoded.claims == CLAIMS
    assert jws.extract_compact(token.encode()).headers() == {
        "typ": "at+jwt", "alg": alg, "kid": "kid-1",
    }  # fmt: skip


def test_a_tampered_token_fails_verification():
    key = KEYS["ES256"]()
    header, payload, signature = sign_jwt("at+jwt", "ES256", "k", key, CLAIMS).split(".")
    other = sign_jwt("at+jwt", "ES256", "k", key, {**CLAIMS, "scope": "admin"}).split(".")[1]
    with pytest.raises(JoseError):
        jwt.decode(f"{header}.{other}.{signature}", key, algorithms=["ES256"])


def test_a_key_of_another_type_is_refused_not_used():
    with pytest.raises(JoseError):
        sign_jwt("at+jwt", "ES256", "k", KEYS["RS256"](), CLAIMS)


def test_the_header_follows_the_key_id():
    key = KEYS["ES256"]()
    first = sign_jwt("at+jwt", "ES256", "old", key, CLAIMS)
    second = sign_jwt("at+jwt", "ES256", "new", key, CLAIMS)
    assert jws.extract_compact(first.encode()).headers()["kid"] == "old"
    assert jws.extract_compact(second.encode()).headers()["kid"] == "new"
