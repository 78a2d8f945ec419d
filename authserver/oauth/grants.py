"""Grant types, as Authlib grant classes with our policies plugged in."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant

from authserver.oauth.resources import check_resources, grant_resources, requested
from authserver.platform.errors import InvalidInput
from authserver.platform.vocabulary import CONFIDENTIAL_AUTH_METHODS
from authserver.rbac.scopes import validate_scope as _validate_scope_syntax


def check_scope_syntax(scope: str | None, redirect_uri: str | None = None) -> None:
    """RFC 6749 §3.3: scope-tokens of %x21 / %x23-5B / %x5D-7E; invalid_scope otherwise."""
    if not scope:
        return
    try:
        _validate_scope_syntax(scope)
    except InvalidInput:
        raise InvalidScopeError(
            description="The scope is malformed.", redirect_uri=redirect_uri
        ) from None


def check_requested_scope(scope: str | None, client, redirect_uri: str | None = None) -> None:  # noqa: ANN001
    """RFC 6749 §3.3: a client gets at most the scopes it is registered for; asking for more
    is invalid_scope. Omitting scope means the registered default (all of them)."""
    if not scope:
        return
    check_scope_syntax(scope, redirect_uri)
    extra = set(scope.split()) - client.scopes
    if extra:
        raise InvalidScopeError(
            description=f"The client is not registered for: {' '.join(sorted(extra))}",
            redirect_uri=redirect_uri,
        )


class ClientCredentials(ClientCredentialsGrant):
    """RFC 6749 §4.4. Confidential clients only: ``none`` is not among the methods."""

    TOKEN_ENDPOINT_AUTH_METHODS = list(CONFIDENTIAL_AUTH_METHODS)

    def validate_requested_scope(self) -> None:
        check_requested_scope(self.request.payload.scope, self.request.client)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        grant_resources(check_resources(requested(self.request.payload), self.request.client))
