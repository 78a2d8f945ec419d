"""A person on a browser page never reads the protocol's jargon: a failed authorization or logout
request shows plain words from one table (authserver/web/wording.py), while the relying party
still gets the protocol's own error code and description in the redirect."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnsupportedResponseTypeError,
)
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)

from authserver.web.wording import PLAIN_WORDS, UNKNOWN, page_words
from tests.accounts.conftest import rp  # noqa: F401 (fixture)
from tests.oauth.test_code_flow import REDIRECT, Browser

# What must never be shown to a person on the error page.
JARGON = re.compile(
    r"invalid_request|invalid_client|invalid_scope|unsupported_response_type|login_required|"
    r"consent_required|response_type|redirect_uri|client_id|is not supported by the server|"
    r"Missing|Invalid \"|'None'"
)


def _message(response) -> str:
    found = re.search(r'<p role="alert">(.*?)</p>', response.get_data(as_text=True), re.S)
    assert found, response.get_data(as_text=True)[:500]
    return html.unescape(found.group(1))


def _words(code: str, word: str | None = None) -> str:
    return next(w for c, k, w in PLAIN_WORDS if c == code and k == word)


@pytest.mark.parametrize(
    "params, code, word",
    [
        ({}, "unsupported_response_type", None),
        ({"client_id": "nobody"}, "unsupported_response_type", None),
        ({"response_type": "token", "client_id": "RP", "redirect_uri": "https://evil.example/cb"},
         "unsupported_response_type", None),
        ({"response_type": "code id_token", "client_id": "RP",
          "redirect_uri": "https://evil.example/cb"}, "unsupported_response_type", None),
        ({"response_type": "code"}, "invalid_client", "client_id"),
        ({"response_type": "code", "client_id": "nobody"}, "invalid_client", None),
        ({"response_type": "code", "client_id": "RP", "redirect_uri": "https://evil.example/cb"},
         "invalid_request", "redirect"),
        ({"response_type": "code", "client_id": "RP", "redirect_uri": REDIRECT + "?x=1"},
         "invalid_request", "redirect"),
    ],
)  # fmt: skip
def test_a_bad_authorization_request_gets_plain_words(http, rp, params, code, word):  # noqa: F811
    query = {k: rp["client_id"] if v == "RP" else v for k, v in params.items()}
    response = http.get("/oauth/authorize?" + urlencode(query))
    assert response.status_code == 400 and "Location" not in response.headers
    message = _message(response)
    assert message == _words(code, word)
    assert not JARGON.search(message), message
    assert "Go back to the application" in message


def test_errors_sent_back_to_the_application_keep_the_protocol_words(http, rp, user):  # noqa: F811
    browser = Browser(http, rp)
    browser.code()
    response = http.get(browser.authorize_url(scope="openid admin:everything"))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_scope"]
    assert query["error_description"] == ["The client is not registered for: admin:everything"]


def test_a_reused_nonce_keeps_its_words_on_the_page():
    nonce = InvalidRequestError("This sign-in request was used already (its nonce); start "
                                "again from the application.")  # fmt: skip
    assert page_words(nonce) == nonce.description


@pytest.mark.parametrize(
    "error, code",
    [
        (InvalidRequestError("Missing 'response_type' in request."), "invalid_request"),
        (InvalidRequestError("Invalid 'redirect_uri' in request."), "invalid_request"),
        (InvalidRequestError("code_challenge_method must be S256."), "invalid_request"),
        (InvalidScopeError(), "invalid_scope"),
        (InvalidScopeError("The client is not registered for: nope"), "invalid_scope"),
        (UnsupportedResponseTypeError("response_type=token is not supported"),
         "unsupported_response_type"),
        (InvalidClientError(description="The client does not exist on this server."),
         "invalid_client"),
        (LoginRequiredError(), "login_required"),
        (ConsentRequiredError(), "consent_required"),
        (InteractionRequiredError(), "interaction_required"),
        (AccessDeniedError(), "access_denied"),
    ],
)  # fmt: skip
def test_every_protocol_error_has_plain_words(error, code):
    words = page_words(error)
    assert not JARGON.search(words), words
    expected = [w for c, _, w in PLAIN_WORDS if c == code]
    assert words in expected


def test_an_error_the_table_does_not_know_gets_the_general_words():
    error = OAuth2Error("Something 'odd' happened.")
    error.error = "odd_error"
    assert page_words(error) == UNKNOWN


def test_the_redirect_uri_words_are_those_for_a_redirect_uri():
    words = page_words(InvalidRequestError("Invalid 'redirect_uri' in request."))
    assert words == _words("invalid_request", "redirect")
    assert "address it has not registered" in words


def test_the_original_description_is_logged(caplog):
    with caplog.at_level("INFO", logger="authserver.web.wording"):
        page_words(InvalidClientError(description="Missing 'client_id' parameter."))
    assert "invalid_client: Missing 'client_id' parameter." in caplog.text
