"""Discovery (RFC 8414, OIDC Discovery) and the JWKS document."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from sqlalchemy import select

from authserver.keys.service import create_signing_key
from authserver.models import KeyState, SigningKey
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_metadata_lists_every_endpoint_truthfully(http, path):
    meta = http.get(path).get_json()
    assert meta["issuer"] == "http://localhost:5000"
    for name, route in [
        ("token_endpoint", "/oauth/token"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("device_authorization_endpoint", "/oauth/device_authorization"),
        ("pushed_authorization_request_endpoint", "/oauth/par"),
    ]:
        assert meta[name] == "http://localhost:5000" + route
    for name, route in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("end_session_endpoint", "/oauth/logout"),
    ]:
        assert meta[name] == "http://localhost:5000" + route
    assert meta["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:device_code",
    ]
    assert meta["require_pushed_authorization_requests"] is False
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["token_exchange_subject_token_types_supported"] == [
        "urn:authserver:params:oauth:token-type:api_key"
    ]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }
    assert "none" in meta["revocation_endpoint_auth_methods_supported"]
    # Authlib's RFC 8414 and OpenID Discovery validators agree.
    AuthorizationServerMetadata(meta).validate()
    OpenIDProviderMetadata(meta).validate()


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_every_advertised_endpoint_answers(http, path):
    meta = http.get(path).get_json()
    for name in (
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "device_authorization_endpoint",
        "pushed_authorization_request_endpoint",
    ):
        response = http.post(meta[name].removeprefix("http://localhost:5000"), data={"x": "1"})
        assert response.status_code in (400, 401), name
    for name in ("authorization_endpoint", "userinfo_endpoint", "end_session_endpoint"):
        response = http.get(meta[name].removeprefix("http://localhost:5000"))
        assert response.status_code in (200, 400, 401), name
    assert http.get(meta["jwks_uri"].removeprefix("http://localhost:5000")).status_code == 200


def test_jwks_publishes_public_halves_with_kid_alg_use(http):
    keys = http.get("/.well-known/jwks.json").get_json()["keys"]
    active = db.session.scalars(select(SigningKey).where(SigningKey.state == KeyState.ACTIVE)).all()
    assert {k["kid"] for k in keys} == {k.kid for k in active}
    assert {k["alg"] for k in keys} == {"ES256", "RS256", "Ed25519"}
    for key in keys:
        assert key["use"] == "sig"
        assert not PRIVATE_MEMBERS & key.keys()


def test_jwks_is_cacheable_and_answers_if_none_match(http):
    first = http.get("/.well-known/jwks.json")
    assert first.headers["Content-Type"] == "application/jwk-set+json"
    assert "public" in first.headers["Cache-Control"]
    assert "max-age=300" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    second = http.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.data == b""


def test_jwks_etag_changes_when_the_key_set_changes(http):
    etag = http.get("/.well-known/jwks.json").headers["ETag"]
    pending = create_signing_key(current_runtime().envelope(), "ES256", KeyState.PENDING)
    db.session.commit()
    current_runtime().keyring.invalidate()
    response = http.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert pending.kid in {k["kid"] for k in response.get_json()["keys"]}


def test_revoked_and_expired_keys_are_not_published(http):
    envelope = current_runtime().envelope()
    revoked = create_signing_key(envelope, "ES256", KeyState.REVOKED)
    expired = create_signing_key(envelope, "ES256", KeyState.EXPIRED)
    db.session.commit()
    current_runtime().keyring.invalidate()
    kids = {k["kid"] for k in http.get("/.well-known/jwks.json").get_json()["keys"]}
    assert revoked.kid not in kids and expired.kid not in kids


def test_healthz_and_readyz(http):
    assert http.get("/healthz").get_json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ok"


def test_readyz_fails_without_an_active_signing_key(http):
    for key in db.session.scalars(select(SigningKey).where(SigningKey.alg == "ES256")):
        key.state = KeyState.RETIRED
    db.session.commit()
    response = http.get("/readyz")
    assert response.status_code == 503
    assert "ES256" in response.get_json()["signing_key"]


def test_readyz_fails_on_an_uninitialised_database(tmp_path):
    from tests.conftest import make_app

    app = make_app(tmp_path)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503


def test_landing_page_links_the_documents(http):
    page = http.get("/").get_data(as_text=True)
    assert "http://localhost:5000" in page
    assert 'href="/.well-known/oauth-authorization-server"' in page
    assert 'href="/.well-known/jwks.json"' in page
    assert "http://" not in page.replace("http://localhost:5000", "")  # nothing from outside


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/.well-known/openid-configuration"])
def test_published_documents_carry_the_usual_headers_and_revalidate(http, path):
    # Answered in front of Flask (authserver.oauth.published): the same headers the hooks would add.
    first = http.get(path, headers={"X-Request-Id": "proxy-id-1234"})
    assert first.status_code == 200 and first.get_json()
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["X-Request-Id"] == "proxy-id-1234"
    assert int(first.headers["Content-Length"]) == len(first.data)
    assert len(http.get(path).headers["X-Request-Id"]) == 16  # made here when none came
    etag = first.headers["ETag"]
    assert http.get(path, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert http.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    head = http.head(path)
    assert head.status_code == 200 and head.data == b"" and head.headers["ETag"] == etag
    refused = http.post(path)  # RFC 9110 §15.5.6: 405 names the methods there are
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET, HEAD"
    assert refused.get_json()["error"] and refused.headers["X-Content-Type-Options"] == "nosniff"


def test_published_documents_are_counted_and_logged(http, caplog):
    from tests.test_metrics import metric

    def served() -> float:
        text = http.get("/metrics").get_data(as_text=True)
        found = metric(text, "authserver_http_requests_total", endpoint="oauth.jwks",
                       method="GET", status="200")  # fmt: skip
        return found or 0.0

    before = served()
    with caplog.at_level("INFO", logger="authserver.access"):
        http.get("/.well-known/jwks.json?cache-buster=secret-value")
    assert served() - before == 1
    lines = [r for r in caplog.records if r.name == "authserver.access" and "jwks" in r.path]
    assert [(r.method, r.path, r.status) for r in lines] == [("GET", "/.well-known/jwks.json", 200)]
    assert len(lines[0].request_id) == 16 and lines[0].duration_ms >= 0


def test_readyz_reports_an_unreachable_redis_and_the_server_works_on(tmp_path):
    """Redis configured but not there: /readyz says degraded (200, or 503 when Redis is
    required), and a token, an introspection and a failed client authentication all answer
    as without Redis: no 5xx."""
    import json as json_module

    from authserver.cli import cli
    from tests.conftest import init_app, make_app
    from tests.services import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    for required, status in ((False, 200), (True, 503)):
        app = make_app(tmp_path / str(required), redis_address=url,
                       readyz_requires_redis=required)  # fmt: skip
        init_app(app)
        with app.app_context():
            http = app.test_client()
            ready = http.get("/readyz")
            assert ready.status_code == status
            assert ready.get_json() == {"status": "degraded", "database": "ok",
                                        "signing_key": "ok", "redis": "unreachable"}  # fmt: skip
            created = app.test_cli_runner().invoke(
                cli, ["clients", "create", "--name", "svc", "--role", "resource-server", "--json"]
            )
            client = json_module.loads(created.stdout)
            auth = (client["client_id"], client["client_secret"])
            issued = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                               auth=auth)  # fmt: skip
            assert issued.status_code == 200
            token = issued.get_json()["access_token"]
            answer = http.post("/oauth/introspect", data={"token": token}, auth=auth)
            assert answer.status_code == 200 and answer.get_json()["active"] is True
            assert http.post("/oauth/revoke", data={"token": token}, auth=auth).status_code == 200
            answer = http.post("/oauth/introspect", data={"token": token}, auth=auth)
            assert answer.get_json()["active"] is False
            wrong = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(client["client_id"], "wrong"))  # fmt: skip
            assert wrong.status_code == 401
            text = http.get("/metrics").get_data(as_text=True)
            assert 'authserver_redis_degraded_transitions_total{transition="entered"}' in text
