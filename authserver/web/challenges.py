"""Ceremony state bound to one browser: a sign-in waiting for its second factor, or a WebAuthn
challenge. The browser keeps a random handle in its signed CSRF cookie; the database keeps the
handle's HMAC with the state, so a challenge is single-use and expires after a few minutes.
"""

from __future__ import annotations

import datetime as dt
import secrets

from flask import session as cookie
from sqlalchemy import delete, select

from authserver.models import MfaChallenge, User
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.security import generate_secret, hash_secret

SIGN_IN = "sign-in"
PASSKEY_REGISTRATION = "passkey-registration"
PASSKEY_SECOND_FACTOR = "passkey-second-factor"
PASSKEY_SIGN_IN = "passkey-sign-in"

TTL_SECONDS = 300
_WEBAUTHN_CHALLENGE_BYTES = 32


def open_challenge(
    purpose: str, *, user: User | None = None, data: dict | None = None
) -> MfaChallenge:
    """A new challenge for this browser, replacing its previous one of the same purpose."""
    now = clock.now()
    db.session.execute(delete(MfaChallenge).where(MfaChallenge.expires_at <= now))
    previous = cookie.get(_key(purpose))
    if isinstance(previous, str):
        db.session.execute(
            delete(MfaChallenge).where(MfaChallenge.handle_hash == hash_secret(previous))
        )
    handle = generate_secret()
    row = MfaChallenge(
        handle_hash=hash_secret(handle),
        purpose=purpose,
        user_id=user.id if user is not None else None,
        challenge=secrets.token_bytes(_WEBAUTHN_CHALLENGE_BYTES),
        data=data or {},
        created_at=now,
        expires_at=now + dt.timedelta(seconds=TTL_SECONDS),
    )
    db.session.add(row)
    db.session.flush()
    cookie[_key(purpose)] = handle
    return row


def current_challenge(purpose: str) -> MfaChallenge | None:
    """This browser's live challenge of ``purpose``, left in place."""
    handle = cookie.get(_key(purpose))
    if not isinstance(handle, str) or len(handle) > 100:
        return None
    row = db.session.scalar(
        select(MfaChallenge).where(
            MfaChallenge.handle_hash == hash_secret(handle), MfaChallenge.purpose == purpose
        )
    )
    if row is None or row.expires_at <= clock.now():
        return None
    return row


def take_challenge(purpose: str) -> MfaChallenge | None:
    """This browser's live challenge of ``purpose``, removed: it cannot be answered twice."""
    row = current_challenge(purpose)
    cookie.pop(_key(purpose), None)
    if row is None:
        return None
    deleted = db.session.execute(
        delete(MfaChallenge).where(MfaChallenge.handle_hash == row.handle_hash)
    ).rowcount
    db.session.expunge(row)
    return row if deleted == 1 else None


def _key(purpose: str) -> str:
    return f"mfa.{purpose}"
