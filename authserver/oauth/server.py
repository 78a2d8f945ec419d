"""The Authlib authorization server: every grant, auth method and endpoint in one list."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError
from flask import Flask

from authserver.oauth.client_auth import PrivateKeyJWT
from authserver.oauth.grants import ClientCredentials
from authserver.oauth.guards import CLIENT_AUTH_FAILED
from authserver.oauth.introspection import Introspection
from authserver.oauth.revocation import Revocation
from authserver.oauth.token_exchange import ApiKeyExchange
from authserver.oauth.tokens import AccessTokenGenerator
from authserver.runtime import Runtime

_EXTENSION = "authserver.oauth"


class AuthorizationServer(FlaskAuthorizationServer):
    def authenticate_client(self, request, methods, endpoint="token"):  # noqa: ANN001, ANN201
        try:
            return super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as e:
            # RFC 6749 §5.2: 401 with WWW-Authenticate (Authlib adds it for 401).
            raise InvalidClientError(status_code=401, description=CLIENT_AUTH_FAILED) from e


def _save_token(token: dict, request) -> None:  # noqa: ANN001
    """JWT access tokens are self-contained: nothing is stored when one is issued."""


def config_oauth(app: Flask, runtime: Runtime) -> AuthorizationServer:
    settings, keyring = runtime.settings, runtime.keyring
    server = AuthorizationServer()
    server.init_app(app, query_client=runtime.clients.get, save_token=_save_token)
    server.register_token_generator("default", AccessTokenGenerator(settings, keyring))
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT(settings))
    server.register_grant(ClientCredentials)
    server.register_grant(ApiKeyExchange)
    server.register_endpoint(Introspection(settings, keyring))
    server.register_endpoint(Revocation(settings, keyring))
    app.extensions[_EXTENSION] = server
    return server


def oauth_server(app: Flask) -> AuthorizationServer:
    return app.extensions[_EXTENSION]
