"""The Authlib authorization server: every grant, auth method and endpoint in one list."""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError, OAuth2Request
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, Request
from flask import request as flask_request

from authserver.oauth.client_auth import PrivateKeyJWT
from authserver.oauth.code_flow import (
    AuthorizationCodeFlow,
    RefreshTokenFlow,
    S256Only,
    remember_issued,
)
from authserver.oauth.device import DeviceAuthorizationRequests, DeviceCodeFlow
from authserver.oauth.dpop import bound_key
from authserver.oauth.grants import ClientCredentials
from authserver.oauth.guards import CLIENT_AUTH_FAILED
from authserver.oauth.introspection import Introspection
from authserver.oauth.logout import end_browser_session
from authserver.oauth.oidc import (
    AccessTokenValidator,
    DPoPTokenValidator,
    EndSession,
    IDToken,
    UserInfoView,
)
from authserver.oauth.par import PushedOAuth2Request
from authserver.oauth.quotas import charge_quota
from authserver.oauth.refresh_tokens import Lineage, store_refresh_token
from authserver.oauth.remote_jwks import RemoteJwks
from authserver.oauth.resources import granted_resources
from authserver.oauth.revocation import Revocation
from authserver.oauth.token_exchange import ApiKeyExchange
from authserver.oauth.tokens import AccessTokenGenerator
from authserver.platform.config import Settings
from authserver.platform.request_state import state_of
from authserver.platform.runtime import Runtime

_EXTENSION = "authserver.oauth"


class AuthorizationServer(FlaskAuthorizationServer):
    def create_oauth2_request(self, request):  # noqa: ANN001, ANN201
        # The request handed in (authserver.oauth.direct answers without a request context),
        # else Flask's: the object itself, not the context-local proxy, which Authlib would
        # otherwise read through dozens of times per request.
        request = request if request is not None else flask_request._get_current_object()
        # A pushed authorization request (RFC 9126): its stored parameters are the request.
        pushed = state_of(request.environ).pushed_params
        if pushed is not None:
            return PushedOAuth2Request(request, pushed)
        return _OAuth2Request(request)

    def authenticate_client(self, request, methods, endpoint="token"):  # noqa: ANN001, ANN201
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as e:
            # RFC 6749 §5.2: 401 with WWW-Authenticate (Authlib adds it for 401).
            raise InvalidClientError(status_code=401, description=CLIENT_AUTH_FAILED) from e
        # Its quota, if it has one, once it is known to be this client (oauth.quotas).
        charge_quota(client, endpoint)
        return client

    def endpoint(self, name: str):  # noqa: ANN201
        """The endpoint registered under ``name``, as Authlib's dispatch would find it first
        (the lean door, ``oauth.lean``, calls it directly)."""
        return self._endpoints[name][0]


class _OAuth2Request(FlaskOAuth2Request):
    """Authlib's view of a Flask request, with its URL as scheme, host and path.

    Authlib reads the URL only to refuse plain http to a remote host (InsecureTransportError)
    and, for RFC 7592, its path; Werkzeug's ``request.url`` rebuilds the whole IRI with its
    query on every request (a tenth of an introspection's time)."""

    def __init__(self, request: Request) -> None:
        OAuth2Request.__init__(
            self, request.method, f"{request.scheme}://{request.host}{request.path}"
        )
        # Set here, not passed: Authlib's ``headers or {}`` would count the environ's headers.
        self.headers = request.headers
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class Issuer(IssuerParameter):
    """RFC 9207: ``iss`` in every authorization response."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def _token_saver(settings: Settings):  # noqa: ANN202
    def save_token(token: dict, request) -> None:  # noqa: ANN001
        """JWT access tokens are self-contained and not stored; a refresh token is stored
        (hashed) in its family, and a code remembers what it issued."""
        code = getattr(request, "authorization_code", None)
        parent = getattr(request, "refresh_token", None)
        device = getattr(request, "credential", None)
        family = None
        # RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
        dpop_jkt = bound_key() if request.client.is_public else None
        if "refresh_token" in token:
            # What the new refresh token descends from: the device authorization, its
            # predecessor (whose family it joins) or the authorization code.
            source = device or parent or code
            lineage = Lineage(
                source.user_id,
                source.client_id,
                token.get("scope", ""),
                source.sid,
                source.auth_time,
                list(source.amr),
                parent.family_id if parent is not None else None,
                parent.expires_at if parent is not None else None,
                resources=granted_resources(),
                dpop_jkt=dpop_jkt,
            )
            family = store_refresh_token(settings, token["refresh_token"], lineage).family_id
        if code is not None:
            remember_issued(code, token, family)

    return save_token


def config_oauth(app: Flask, runtime: Runtime) -> AuthorizationServer:
    settings, keyring = runtime.settings, runtime.keyring
    server = AuthorizationServer()
    server.init_app(app, query_client=runtime.clients.get, save_token=_token_saver(settings))
    server.register_token_generator("default", AccessTokenGenerator(settings, keyring))
    server.register_client_auth_method(
        PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT(settings, RemoteJwks(runtime.outbound))
    )
    server.register_extension(Issuer(settings.issuer))
    # Authlib tries the grants in this order on every token request: the busiest first.
    server.register_grant(ClientCredentials)
    server.register_grant(
        AuthorizationCodeFlow, [S256Only(required=True), IDToken(settings, keyring)]
    )
    server.register_grant(RefreshTokenFlow)
    server.register_grant(ApiKeyExchange)
    server.register_grant(DeviceCodeFlow)
    server.register_endpoint(DeviceAuthorizationRequests(settings))
    server.register_endpoint(Introspection(settings, keyring))
    server.register_endpoint(Revocation(settings, keyring))
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator(settings, keyring, runtime.clients))
    protector.register_token_validator(DPoPTokenValidator(settings, keyring, runtime.clients))
    server.register_endpoint(UserInfoView(settings, protector))
    server.register_endpoint(EndSession(settings, on_end=end_browser_session))
    app.extensions[_EXTENSION] = server
    return server


def oauth_server(app: Flask) -> AuthorizationServer:
    return app.extensions[_EXTENSION]
