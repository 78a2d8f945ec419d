"""Signing keys at rest: envelope encryption, RFC 7638 kids, one active key per algorithm."""

from __future__ import annotations

import os
import stat

import pytest
from joserfc import jwk
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from authserver.keys.kek import Envelope, FileKekSource, KekError, kek_id
from authserver.keys.service import create_signing_key, load_private_key
from authserver.models import KeyState, ServerSecret, SigningKey
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime


def test_init_creates_one_active_key_per_algorithm(app):
    keys = db.session.scalars(select(SigningKey)).all()
    assert sorted((k.alg, k.state) for k in keys) == [
        ("ES256", "active"),
        ("Ed25519", "active"),
        ("RS256", "active"),
    ]


def test_kid_is_the_rfc7638_thumbprint_and_rsa_is_at_least_2048_bits(app):
    for key in db.session.scalars(select(SigningKey)):
        public = jwk.import_key(key.public_jwk)
        assert key.kid == public.thumbprint()
        if key.alg == "RS256":
            assert public.as_dict()["n"] and len(public.as_dict()["n"]) >= 342  # 2048 bits b64url


def test_private_keys_are_stored_encrypted_and_decrypt_under_the_kek(app):
    envelope = current_runtime().envelope()
    for key in db.session.scalars(select(SigningKey)):
        assert b"PRIVATE KEY" not in key.private_key_ciphertext
        assert key.kek_id == envelope.current_kek_id
        private = load_private_key(envelope, key)
        assert private.is_private
        assert private.thumbprint() == key.kid


def test_a_ciphertext_moved_to_another_row_does_not_decrypt(app):
    envelope = current_runtime().envelope()
    es, rs = (
        db.session.scalar(select(SigningKey).where(SigningKey.alg == alg))
        for alg in ("ES256", "RS256")
    )
    es.private_key_ciphertext, rs.private_key_ciphertext = (
        rs.private_key_ciphertext,
        es.private_key_ciphertext,
    )
    with pytest.raises(KekError):
        load_private_key(envelope, es)
    db.session.rollback()


def test_the_database_refuses_a_second_active_key_for_an_algorithm(app):
    with pytest.raises(IntegrityError):
        create_signing_key(current_runtime().envelope(), "ES256", KeyState.ACTIVE)
    db.session.rollback()
    # ...while pending and retired keys of the same algorithm are fine.
    create_signing_key(current_runtime().envelope(), "ES256", KeyState.PENDING)
    create_signing_key(current_runtime().envelope(), "ES256", KeyState.RETIRED)
    db.session.commit()


def test_the_pepper_is_encrypted_under_the_kek(app):
    row = db.session.get(ServerSecret, "pepper")
    pepper = current_runtime().pepper()
    assert len(pepper) == 32
    assert pepper not in row.ciphertext
    assert row.kek_id == current_runtime().envelope().current_kek_id


def test_the_development_kek_file_is_private_and_never_overwritten(tmp_path):
    source = FileKekSource(str(tmp_path / "keys"))
    source.create()
    mode = stat.S_IMODE(os.stat(source.path).st_mode)
    assert mode == 0o600
    first = source.keks()
    with pytest.raises(FileExistsError):
        source.create()
    assert source.keks() == first


def test_envelope_older_keks_still_decrypt_newest_encrypts():
    old, new = os.urandom(32), os.urandom(32)
    kek_used, blob = Envelope([old]).encrypt(b"secret", b"row:1")
    rotated = Envelope([new, old])
    assert rotated.decrypt(kek_used, blob, b"row:1") == b"secret"
    assert rotated.encrypt(b"x", b"row:2")[0] == kek_id(new)
    with pytest.raises(KekError):
        Envelope([new]).decrypt(kek_used, blob, b"row:1")
    with pytest.raises(KekError):
        rotated.decrypt(kek_used, blob[:-1] + bytes([blob[-1] ^ 1]), b"row:1")
