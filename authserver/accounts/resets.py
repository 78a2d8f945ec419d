"""Forgotten passwords: a single-use, short-lived link sent by mail (OWASP Forgot Password
Cheat Sheet). The link's token is 256 random bits, stored as its HMAC; the answer to a request
is the same whether or not the email belongs to an account; using the link sets the password,
ends every session and kills every token, as ``set_password`` does."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from authserver.accounts.passwords import check_policy, hash_password
from authserver.accounts.service import end_tokens, find_user, normalize_email
from authserver.accounts.sessions import end_all_sessions
from authserver.audit.sealing import address_actor
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import PasswordReset, User
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.errors import Conflict, InvalidInput
from authserver.platform.extensions import db
from authserver.platform.security import generate_secret, hash_secret
from authserver.rbac.containment import Caller, require_can_act_on
from authserver.single_use import claim


def request_reset(settings: Settings, email: str) -> tuple[User, str] | None:
    """A new link for the account with ``email`` (earlier links stop working), or None when
    there is no such active account; the caller answers the same either way."""
    try:
        user = find_user(normalize_email(email))
    except InvalidInput:
        return None
    if user is None or not user.is_active:
        who = user.actor if user is not None else address_actor(email)
        record(Tag.PASSWORD_RESET_REQUESTED, actor=who, known=False)
        return None
    now = clock.now()
    if _sent_lately(user, now):
        # One mail a minute per account at most: a flood of requests neither fills the
        # person's mailbox nor keeps voiding the link they just received.
        record(Tag.PASSWORD_RESET_REQUESTED, actor=user.actor, known=True, throttled=True)
        return None
    _spend_all(user, now)
    token = generate_secret()
    db.session.add(PasswordReset(
        token_hash=hash_secret(token), user_id=user.id, created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.password_reset_ttl_seconds),
    ))  # fmt: skip
    record(Tag.PASSWORD_RESET_REQUESTED, actor=user.actor, known=True)
    db.session.flush()
    return user, token


def issue_password_link(settings: Settings, user: User, *, caller: Caller) -> str:
    """A set-password link an administrator hands to the person (a new account's first
    password, or a reset asked for another way), as Keycloak's "update password" action: the
    same single-use token as a mailed reset, for ``AUTHSERVER_SET_PASSWORD_LINK_TTL``; earlier
    links stop working. The caller must be allowed to set the user's password."""
    require_can_act_on(caller, user, action="setting the password of")
    if not user.is_active or user.erased_at is not None:
        raise Conflict("the user is disabled: enable them first")
    now = clock.now()
    _spend_all(user, now)
    token = generate_secret()
    expires_at = now + dt.timedelta(seconds=settings.set_password_link_ttl_seconds)
    db.session.add(PasswordReset(token_hash=hash_secret(token), user_id=user.id,
                                 created_at=now, expires_at=expires_at))  # fmt: skip
    record(Tag.PASSWORD_LINK_ISSUED, actor=caller.actor, user=user.subject,
           expires_at=expires_at.isoformat())  # fmt: skip
    db.session.flush()
    return token


def reset_is_usable(token: str) -> bool:
    """Whether the link would work (the page asks before it shows the form; nothing is spent)."""
    row = _row(token)
    return row is not None and row.used_at is None and row.expires_at > clock.now()


def use_reset(token: str, new_password: str) -> User | None:
    """Set the password through the link: the policy first (a refused password leaves the link
    usable), then one conditional UPDATE spends it; None if it was used, expired or unknown."""
    check_policy(new_password)
    if not isinstance(token, str) or len(token) > 100:
        return None
    now = clock.now()
    spent = claim(
        update(PasswordReset)
        .where(PasswordReset.token_hash == hash_secret(token), PasswordReset.used_at.is_(None),
               PasswordReset.expires_at > now,
               # A disabled account's links do nothing (disabling also spends them).
               PasswordReset.user_id.in_(select(User.id).where(User.is_active.is_(True))))
        .values(used_at=now)
    )  # fmt: skip
    if not spent:
        return None
    user = db.session.get(User, _row(token).user_id)
    user.password_hash = hash_password(new_password)
    ended = end_all_sessions(user)
    revoked = end_tokens(user)
    _spend_all(user, now)
    record(Tag.PASSWORD_SET, actor=user.actor, user=user.subject, by_reset_link=True,
           sessions_ended=ended, refresh_tokens_revoked=revoked)  # fmt: skip
    db.session.flush()
    return user


def _sent_lately(user: User, now: dt.datetime) -> bool:
    latest = db.session.scalar(
        select(PasswordReset.created_at)
        .where(PasswordReset.user_id == user.id)
        .order_by(PasswordReset.created_at.desc())
        .limit(1)
    )
    return latest is not None and now - latest < dt.timedelta(seconds=60)


def _row(token: str) -> PasswordReset | None:
    if not isinstance(token, str) or len(token) > 100:
        return None
    return db.session.scalar(
        select(PasswordReset)
        .where(PasswordReset.token_hash == hash_secret(token))
        .execution_options(populate_existing=True)
    )


def _spend_all(user: User, now: dt.datetime) -> None:
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
