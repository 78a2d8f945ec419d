"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592), when
``AUTHSERVER_DYNAMIC_REGISTRATION`` is on.

Registering needs an initial access token: a bearer access token or an API key carrying the
``clients:register`` permission. The metadata goes through the same rules as every other
registration (the clients service): redirect URIs https except loopback, supported grant types,
``jwks`` for ``private_key_jwt``. The answer carries the client's credentials and a registration
access token (stored as an HMAC) with which the client reads, replaces or deletes its own
registration at ``registration_client_uri``. Authlib's endpoints make up ids and secrets
themselves; ours come from the clients service, so the protocol is written here.
"""

from __future__ import annotations

import hmac

from authserver_verify import json_input
from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import select

from authserver.clients.service import (
    ClientChanges,
    NewClient,
    create_client,
    disable_client,
    update_client,
)
from authserver.models import Client
from authserver.oauth.bearer import authenticate
from authserver.platform.errors import AuthServerError
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime, current_settings
from authserver.platform.security import generate_secret, hash_secret
from authserver.rbac.containment import Caller, caller_for
from authserver.rbac.permissions import Permission
from authserver.web.problems import Problem

REGISTRATION = "/oauth/register"
bp = Blueprint("registration", __name__)

_LISTS = ("redirect_uris", "grant_types", "response_types", "post_logout_redirect_uris")
_STRINGS = ("client_name", "scope", "token_endpoint_auth_method", "id_token_signed_response_alg",
            "backchannel_logout_uri", "jwks_uri")  # fmt: skip


def _error(status: int, error: str, description: str, headers: dict | None = None) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _enabled() -> None:
    if not current_settings().dynamic_registration:
        abort(404)


def _metadata() -> dict | Response:
    """The request's JSON metadata, type-checked (RFC 7591 §2: unknown fields are ignored)."""
    if request.mimetype != "application/json":
        return _error(400, "invalid_client_metadata", "Send the metadata as application/json.")
    try:
        data = json_input.loads(request.get_data(cache=True))
    except json_input.JSONInputError as e:
        return _error(400, "invalid_client_metadata", f"The metadata is {e}.")
    if not isinstance(data, dict):
        return _error(400, "invalid_client_metadata", "The metadata must be a JSON object.")
    for name in _LISTS:
        value = data.get(name)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) and "\x00" not in v for v in value)
        ):
            return _error(400, "invalid_client_metadata", f"{name}: a list of strings")
    for name in _STRINGS:
        value = data.get(name)
        if value is not None and (
            not isinstance(value, str) or "\x00" in value or len(value) > 2000
        ):
            return _error(400, "invalid_client_metadata", f"{name}: a string")
    if data.get("jwks") is not None and not isinstance(data["jwks"], dict):
        return _error(400, "invalid_client_metadata", "jwks: a JWK Set object")
    if data.get("response_types") not in (None, ["code"]):
        return _error(400, "invalid_client_metadata", 'response_types: only ["code"]')
    return data


def _spec(data: dict) -> NewClient:
    method = data.get("token_endpoint_auth_method") or "client_secret_basic"
    return NewClient(
        name=data.get("client_name") or "unnamed client",
        grant_types=tuple(data.get("grant_types") or ["authorization_code"]),
        redirect_uris=tuple(data.get("redirect_uris") or ()),
        scope=data.get("scope") or "",
        public=method == "none",
        auth_method=method,
        jwks=data.get("jwks"),
        post_logout_redirect_uris=tuple(data.get("post_logout_redirect_uris") or ()),
        id_token_alg=data.get("id_token_signed_response_alg") or "RS256",
        backchannel_logout_uri=data.get("backchannel_logout_uri"),
        jwks_uri=data.get("jwks_uri"),
    )


def _describe(client: Client) -> dict:
    body = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": client.scope,
        "registration_client_uri": current_settings().url(f"{REGISTRATION}/{client.client_id}"),
    }
    # RFC 7591 §3.2.1: every metadata value registered for the client, as the server keeps it.
    optional = {
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "jwks_uri": client.jwks_uri,
        "jwks": client.jwks,
        "backchannel_logout_uri": client.backchannel_logout_uri,
    }
    body.update({name: value for name, value in optional.items() if value})
    body["id_token_signed_response_alg"] = client.id_token_signed_response_alg
    return body


def _field_error(e: AuthServerError) -> Response:
    code = "invalid_redirect_uri" if "redirect_uri" in e.description else "invalid_client_metadata"
    return _error(400, code, e.description)


@bp.post(REGISTRATION)
def register() -> Response:
    """RFC 7591 §3: register with an initial access token carrying clients:register."""
    _enabled()
    try:
        principal = authenticate()
    except Problem as e:
        return _error(401, "invalid_token", e.detail or "An initial access token is required.",
                      e.headers)  # fmt: skip
    if Permission.CLIENTS_REGISTER.value not in principal.permissions:
        return _error(403, "insufficient_scope", "The token lacks the clients:register permission.",
                      {"WWW-Authenticate": 'Bearer error="insufficient_scope", '
                                           'scope="clients:register"'})  # fmt: skip
    data = _metadata()
    if isinstance(data, Response):
        return data
    try:
        client, secret = create_client(current_settings(), _spec(data), caller=principal)
    except AuthServerError as e:
        db.session.rollback()
        return _field_error(e)
    token = generate_secret()
    client.registration_token_hash = hash_secret(token)
    db.session.commit()
    body = _describe(client)
    body["registration_access_token"] = token
    if secret is not None:
        body["client_secret"] = secret
        body["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: does not expire
    response = jsonify(body)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def _registered_client(client_id: str) -> Client | Response:
    """RFC 7592 §2: the registration access token names exactly this client."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    unauthorized = _error(401, "invalid_token", "A valid registration access token is required.",
                          {"WWW-Authenticate": 'Bearer error="invalid_token"'})  # fmt: skip
    if scheme.lower() != "bearer" or not presented or len(presented) > 200:
        return unauthorized
    client = db.session.scalar(select(Client).where(Client.client_id == client_id[:64]))
    if client is None or not client.is_active or client.registration_token_hash is None:
        return unauthorized
    if not hmac.compare_digest(client.registration_token_hash, hash_secret(presented)):
        return unauthorized
    return client


def _itself(client: Client) -> Caller:
    """RFC 7592: the registration access token lets a client manage its own registration, and
    nothing else: it acts with no more than it holds."""
    return caller_for(client, f"client:{client.client_id}")


def _description(client: Client) -> Response:
    """RFC 7592 §3: the client's current metadata; Cache-Control no-store, as for the
    registration response (RFC 7591 §3.2.1)."""
    response = jsonify(_describe(client))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get(f"{REGISTRATION}/<client_id>")
def read(client_id: str) -> Response:
    _enabled()
    client = _registered_client(client_id)
    if isinstance(client, Response):
        return client
    return _description(client)


@bp.put(f"{REGISTRATION}/<client_id>")
def replace(client_id: str) -> Response:
    """RFC 7592 §2.2: the new metadata replaces the old (the secret stays as it is)."""
    _enabled()
    client = _registered_client(client_id)
    if isinstance(client, Response):
        return client
    data = _metadata()
    if isinstance(data, Response):
        return data
    if data.get("client_id") not in (None, client.client_id):
        return _error(400, "invalid_client_metadata", "client_id cannot change")
    spec = _spec(data)
    changes = ClientChanges(
        name=spec.name, scope=spec.scope, redirect_uris=spec.redirect_uris,
        post_logout_redirect_uris=spec.post_logout_redirect_uris,
        grant_types=spec.grant_types, auth_method=spec.auth_method,
    )  # fmt: skip
    try:
        update_client(client, changes, caller=_itself(client))
    except AuthServerError as e:
        db.session.rollback()
        return _field_error(e)
    db.session.commit()
    current_runtime().clients.invalidate(client.client_id)
    return _description(client)


@bp.delete(f"{REGISTRATION}/<client_id>")
def deregister(client_id: str) -> Response:
    """RFC 7592 §2.3: the client is gone (disabled: its history stays in the audit trail)."""
    _enabled()
    client = _registered_client(client_id)
    if isinstance(client, Response):
        return client
    disable_client(client, caller=_itself(client))
    client.registration_token_hash = None
    db.session.commit()
    current_runtime().clients.invalidate(client.client_id)
    return Response(status=204)
