"""Refresh tokens (RFC 6749 §6) as the OAuth 2.0 Security BCP wants them (RFC 9700 §4.14):
opaque, ≥ 256 bits, stored as an HMAC, bound to the client, rotated on every use, grouped in
a family per authorization; presenting a rotated token again revokes the whole family."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from sqlalchemy import select, update

from authserver import clock
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.config import Settings
from authserver.extensions import db
from authserver.models import RefreshToken
from authserver.security import generate_secret, hash_secret


def new_refresh_token(**_: object) -> str:
    """Authlib's refresh-token generator hook."""
    return generate_secret()


@dataclasses.dataclass(frozen=True)
class Lineage:
    """Where a new refresh token comes from: a fresh authorization or its predecessor."""

    user_id: int
    client_id: str
    scope: str
    sid: str | None
    auth_time: dt.datetime
    amr: list[str]
    family_id: str | None = None
    family_expires_at: dt.datetime | None = None
    resources: list[str] | None = None
    dpop_jkt: str | None = None


def store_refresh_token(settings: Settings, plaintext: str, lineage: Lineage) -> RefreshToken:
    now = clock.now()
    expires_at = lineage.family_expires_at or now + dt.timedelta(
        seconds=settings.refresh_token_ttl_seconds
    )
    row = RefreshToken(
        token_hash=hash_secret(plaintext),
        family_id=lineage.family_id or secrets.token_urlsafe(16),
        client_id=lineage.client_id,
        user_id=lineage.user_id,
        sid=lineage.sid,
        scope=lineage.scope,
        auth_time=lineage.auth_time,
        amr=lineage.amr,
        resources=lineage.resources,
        dpop_jkt=lineage.dpop_jkt,
        created_at=now,
        expires_at=expires_at,
        idle_expires_at=min(
            expires_at, now + dt.timedelta(seconds=settings.refresh_token_idle_seconds)
        ),
    )
    db.session.add(row)
    db.session.flush()
    return row


def find_refresh_token(plaintext: str) -> RefreshToken | None:
    """A usable token, or None. A rotated token presented again is reuse: its family is
    revoked at once (committed on its own, since the request itself fails)."""
    if not isinstance(plaintext, str) or len(plaintext) > 200:
        return None
    row = db.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == hash_secret(plaintext))
    )
    if row is None:
        return None
    if row.rotated_at is not None and row.revoked_at is None:
        revoke_family(row.family_id)
        record(
            Tag.REFRESH_REUSED,
            actor=f"client:{row.client_id}",
            family=row.family_id,
            outcome="failure",
        )
        db.session.commit()
        return None
    if not row.is_usable_at(clock.now()):
        return None
    return row


def revoke_family(family_id: str) -> int:
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return result.rowcount


def rotate(row: RefreshToken) -> None:
    row.rotated_at = clock.now()
    db.session.flush()
