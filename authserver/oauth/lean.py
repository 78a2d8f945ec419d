"""The lean door: the client credentials grant with a client secret (RFC 6749 §4.4, client
authentication by §2.3.1) and token introspection (RFC 7662 §2), parsed here and answered
without Werkzeug's request and response objects or Authlib's dispatch.

It is a parser and a dispatcher only. The form is split by the request guards' own function
(``guards.check_pairs``) and the Basic credentials checked by theirs; what it hands Authlib is a
small ``OAuth2Request`` built from the environ; and the answer is the registered grant's and
endpoint's (``ClientCredentials`` with its ``validate_token_request`` and
``create_token_response``, the ``Introspection`` endpoint): the same client authentication
(Authlib's methods over our constant-time secret check, the quota hook), scope and resource
checks, token minting, introspection answer, metrics and audit as the Authlib path. Its answer
is serialised as Authlib's Flask integration serialises one (``flask.json.dumps``, the headers
Authlib gives) and finished by ``FrontDoor.respond`` like every other answer of ``oauth.direct``.

It answers only what it can answer exactly as the Authlib path would: successes, and the errors
the grant or the endpoint raise that no budget counts (``invalid_scope``, ``invalid_target``,
``unauthorized_client``, ``invalid_request`` for a missing token). Everything else is handed to
``oauth.direct`` untouched (the body it read put back), before anything was spent or written:

- another method, endpoint, grant type or parameter, a query string, a repeated parameter, a
  body that is empty, too large, chunked, encoded or not the form's clean ASCII, a content type
  other than the form's (with at most ``charset=utf-8``);
- a ``DPoP`` header (RFC 9449), a client assertion (``private_key_jwt``), both or neither of
  Basic and form credentials, Basic credentials the guards refuse;
- an unknown client, a client with a quota or with DPoP-bound tokens, the DPoP nonce setting;
- plain http to a host that is not this machine (Authlib's ``InsecureTransportError``);
- any failed client authentication, and any answer the endpoint's failure budget would count
  (``web.ratelimit``): those budgets stay where they are, on the Authlib path.

``AUTHSERVER_LEAN_PATH=false`` turns it off; tests/oauth/test_lean_door.py holds both paths to
the same answers.
"""

from __future__ import annotations

import functools
import io
from collections import defaultdict
from collections.abc import Callable

from authlib.oauth2.rfc6749 import (
    InsecureTransportError,
    InvalidClientError,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from flask import Flask, json
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_host

from authserver.oauth.grants import ClientCredentials
from authserver.oauth.guards import check_basic_credentials, check_pairs
from authserver.oauth.quotas import quota_rates
from authserver.oauth.server import oauth_server
from authserver.platform.current_request import answering_directly
from authserver.platform.extensions import commit_if_used
from authserver.platform.runtime import runtime_of
from authserver.web.errors import json_error_for
from authserver.web.ratelimit import RateLimits

TOKEN, INTROSPECTION = "oauth.token", "oauth.introspect"
#: Our endpoint name → Authlib's (the quota's key; the endpoint registered under it).
_AUTHLIB_NAMES = {TOKEN: "token", INTROSPECTION: "introspection"}
#: The parameters each shape may carry; ``resource`` may repeat (RFC 8707 §2), no other.
_PARAMETERS = {
    TOKEN: frozenset({"grant_type", "scope", "resource", "client_id", "client_secret"}),
    INTROSPECTION: frozenset({"token", "token_type_hint", "client_id", "client_secret"}),
}
#: RFC 6749 Appendix B: the form, in UTF-8. Compared lowercased, as Werkzeug reads the type.
_FORM_TYPES = frozenset({
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded;charset=utf-8",
})  # fmt: skip
#: Headers that make a request another path's: a DPoP proof, a body the server does not hand
#: over as it came.
_NOT_LEAN_HEADERS = ("HTTP_DPOP", "HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_ENCODING")

Answer = tuple[str, list[tuple[str, str]], bytes]
_HAND_OVER = None


class _Payload(OAuth2Payload):
    def __init__(self, data: dict[str, str], datalist: defaultdict[str, list[str]]) -> None:
        self._data = data
        self._datalist = datalist

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _LeanOAuth2Request(OAuth2Request):
    """Authlib's view of the request: what ``_OAuth2Request`` gives it, without Werkzeug's
    request (no query string here, so the values are the form's)."""

    def __init__(self, uri: str, headers: EnvironHeaders, form: dict[str, str],
                 datalist: defaultdict[str, list[str]]) -> None:  # fmt: skip
        # RFC 6749 §3.1, §3.2: Authlib refuses plain http to a remote host right here.
        OAuth2Request.__init__(self, "POST", uri)
        self.headers = headers
        self._form = form
        self.payload = _Payload(form, datalist)

    @property
    def args(self) -> dict[str, str]:
        return {}

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Answering:
    """What ``current_request()`` returns while the lean door answers: what the services read
    of the request being answered (its state in the environ, the caller's address, headers)."""

    __slots__ = ("environ", "headers", "method", "remote_addr")

    def __init__(self, environ: dict, headers: EnvironHeaders) -> None:
        self.environ = environ
        self.headers = headers
        self.method = "POST"
        self.remote_addr = environ.get("REMOTE_ADDR")


class _Parsed:
    __slots__ = ("client", "form", "headers", "request")

    def __init__(self, request: _LeanOAuth2Request, client, form: dict[str, str],  # noqa: ANN001
                 headers: EnvironHeaders) -> None:  # fmt: skip
        self.request, self.client, self.form, self.headers = request, client, form, headers


@functools.lru_cache(maxsize=64)
def _status_line(code: int) -> str:
    # As Werkzeug's Response spells it (``_clean_status``).
    reason = HTTP_STATUS_CODES.get(code)
    return f"{code} {reason.upper()}" if reason else f"{code} UNKNOWN"


def _wire(status: int, body: dict | str, headers: list[tuple[str, str]]) -> Answer:
    """An answer as Authlib's Flask integration makes it (``handle_response``: flask.json, then
    Werkzeug's Response, which adds Content-Length), without the Response."""
    text = json.dumps(body) if isinstance(body, dict) else body
    data = text.encode("utf-8")
    return _status_line(status), [*headers, ("Content-Length", str(len(data)))], data


def _read_body(environ: dict, limit: int | None) -> bytes | None:
    """The body, when it has a plain length within the limit and arrived whole; else None (and
    anything read is put back, for the Authlib path to read as it would have)."""
    length = environ.get("CONTENT_LENGTH", "")
    if not (length.isascii() and length.isdigit()):
        return None
    expected = int(length)
    if expected == 0 or (limit is not None and expected > limit):
        return None
    stream = environ["wsgi.input"]
    if "wsgi.input_terminated" in environ:
        # Werkzeug then reads the whole stream (up to the limit), not Content-Length's bytes.
        body = stream.read(expected + 1)
    else:
        body = stream.read(expected)
    if len(body) != expected:
        _put_back(environ, body, stream)
        return None
    return body


def _put_back(environ: dict, body: bytes, rest=None) -> None:  # noqa: ANN001
    if rest is not None and "wsgi.input_terminated" in environ:
        body += rest.read()
    environ["wsgi.input"] = io.BytesIO(body)


class LeanDoor:
    """The lean answers of ``oauth.direct``'s token and introspection endpoints."""

    def __init__(self, app: Flask, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits
        self.server = oauth_server(app)
        self.runtime = runtime_of(app)
        settings = self.runtime.settings
        # RFC 9449 §8: with nonces on, every token answer carries one (``dpop.with_nonce``).
        self.endpoints = {INTROSPECTION} if settings.dpop_nonce else {TOKEN, INTROSPECTION}
        self.introspection = self.server.endpoint("introspection")
        self._answers: dict[str, Callable[[_Parsed], Answer | None]] = {
            TOKEN: self._token,
            INTROSPECTION: self._introspection,
        }

    def answer(
        self, environ: dict, endpoint: str, request_id: str, started: float
    ) -> Answer | None:
        """The answer, or None: then the request is the Authlib path's, as it came."""
        if endpoint not in self.endpoints or not self._is_lean(environ, endpoint):
            return _HAND_OVER
        headers = EnvironHeaders(environ)
        try:
            body = _read_body(environ, self.app.config.get("MAX_CONTENT_LENGTH"))
        except OSError:
            # The client went away mid-body: answered as Werkzeug's stream reports it (400).
            body, disconnected = b"", ClientDisconnected()
        else:
            if body is None:
                return _HAND_OVER
            disconnected = None
        with answering_directly(self.app, _Answering(environ, headers), request_id, started):
            try:
                if disconnected is not None:
                    raise disconnected
                parsed = self._parse(environ, endpoint, body, headers)
                answer = self._answers[endpoint](parsed) if parsed is not None else _HAND_OVER
            except Exception as error:  # noqa: BLE001 - answered as oauth.direct would
                response = json_error_for(error, "POST", environ.get("PATH_INFO", ""))
                answer = response.status, response.headers.to_wsgi_list(), response.get_data()
        if answer is _HAND_OVER:
            environ.pop("authserver.state", None)  # nothing it learnt goes along
            _put_back(environ, body)
        return answer

    def _is_lean(self, environ: dict, endpoint: str) -> bool:
        budgets = self.limits.budgets.get(endpoint)
        return (
            environ.get("REQUEST_METHOD") == "POST"
            and not environ.get("QUERY_STRING")
            and environ.get("CONTENT_TYPE", "").lower() in _FORM_TYPES
            and not any(name in environ for name in _NOT_LEAN_HEADERS)
            # Only failure budgets, counted on failures the lean door never answers.
            and budgets is not None and not budgets.requests and not budgets.attempts
        )  # fmt: skip

    def _parse(self, environ: dict, endpoint: str, body: bytes,
               headers: EnvironHeaders) -> _Parsed | None:  # fmt: skip
        try:
            pairs = check_pairs(body, "body")
        except OAuth2Error:
            return None
        form: dict[str, str] = {}
        datalist: defaultdict[str, list[str]] = defaultdict(list)
        allowed = _PARAMETERS[endpoint]
        for name, value in pairs:
            if name not in allowed:
                return None
            form.setdefault(name, value)
            datalist[name].append(value)
        if endpoint == TOKEN and form.get("grant_type") != ClientCredentials.GRANT_TYPE:
            return None
        client_id = self._presented_client_id(environ.get("HTTP_AUTHORIZATION"), form, headers)
        if client_id is None:
            return None
        # The client Authlib will authenticate: looked up first, for what is not this door's.
        client = self.server.query_client(client_id)
        if client is None or quota_rates(client, _AUTHLIB_NAMES[endpoint]):
            return None
        if endpoint == TOKEN and client.dpop_bound_access_tokens:
            return None
        uri = f"{environ.get('wsgi.url_scheme')}://{get_host(environ)}{environ['PATH_INFO']}"
        try:
            request = _LeanOAuth2Request(uri, headers, form, datalist)
        except InsecureTransportError:
            return None
        return _Parsed(request, client, form, headers)

    @staticmethod
    def _presented_client_id(authorization: str | None, form: dict[str, str],
                             headers: EnvironHeaders) -> str | None:  # fmt: skip
        """Whose secret it is: in Basic (RFC 6749 §2.3.1, RFC 7617) or in the form, one way."""
        if authorization is not None:
            if (
                "client_id" in form
                or "client_secret" in form
                or not authorization.startswith("Basic ")
            ):
                return None
            try:
                check_basic_credentials(authorization)
            except OAuth2Error:
                return None
            # Authlib's reading, which its client_secret_basic method uses.
            client_id, secret = extract_basic_authorization(headers)
        else:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if not client_id or not secret or "\x00" in client_id or "\x00" in secret:
            return None
        return client_id

    def _token(self, parsed: _Parsed) -> Answer | None:
        """RFC 6749 §4.4.2-3 through the registered grant, as ``create_token_response`` runs
        it after choosing the grant."""
        grant = self.server.get_token_grant(parsed.request)
        if not isinstance(grant, ClientCredentials):
            return _HAND_OVER
        try:
            grant.validate_token_request()
        except OAuth2Error as error:
            return self._error(TOKEN, parsed.request, error)
        try:
            status, body, headers = grant.create_token_response()
        except OAuth2Error as error:
            return _wire(*error(self.server.get_error_uri(parsed.request, error)))
        if status == 200:
            commit_if_used()  # as views.answer_token: what the token left behind
        return _wire(status, body, headers)

    def _introspection(self, parsed: _Parsed) -> Answer | None:
        """RFC 7662 §2.1-2.2 by the registered endpoint."""
        try:
            result = self.introspection(parsed.request)
        except OAuth2Error as error:
            return self._error(INTROSPECTION, parsed.request, error)
        return _wire(*result)

    def _error(self, endpoint: str, request: OAuth2Request, error: OAuth2Error) -> Answer | None:
        """RFC 6749 §5.2, as ``handle_error_response`` answers it; a failed authentication and
        whatever the failure budget counts go to the Authlib path (nothing was spent yet)."""
        status = error.status_code or 400
        if isinstance(error, InvalidClientError) or self.limits.budgets[endpoint].failed(status):
            return _HAND_OVER
        return _wire(*error(self.server.get_error_uri(request, error)))
