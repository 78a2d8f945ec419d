"""Token exchange (RFC 8693) of an API key for a short-lived JWT access token.

Authlib has no RFC 8693 grant, so this is one in its style: an Authlib grant class whose
token comes from the same generator as every other access token. A client authenticates,
presents an API key as ``subject_token`` (type ``urn:authserver:params:oauth:token-type:
api_key``) and gets an access token whose ``sub`` is the key's owner and whose scopes are
the key's (never more), so downstream APIs can verify it locally against JWKS.

RFC 8693 §2.1 ``resource`` (URIs) and ``audience`` (logical names) say where the token will
be used. ``resource`` follows the rules of every other grant (RFC 8707): only resources
registered for the exchanging client, which become the token's ``aud`` and pick its
per-resource policy. The only names this server knows for a service are those registered
resources, so an ``audience`` must be one of them; anything else is ``invalid_target``
(RFC 8693 §2.2.2).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6749.grants import BaseGrant
from authlib.oauth2.rfc6749.grants.base import TokenEndpointMixin
from flask import current_app

from authserver.apikeys.service import PresentedKey, check_presented_key, ip_allowed, note_use
from authserver.models import User
from authserver.oauth.grants import check_scope_syntax
from authserver.oauth.resources import (
    InvalidTargetError,
    check_resources,
    grant_resources,
    requested,
)
from authserver.platform.current_request import client_address
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime, runtime_of
from authserver.platform.token_types import (
    ACCESS_TOKEN_TYPE,
    API_KEY_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
)
from authserver.platform.vocabulary import CONFIDENTIAL_AUTH_METHODS


class UnsupportedTokenType(OAuth2Error):
    """RFC 8693 §2.2.2."""

    error = "unsupported_token_type"


class Subject:
    """The owner of an API key, as Authlib's token generator expects a user: its id, and the
    roles it holds now (a key never grants more than its owner is permitted today)."""

    def __init__(self, key: PresentedKey) -> None:
        self.sub = key.subject
        self.api_key_id = key.key_id
        self.api_key_expires_at = key.expires_at
        if key.owner_client_id is not None:
            # The per-process client cache, as the client_credentials grant reads a client.
            view = current_runtime().clients.get(key.owner_client_id)
            roles = view.role_names if view is not None else ()
            self.role_names = sorted(roles)
            self.permissions = view.permissions if view is not None else frozenset()
            return
        owner = db.session.get(User, key.owner_user_pk)
        self.role_names = sorted(role.name for role in owner.roles)
        self.permissions = frozenset(p for role in owner.roles for p in role.permission_names)

    def get_user_id(self) -> str:
        return self.sub


def _targets(payload, client) -> list[str]:  # noqa: ANN001
    """The resources the token is for: ``resource`` values, then ``audience`` values."""
    resources = check_resources(requested(payload), client)
    audiences = list(dict.fromkeys(payload.datalist.get("audience", [])))
    registered = set(client.resources)
    if any(audience not in registered for audience in audiences):
        raise InvalidTargetError(
            description="An audience must be a resource registered for the client."
        )
    return list(dict.fromkeys([*resources, *audiences]))


class ApiKeyExchange(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = list(CONFIDENTIAL_AUTH_METHODS)

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError(
                description="The client is not registered for token exchange."
            )
        self.request.client = client
        form = self.request.form
        if not form.get("subject_token") or not form.get("subject_token_type"):
            raise InvalidRequestError(
                description="subject_token and subject_token_type are required."
            )
        if form["subject_token_type"] != API_KEY_TOKEN_TYPE:
            raise UnsupportedTokenType(description="Only API keys can be exchanged here.")
        requested = form.get("requested_token_type")
        if requested and requested != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(description="Only access tokens can be requested.")
        if form.get("actor_token") or form.get("actor_token_type"):
            raise InvalidRequestError(description="Delegation (actor_token) is not supported.")

        settings = runtime_of(current_app).settings
        memory = current_runtime().revocations
        key = check_presented_key(settings, form["subject_token"], memory)
        # One answer for every bad key: malformed, wrong checksum, unknown, wrong secret,
        # expired, revoked, or used from outside its allowed networks.
        if key is None or not ip_allowed(key, self.request_remote_addr()):
            raise InvalidGrantError(description="The subject token is not valid.")
        scope = self.request.payload.scope
        # Before the scope is quoted in a description (RFC 6749 §5.2 limits its characters).
        check_scope_syntax(scope)
        if scope:
            beyond = set(scope.split()) - key.scopes
            if beyond:
                raise InvalidScopeError(
                    description=f"The API key does not carry: {' '.join(sorted(beyond))}"
                )
        grant_resources(_targets(self.request.payload, client))
        self.api_key = key
        self.granted_scope = scope or key.scope

    def request_remote_addr(self) -> str | None:
        return client_address()

    def create_token_response(self):  # noqa: ANN201
        token = self.generate_token(
            user=Subject(self.api_key),
            scope=self.granted_scope,
            include_refresh_token=False,
        )
        token["issued_token_type"] = ACCESS_TOKEN_TYPE  # RFC 8693 §2.2.1
        note_use(self.api_key, self.request_remote_addr())
        return 200, token, self.TOKEN_RESPONSE_HEADER
