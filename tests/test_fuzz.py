"""Property-based tests (hypothesis): random bytes, parameters and headers at the token,
introspection, revocation, authorization, PAR, device, sign-in and admin endpoints never produce
a 5xx. Derandomized, so a run is repeatable; a failure prints the smallest input that caused it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authserver.rbac.permissions import Permission

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(max_size=60)
params = st.dictionaries(
    st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "token",
                     "token_type_hint", "code", "redirect_uri", "code_verifier", "refresh_token",
                     "subject_token", "subject_token_type", "client_assertion",
                     "client_assertion_type", "response_type", "state", "nonce",
                     "code_challenge", "code_challenge_method", "prompt", "max_age",
                     "acr_values", "response_mode", "login_hint"]) | text,
    text,
    max_size=8,
)  # fmt: skip
headers = st.dictionaries(
    st.sampled_from(["Authorization", "Content-Type", "Accept", "X-Request-Id", "DPoP",
                     "If-Match", "X-CSRFToken", "Cookie"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
    max_size=4,
)  # fmt: skip
# Characters that broke error descriptions (RFC 6749 §5.2 forbids '"' and '\\' there, and
# Authlib raised ValueError building one), and other odd ones: controls, '%', unicode.
odd_text = st.text(
    alphabet=st.sampled_from('\\"%<>{}|^` \x00\x01\x7f\x9d\u00e9\u2028\U0001f600aZ:/.'), max_size=20
)
FORM_PATHS = [
    "/oauth/token",
    "/oauth/introspect",
    "/oauth/revoke",
    "/oauth/par",
    "/oauth/device_authorization",
]
PROTOCOL_PATHS = ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/login", "/login/mfa",
                  "/login/passkey", "/oauth/userinfo", "/oauth/logout"]  # fmt: skip


REDIRECT_BASE = "https://rp.example/callback"


@pytest.fixture
def registered(make_client):
    return make_client("orders:read")


def _server_error(response) -> str | None:
    """What went wrong on the server's side, or None: a 5xx, or a stack trace in the body."""
    body = response.get_data(as_text=True)
    if response.status_code >= 500 or "Traceback" in body:
        return f"{response.status_code}: {body[:300]}"
    return None


@FUZZ
@given(path=st.sampled_from(PROTOCOL_PATHS), form=params, extra=headers)
def test_random_forms_never_give_a_5xx(http, registered, path, form, extra):
    assert _server_error(http.post(path, data=form, headers=extra)) is None


@FUZZ
@given(path=st.sampled_from(PROTOCOL_PATHS), body=st.binary(max_size=300), extra=headers)
def test_random_bytes_never_give_a_5xx(http, registered, path, body, extra):
    assert _server_error(http.post(path, data=body, headers=extra)) is None


@FUZZ
@given(query=params, extra=headers)
def test_random_authorization_requests_never_give_a_5xx(http, registered, query, extra):
    query.setdefault("client_id", registered.client_id)
    assert _server_error(http.get("/oauth/authorize", query_string=query, headers=extra)) is None


@FUZZ
@given(redirect_uri=odd_text, response_type=st.just("code") | odd_text, query=params)
def test_odd_redirect_uris_and_response_types_never_give_a_5xx(
    http, registered, redirect_uri, response_type, query
):
    query.update(client_id=registered.client_id, redirect_uri=REDIRECT_BASE + redirect_uri,
                 response_type=response_type)  # fmt: skip
    page = http.get("/oauth/authorize", query_string=query)
    assert _server_error(page) is None
    assert page.status_code != 302, "an unregistered redirect URI is never redirected to"
    pushed = http.post("/oauth/par", data=query, headers=registered.basic())
    assert _server_error(pushed) is None


@FUZZ
@given(path=st.sampled_from(FORM_PATHS),
       pairs=st.lists(st.tuples(st.sampled_from(["scope", "token", "client_id"]) | odd_text,
                                odd_text), min_size=1, max_size=4))  # fmt: skip
def test_repeated_parameters_with_odd_names_never_give_a_5xx(http, registered, path, pairs):
    body = urlencode(pairs + pairs)  # every name twice
    response = http.post(path, data=body, content_type="application/x-www-form-urlencoded",
                         headers=registered.basic())  # fmt: skip
    assert _server_error(response) is None


@FUZZ
@given(form=params)
def test_random_authenticated_token_requests_never_give_a_5xx(http, registered, form):
    assert _server_error(http.post("/oauth/token", data=form, headers=registered.basic())) is None
    introspected = http.post("/oauth/introspect", data=form, headers=registered.basic())
    assert _server_error(introspected) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def admin_headers(make_client, get_token):
    everything = " ".join(p.value for p in Permission)
    token = get_token(make_client(everything))["access_token"]
    return {"Authorization": f"Bearer {token}"}


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE"]),
    path=st.sampled_from(["/users", "/clients", "/roles", "/api-keys", "/keys", "/audit-events",
                          "/key-rotations", "/key-schedules/ES256", "/roles/admin",
                          "/users/x/mfa-reset"])
    | st.text(alphabet=st.characters(blacklist_characters="?#"), max_size=40).map(
        lambda t: "/users/" + t
    ),
    body=json_values,
    query=params,
)  # fmt: skip
def test_random_admin_api_calls_never_give_a_5xx(http, admin_headers, method, path, body, query):
    response = http.open("/api/v1" + path, method=method, json=body, query_string=query,
                         headers={**admin_headers, "If-Match": '"x"'})  # fmt: skip
    assert _server_error(response) is None


@FUZZ
@given(
    method=st.sampled_from(["POST", "PATCH", "PUT"]),
    path=st.sampled_from(["/users", "/clients", "/roles", "/api-keys", "/key-rotations",
                          "/roles/admin", "/key-schedules/ES256"]),
    opening=st.sampled_from(["[", '{"a":', '{"name": [', '{"scopes": {"x":']),
    depth=st.integers(0, 4000),
)  # fmt: skip
def test_nested_json_bodies_never_give_a_5xx(http, admin_headers, method, path, opening, depth):
    # Python's json raised RecursionError near 1,000 levels (authserver.json_input limits it).
    closing = "".join({"[": "]", "{": "}"}[c] for c in opening if c in "[{")[::-1]
    body = opening * depth + "1" + closing * depth
    response = http.open("/api/v1" + path, method=method, data=body,
                         content_type="application/json",
                         headers={**admin_headers, "If-Match": '"x"'})  # fmt: skip
    assert _server_error(response) is None


@pytest.mark.parametrize("name", ["response_type", "scope", "client_id", "redirect_uri"])
def test_control_characters_in_an_authorization_request_get_the_error_page(http, registered, name):
    # Found by the fuzzer: Authlib raised ValueError building an error that quoted the value.
    query = {"client_id": registered.client_id, "response_type": "code", name: "code\x0c\x9d"}
    response = http.get("/oauth/authorize", query_string=query)
    assert response.status_code == 400 and "characters it may not have" in response.get_data(
        as_text=True
    )
