"""The signing-key service: generate keys, store their private half encrypted, list them.

Keys are generated with ``cryptography`` (RSA-2048, P-256, Ed25519); their ``kid`` is the
RFC 7638 JWK thumbprint. The private half is serialised as PKCS#8 PEM and immediately
sealed under the KEK; it is never written anywhere in the clear.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwk
from sqlalchemy import select

from authserver.keys.kek import Envelope
from authserver.models import KeyState, SigningKey
from authserver.platform import clock
from authserver.platform.extensions import db

_KEY_TYPES = {"ES256": jwk.ECKey, "RS256": jwk.RSAKey, "Ed25519": jwk.OKPKey}


def _generate(alg: str):  # noqa: ANN202 - one of cryptography's private key types
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def public_jwk_of(key: jwk.Key, alg: str) -> dict:
    """The published projection: public members only, plus kid/alg/use."""
    public = key.as_dict(private=False)
    public.update(kid=key.thumbprint(), alg=alg, use="sig")
    return public


def create_signing_key(
    envelope: Envelope,
    alg: str,
    state: KeyState,
    *,
    activate_at: dt.datetime | None = None,
    expedited: bool = False,
) -> SigningKey:
    private = _generate(alg)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = _KEY_TYPES[alg].import_key(pem)
    now = clock.now()
    row = SigningKey(
        kid=key.thumbprint(),
        alg=alg,
        state=state.value,
        public_jwk=public_jwk_of(key, alg),
        created_at=now,
        activated_at=now if state is KeyState.ACTIVE else None,
        planned_activation_at=activate_at,
        expedited=expedited,
    )
    db.session.add(row)
    db.session.flush()  # the row id is the associated data of its ciphertext
    row.kek_id, row.private_key_ciphertext = envelope.encrypt(pem, row.associated_data)
    db.session.flush()
    return row


def find_key(kid: str) -> SigningKey | None:
    return db.session.scalar(select(SigningKey).where(SigningKey.kid == kid))


def list_keys() -> list[SigningKey]:
    return list(db.session.scalars(select(SigningKey).order_by(SigningKey.alg, SigningKey.id)))


def load_private_key(envelope: Envelope, row: SigningKey) -> jwk.Key:
    if row.private_key_ciphertext is None or row.kek_id is None:
        raise ValueError(f"key {row.kid} has no private material")
    pem = envelope.decrypt(row.kek_id, row.private_key_ciphertext, row.associated_data)
    return _KEY_TYPES[row.alg].import_key(pem)


def import_public_key(public_jwk: dict) -> jwk.Key:
    return jwk.import_key(public_jwk)
