"""Two `authserver serve` processes sharing one PostgreSQL and one Redis, as two hosts would: a
token from one introspects on the other, the budget of failed client authentications is shared,
so are a client's gateway rate limit and quota, a key rotation made through one is used by the
other within seconds, and concurrent audited writes through both keep one linear audit chain."""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from joserfc import jws

from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.redis_server import redis_url  # noqa: F401 (fixture)
from tests.server_process import AUTHSERVER, ServerProcess

pytestmark = pytest.mark.postgres


def _kid(token: str) -> str:
    return jws.extract_compact(token.encode()).headers()["kid"]


def test_two_servers_share_tokens_budgets_keys_and_one_audit_chain(
    tmp_path,
    postgres_url,  # noqa: F811
    redis_url,  # noqa: F811
):
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # the server outlives tests: start from zero
    shared = {
        # Both behind one public name, as behind a load balancer: tokens name one issuer.
        "AUTHSERVER_ISSUER": "http://localhost:8000",
        "AUTHSERVER_DATABASE_URL": postgres_url(),
        "AUTHSERVER_REDIS_URL": redis_url,
        "AUTHSERVER_RATE_LIMIT_CLIENT_AUTH": "3/minute",
        "AUTHSERVER_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
        "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        # An emergency rotation below: its key signs 2 s after it is published everywhere.
        "AUTHSERVER_EMERGENCY_PUBLISH": "2s",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = ServerProcess(tmp_path / "a", **shared)
    b = ServerProcess(tmp_path / "b", **shared)
    a.cli("init")
    svc = json.loads(a.cli("clients", "create", "--name", "svc", "--json"))
    ops = json.loads(a.cli("clients", "create", "--name", "ops", "--role", "admin",
                           "--force-mfa-roles", "--scope", "keys:rotate roles:write",
                           "--json"))  # fmt: skip
    rs = json.loads(a.cli("clients", "create", "--name", "api", "--role", "resource-server",
                          "--json"))  # fmt: skip
    # The gateway: one route, and a client whose tokens carry a rate limit and a quota.
    gw = json.loads(a.cli("clients", "create", "--name", "gw", "--json"))
    a.cli("gateway", "rules", "add", "orders", "--path", "/orders")
    a.cli("gateway", "limits", gw["client_id"], "--rate-limit", "4/minute", "--quota", "5")

    def token(server, client, secret=None):
        return requests.post(
            server.issuer + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], secret or client["client_secret"]),
            timeout=10,
        )

    with a.running(workers=1), b.running(workers=1):
        issued = token(a, svc).json()["access_token"]

        def introspect_on_b() -> dict:
            rs_auth = (rs["client_id"], rs["client_secret"])
            url = b.issuer + "/oauth/introspect"
            return requests.post(url, data={"token": issued}, auth=rs_auth, timeout=10).json()

        answer = introspect_on_b()  # B now caches "not revoked" (30 s with Redis)
        assert answer["active"] is True and answer["client_id"] == svc["client_id"]
        svc_auth = (svc["client_id"], svc["client_secret"])
        revoked = requests.post(a.issuer + "/oauth/revoke", data={"token": issued},
                                auth=svc_auth, timeout=10)  # fmt: skip
        assert revoked.status_code == 200
        # A announced the revocation through Redis: B forgets its cached answer at once.
        deadline = time.monotonic() + 2
        while introspect_on_b()["active"]:
            assert time.monotonic() < deadline, "B still answers active after a revocation on A"
            time.sleep(0.05)

        # A rotation made through A: B signs with the new key within seconds.
        admin = {"Authorization": "Bearer " + token(a, ops).json()["access_token"]}
        before = _kid(token(b, ops).json()["access_token"])
        rotated = requests.post(a.issuer + "/api/v1/key-rotations", json={"alg": "ES256",
                                "now": True}, headers=admin, timeout=10)  # fmt: skip
        assert rotated.status_code == 201, rotated.text
        deadline = time.monotonic() + 10
        while _kid(token(b, ops).json()["access_token"]) == before:
            assert time.monotonic() < deadline, "B still signs with the old key"
            time.sleep(0.2)
        jwks = requests.get(b.issuer + "/.well-known/jwks.json", timeout=10).json()
        assert before in {k["kid"] for k in jwks["keys"]}  # the old key still verifies

        # The gateway's limits are one for both servers: the buckets in Redis, the quota in
        # the shared database.
        gw_token = token(a, gw).json()["access_token"]
        asked = {"X-Original-Method": "GET", "X-Original-URI": "/orders/1",
                 "Authorization": f"Bearer {gw_token}"}  # fmt: skip
        decided = [requests.get(s.issuer + "/gateway/check", headers=asked, timeout=10)
                   for s in (a, b, a, b, a, b)]  # fmt: skip
        assert [d.status_code for d in decided] == [200, 200, 200, 200, 429, 429]
        assert re.fullmatch(r'"rate-limit";r=0;t=\d+, "quota";r=1', decided[3].headers["RateLimit"])
        assert int(decided[5].headers["Retry-After"]) > 0

        # Concurrent audited writes through both servers: one linear chain.
        def create_role(n: int) -> int:
            server = (a, b)[n % 2]
            return requests.post(server.issuer + "/api/v1/roles", json={"name": f"r{n}"},
                                 headers=admin, timeout=30).status_code  # fmt: skip

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(create_role, range(24))) == {201}

        # One budget of failed client authentications across both servers (Redis); last, as
        # it also spends this address's budget. The right secret is never refused for it.
        assert [token(s, svc, "wrong").status_code for s in (a, b, a)] == [401, 401, 401]
        blocked = token(b, svc, "wrong")
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert token(b, svc).status_code == 200
    verified = subprocess.run([AUTHSERVER, "audit", "verify"], env=a.env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
