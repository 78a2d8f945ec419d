"""Sign-in sessions: server-side rows behind a random cookie.

The cookie holds 256 random bits; the database holds only their HMAC, so a copy of the
table does not yield live sessions. A new id is issued on every sign-in (no fixation).
"""

from __future__ import annotations

import datetime as dt
import secrets

from blinker import Namespace
from sqlalchemy import select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import User, UserSession
from authserver.platform import clock
from authserver.platform.config import Settings
from authserver.platform.extensions import db
from authserver.platform.ip_privacy import minimised_ip
from authserver.platform.security import generate_secret, hash_secret

COOKIE_NAME = "authserver_session"

_signals = Namespace()
#: Sent when sign-in sessions end, inside the transaction that ends them: the sender is the
#: user's subject, ``sids`` the sessions' ids. Back-channel logout (``oauth.backchannel``)
#: subscribes to it.
sessions_ended = _signals.signal("sessions-ended")


def start_session(
    settings: Settings, user: User, *, amr: list[str], ip: str, user_agent: str
) -> tuple[str, UserSession]:
    """(cookie value, the session row)."""
    cookie = generate_secret()
    now = clock.now()
    row = UserSession(
        token_hash=hash_secret(cookie),
        sid=secrets.token_urlsafe(16),
        user_id=user.id,
        auth_time=now,
        amr=amr,
        ip=(minimised_ip(ip) or "")[:64],
        user_agent=(user_agent or "")[:400],
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.session_ttl_seconds),
    )
    db.session.add(row)
    db.session.flush()
    record(Tag.SESSION_STARTED, actor=user.actor, sid=row.sid, ip=row.ip, amr=amr)
    return cookie, row


def find_session(cookie: str | None) -> UserSession | None:
    if not cookie or len(cookie) > 100:
        return None
    row = db.session.scalar(
        select(UserSession).where(UserSession.token_hash == hash_secret(cookie))
    )
    if row is None or not row.is_live_at(clock.now()):
        return None
    return row


def find_session_by_sid(sid: str) -> UserSession | None:
    return db.session.scalar(select(UserSession).where(UserSession.sid == sid))


def end_session(row: UserSession, *, actor: str | None = None) -> None:
    """``actor``: who ended it, when not the person themself (an administrator)."""
    if row.ended_at is None:
        row.ended_at = clock.now()
        db.session.flush()
        record(Tag.SESSION_ENDED, actor=actor or row.user.actor, sid=row.sid)
        sessions_ended.send(row.user.subject, sids=[row.sid])


def live_sessions_of(user: User) -> list[UserSession]:
    now = clock.now()
    rows = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
               UserSession.expires_at > now)
        .order_by(UserSession.created_at.desc())
    )  # fmt: skip
    return list(rows)


def end_other_sessions(user: User, keep: UserSession) -> int:
    """Every live session of the user but ``keep`` ends (a password change on this device)."""
    sids = [s.sid for s in live_sessions_of(user) if s.id != keep.id]
    for row in live_sessions_of(user):
        if row.id != keep.id:
            row.ended_at = clock.now()
    if sids:
        sessions_ended.send(user.subject, sids=sids)
        record(Tag.SESSION_ENDED, actor=user.actor, others=True, count=len(sids))
    db.session.flush()
    return len(sids)


def end_all_sessions(user: User) -> int:
    sids = list(db.session.scalars(
        select(UserSession.sid).where(UserSession.user_id == user.id,
                                      UserSession.ended_at.is_(None))
    ))  # fmt: skip
    sessions_ended.send(user.subject, sids=sids)
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=clock.now())
    )
    record(Tag.SESSION_ENDED, actor=user.actor, everywhere=True, count=result.rowcount)
    return result.rowcount
