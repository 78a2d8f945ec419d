"""Erasure of a person (GDPR Art. 17): what identifies them goes, the audit trail stays whole.

Everything the person could still use ends first, as a disable does (sessions, with back-channel
logout; refresh tokens; access tokens, through ``tokens_valid_after``; API keys, revoked
everywhere). Then every row about them is deleted, and their user row becomes a tombstone: no
email, name or password, its subject kept so that it is never given again and tokens naming it
stay dead. Last, their audit key is destroyed (crypto-shredding, audit/sealing.py): the records
they appear in stay in the chain, ``audit verify`` passes, and their sealed fields (addresses,
user agents, passkey names) can no longer be opened. The erasure is audited by subject only.
"""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy import String, cast, delete, event, func, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from authserver.accounts.service import end_tokens
from authserver.accounts.sessions import end_all_sessions
from authserver.apikeys.service import revoke_keys_of
from authserver.audit.sealing import shred
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import (
    ApiKey,
    AuditEvent,
    AuthorizationCode,
    ConsentGrant,
    DeviceAuthorization,
    MfaChallenge,
    PasswordReset,
    PushedRequest,
    RecoveryCode,
    RefreshToken,
    TotpCredential,
    User,
    UserSession,
    WebAuthnCredential,
    user_roles,
)
from authserver.platform import clock
from authserver.platform.errors import Conflict
from authserver.platform.extensions import db
from authserver.rbac.containment import Caller, require_can_act_on

#: The email an erased person's row keeps: unique, and in RFC 2606's ``.invalid`` domain, which
#: no one can sign in with or receive mail at.
ERASED_DOMAIN = "erased.invalid"

_SETTLE_WAL = "authserver.erasure.settle_wal"
log = logging.getLogger(__name__)

#: Every table with rows about a person (by ``user_id``, or as an API key's owner).
_PERSONAL_ROWS = (
    (UserSession, UserSession.user_id),
    (PasswordReset, PasswordReset.user_id),
    (ConsentGrant, ConsentGrant.user_id),
    (RefreshToken, RefreshToken.user_id),
    (AuthorizationCode, AuthorizationCode.user_id),
    (DeviceAuthorization, DeviceAuthorization.user_id),
    (TotpCredential, TotpCredential.user_id),
    (WebAuthnCredential, WebAuthnCredential.user_id),
    (RecoveryCode, RecoveryCode.user_id),
    (MfaChallenge, MfaChallenge.user_id),
    (ApiKey, ApiKey.owner_user_id),
)


@dataclasses.dataclass(frozen=True)
class Erased:
    subject: str
    rows_removed: dict[str, int]
    audit_key_destroyed: bool
    # Records written before migration 0021 that name the person by email, in the clear: the
    # chain forbids changing them; retention prunes them (docs/data-protection.md).
    legacy_audit_records: int = 0


def erase_person(user: User, *, caller: Caller) -> Erased:
    """Erase ``user`` in the caller's transaction (the caller commits)."""
    require_can_act_on(caller, user, action="erasing")
    if user.erased_at is not None:
        raise Conflict("this person was erased already")
    legacy = _legacy_records(user.email)
    user.is_active = False
    end_all_sessions(user)
    end_tokens(user)
    revoke_keys_of(user, reason="owner erased", actor=caller.actor)
    db.session.flush()
    removed = {}
    for model, column in _PERSONAL_ROWS:
        result = db.session.execute(delete(model).where(column == user.id))
        removed[model.__tablename__] = result.rowcount
    # A pushed request names no user, but its parameters may hold the email (``login_hint``).
    hinted = cast(PushedRequest.params, String).contains(user.email, autoescape=True)
    removed["pushed_requests"] = db.session.execute(delete(PushedRequest).where(hinted)).rowcount
    db.session.execute(delete(user_roles).where(user_roles.c.user_id == user.id))
    db.session.expire(user, ["roles"])
    _tombstone(user)
    destroyed = shred(user.subject)
    record(Tag.PERSON_ERASED, actor=caller.actor, user=user.subject,
           audit_key_destroyed=destroyed)  # fmt: skip
    db.session.flush()
    db.session.info[_SETTLE_WAL] = True
    return Erased(user.subject, removed, destroyed, legacy)


@event.listens_for(Session, "after_commit")
def _settle_wal(session: Session) -> None:
    """SQLite keeps the pages an erasure overwrote in its write-ahead log until a checkpoint:
    once the erasure has committed, copy the log into the file (where secure_delete overwrote the
    rows) and truncate it. Best effort: a reader still holding old pages makes it wait for the
    next automatic checkpoint. (PostgreSQL: the dead rows are gone from every query and dump at
    once; a VACUUM lets their space be reused: docs/data-protection.md.)"""
    if not session.info.pop(_SETTLE_WAL, None):
        return
    if db.engine.dialect.name != "sqlite":
        return
    try:
        with db.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except OperationalError:
        log.warning("after an erasure: the write-ahead log could not be checkpointed now")


@event.listens_for(Session, "after_rollback")
def _nothing_to_settle(session: Session) -> None:
    session.info.pop(_SETTLE_WAL, None)


def _legacy_records(email: str) -> int:
    named = or_(AuditEvent.actor == email, AuditEvent.data["user"].as_string() == email)
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(named))


def _tombstone(user: User) -> None:
    now = clock.now()
    user.email = f"{user.subject}@{ERASED_DOMAIN}"
    user.display_name = ""
    user.password_hash = None
    user.mfa_failures = 0
    user.mfa_blocked_until = None
    user.tokens_valid_after = now
    user.erased_at = now
