"""JSON from outside is read with a depth limit (``authserver.json_input``, RFC 8259 §9): nested
deeper than 32 levels it is refused in the format of the place that reads it, where Python's
``json`` raised RecursionError (a 500) at about 1,000 levels: the admin API (RFC 9457), dynamic
registration (RFC 7591), client assertions, DPoP proofs, a client's jwks_uri document, the
downstream verifier's JWKS, passkey answers, and the operator's JSON settings and files."""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import authserver_verify as verify
import pytest
from authserver_verify.json_input import MAX_DEPTH, JSONInputError, depth_of, loads
from joserfc import jws
from joserfc.jwk import ECKey

from authserver.platform import clock
from authserver.platform.config import ConfigError, load_settings
from tests.accounts.conftest import csrf_of
from tests.api.conftest import admin, caller  # noqa: F401 (fixtures)
from tests.mfa.conftest import ada  # noqa: F401 (fixture)
from tests.oauth.test_registration import initial_token, open_app  # noqa: F401 (fixtures)

#: Just over the limit, about Python's recursion limit, and far beyond it.
DEPTHS = [MAX_DEPTH + 1, 1000, 5000]
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"


def arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [("1", 0), ('"[[{{"', 0), ("[]", 1), ('{"a": [1, {"b": "]]]"}]}', 3), ('["\\"[", [[]]]', 3),
     ('"\\\\"', 0), (arrays(40), 40), (objects(40), 40), ("]]][[", 0), ('["open', 1)],
)  # fmt: skip
def test_depth_is_measured_without_parsing(text, depth):
    assert depth_of(text) == depth and depth_of(text.encode()) == depth


def test_loads_refuses_what_is_too_deep_not_json_or_not_utf8():
    assert loads(arrays(MAX_DEPTH)) == json.loads(arrays(MAX_DEPTH))
    for text, reason in [(arrays(MAX_DEPTH + 1), TOO_DEEP), ("{not", "not JSON"),
                         (b"\xff", "not UTF-8"), ('"\\"' * 30_000, "not JSON")]:  # fmt: skip
        with pytest.raises(JSONInputError, match=reason):
            loads(text)


@pytest.mark.parametrize("depth", DEPTHS)
@pytest.mark.parametrize("shape", [arrays, objects])
def test_the_admin_api_answers_deep_json_with_a_problem(admin, depth, shape):  # noqa: F811
    for body in (shape(depth), '{"name": ' + shape(depth) + "}"):
        response = admin("POST", "/roles", data=body, content_type="application/json")
        assert response.status_code == 400 and response.mimetype == "application/problem+json"
        assert response.get_json()["detail"] == f"The body is {TOO_DEEP}."
    # At the limit the body is read, and refused by validation for what it is.
    shallow = admin("POST", "/roles", data='{"name": ' + shape(MAX_DEPTH - 1) + "}",
                    content_type="application/json")  # fmt: skip
    assert shallow.status_code == 422


@pytest.mark.parametrize("depth", DEPTHS)
def test_registration_answers_deep_metadata_with_invalid_client_metadata(
    open_app,  # noqa: F811
    initial_token,  # noqa: F811
    depth,
):
    http = open_app.test_client()
    headers = {"Authorization": f"Bearer {initial_token}", "Content-Type": "application/json"}
    for body in (arrays(depth), '{"client_name": "x", "jwks": ' + objects(depth) + "}"):
        response = http.post("/oauth/register", data=body, headers=headers)
        assert response.status_code == 400, response.data[:200]
        assert response.get_json() == {
            "error": "invalid_client_metadata",
            "error_description": f"The metadata is {TOO_DEEP}.",
        }
    created = http.post("/oauth/register", json={"grant_types": ["client_credentials"]},
                        headers=headers).get_json()  # fmt: skip
    management = {"Authorization": f"Bearer {created['registration_access_token']}"}
    replaced = http.put(created["registration_client_uri"].removeprefix("http://localhost:5000"),
                        data=objects(depth), content_type="application/json",
                        headers=management)  # fmt: skip
    assert replaced.status_code == 400
    assert replaced.get_json()["error"] == "invalid_client_metadata"


def _signed(key: ECKey, header: dict, payload: str) -> str:
    return jws.serialize_compact(header, payload.encode(), key)


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_client_assertion_is_invalid_client(http, make_client, tmp_path, depth):
    key = ECKey.generate_key("P-256")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.as_dict(private=False) | {"kid": key.thumbprint()}]}))
    client = make_client("api:read", "--auth-method", "private_key_jwt", "--jwks", str(path))
    # Authlib reads the claims before checking the signature (to find the client).
    claims = f'{{"iss": "{client.client_id}", "sub": "{client.client_id}", "x": {arrays(depth)}}}'
    assertion = _signed(key, {"alg": "ES256", "kid": key.thumbprint()}, claims)
    response = http.post("/oauth/token", data={"grant_type": "client_credentials",
                                               "client_assertion_type": ASSERTION_TYPE,
                                               "client_assertion": assertion})  # fmt: skip
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("depth", DEPTHS)
def test_a_deep_dpop_proof_is_invalid_dpop_proof(http, make_client, depth):
    key = ECKey.generate_key("P-256")  # the proof's own key: anyone can sign one
    claims = json.dumps({"jti": secrets.token_urlsafe(12), "htm": "POST",
                         "htu": "http://localhost:5000/oauth/token",
                         "iat": int(clock.timestamp())})  # fmt: skip
    claims = claims[:-1] + ', "x": ' + arrays(depth) + "}"
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    dpop = {"DPoP": _signed(key, header, claims)}
    response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                         headers={**make_client().basic(), **dpop})  # fmt: skip
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_dpop_proof"


@pytest.fixture
def document_server():
    """A loopback server answering every GET with ``served["body"]``."""
    served = {"body": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(served["body"])

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served["uri"] = f"http://127.0.0.1:{server.server_port}/jwks.json"
    yield served
    server.shutdown()
    server.server_close()


def test_a_deep_document_at_a_clients_jwks_uri_fails_its_authentication(
    http, make_client, document_server
):
    document_server["body"] = ('{"keys": ' + arrays(3000) + "}").encode()
    key = ECKey.generate_key("P-256")
    client = make_client("api:read", "--auth-method", "private_key_jwt", "--jwks-uri",
                         document_server["uri"])  # fmt: skip
    now = int(time.time())
    claims = json.dumps({"iss": client.client_id, "sub": client.client_id, "exp": now + 60,
                         "aud": "http://localhost:5000/oauth/token", "iat": now,
                         "jti": "j1"})  # fmt: skip
    assertion = _signed(key, {"alg": "ES256", "kid": key.thumbprint()}, claims)
    response = http.post("/oauth/token", data={"grant_type": "client_credentials",
                                               "client_assertion_type": ASSERTION_TYPE,
                                               "client_assertion": assertion})  # fmt: skip
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_client"


@pytest.mark.parametrize("body", [arrays(3000), '{"keys": ' + objects(3000) + "}", "[]",
                                  '{"keys": [1, "x"]}', '{"keys": 1}'])  # fmt: skip
def test_the_verifier_treats_a_deep_or_odd_jwks_as_no_key_set(body):
    def fetch(url, etag, timeout):
        return 200, {"Cache-Control": "max-age=60"}, body.encode()

    cache = verify.JWKSCache("https://id.example/.well-known/jwks.json", fetch=fetch)
    with pytest.raises((verify.JWKSUnavailable, verify.UnknownKey)):
        cache.get("any")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 8000])
def test_a_deep_passkey_answer_is_refused_with_the_error_page(http, ada, depth):  # noqa: F811
    # Signing in with a passkey: anyone may send an answer. (py_webauthn wraps whatever goes
    # wrong reading the clientDataJSON inside it, a RecursionError included.)
    token = csrf_of(http.get("/login").get_data(as_text=True))
    assert http.post("/login/passkey/options", headers={"X-CSRFToken": token}).status_code == 200
    response = http.post("/login/passkey", data={"credential": arrays(depth), "csrf_token": token})
    assert response.status_code in (400, 401) and response.mimetype == "text/html"


def test_deep_operator_json_is_a_clean_error(runner, tmp_path):
    with pytest.raises(ConfigError, match=f"AUTHSERVER_RESOURCE_POLICIES: {TOO_DEEP}"):
        load_settings({"AUTHSERVER_RESOURCE_POLICIES": '{"https://x.example": ' + arrays(3000)
                       + "}"})  # fmt: skip
    path = tmp_path / "deep-jwks.json"
    path.write_text(arrays(3000))
    result = runner("clients", "create", "--name", "deep", "--auth-method", "private_key_jwt",
                    "--jwks", str(path))  # fmt: skip
    assert result.exit_code != 0 and "cannot read a JWK Set" in result.output
    assert not isinstance(result.exception, RecursionError)
