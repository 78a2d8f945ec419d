"""KEK rotation: re-wrap every ciphertext (signing keys, the pepper, TOTP secrets, webhook
signing secrets, the people's audit keys) under the newest KEK, in one transaction.

The envelope holds the newest KEK first and older ones after it, so every row still opens
while this runs; afterwards every row names the new KEK (the Hydra model). Hashes made
with the pepper stay valid: the pepper's value does not change, only its wrapping.
"""

from __future__ import annotations

from sqlalchemy import select

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.keys.kek import Envelope, FileKekSource, kek_source_for
from authserver.models import (
    PersonKey,
    ServerSecret,
    SigningKey,
    TotpCredential,
    WebhookSecret,
)
from authserver.platform.config import Settings
from authserver.platform.extensions import db


def rotate_kek(settings: Settings, *, actor: str) -> tuple[str, int]:
    """Re-wrap everything under the newest KEK and commit, audited; (its id, how many).

    Development (key file): a new KEK is made and swapped in once the re-wrap has committed,
    so that a failure leaves the old one in charge. With AUTHSERVER_KEK the operator has set
    the new KEK there and the old one in AUTHSERVER_KEK_PREVIOUS."""
    source = kek_source_for(settings)
    if isinstance(source, FileKekSource):
        envelope = Envelope([source.begin_rotation(), *source.keks()])
    else:
        envelope = Envelope(source.keks())
    count = rewrap_all(envelope)
    record(Tag.KEK_ROTATED, actor=actor, kek_id=envelope.current_kek_id, rewrapped=count)
    db.session.commit()
    if isinstance(source, FileKekSource):
        source.finish_rotation()
    return envelope.current_kek_id, count


#: Every column sealed under the KEK: (table, the attribute that holds the ciphertext). Each
#: row names its KEK (``kek_id``) and binds its ciphertext to ``associated_data``.
SEALED = (
    (SigningKey, "private_key_ciphertext"),
    (ServerSecret, "ciphertext"),
    (TotpCredential, "secret_ciphertext"),
    (WebhookSecret, "ciphertext"),
    (PersonKey, "ciphertext"),
)


def rewrap_all(envelope: Envelope) -> int:
    """Re-wrap rows not yet under the current KEK; returns how many. The caller commits."""
    count = 0
    target = envelope.current_kek_id
    for model, column in SEALED:
        for row in db.session.scalars(select(model).where(model.kek_id.is_not(None))):
            ciphertext = getattr(row, column)
            if row.kek_id == target or ciphertext is None:
                continue  # under the newest KEK already, or nothing sealed (a public key only)
            plain = envelope.decrypt(row.kek_id, ciphertext, row.associated_data)
            row.kek_id, sealed = envelope.encrypt(plain, row.associated_data)
            setattr(row, column, sealed)
            count += 1
    db.session.flush()
    return count
