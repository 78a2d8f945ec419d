"""The hashing pepper: 256 random bits made at ``init``, stored encrypted under the KEK."""

from __future__ import annotations

import secrets

from authserver.keys.kek import Envelope
from authserver.models import ServerSecret
from authserver.platform import clock
from authserver.platform.extensions import db

PEPPER = "pepper"


class PepperMissing(Exception):
    """The database has no pepper: `authserver init` has not run against it."""


def ensure_pepper(envelope: Envelope) -> bool:
    """Create the pepper if absent; True if it was created."""
    if db.session.get(ServerSecret, PEPPER) is not None:
        return False
    row = ServerSecret(name=PEPPER, created_at=clock.now())
    row.kek_id, row.ciphertext = envelope.encrypt(secrets.token_bytes(32), row.associated_data)
    db.session.add(row)
    db.session.flush()
    return True


def load_pepper(envelope: Envelope) -> bytes:
    row = db.session.get(ServerSecret, PEPPER)
    if row is None:
        raise PepperMissing("no pepper in the database: run `authserver init`")
    return envelope.decrypt(row.kek_id, row.ciphertext, row.associated_data)
