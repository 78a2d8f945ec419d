"""HTTP face of the protocol: token, introspection, revocation, PAR and device authorization.
JWKS and discovery are answered in front of Flask only (``oauth.published``)."""

from __future__ import annotations

from collections.abc import Callable

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, Request, Response, current_app, request

from authserver.oauth import paths
from authserver.oauth.dpop import check_request, with_nonce
from authserver.oauth.guards import check_form_request
from authserver.oauth.par import push_request
from authserver.oauth.server import oauth_server
from authserver.platform.extensions import commit_if_used, db
from authserver.platform.request_state import state_of
from authserver.platform.runtime import current_settings

bp = Blueprint("oauth", __name__)


def _guarded(request: Request, endpoint_response: Callable) -> Response:
    server = oauth_server(current_app)
    try:
        check_form_request(request)
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
    return endpoint_response(server)


# The token, introspection and revocation answers take the request as an argument: they are
# also answered in front of Flask, without a request context (authserver.oauth.direct).


def answer_token(request: Request) -> Response:
    settings = current_settings()

    def respond(server) -> Response:  # noqa: ANN001
        try:
            proof = check_request(settings, request, settings.url(paths.TOKEN))
        except OAuth2Error as error:
            return with_nonce(server.handle_error_response(request, error), settings)
        if proof is not None:
            state_of(request.environ).dpop_jkt = proof.jkt
        response = server.create_token_response(request)
        # What an issued token leaves behind (the code claimed, the refresh token stored or
        # rotated) is committed with its success; a failed request writes nothing but what
        # is committed on its own (authserver.single_use: a DPoP proof's or an assertion's
        # jti, a code its own client failed to redeem, a replayed code's revocations, a
        # family revoked on reuse, a device poll).
        if response.status_code == 200:
            commit_if_used()
        return with_nonce(response, settings)

    return _guarded(request, respond)


def answer_introspection(request: Request) -> Response:
    return _guarded(
        request, lambda server: server.create_endpoint_response("introspection", request)
    )


def answer_revocation(request: Request) -> Response:
    response = _guarded(
        request, lambda server: server.create_endpoint_response("revocation", request)
    )
    if response.status_code == 200:
        db.session.commit()
    return response


#: Endpoint name → its answer: their one route is the direct door (``oauth.direct``).
DIRECT_ANSWERS: dict[str, Callable[[Request], Response]] = {
    "oauth.token": answer_token,
    "oauth.introspect": answer_introspection,
    "oauth.revoke": answer_revocation,
}


@bp.post(paths.PUSHED_AUTHORIZATION)
def pushed_authorization() -> Response:
    return _guarded(request, lambda server: push_request(server, request))


@bp.post(paths.DEVICE_AUTHORIZATION)
def device_authorization() -> Response:
    return _guarded(request, lambda server: server.create_endpoint_response("device_authorization"))
