"""OpenID Connect Back-Channel Logout 1.0: signing out POSTs a signed logout token to each client
that got tokens in the session, from a background thread, with bounded retries; outcomes are
audited. A real HTTP server plays the client's back-channel endpoint."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from joserfc import jws, jwt
from sqlalchemy import select

from authserver.models import AuditEvent
from authserver.oauth.backchannel import backchannel_sender
from authserver.platform.extensions import db
from tests.accounts.conftest import csrf_of
from tests.oauth.test_code_flow import REDIRECT, Browser, jwks


class Receiver:
    """A client's back-channel logout endpoint, answering ``status``."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers["Content-Length"])
                received.append(parse_qs(self.rfile.read(length).decode()))
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802 - a followed redirect arrives as a GET
                received.append({"GET": [self.path]})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/backchannel"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver(request):
    server = Receiver(getattr(request, "param", 200))
    yield server
    server.close()


def _client(runner, receiver) -> dict:
    result = runner("clients", "create", "--name", "Shop", "--grant-type", "authorization_code",
                    "--redirect-uri", REDIRECT, "--scope", "openid profile email offline_access",
                    "--backchannel-logout-uri", receiver.url, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _sign_in_get_id_token_and_sign_out(app, http, client) -> dict:
    browser = Browser(http, client)
    callback = browser.code()
    id_token = browser.exchange(callback["code"]).get_json()["id_token"]
    page = http.get("/account").get_data(as_text=True)
    assert http.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 303
    assert backchannel_sender(app).wait_idle(20)
    return jwt.decode(id_token, jwks(http)).claims


def test_signing_out_sends_a_logout_token(app, http, runner, user, receiver):
    client = _client(runner, receiver)
    id_claims = _sign_in_get_id_token_and_sign_out(app, http, client)
    (body,) = receiver.received
    token = body["logout_token"][0]
    assert jws.extract_compact(token.encode()).headers()["typ"] == "logout+jwt"
    claims = jwt.decode(token, jwks(http), algorithms=["RS256"]).claims
    assert claims["iss"] == "http://localhost:5000" and claims["aud"] == client["client_id"]
    assert claims["sub"] == id_claims["sub"] and claims["sid"] == id_claims["sid"]
    assert claims["events"] == {"http://schemas.openid.net/event/backchannel-logout": {}}
    assert "nonce" not in claims and claims["exp"] > claims["iat"]
    db.session.expire_all()
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "oauth:backchannel-logout:sent")
    )
    assert event.outcome == "success" and event.data["status"] == 200


@pytest.mark.parametrize("receiver", [500], indirect=True)
def test_a_failing_client_is_retried_a_bounded_number_of_times(app, http, runner, user, receiver):
    client = _client(runner, receiver)
    _sign_in_get_id_token_and_sign_out(app, http, client)
    assert len(receiver.received) == 3
    db.session.expire_all()
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.event == "oauth:backchannel-logout:sent")
    )
    assert event.outcome == "failure" and event.data["attempts"] == 3


def test_a_client_without_tokens_in_the_session_is_not_told(app, http, runner, user, receiver):
    _client(runner, receiver)
    from tests.mfa.conftest import sign_in_password

    sign_in_password(http)
    page = http.get("/account").get_data(as_text=True)
    http.post("/logout", data={"csrf_token": csrf_of(page)})
    assert backchannel_sender(app).wait_idle(5) and receiver.received == []


def test_discovery_says_so(http):
    meta = http.get("/.well-known/openid-configuration").get_json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


def test_a_redirect_is_not_followed_and_its_target_not_recorded(app, http, runner, user):
    """The back-channel POST goes through the outbound module: a 302 is the client's answer (a
    failure), the internal host it points at receives nothing, and the audit record keeps the
    status only, never what an internal host answered."""
    inside = Receiver(200)
    redirector = Receiver(302, {"Location": inside.url})
    try:
        client = _client(runner, redirector)
        _sign_in_get_id_token_and_sign_out(app, http, client)
        assert len(redirector.received) == 3 and inside.received == []
        db.session.expire_all()
        event = db.session.scalar(
            select(AuditEvent).where(AuditEvent.event == "oauth:backchannel-logout:sent")
        )
        assert event.outcome == "failure" and event.data["status"] == 302
    finally:
        inside.close()
        redirector.close()
