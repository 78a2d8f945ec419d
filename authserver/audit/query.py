"""Which audit events a reader asked for: the one filter the admin API and the admin pages share."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Select, String, cast, select

from authserver.models import AuditEvent


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    # An event tag, or a prefix of one ending in ':' (``key:`` = every key event).
    event: str | None = None
    actor: str | None = None
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive
    # Anything the record names: a user, client id, kid or key id (a substring of its data).
    subject: str | None = None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def audit_events(where: AuditFilter) -> Select:
    statement = select(AuditEvent)
    if where.event:
        if where.event.endswith(":"):
            pattern = _like_escape(where.event) + "%"
            statement = statement.where(AuditEvent.event.like(pattern, escape="\\"))
        else:
            statement = statement.where(AuditEvent.event == where.event)
    if where.actor:
        statement = statement.where(AuditEvent.actor == where.actor)
    if where.since:
        statement = statement.where(AuditEvent.at >= where.since)
    if where.until:
        statement = statement.where(AuditEvent.at < where.until)
    if where.subject:
        pattern = "%" + _like_escape(where.subject) + "%"
        statement = statement.where(cast(AuditEvent.data, String).like(pattern, escape="\\"))
    return statement
