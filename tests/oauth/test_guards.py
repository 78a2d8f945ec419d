"""The form guard parses a token-endpoint body once: what it keeps is what Werkzeug parses."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc6749 import InvalidRequestError
from flask import Request
from werkzeug.test import EnvironBuilder

from authserver.oauth.guards import check_form_request

BODIES = [
    "grant_type=client_credentials&scope=api%3Aread+api%3Awrite",
    "resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example&empty=&bare",
    "name=Zo%C3%AB+%E4%B8%AD&plus=a%2Bb&sp=a+b&amp=%26",
    "",
]


def _request(body: str, query: str = "") -> Request:
    builder = EnvironBuilder(
        method="POST", path="/oauth/token", query_string=query, data=body,
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    return Request(builder.get_environ())


@pytest.mark.parametrize("body", BODIES)
def test_the_checked_form_is_the_form_werkzeug_parses(body):
    checked = _request(body)
    check_form_request(checked)
    parsed_by_werkzeug = _request(body).form
    assert list(checked.form.items(multi=True)) == list(parsed_by_werkzeug.items(multi=True))
    assert checked.values.getlist("resource") == parsed_by_werkzeug.getlist("resource")
    assert not checked.files


def test_query_and_body_are_still_compared():
    request = _request("scope=a", query="scope=b")
    with pytest.raises(InvalidRequestError, match="both query and body"):
        check_form_request(request)


def test_a_refused_body_leaves_no_form_behind():
    request = _request("name=%FF")
    with pytest.raises(InvalidRequestError):
        check_form_request(request)
    assert "form" not in request.__dict__
