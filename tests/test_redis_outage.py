"""A fault test: Redis stops under two `authserver serve` instances sharing PostgreSQL and Redis,
while clients keep asking for tokens, introspecting and revoking them. Nothing answers 5xx;
/readyz says degraded (503 on the instance told that Redis is required); a revocation on one
instance is seen by the other at once, during the outage and after it; DPoP proofs are still
accepted once; when Redis is back both leave degraded mode by themselves."""

from __future__ import annotations

import base64
import collections
import json
import secrets
import threading
import time

import pytest
import requests
from joserfc.jwk import ECKey

from tests.pg import postgres_url  # noqa: F401 (fixture)
from tests.server_process import ServerProcess
from tests.services import REDIS_SERVER, stoppable_redis

pytestmark = pytest.mark.postgres

ISSUER = "http://localhost:8000"


def _proof(key: ECKey) -> str:
    from joserfc import jwt

    claims = {"jti": secrets.token_urlsafe(12), "htm": "POST", "htu": ISSUER + "/oauth/token",
              "iat": int(time.time())}  # fmt: skip
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key, algorithms=["ES256"])


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_a_redis_outage_is_no_outage(tmp_path, postgres_url):  # noqa: F811
    import shutil

    if shutil.which(REDIS_SERVER) is None:
        pytest.skip("redis-server is missing (make test installs Debian's redis-server)")
    with stoppable_redis() as redis_server:
        shared = {
            "AUTHSERVER_ISSUER": ISSUER,
            "AUTHSERVER_DATABASE_URL": postgres_url(),
            "AUTHSERVER_REDIS_URL": redis_server.url,
            "AUTHSERVER_KEK": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AUTHSERVER_KEYS_DIR": str(tmp_path / "keys"),
        }
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = ServerProcess(tmp_path / "a", **shared)
        b = ServerProcess(tmp_path / "b", AUTHSERVER_READYZ_REQUIRES_REDIS="true", **shared)
        a.cli("init")
        svc = json.loads(a.cli("clients", "create", "--name", "svc", "--json"))
        rs = json.loads(a.cli("clients", "create", "--name", "api", "--role", "resource-server",
                              "--json"))  # fmt: skip
        svc_auth, rs_auth = (
            (svc["client_id"], svc["client_secret"]),
            (rs["client_id"], rs["client_secret"]),
        )

        def token(server, **headers) -> requests.Response:
            form = {"grant_type": "client_credentials"}
            return requests.post(server.issuer + "/oauth/token", auth=svc_auth, timeout=30,
                                 data=form, headers=headers)  # fmt: skip

        def introspect(server, value: str) -> requests.Response:
            return requests.post(server.issuer + "/oauth/introspect", data={"token": value},
                                 auth=rs_auth, timeout=30)  # fmt: skip

        def revoke(server, value: str) -> requests.Response:
            return requests.post(server.issuer + "/oauth/revoke", data={"token": value},
                                 auth=svc_auth, timeout=30)  # fmt: skip

        def ready(server) -> requests.Response:
            return requests.get(server.issuer + "/readyz", timeout=30)

        with a.running(workers=1), b.running(workers=1):
            phase = {"now": "before"}
            seen: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
            stop = threading.Event()

            def load(n: int) -> None:
                servers = (a, b) if n % 2 else (b, a)
                while not stop.is_set():
                    where = phase["now"]
                    issued = token(servers[0])
                    seen[where][("token", issued.status_code)] += 1
                    if issued.ok:
                        value = issued.json()["access_token"]
                        seen[where][("introspect", introspect(servers[1], value).status_code)] += 1
                        seen[where][("revoke", revoke(servers[n % 2], value).status_code)] += 1

            workers = [threading.Thread(target=load, args=(n,)) for n in range(3)]
            for worker in workers:
                worker.start()
            try:
                time.sleep(2)
                assert ready(a).json()["redis"] == "ok"
                redis_server.stop()
                phase["now"] = "outage"
                _wait(lambda: ready(a).json().get("redis") == "unreachable", 10, "A not degraded")
                degraded_a, degraded_b = ready(a), ready(b)
                assert degraded_a.status_code == 200 and degraded_a.json()["status"] == "degraded"
                assert degraded_b.status_code == 503 and degraded_b.json()["redis"] == "unreachable"

                # A revocation on A is seen by B at once: B checks the database meanwhile.
                value = token(a).json()["access_token"]
                assert introspect(b, value).json()["active"] is True
                assert introspect(b, value).json()["active"] is True
                assert revoke(a, value).status_code == 200
                assert introspect(b, value).json()["active"] is False
                # DPoP proofs are remembered in the database: accepted once.
                key = ECKey.generate_key("P-256")
                dpop = _proof(key)
                bound = token(a, DPoP=dpop)
                assert bound.status_code == 200 and bound.json()["token_type"] == "DPoP"
                replayed = token(b, DPoP=dpop)
                assert replayed.status_code == 400
                assert replayed.json()["error"] == "invalid_dpop_proof"
                time.sleep(3)
            finally:
                redis_server.start()
            phase["now"] = "after"
            for server in (a, b):
                _wait(lambda s=server: ready(s).status_code == 200 and ready(s).json()["status"]
                      == "ok", 20, "not recovered")  # fmt: skip
            # Caches in use again, kept honest by Redis's news.
            value = token(b).json()["access_token"]
            assert introspect(a, value).json()["active"] is True
            assert revoke(b, value).status_code == 200
            _wait(lambda: introspect(a, value).json()["active"] is False, 3, "A still active")
            time.sleep(2)
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
            logs = {s: s.log() for s in (a, b)}
        for where in ("before", "outage", "after"):
            statuses = seen[where]
            assert statuses, where
            assert all(status < 500 for _, status in statuses), (where, statuses)
        assert seen["outage"][("token", 200)] > 0 and seen["outage"][("introspect", 200)] > 0
        for server in (a, b):
            assert "Traceback" not in logs[server]
            assert "redis unreachable" in logs[server] and "degraded mode ends" in logs[server]
