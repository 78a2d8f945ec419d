"""Pushed Authorization Requests (RFC 9126): push, authorize by request_uri, one-time use, the
60-second lifetime, client binding, validation at push time, every value of a repeated
``resource``, and the PAR-required switches."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from joserfc import jwt
from werkzeug.datastructures import MultiDict

from authserver.platform import clock
from tests.accounts.conftest import csrf_of
from tests.conftest import init_app, make_app
from tests.oauth.test_code_flow import REDIRECT, Browser, jwks

PREFIX = "urn:ietf:params:oauth:request_uri:"


@pytest.fixture
def browser(http, rp, user):
    return Browser(http, rp)


def push(http, rp, params: dict, auth=True):
    kwargs = {"auth": (rp["client_id"], rp["client_secret"])} if auth else {}
    return http.post("/oauth/par", data=params, **kwargs)


def pushed_params(browser: Browser, **extra) -> dict:
    url = browser.authorize_url(**extra)
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def authorize_by_reference(http, browser: Browser, rp, request_uri: str, **url_extra):
    """Sign in and consent through the pushed request; the callback's parameters."""
    url = "/oauth/authorize?" + urlencode(
        {"client_id": rp["client_id"], "request_uri": request_uri, **url_extra}
    )
    response = http.get(url)
    if response.status_code == 303:
        response = http.get(browser.sign_in(response.headers["Location"]))
    if response.status_code == 200:
        page = response.get_data(as_text=True)
        response = http.post(url, data={"csrf_token": csrf_of(page), "allow": "Allow"})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def test_a_pushed_request_leads_to_a_code_and_tokens(http, browser, rp):
    params = pushed_params(browser, state="pushed-state")
    pushed = push(http, rp, params)
    assert pushed.status_code == 201 and pushed.headers["Cache-Control"] == "no-store"
    body = pushed.get_json()
    assert body["request_uri"].startswith(PREFIX) and body["expires_in"] == 60
    # Parameters in the URL besides client_id and request_uri are not the request (§4).
    callback = authorize_by_reference(
        http, browser, rp, body["request_uri"], state="tampered", scope="openid"
    )
    assert callback["state"] == "pushed-state"
    tokens = browser.exchange(callback["code"]).get_json()
    assert "id_token" in tokens and tokens["scope"] == "openid profile email offline_access"
    # One time: the same request_uri is refused afterwards.
    again = http.get(
        "/oauth/authorize?"
        + urlencode({"client_id": rp["client_id"], "request_uri": body["request_uri"]})
    )
    assert again.status_code == 400 and "unknown, used or expired" in again.get_data(as_text=True)


def test_a_pushed_request_expires_after_60_seconds_and_belongs_to_its_client(
    http, browser, rp, make_client
):
    clock.freeze()
    request_uri = push(http, rp, pushed_params(browser)).get_json()["request_uri"]
    other = make_client()
    stolen = http.get(
        "/oauth/authorize?" + urlencode({"client_id": other.client_id, "request_uri": request_uri})
    )
    assert stolen.status_code == 400
    clock.advance(61)
    late = http.get(
        "/oauth/authorize?" + urlencode({"client_id": rp["client_id"], "request_uri": request_uri})
    )
    assert late.status_code == 400 and "Location" not in late.headers


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"redirect_uri": "https://evil.example/cb"}, 400, None),
        ({"code_challenge_method": "plain"}, 400, "invalid_request"),
        ({"scope": "openid admin:everything"}, 400, "invalid_scope"),
        ({"request_uri": PREFIX + "x"}, 400, "invalid_request"),
        ({"response_mode": "fragment"}, 400, "invalid_request"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
        ({"client_id": "someone-else"}, 400, "invalid_request"),
    ],
)
def test_pushed_requests_are_checked_when_pushed(http, browser, rp, change, status, error):
    response = push(http, rp, {**pushed_params(browser), **change})
    assert response.status_code == status and "Location" not in response.headers
    if error:
        assert response.get_json()["error"] == error


# One pipeline (authserver.oauth.authorization_request) for both doors: a request /authorize
# refuses is refused when pushed, with the same error (PAR had skipped the OIDC Core §3.1.2.1
# prompt rule: "none" with another value).
SAME_REFUSALS = [
    ({}, [("scope", "openid")], "invalid_request"),
    ({}, [("state", "second")], "invalid_request"),
    ({"prompt": "none login"}, [], "invalid_request"),
    ({"response_mode": "fragment"}, [], "invalid_request"),
    ({"code_challenge_method": "plain"}, [], "invalid_request"),
    ({"scope": "openid admin:everything"}, [], "invalid_scope"),
]


@pytest.mark.parametrize(("change", "repeated", "error"), SAME_REFUSALS)
def test_what_the_authorization_endpoint_refuses_is_refused_when_pushed(
    http, browser, rp, change, repeated, error
):
    params = [*{**pushed_params(browser), **change}.items(), *repeated]
    browser.sign_in(http.get(browser.authorize_url()).headers["Location"])
    at_authorize = http.get("/oauth/authorize?" + urlencode(params))
    if "Location" in at_authorize.headers:  # to the client, once it is known to be right
        location = at_authorize.headers["Location"]
        assert location.startswith(REDIRECT)
        assert parse_qs(urlsplit(location).query)["error"] == [error]
    else:
        assert at_authorize.status_code == 400
    credentials = (rp["client_id"], rp["client_secret"])
    pushed = http.post("/oauth/par", data=MultiDict(params), auth=credentials)
    assert pushed.status_code == 400 and "Location" not in pushed.headers
    assert pushed.get_json()["error"] == error


ORDERS = "https://orders.example/api"
BILLING = "https://billing.example"


def test_a_pushed_request_authorizes_every_resource_it_names(http, runner, user):
    # RFC 8707 §2: resource may repeat; RFC 9126 §2.1: the pushed request carries them all.
    created = runner("clients", "create", "--name", "Shop", "--grant-type",
                     "authorization_code refresh_token", "--redirect-uri", REDIRECT, "--scope",
                     "openid offline_access", "--resource", ORDERS, "--resource", BILLING,
                     "--json")  # fmt: skip
    assert created.exit_code == 0, created.output
    shop = json.loads(created.stdout)
    auth = (shop["client_id"], shop["client_secret"])
    browser = Browser(http, shop)

    def code_for_both() -> str:
        params = MultiDict(pushed_params(browser, scope="openid offline_access"))
        params.add("resource", ORDERS)
        params.add("resource", BILLING)
        pushed = http.post("/oauth/par", data=params, auth=auth)
        assert pushed.status_code == 201, pushed.get_json()
        return authorize_by_reference(http, browser, shop, pushed.get_json()["request_uri"])["code"]

    body = browser.exchange(code_for_both()).get_json()
    assert jwt.decode(body["access_token"], jwks(http)).claims["aud"] == [ORDERS, BILLING]
    refreshed = http.post("/oauth/token", data={"grant_type": "refresh_token",
                                                "refresh_token": body["refresh_token"]},
                          auth=auth).get_json()  # fmt: skip
    assert jwt.decode(refreshed["access_token"], jwks(http)).claims["aud"] == [ORDERS, BILLING]
    # The second resource was authorized too: a token request may narrow to it (§2.2).
    narrowed = http.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": code_for_both(), "redirect_uri": REDIRECT,
        "code_verifier": browser.verifier, "resource": BILLING,
    }, auth=auth)  # fmt: skip
    assert narrowed.status_code == 200, narrowed.get_json()
    assert jwt.decode(narrowed.get_json()["access_token"], jwks(http)).claims["aud"] == BILLING


def test_pushing_needs_client_authentication(http, browser, rp):
    response = push(http, rp, pushed_params(browser), auth=False)
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


def test_a_client_may_be_required_to_push(http, runner, user):
    result = runner(
        "clients",
        "create",
        "--name",
        "Bank",
        "--grant-type",
        "authorization_code",
        "--redirect-uri",
        REDIRECT,
        "--scope",
        "openid",
        "--require-par",
        "--json",
    )
    client = json.loads(result.stdout)
    url = Browser(http, client).authorize_url(scope="openid")
    refused = http.get(url)
    assert refused.status_code == 400 and "PAR endpoint" in refused.get_data(as_text=True)


def test_the_server_may_require_par_for_everyone(tmp_path):
    app = make_app(tmp_path, require_par=True)
    init_app(app)
    with app.app_context():
        http = app.test_client()
        assert (
            http.get("/.well-known/openid-configuration").get_json()[
                "require_pushed_authorization_requests"
            ]
            is True
        )
        refused = http.get("/oauth/authorize?client_id=x&response_type=code")
        assert refused.status_code == 400
