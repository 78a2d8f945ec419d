"""A fault test: PostgreSQL stops under a running server. Endpoints that need the database
answer 503 with Retry-After in their own format (never a 500 or a stack trace), /readyz fails,
/healthz answers; when the database is back, service resumes without a restart."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.server_process import ServerProcess

pytestmark = pytest.mark.postgres


def test_the_server_answers_503_while_the_database_is_down_and_recovers(
    tmp_path,
    postgres_url,  # noqa: F811
):
    server = ServerProcess(tmp_path, AUTHSERVER_DATABASE_URL=postgres_url())
    server.cli("init")
    svc = json.loads(server.cli("clients", "create", "--name", "svc", "--json"))
    rs = json.loads(server.cli("clients", "create", "--name", "api", "--role", "resource-server",
                               "--json"))  # fmt: skip
    server.cli("roles", "create", "orders", "--scope", "orders:read")
    owner = json.loads(server.cli("clients", "create", "--name", "shop", "--role", "orders",
                                  "--json"))  # fmt: skip
    server.cli("gateway", "rules", "add", "api", "--path", "/", "--credential", "api_key")
    key = json.loads(
        server.cli(
            "apikeys", "create", "--client", owner["client_id"], "--scope", "orders:read", "--json"
        )
    )
    base = server.issuer

    def gateway_check():
        return requests.get(base + "/gateway/check/orders", headers={"X-API-Key": key["key"]},
                            timeout=15)  # fmt: skip

    def token():
        return requests.post(base + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(svc["client_id"], svc["client_secret"]), timeout=15)  # fmt: skip

    def introspect(value: str):
        return requests.post(base + "/oauth/introspect", data={"token": value},
                             auth=(rs["client_id"], rs["client_secret"]), timeout=15)  # fmt: skip

    with server.running(workers=1):
        issued = token().json()["access_token"]
        assert introspect(issued).json()["active"] is True
        assert gateway_check().status_code == 200
        postgres_url.stop()
        try:
            time.sleep(1.5)  # past the key ring's refresh interval: it now meets the outage
            assert requests.get(base + "/healthz", timeout=15).status_code == 200
            ready = requests.get(base + "/readyz", timeout=15)
            assert ready.status_code == 503
            answers = {
                "introspect": introspect(issued),
                "admin api": requests.get(base + "/api/v1/users", timeout=15,
                                          headers={"Authorization": f"Bearer {issued}"}),
                "sign-in page": requests.post(base + "/login", data={"email": "a@b.example",
                                              "password": "x" * 12}, timeout=15),
                "token": token(),
                "jwks": requests.get(base + "/.well-known/jwks.json", timeout=15),
                "gateway": gateway_check(),
            }  # fmt: skip
            for name, response in answers.items():
                assert response.status_code in (503, 200, 400, 401), (name, response.text)
                assert "Traceback" not in response.text
            for name in ("introspect", "admin api", "jwks", "gateway"):
                response = answers[name]
                assert response.status_code == 503, (name, response.text)
                assert int(response.headers["Retry-After"]) > 0
            assert answers["introspect"].json()["error"] == "temporarily_unavailable"
            assert answers["admin api"].headers["Content-Type"] == "application/problem+json"
        finally:
            postgres_url.start()
        deadline = time.monotonic() + 20
        while requests.get(base + "/readyz", timeout=15).status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.3)
        assert introspect(issued).json()["active"] is True
        assert token().status_code == 200
        assert gateway_check().status_code == 200
        log = server.log()
    assert "Traceback" not in log
