"""Refresh tokens (RFC 6749 §6) as the OAuth 2.0 Security BCP wants them (RFC 9700 §4.14):
opaque, ≥ 256 bits, stored as an HMAC, bound to the client, rotated on every use, grouped in
a family per authorization; presenting a rotated token again revokes the whole family."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from sqlalchemy import select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import RefreshToken
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.extensions import db
from authserver.platform.security import generate_secret, hash_secret
from authserver.single_use import claim, commit_now


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


def claim_refresh_token(plaintext: str, client_id: str) -> RefreshToken | None:
    """The token, claimed for rotation by this request; None if it is unknown, another
    client's, revoked, expired or rotated already.

    One conditional UPDATE decides (RFC 9700 §4.14.2): of two requests presenting one token at
    once, the second waits for the first's lock and then finds it rotated, which is reuse. The
    claim is part of the request's transaction (``single_use.claim``): it commits with the
    successor token, and a request that fails after it (invalid_scope, invalid_target, a DPoP
    key that is not the bound one) rolls it back and leaves the token as it was, so a stolen
    token presented wrongly cannot spend the client's grant. A token is therefore spent exactly
    when its successor is issued."""
    if not isinstance(plaintext, str) or len(plaintext) > 200:
        return None
    token_hash = hash_secret(plaintext)
    now = clock.now()
    claimed = claim(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            # RFC 6749 §6: bound to its client; another client's presentation changes nothing.
            RefreshToken.client_id == client_id,
            RefreshToken.rotated_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
            RefreshToken.idle_expires_at > now,
        )
        .values(rotated_at=now)
    )
    row = db.session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == token_hash)
        .execution_options(populate_existing=True)
    )
    if claimed:
        return row
    if row is not None and row.client_id == client_id and row.rotated_at is not None:
        _reused(row)
    return None


def _reused(row: RefreshToken) -> None:
    """A rotated token presented again by its client: one of two holders is not the client, so
    the whole family goes (RFC 9700 §4.14.2), committed although the request fails."""
    # Only the request that revokes something records it: concurrent losers of one race wait
    # for each other's row locks and find the family revoked already.
    if revoke_family(row.family_id):
        record(
            Tag.REFRESH_REUSED,
            actor=f"client:{row.client_id}",
            family=row.family_id,
            outcome="failure",
        )
    commit_now()


def revoke_family(family_id: str) -> int:
    result = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return result.rowcount
