"""Request guards run before Authlib sees a protocol request.

RFC 6749 §3.2 and §5.2: token-endpoint style requests are form-encoded POSTs in UTF-8 whose
parameters appear at most once. Anything else is ``invalid_request`` here, so that no
malformed value (a NUL byte, undecodable bytes) can reach the database or the log.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError
from flask import Request

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
#: The one answer to every failed client authentication, whatever the cause: an unknown
#: client and a wrong secret must be indistinguishable.
CLIENT_AUTH_FAILED = "Client authentication failed."
#: RFC 6749 §5.2: the characters an error_description may hold (here a short run of them).
_DESCRIBABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")
#: RFC 8707 §2 and RFC 8693 §2.1: ``resource`` and ``audience`` may be given several times;
#: every other parameter once.
REPEATABLE = frozenset({"resource", "audience"})


def check_form_request(request: Request) -> None:
    """Raise InvalidRequestError unless the request is a clean form POST."""
    if request.mimetype != FORM_CONTENT_TYPE:
        raise InvalidRequestError(description=f"The request body must be {FORM_CONTENT_TYPE}.")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise InvalidRequestError(description="The request body must be UTF-8.")
    pairs = check_pairs(request.get_data(cache=True), "body")
    check_pairs(request.query_string, "query")
    _keep_form(request, pairs)
    if request.query_string and request.form and set(request.args) & set(request.form):
        raise InvalidRequestError(description="A parameter appears in both query and body.")
    check_basic_credentials(request.headers.get("Authorization", ""))


def _keep_form(request: Request, pairs: list[tuple[str, str]]) -> None:
    """The checked pairs become ``request.form``, so that the body is parsed once.

    Werkzeug parses a form body with the same ``parse_qsl`` call (``FormDataParser.
    _parse_urlencoded``, whose replacement of undecodable bytes never applies to a body that
    passed the strict check) and keeps the result in the request's ``__dict__``, as here."""
    if "form" not in request.__dict__:
        request.__dict__["form"] = request.parameter_storage_class(pairs)
        request.__dict__["files"] = request.parameter_storage_class()


def check_basic_credentials(authorization: str) -> None:
    """Raise InvalidClientError (401) for Basic credentials that are not UTF-8 base64 without
    NUL. Also the lean door's check (``oauth.lean``), so that both doors refuse the same."""
    # RFC 7617 §2: user-pass is UTF-8 here; Authlib would fail on undecodable bytes.
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return
    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClientError(status_code=401, description=CLIENT_AUTH_FAILED) from None
    if "\x00" in decoded:
        raise InvalidClientError(status_code=401, description=CLIENT_AUTH_FAILED)


def check_pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    """The pairs of a form body or query (RFC 6749 Appendix B), each parameter but the
    repeatable ones once, no NUL; InvalidRequestError otherwise. The lean door parses with it."""
    try:
        text = raw.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError(description=f"The request {where} is not valid UTF-8.") from None
    seen: set[str] = set()
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise InvalidRequestError(description="Parameters must not contain NUL characters.")
        if name in seen and name not in REPEATABLE:
            # Named only when the name may stand in an error description (RFC 6749 §5.2;
            # Authlib refuses anything else with a ValueError, which was a 500).
            shown = f" '{name}'" if _DESCRIBABLE.fullmatch(name) else ""
            raise InvalidRequestError(description=f"Parameter{shown} appears more than once.")
        seen.add(name)
    return pairs


class PresentedTokenEndpoint:
    """What the introspection and revocation endpoints share: their settings and key ring,
    and ``check_params``.

    Authlib refuses a ``token_type_hint`` it does not know (with a 401); RFC 7009 §2.1 and
    RFC 7662 §2.1 say an unknown hint is ignored and the search extends to every type.
    """

    SUPPORTED_TOKEN_TYPES = ("access_token", "refresh_token", "api_key")

    def __init__(self, settings, keyring) -> None:  # noqa: ANN001
        super().__init__()
        self.settings = settings
        self.keyring = keyring

    def check_params(self, request, client) -> None:  # noqa: ANN001
        if not request.form.get("token"):
            raise InvalidRequestError(description="Missing 'token' parameter.")
