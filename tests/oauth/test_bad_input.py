"""Malformed requests get a 4xx in the RFC 6749 §5.2 error format: never a 5xx, never a trace,
nothing written."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import Client, RevokedAccessToken, UsedAssertion

ENDPOINTS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"]
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


@pytest.mark.parametrize("endpoint", ENDPOINTS)
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
