"""The export of a person's data: one JSON document, versioned (docs/data-protection.md).

Everything the server holds about the person, as the person may read it: the profile, roles,
second factors (what they are and when they were used, never a secret, a public key or a
credential id), sessions, consents given to clients, API keys (never the key or its hash), and
the audit records about the person (those the person acted in, and those naming the person).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select

from authserver.audit.reading import readable
from authserver.audit.sealing import REQUEST_FIELDS
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.mfa.service import factors_of
from authserver.models import ApiKey, AuditEvent, Client, ConsentGrant, User, UserSession
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.rbac.containment import Caller

FORMAT = "authserver.person-export"
VERSION = 1


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def export_person(user: User, *, caller: Caller) -> dict:
    """The document; the export itself is audited (who exported whose data, nothing more)."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _iso(clock.now()),
        "profile": {
            "subject": user.subject,
            "email": user.email,
            "display_name": user.display_name,
            "active": user.is_active,
            "created_at": _iso(user.created_at),
        },
        "roles": sorted(user.role_names),
        "second_factors": _factors(user),
        "sessions": _sessions(user),
        "consents": _consents(user),
        "api_keys": _api_keys(user),
        "audit_events": _audit_events(user),
    }
    record(Tag.PERSON_EXPORTED, actor=caller.actor, user=user.subject)
    return document


def _factors(user: User) -> dict:
    factors = factors_of(user)
    totp = factors.totp if factors.has_totp else None
    return {
        "authenticator_app": None if totp is None else {
            "enrolled_at": _iso(totp.confirmed_at), "last_used_at": _iso(totp.last_used_at),
        },
        "passkeys": [
            {"name": p.name, "created_at": _iso(p.created_at), "last_used_at": _iso(p.last_used_at)}
            for p in factors.passkeys
        ],
        "recovery_codes_left": factors.recovery_codes_left,
    }  # fmt: skip


def _sessions(user: User) -> list[dict]:
    rows = db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)
    )
    return [
        {"started_at": _iso(s.created_at), "authenticated_at": _iso(s.auth_time),
         "methods": list(s.amr), "ip": s.ip, "user_agent": s.user_agent,
         "expires_at": _iso(s.expires_at), "ended_at": _iso(s.ended_at)}
        for s in rows
    ]  # fmt: skip


def _consents(user: User) -> list[dict]:
    rows = db.session.execute(
        select(ConsentGrant, Client.name)
        .join(Client, Client.client_id == ConsentGrant.client_id, isouter=True)
        .where(ConsentGrant.user_id == user.id)
        .order_by(ConsentGrant.id)
    )
    return [
        {"client_id": grant.client_id, "client_name": name, "scope": grant.scope,
         "granted_at": _iso(grant.updated_at)}
        for grant, name in rows
    ]  # fmt: skip


def _api_keys(user: User) -> list[dict]:
    rows = db.session.scalars(
        select(ApiKey).where(ApiKey.owner_user_id == user.id).order_by(ApiKey.id)
    )
    return [
        {"id": k.key_id, "masked": f"{k.prefix}_{k.key_id}_…{k.last4}", "name": k.name,
         "description": k.description, "scope": k.scope, "allowed_ips": list(k.allowed_cidrs),
         "created_at": _iso(k.created_at), "expires_at": _iso(k.expires_at),
         "last_used_at": _iso(k.last_used_at), "revoked_at": _iso(k.revoked_at)}
        for k in rows
    ]  # fmt: skip


def _audit_events(user: User) -> list[dict]:
    """Records the person acted in (actor) and records naming the person: ``user`` (by
    subject; by email in records older than migration 0021), ``owner`` (an API key's),
    ``target`` (a refused change). Where someone else acted (an administrator), that person's
    sealed fields (their address and user agent) stay sealed: they are not this person's data."""
    field = AuditEvent.data
    rows = db.session.scalars(
        select(AuditEvent)
        .where(or_(
            AuditEvent.actor.in_((user.actor, user.email)),
            field["user"].as_string().in_((user.email, user.subject)),
            field["owner"].as_string() == user.subject,
            field["target"].as_string() == f"user {user.email}",
            field["target"].as_string().contains(user.actor, autoescape=True),
        ))
        .order_by(AuditEvent.id)
    )  # fmt: skip
    events = []
    for e in readable(rows, opening=[user.subject]):
        details = e.data if e.actor == user.actor else _without_others(e.data)
        events.append({"id": e.id, "at": _iso(e.at), "event": e.event, "actor": e.actor_name,
                       "outcome": e.outcome, "details": details})  # fmt: skip
    return events


def _without_others(details: dict) -> dict:
    return {k: v for k, v in details.items()
            if k not in (*REQUEST_FIELDS, "personal_data")}  # fmt: skip
