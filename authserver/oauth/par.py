"""Pushed Authorization Requests (RFC 9126).

A client POSTs its authorization request, authenticated, to ``/oauth/par``; the request is
checked as the authorization endpoint would check it and kept under a one-time ``request_uri``
for 60 seconds. The browser then carries only ``client_id`` and ``request_uri``; the parameters
cannot be read or altered on the way. A server-wide and a per-client switch make PAR mandatory.
"""

from __future__ import annotations

import datetime as dt

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from flask import Request, Response, jsonify
from sqlalchemy import delete, select, update
from werkzeug.datastructures import MultiDict

from authserver.models import PushedRequest
from authserver.oauth.authorization_request import validated_grant
from authserver.oauth.code_flow import TOKEN_AUTH_METHODS
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.security import generate_secret, hash_secret
from authserver.single_use import claim

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
EXPIRES_IN_SECONDS = 60


class _Payload(OAuth2Payload):
    def __init__(self, params: MultiDict) -> None:
        self._params = params

    @property
    def data(self) -> MultiDict:
        return self._params

    @property
    def datalist(self) -> dict:
        return {k: self._params.getlist(k) for k in self._params}


class PushedOAuth2Request(OAuth2Request):
    """An authorization request whose parameters come from storage, not from the URL."""

    def __init__(self, request: Request, params: MultiDict) -> None:
        super().__init__(method="GET", uri=request.url, headers=request.headers)
        self.payload = _Payload(params)
        self._params = params

    @property
    def args(self) -> MultiDict:
        return self._params

    @property
    def form(self) -> MultiDict:
        return MultiDict()


def push_request(server, flask_request: Request) -> Response:  # noqa: ANN001
    """The PAR endpoint (RFC 9126 §2): 201 with the request_uri, or a §5.2 JSON error."""
    try:
        oauth_request = server.create_oauth2_request(flask_request)
        client = server.authenticate_client(oauth_request, TOKEN_AUTH_METHODS, "par")
        params = MultiDict(flask_request.form.items(multi=True))
        if "request_uri" in params:
            raise InvalidRequestError(
                description="request_uri may not be pushed (RFC 9126 section 2.1)."
            )
        if params.get("client_id", client.get_client_id()) != client.get_client_id():
            raise InvalidRequestError(description="client_id differs from the authenticated one.")
        params["client_id"] = client.get_client_id()
        for name in ("client_secret", "client_assertion", "client_assertion_type"):
            params.pop(name, None)  # credentials are not part of the authorization request
        validated_grant(server, PushedOAuth2Request(flask_request, params))
    except OAuth2Error as error:
        error.redirect_uri = None  # the PAR endpoint answers in JSON, never by redirect
        return server.handle_error_response(flask_request, error)
    reference = generate_secret()
    now = clock.now()
    db.session.execute(delete(PushedRequest).where(PushedRequest.expires_at <= now))
    db.session.add(
        PushedRequest(
            reference_hash=hash_secret(reference),
            client_id=client.get_client_id(),
            # Every value: RFC 8707 §2 lets ``resource`` repeat, and RFC 9126 §2.1 makes the
            # pushed request carry all of the authorization request's parameters.
            params=params.to_dict(flat=False),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=EXPIRES_IN_SECONDS),
        )
    )
    db.session.commit()
    response = jsonify(request_uri=REQUEST_URI_PREFIX + reference, expires_in=EXPIRES_IN_SECONDS)
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def find_pushed(request_uri: str, client_id: str | None) -> PushedRequest | None:
    """The live, unused pushed request of this client behind ``request_uri``."""
    if not isinstance(request_uri, str) or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    reference = request_uri[len(REQUEST_URI_PREFIX) :]
    if not reference or len(reference) > 100:
        return None
    row = db.session.scalar(
        select(PushedRequest).where(PushedRequest.reference_hash == hash_secret(reference))
    )
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row if row.client_id == client_id else None


def consume(row: PushedRequest) -> bool:
    """Mark the request used (RFC 9126 §4: one-time); False if it was used or expired
    meanwhile. One conditional UPDATE decides among requests racing with one request_uri; it
    commits with the code (or the error) it leads to."""
    now = clock.now()
    return claim(
        update(PushedRequest)
        .where(
            PushedRequest.id == row.id,
            PushedRequest.used_at.is_(None),
            PushedRequest.expires_at > now,
        )
        .values(used_at=now)
    )
