"""HTTP face of the protocol: token, introspection, revocation, JWKS and discovery."""

from __future__ import annotations

import hashlib
import json

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, Response, current_app, jsonify, request

from authserver.extensions import db
from authserver.keys.jwks import jwks_document
from authserver.metrics import jwks_requests
from authserver.oauth import paths
from authserver.oauth.discovery import server_metadata
from authserver.oauth.guards import check_form_request
from authserver.oauth.server import oauth_server
from authserver.runtime import current_runtime, current_settings

bp = Blueprint("oauth", __name__)


def _guarded(endpoint_response) -> Response:  # noqa: ANN001
    server = oauth_server(current_app)
    try:
        check_form_request(request)
    except OAuth2Error as error:
        return server.handle_error_response(request, error)
    return endpoint_response(server)


@bp.post(paths.TOKEN)
def token() -> Response:
    return _guarded(lambda server: server.create_token_response())


@bp.post(paths.INTROSPECTION)
def introspect() -> Response:
    return _guarded(lambda server: server.create_endpoint_response("introspection"))


@bp.post(paths.REVOCATION)
def revoke() -> Response:
    response = _guarded(lambda server: server.create_endpoint_response("revocation"))
    if response.status_code == 200:
        db.session.commit()
    return response


@bp.get(paths.JWKS)
def jwks() -> Response:
    jwks_requests.inc()
    keyring = current_runtime().keyring
    body = json.dumps(jwks_document(keyring), separators=(",", ":"))
    response = Response(body, mimetype="application/jwk-set+json")
    response.set_etag(hashlib.sha256(body.encode()).hexdigest()[:32])
    response.cache_control.public = True
    response.cache_control.max_age = keyring.jwks_max_age()
    return response.make_conditional(request)


@bp.get(paths.AS_METADATA)
@bp.get(paths.OPENID_CONFIGURATION)
def metadata() -> Response:
    return jsonify(server_metadata(current_settings()))
