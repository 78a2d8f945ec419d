"""Remembered consent, and scopes in words for the consent page."""

from __future__ import annotations

from sqlalchemy import select, update

from authserver.audit.service import record
from authserver.audit.tags import Tag
from authserver.models import Client, ConsentGrant, RefreshToken, User
from authserver.platform import clock
from authserver.platform.extensions import db

SCOPE_WORDS = {
    "openid": "Know who you are (sign you in)",
    "profile": "See your name",
    "email": "See your email address",
    "offline_access": "Stay connected when you are not using it",
}


def scope_to_grant(client, user: User, scope: str) -> str:  # noqa: ANN001 - a ClientView
    """What the user would really grant: the scopes asked, narrowed to the client's registration
    and to what the user's roles permit, as the token will be (oauth.tokens). The consent page
    shows only these, and consent is remembered for these: a scope the user could not grant is
    neither shown nor remembered (it is asked for again if the user gains it)."""
    from authserver.rbac.service import grantable_scope

    return grantable_scope(client.get_allowed_scope(scope), user.permissions)


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
    record(Tag.CONSENT_GRANTED, actor=user.actor, client=client_id, scope=scope)


def consents_of(user: User) -> list[tuple[ConsentGrant, str | None]]:
    """What the user allowed each client, with the client's name (None: the client is gone)."""
    rows = db.session.execute(
        select(ConsentGrant, Client.name)
        .join(Client, Client.client_id == ConsentGrant.client_id, isouter=True)
        .where(ConsentGrant.user_id == user.id)
        .order_by(ConsentGrant.updated_at.desc())
    )
    return [(grant, name) for grant, name in rows]


def withdraw_consent(user: User, client_id: str) -> bool:
    """The user takes back what it allowed the client: the grant goes (the client asks again
    next time) and the client's refresh tokens for the user are revoked in one UPDATE, so it
    can no longer act for the user once its access token (minutes) expires. False: there was
    no such grant."""
    grant = _grant(user, client_id)
    if grant is None:
        return False
    db.session.delete(grant)
    revoked = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.client_id == client_id,
               RefreshToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )  # fmt: skip
    db.session.flush()
    record(Tag.CONSENT_WITHDRAWN, actor=user.actor, client=client_id,
           refresh_tokens_revoked=revoked.rowcount)  # fmt: skip
    return True
