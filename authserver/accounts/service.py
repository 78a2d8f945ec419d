"""User accounts: creation and lookup."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import Select, false, select, update

from authserver.accounts.passwords import (
    MAX_LENGTH,
    check_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from authserver.audit.sealing import address_actor
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import PasswordReset, RefreshToken, User, UserSession
from authserver.platform import clock
from authserver.platform.errors import Conflict, InvalidInput
from authserver.platform.extensions import db
from authserver.platform.metrics import sign_in_failures
from authserver.platform.text_search import ESCAPE, containing
from authserver.rbac.containment import Caller, require_can_act_on
from authserver.rbac.service import check_assignable, roles_named

_EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidInput("email: not an email address")
    return email


def create_user(
    email: str,
    password: str | None,
    *,
    display_name: str = "",
    roles: tuple[str, ...] = (),
    caller: Caller,
) -> User:
    """A new account. ``password`` None: none yet (no sign-in until it is set, e.g. through
    ``resets.issue_password_link``)."""
    email = normalize_email(email)
    if password is not None:
        check_policy(password)
    if find_user(email) is not None:
        raise Conflict(f"a user with email {email} exists")
    user = User(
        subject=secrets.token_urlsafe(16),
        email=email,
        display_name=display_name or email.split("@")[0],
        password_hash=hash_password(password) if password is not None else None,
        created_at=clock.now(),
    )
    # Roles at creation are an assignment like any other (the same rule, the same audit).
    chosen = roles_named(list(roles))
    check_assignable(chosen, user, caller=caller)
    user.roles = chosen
    db.session.add(user)
    db.session.flush()
    record(Tag.USER_CREATED, actor=caller.actor, user=user.subject, roles=sorted(roles),
           password=password is not None)  # fmt: skip
    return user


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def users_matching(email: str = "", *, exact: bool = False) -> Select:
    """Users whose email contains ``email`` (case-insensitively; the whole email with
    ``exact``), as Keycloak's admin API filters them; every user for an empty one. Erased
    people are not users any more (their rows are tombstones: privacy/erasure.py)."""
    statement = select(User).where(User.erased_at.is_(None))
    wanted = email.strip().lower()[:320]
    if not wanted:
        return statement
    if "\x00" in wanted:  # no email holds one (PostgreSQL would refuse the text)
        return statement.where(false())
    if exact:
        return statement.where(User.email == wanted)
    return statement.where(User.email.like(containing(wanted), escape=ESCAPE))


def list_users() -> list[User]:
    return list(db.session.scalars(users_matching().order_by(User.id)))


def find_user_by_subject(subject: str) -> User | None:
    if len(subject) > 43 or "\x00" in subject:  # no subject is (PostgreSQL refuses a NUL)
        return None
    return db.session.scalar(select(User).where(User.subject == subject))


def update_user(
    user: User, *, display_name: str | None = None, is_active: bool | None = None, caller: Caller
) -> User:
    require_can_act_on(caller, user, action="changing")
    if user.erased_at is not None:
        raise Conflict("this person was erased: nothing of them can change")
    actor = caller.actor
    if display_name is not None:
        if not display_name.strip() or len(display_name) > 200:
            raise InvalidInput("display_name: 1 to 200 characters")
        user.display_name = display_name.strip()
        record(Tag.USER_UPDATED, actor=actor, user=user.subject)
    if is_active is False and user.is_active:
        disable_user(user, caller=caller)
    elif is_active is True and not user.is_active:
        user.is_active = True
        record(Tag.USER_UPDATED, actor=actor, user=user.subject, enabled=True)
    db.session.flush()
    return user


def disable_user(user: User, *, caller: Caller) -> int:
    """Disable a user: its sessions end and every API key it owns is revoked. Returns how
    many keys."""
    from authserver.accounts.sessions import end_all_sessions
    from authserver.apikeys.service import revoke_keys_of

    require_can_act_on(caller, user, action="disabling")
    user.is_active = False
    end_all_sessions(user)
    end_tokens(user)  # so that enabling the user again does not bring them back
    revoked = revoke_keys_of(user, reason="owner disabled", actor=caller.actor)
    record(Tag.USER_DISABLED, actor=caller.actor, user=user.subject, apikeys_revoked=revoked)
    db.session.flush()
    return revoked


def set_password(user: User, password: str, *, caller: Caller) -> int:
    """A new password (the policy applies), chosen by an operator or an administrator who may
    act on the user. Every session of the user ends and every token issued to it dies (refresh
    tokens revoked, access tokens issued before now inactive), as after a reset in Keycloak:
    whoever knew the old password is signed out. Returns how many sessions ended."""
    from authserver.accounts.sessions import end_all_sessions

    require_can_act_on(caller, user, action="setting the password of")
    check_policy(password)
    user.password_hash = hash_password(password)
    ended = end_all_sessions(user)
    refresh_revoked = end_tokens(user)
    record(Tag.PASSWORD_SET, actor=caller.actor, user=user.subject, sessions_ended=ended,
           refresh_tokens_revoked=refresh_revoked)  # fmt: skip
    db.session.flush()
    return ended


def change_password(user: User, current: str, new: str, *, keep: UserSession) -> int:
    """The signed-in person changes their own password: the current one must be right (a
    wrong one counts as a failed sign-in), the policy applies to the new one, every other
    session ends and every token issued before now dies. Returns how many sessions ended.
    Raises InvalidInput for a wrong current password or a new one the policy refuses."""
    from authserver.accounts.sessions import end_other_sessions

    if not verify_password(user.password_hash, current[:MAX_LENGTH]):
        record(Tag.SIGN_IN_FAILED, actor=user.actor, outcome="failure", reason="password change")
        sign_in_failures.labels("password").inc()
        raise InvalidInput("current_password: not right")
    check_policy(new)
    user.password_hash = hash_password(new)
    ended = end_other_sessions(user, keep)
    revoked = end_tokens(user)
    record(Tag.PASSWORD_SET, actor=user.actor, user=user.subject, own=True, sessions_ended=ended,
           refresh_tokens_revoked=revoked)  # fmt: skip
    db.session.flush()
    return ended


def sign_out_everywhere(user: User, *, caller: Caller) -> int:
    """An administrator signs the user out on every device: every session ends and every
    token issued until now dies (Keycloak's "sign out" of a user). Returns how many sessions."""
    from authserver.accounts.sessions import end_all_sessions

    require_can_act_on(caller, user, action="signing out")
    ended = end_all_sessions(user)
    revoked = end_tokens(user)
    record(Tag.SESSION_ENDED, actor=caller.actor, user=user.subject, everywhere=True,
           count=ended, refresh_tokens_revoked=revoked)  # fmt: skip
    db.session.flush()
    return ended


def end_session_of(user: User, sid: str, *, caller: Caller) -> bool:
    """An administrator ends one of the user's sessions; False if it is not theirs or over."""
    from authserver.accounts.sessions import end_session, live_sessions_of

    require_can_act_on(caller, user, action="signing out")
    row = next((s for s in live_sessions_of(user) if s.sid == sid), None)
    if row is None:
        return False
    end_session(row, actor=caller.actor)
    return True


def end_tokens(user: User) -> int:
    """Every token issued to the user until now dies: its refresh tokens are revoked (one
    UPDATE) and access tokens issued before now are no longer active (``tokens_valid_after``,
    which stays when the user is enabled again). Returns how many refresh tokens."""
    now = clock.now()
    user.tokens_valid_after = now
    # A reset link mailed before a disable or a password change must not outlive it.
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    revoked = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return revoked.rowcount


def authenticate(email: str, password: str) -> User | None:
    """The user if the password is right. An unknown email costs the same argon2 work as a
    wrong password, and the answer is the same; a hash with old parameters is upgraded."""
    try:
        normalized = normalize_email(email)
    except InvalidInput:
        normalized = None
    user = find_user(normalized) if normalized else None
    stored = user.password_hash if user is not None and user.is_active else None
    if not verify_password(stored, password[:MAX_LENGTH]):
        who = user.actor if user is not None else address_actor(normalized or "")
        record(Tag.SIGN_IN_FAILED, actor=who, outcome="failure")
        sign_in_failures.labels("password").inc()
        return None
    if needs_rehash(stored):
        user.password_hash = hash_password(password)
    record(Tag.SIGN_IN_SUCCEEDED, actor=user.actor)
    return user
