"""Token issuance in the audit trail: off by default (counted in metrics only); when configured,
every issued token is recorded by a background writer, so the token endpoint never waits."""

from __future__ import annotations

import json

from sqlalchemy import select

from authserver.audit.background import background_audit
from authserver.audit.chain import verify
from authserver.cli import cli
from authserver.models import AuditEvent
from authserver.platform.extensions import db
from tests.conftest import init_app, make_app


def _issued() -> list[AuditEvent]:
    return list(
        db.session.scalars(select(AuditEvent).where(AuditEvent.event == "oauth:token:issued"))
    )


def test_issuance_is_not_audited_by_default(http, make_client, get_token):
    get_token(make_client())
    assert _issued() == []


def test_issuance_is_audited_in_the_background_when_configured(tmp_path):
    app = make_app(tmp_path, audit_token_issuance=True)
    init_app(app)
    with app.app_context():
        created = app.test_cli_runner().invoke(cli, ["clients", "create", "--name", "svc",
                                                     "--json"])  # fmt: skip
        client = json.loads(created.stdout)
        http = app.test_client()
        jtis = []
        for _ in range(5):
            response = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=(client["client_id"], client["client_secret"]))  # fmt: skip
            assert response.status_code == 200
            from joserfc import jws

            token = response.get_json()["access_token"]
            jtis.append(
                __import__("json").loads(jws.extract_compact(token.encode()).payload)["jti"]
            )
        assert background_audit(app).flush(10)
        db.session.expire_all()
        events = _issued()
        assert [e.data["jti"] for e in events] == jtis
        assert {e.actor for e in events} == {f"client:{client['client_id']}"}
        assert all(e.data["grant_type"] == "client_credentials" and e.data["request_id"]
                   for e in events)  # fmt: skip
        assert verify().broken_at is None
