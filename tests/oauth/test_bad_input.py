"""Malformed requests get a 4xx in the RFC 6749 §5.2 error format (the authorization endpoint:
its error page, never a redirect): never a 5xx, never a trace, nothing written."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from authserver.models import Client, RevokedAccessToken, UsedAssertion
from authserver.platform.extensions import db
from tests.oauth.test_code_flow import REDIRECT, Browser

ENDPOINTS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"]
#: Every endpoint that reads a form through the guard.
FORM_ENDPOINTS = [*ENDPOINTS, "/oauth/par", "/oauth/device_authorization"]
FORM = "application/x-www-form-urlencoded"


def _basic(user: bytes, password: bytes) -> str:
    return "Basic " + base64.b64encode(user + b":" + password).decode()


BAD_REQUESTS = {
    "json body": dict(data='{"grant_type": "client_credentials"}', content_type="application/json"),
    "invalid json": dict(data="{not json", content_type="application/json"),
    "text body": dict(data="grant_type=client_credentials", content_type="text/plain"),
    "multipart": dict(
        data={"grant_type": "client_credentials"}, content_type="multipart/form-data"
    ),
    "duplicated parameter": dict(
        data="grant_type=client_credentials&grant_type=client_credentials&token=a&token=b",
        content_type=FORM,
    ),
    "parameter in query and body": dict(
        query_string="grant_type=client_credentials",
        data="grant_type=client_credentials&token=a",
        content_type=FORM,
    ),
    "null byte": dict(
        data="grant_type=client_credentials&token=a%00b&scope=%00", content_type=FORM
    ),
    "null byte in client_id": dict(
        data="grant_type=client_credentials&client_id=a%00b&client_secret=x&token=t",
        content_type=FORM,
    ),
    # The name is quoted in the description only when RFC 6749 §5.2 allows its characters
    # there (Authlib raised ValueError, a 500, building the error for '\\', '"', é, ^A).
    "duplicated parameter named with a backslash": dict(data="a%5C=1&a%5C=2", content_type=FORM),
    "duplicated parameter named with a quote": dict(data="a%22=1&a%22=2", content_type=FORM),
    "duplicated parameter named in unicode": dict(data="%C3%A9=1&%C3%A9=2", content_type=FORM),
    "duplicated parameter named with a control": dict(data="a%01=1&a%01=2", content_type=FORM),
    "percent-encoded non-utf8": dict(data="grant_type=%FF%FE&token=%C3%28", content_type=FORM),
    "raw non-utf8": dict(data=b"grant_type=\xff\xfe\xfd&token=\xc3\x28", content_type=FORM),
    "latin-1 charset": dict(
        data="grant_type=client_credentials&token=a", content_type=FORM + "; charset=latin-1"
    ),
    "one megabyte": dict(data="token=" + "a" * (1024 * 1024), content_type=FORM),
    "no body": dict(data="", content_type=FORM),
}


@pytest.fixture
def row_counts(app):
    def counts():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Client, RevokedAccessToken, UsedAssertion)
        )

    return counts


def _assert_clean_error(response, low=400, high=499):
    assert low <= response.status_code <= high, response.data[:300]
    body = response.get_json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), response.data[:300]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "Error(" not in text and "sqlalchemy" not in text.lower()


@pytest.mark.parametrize("endpoint", FORM_ENDPOINTS)
@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_malformed_requests_get_a_clean_4xx(http, make_client, row_counts, endpoint, case):
    caller = make_client()
    before = row_counts()
    kwargs = dict(BAD_REQUESTS[case])
    response = http.post(endpoint, headers=caller.basic(), **kwargs)
    _assert_clean_error(response)
    assert row_counts() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_oversized_body_is_413_in_the_oauth_format(http, make_client, endpoint):
    response = http.post(
        endpoint,
        data="token=" + "a" * (1024 * 1024),
        content_type=FORM,
        headers=make_client().basic(),
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        _basic(b"\xff\xfe", b"\xff"),
        _basic(b"client", b""),
        "Basic " + base64.b64encode(b"a" * 5000 + b":" + b"b" * 5000).decode(),
        "Digest username=x",
    ],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_malformed_client_credentials_are_invalid_client(http, endpoint, authorization):
    response = http.post(
        endpoint,
        data={"grant_type": "client_credentials", "token": "x"},
        headers={"Authorization": authorization},
    )
    _assert_clean_error(response)
    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_get_on_a_post_endpoint_is_405_in_the_oauth_format(http, endpoint):
    response = http.get(endpoint + "?token=abc")
    assert response.status_code == 405
    assert response.get_json()["error"] == "invalid_request"
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    "form, error",
    [
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:saml2-bearer"}, "unsupported_grant_type"),
        ({"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, "unauthorized_client"),
        ({"grant_type": ""}, "unsupported_grant_type"),
    ],
)
def test_unsupported_grants(http, make_client, form, error):
    response = http.post("/oauth/token", data=form, headers=make_client().basic())
    _assert_clean_error(response)
    assert response.get_json()["error"] == error


def test_token_responses_are_not_cached(http, make_client, get_token):
    client = make_client()
    ok = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=client.basic()
    )
    assert ok.headers["Cache-Control"] == "no-store"
    bad = http.post("/oauth/token", data={"grant_type": "nope"}, headers=client.basic())
    assert bad.headers["Cache-Control"] == "no-store"


def test_unknown_paths_answer_json_404(http):
    response = http.get("/no/such/page")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("endpoint", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_the_guard_sees_the_raw_body_before_anything_parses_it(http, endpoint):
    # Whatever reads the form first (the brute-force counters key on client_id), the NUL
    # check still sees the body: invalid_request, before any client lookup.
    response = http.post(
        endpoint, data="grant_type=client_credentials&client_id=a%00b&client_secret=x&token=t",
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_a_duplicated_parameter_is_named_when_its_name_can_be(http, make_client):
    caller = make_client()
    plain = http.post("/oauth/token", data="scope=a&scope=b", content_type=FORM,
                      headers=caller.basic())  # fmt: skip
    assert plain.get_json()["error_description"] == "Parameter 'scope' appears more than once."
    odd = http.post("/oauth/token", data="a%5C=1&a%5C=2", content_type=FORM,
                    headers=caller.basic())  # fmt: skip
    assert odd.get_json()["error_description"] == "Parameter appears more than once."


@pytest.fixture
def shop(runner, user):
    created = runner("clients", "create", "--name", "Shop", "--grant-type",
                     "authorization_code urn:ietf:params:oauth:grant-type:device_code",
                     "--redirect-uri", REDIRECT, "--scope", "openid", "--json")  # fmt: skip
    assert created.exit_code == 0, created.output
    return json.loads(created.stdout)


#: Values of redirect_uri that are no registered URI: characters RFC 6749 §5.2 forbids in an
#: error description ('\\' and '"', which Authlib quoted there: a 500), other characters no URI
#: has, controls, percent sequences, unicode.
ODD_REDIRECT_URIS = [
    REDIRECT + "\\", "https://rp.example\\@evil.example/callback", REDIRECT + '"', '"',
    REDIRECT + "\\%22", REDIRECT + " ", REDIRECT + "<x>", REDIRECT + "{|}^`", REDIRECT + "\x7f",
    REDIRECT + "\x01", REDIRECT + "\t", REDIRECT + "%", REDIRECT + "%ZZ", REDIRECT + "%00",
    REDIRECT + "%5C", REDIRECT + "%C3%28", REDIRECT + "é", REDIRECT + "\u2028",
    REDIRECT + "\U0001f600", "https://rp.éxample/callback", "\\\\evil.example",
]  # fmt: skip


def _authorization_query(browser, **change) -> str:
    params = dict(browser.authorize_url_params(), **change)
    return "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())


@pytest.mark.parametrize("redirect_uri", ODD_REDIRECT_URIS)
def test_an_odd_redirect_uri_gets_the_error_page_and_no_redirect(http, shop, redirect_uri):
    # RFC 6749 §4.1.2.1: an invalid redirect URI is shown to the user, never redirected to.
    browser = Browser(http, shop)
    query = _authorization_query(browser, redirect_uri=redirect_uri)
    response = http.get("/oauth/authorize?" + query)
    assert response.status_code == 400 and "Location" not in response.headers
    assert response.mimetype == "text/html" and "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("redirect_uri", ODD_REDIRECT_URIS)
def test_an_odd_redirect_uri_pushed_to_par_is_invalid_request(http, shop, redirect_uri):
    browser = Browser(http, shop)
    form = dict(browser.authorize_url_params(), redirect_uri=redirect_uri)
    response = http.post("/oauth/par", data=form, auth=(shop["client_id"], shop["client_secret"]))
    _assert_clean_error(response)
    assert response.get_json()["error"] == "invalid_request" and "Location" not in response.headers


@pytest.mark.parametrize("response_type", ['co"de', "code\\", '"', "\\"])
def test_a_malformed_response_type_gets_the_error_page_or_invalid_request(
    http, shop, response_type
):
    # RFC 6749 §3.1.1: no response type has '"' or '\\' (which Authlib quoted in a description).
    browser = Browser(http, shop)
    page = http.get(
        "/oauth/authorize?" + _authorization_query(browser, response_type=response_type)
    )
    assert page.status_code == 400 and "Location" not in page.headers
    assert "characters it may not have" in page.get_data(as_text=True)
    form = dict(browser.authorize_url_params(), response_type=response_type)
    pushed = http.post("/oauth/par", data=form, auth=(shop["client_id"], shop["client_secret"]))
    _assert_clean_error(pushed)
    assert pushed.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("name", ["scope", "client_id", "redirect_uri", "resource"])
@pytest.mark.parametrize("value", ["\\", '"', "\x7f", "é", "%5C", "\U0001f600"])
def test_odd_characters_in_a_device_authorization_request_get_a_clean_4xx(http, shop, name, value):
    form = {"scope": "openid", name: "openid" + value}
    # An odd client_id comes without the client's credentials (as a public client's would).
    auth = None if name == "client_id" else (shop["client_id"], shop["client_secret"])
    response = http.post("/oauth/device_authorization", data=form, auth=auth)
    if response.status_code == 200:  # an ignored parameter: a device code, not an error
        assert name in ("redirect_uri", "resource")
        return
    _assert_clean_error(response)
