"""Remembered consent, and scopes in words for the consent page."""

from __future__ import annotations

from sqlalchemy import select

from authserver import clock
from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.extensions import db
from authserver.models import ConsentGrant, User

SCOPE_WORDS = {
    "openid": "Know who you are (sign you in)",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay connected when you are not using it",
}


def describe_scopes(scope: str) -> list[tuple[str, str]]:
    return [(s, SCOPE_WORDS.get(s, f"Use the “{s}” permission")) for s in scope.split()]


def _grant(user: User, client_id: str) -> ConsentGrant | None:
    return db.session.scalar(
        select(ConsentGrant).where(
            ConsentGrant.user_id == user.id, ConsentGrant.client_id == client_id
        )
    )


def has_consent(user: User, client_id: str, scope: str) -> bool:
    grant = _grant(user, client_id)
    return grant is not None and set(scope.split()) <= set(grant.scope.split())


def remember_consent(user: User, client_id: str, scope: str) -> None:
    """The user allowed these scopes to this client (added to what it allowed before)."""
    grant = _grant(user, client_id)
    if grant is None:
        grant = ConsentGrant(user_id=user.id, client_id=client_id, scope="")
        db.session.add(grant)
    grant.scope = " ".join(sorted(set(grant.scope.split()) | set(scope.split())))
    grant.updated_at = clock.now()
    db.session.flush()
    record(Tag.CONSENT_GRANTED, actor=user.email, client=client_id, scope=scope)
