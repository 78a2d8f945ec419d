"""Audit records as a reader sees them: the person acting named by their email (or as erased),
and their sealed fields opened where their key still exists (audit/sealing.py). The admin pages,
the admin API, the CLI and the person's own export read records through this one function."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select

from authserver.audit.sealing import keys_for, opened, person_of, subjects_in
from authserver.models import AuditEvent, User
from authserver.platform.extensions import db

#: How a person who was erased is named in place of their email.
ERASED_PERSON = "erased user"


@dataclasses.dataclass(frozen=True)
class ReadableEvent:
    id: int
    at: dt.datetime
    event: str
    actor: str  # as stored: user:<subject>, client:<id>, cli, system, or an address typed
    actor_name: str  # the person's email, "erased user", or the actor as stored
    outcome: str
    data: dict
    hash: str


def readable(rows: Iterable[AuditEvent], *, opening: Iterable[str] | None = None
             ) -> list[ReadableEvent]:  # fmt: skip
    """``opening``: only these people's boxes are opened (a person's export opens theirs)."""
    rows = list(rows)
    people = subjects_in(rows)
    keys = keys_for(people if opening is None else people & set(opening))
    emails = emails_of(person_of(row.actor) for row in rows)
    return [
        ReadableEvent(
            id=row.id, at=row.at, event=row.event, actor=row.actor,
            actor_name=_name(row.actor, emails), outcome=row.outcome,
            data=opened(row.data or {}, keys), hash=row.hash,
        )
        for row in rows
    ]  # fmt: skip


def emails_of(subjects: Iterable[str | None]) -> dict[str, str]:
    """subject → email, for the people not erased."""
    wanted = sorted({s for s in subjects if s})
    if not wanted:
        return {}
    rows = db.session.execute(
        select(User.subject, User.email)
        .where(User.subject.in_(wanted), User.erased_at.is_(None))
    )  # fmt: skip
    return {subject: email for subject, email in rows}


def _name(actor: str, emails: dict[str, str]) -> str:
    subject = person_of(actor)
    if subject is None:
        return actor
    return emails.get(subject, ERASED_PERSON)
