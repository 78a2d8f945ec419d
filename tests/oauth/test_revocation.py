"""Revocation (RFC 7009): revoked JWTs are remembered by jti until they expire."""

from __future__ import annotations

from sqlalchemy import func, select

from authserver.models import AuditEvent, RevokedAccessToken
from authserver.platform import clock
from authserver.platform.extensions import db


def revoke(http, caller, token: str):
    return http.post("/oauth/revoke", data={"token": token}, headers=caller.basic())


def introspect(http, caller, token: str) -> dict:
    return http.post("/oauth/introspect", data={"token": token}, headers=caller.basic()).get_json()


def test_revoked_token_introspects_inactive(http, make_client, get_token):
    client = make_client()
    token = get_token(client)["access_token"]
    other = get_token(client)["access_token"]
    assert revoke(http, client, token).status_code == 200
    assert introspect(http, client, token) == {"active": False}
    assert introspect(http, client, other)["active"] is True  # only that one


def test_revoking_twice_is_harmless(http, make_client, get_token):
    client = make_client()
    token = get_token(client)["access_token"]
    assert revoke(http, client, token).status_code == 200
    assert revoke(http, client, token).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(RevokedAccessToken)) == 1


def test_unknown_and_malformed_tokens_answer_200(http, make_client):
    client = make_client()
    for token in ("nope", "a.b.c", "x" * 5000):
        response = revoke(http, client, token)
        assert response.status_code == 200
        assert response.get_json() == {}


def test_revoked_jtis_are_pruned_after_the_token_expires(http, make_client, get_token):
    client = make_client()
    clock.freeze()
    first = get_token(client)["access_token"]
    revoke(http, client, first)
    clock.advance(601)
    second = get_token(client)["access_token"]
    revoke(http, client, second)
    jtis = db.session.scalars(select(RevokedAccessToken.jti)).all()
    assert len(jtis) == 1  # the first, expired, was pruned; the second is kept
    assert introspect(http, client, second) == {"active": False}


def test_a_client_cannot_revoke_another_clients_token(http, make_client, get_token):
    owner, other = make_client(), make_client()
    token = get_token(owner)["access_token"]
    response = revoke(http, other, token)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    assert introspect(http, owner, token)["active"] is True


def test_revocation_requires_client_authentication(http, make_client, get_token):
    token = get_token(make_client())["access_token"]
    response = http.post("/oauth/revoke", data={"token": token})
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


def test_a_revocation_is_audited(http, make_client, get_token):
    client = make_client()
    token = get_token(client)["access_token"]
    http.post("/oauth/revoke", data={"token": token}, headers=client.basic())
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "oauth:token:revoked")
    )
    assert event.actor == f"client:{client.client_id}" and event.data["client"] == client.client_id
    assert token not in str(event.data)  # the jti, never the token
