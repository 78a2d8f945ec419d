"""The token, introspection and revocation endpoints are answered in front of Flask
(``authserver.oauth.direct``): their answers must carry, count and log what every response does,
their audit records must know where the request came from, and a body over the limit or sent
in chunks must be answered as Flask would."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from authserver.models import AuditEvent
from authserver.platform.extensions import db
from tests.test_metrics import metric


def _answers(http, make_client, get_token) -> dict:
    client = make_client()
    token = get_token(client)["access_token"]
    return {
        "oauth.token": ("/oauth/token", {"grant_type": "client_credentials"}, client),
        "oauth.introspect": ("/oauth/introspect", {"token": token}, client),
        "oauth.revoke": ("/oauth/revoke", {"token": token}, client),
    }


@pytest.mark.parametrize("endpoint", ["oauth.token", "oauth.introspect", "oauth.revoke"])
def test_answers_carry_the_request_id_and_headers_and_are_counted_and_logged(
    endpoint, http, make_client, get_token, caplog
):
    path, form, client = _answers(http, make_client, get_token)[endpoint]

    def counted() -> float:
        text = http.get("/metrics").get_data(as_text=True)
        found = metric(text, "authserver_http_requests_total", endpoint=endpoint,
                       method="POST", status="200")  # fmt: skip
        return found or 0.0

    before = counted()
    caplog.clear()
    with caplog.at_level("INFO", logger="authserver.access"):
        headers = {**client.basic(), "X-Request-Id": "proxy-id-5678"}
        response = http.post(path, data=form, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["X-Request-Id"] == "proxy-id-5678"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Type"].startswith("application/json")
    assert int(response.headers["Content-Length"]) == len(response.data)
    if endpoint != "oauth.revoke":
        assert response.headers["Cache-Control"] == "no-store"  # RFC 6749 §5.1, RFC 7662 §2.2
    assert counted() - before == 1
    lines = [r for r in caplog.records if r.name == "authserver.access" and r.path == path]
    assert [(r.method, r.status, r.request_id) for r in lines] == [("POST", 200, "proxy-id-5678")]


def test_an_answer_through_flask_ends_in_the_same_last_step(http, caplog):
    """front_door.FrontDoor finishes both doors: a Flask view's answer has the same shared
    headers, request id, count and access line as one given in front of Flask."""

    def counted() -> float:
        text = http.get("/metrics").get_data(as_text=True)
        return metric(text, "authserver_http_requests_total", endpoint="health.healthz",
                      method="GET", status="200") or 0.0  # fmt: skip

    before = counted()
    caplog.clear()
    with caplog.at_level("INFO", logger="authserver.access"):
        response = http.get("/healthz?probe=1", headers={"X-Request-Id": "proxy-id-9abc"})
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == "proxy-id-9abc"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert counted() - before == 1
    lines = [r for r in caplog.records if r.name == "authserver.access" and r.path == "/healthz"]
    assert [(r.method, r.status, r.request_id) for r in lines] == [("GET", 200, "proxy-id-9abc")]


def test_a_revocation_is_audited_with_the_callers_address_and_request_id(
    http, make_client, get_token
):
    client = make_client()
    token = get_token(client)["access_token"]
    headers = {**client.basic(), "X-Request-Id": "revoke-0000beef", "User-Agent": "rs/2.0"}
    assert http.post("/oauth/revoke", data={"token": token}, headers=headers).status_code == 200
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.event == "oauth:token:revoked")
    ).one()
    assert event.data["request_id"] == "revoke-0000beef"
    assert event.data["ip"] == "127.0.0.1" and event.data["user_agent"] == "rs/2.0"


def test_a_body_over_the_limit_is_refused_in_the_oauth_format(tmp_path):
    from tests.conftest import init_app, make_app

    app = make_app(tmp_path, max_body_bytes=1024)
    init_app(app)
    response = app.test_client().post(
        "/oauth/token", data={"grant_type": "client_credentials", "scope": "x" * 2048}
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"


def test_a_chunked_body_without_a_length_is_read(http, make_client):
    client = make_client()

    response = http.post(
        "/oauth/token",
        input_stream=io.BytesIO(b"grant_type=client_credentials"),
        environ_overrides={"wsgi.input_terminated": True},  # the server read the chunks
        headers={**client.basic(), "Transfer-Encoding": "chunked",
                 "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["token_type"] == "Bearer"


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect", "/oauth/revoke"])
def test_other_methods_get_405_naming_post(http, path):
    """Their one route is the door in front of Flask: it answers every method."""
    for answer in (http.get(path), http.put(path, data={"grant_type": "client_credentials"})):
        assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
        assert answer.get_json()["error"] and answer.headers["X-Content-Type-Options"] == "nosniff"
