"""Which audit events a reader asked for: the one filter the admin API and the admin pages share."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Select, String, cast, select

from authserver.audit.sealing import address_actor
from authserver.models import AuditEvent, User
from authserver.platform.extensions import db
from authserver.platform.text_search import ESCAPE, containing, like_escaped


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    # An event tag, or a prefix of one ending in ':' (``key:`` = every key event).
    event: str | None = None
    actor: str | None = None
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    # Anything the record names: a user, client id, kid or key id (a substring of its data).
    subject: str | None = None


def _as_recorded(name: str) -> str:
    """Records name a person by subject, and an address of no account by its keyed hash: an
    email asked for is looked up (no record holds it)."""
    if "@" not in name:
        return name
    user = db.session.scalar(select(User).where(User.email == name.strip().lower()))
    return user.actor if user is not None else address_actor(name)


def audit_events(where: AuditFilter) -> Select:
    statement = select(AuditEvent)
    if where.event:
        if where.event.endswith(":"):
            pattern = like_escaped(where.event) + "%"
            statement = statement.where(AuditEvent.event.like(pattern, escape=ESCAPE))
        else:
            statement = statement.where(AuditEvent.event == where.event)
    if where.actor:
        statement = statement.where(AuditEvent.actor == _as_recorded(where.actor))
    if where.since:
        statement = statement.where(AuditEvent.at >= where.since)
    if where.until:
        statement = statement.where(AuditEvent.at < where.until)
    if where.subject:
        named = _as_recorded(where.subject).removeprefix("user:")
        pattern = containing(named)
        statement = statement.where(cast(AuditEvent.data, String).like(pattern, escape=ESCAPE))
    return statement
