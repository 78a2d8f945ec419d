"""Budgets against `authserver serve` with two Granian workers (separate processes): they share
one budget through the host's counter file, a budget holds under concurrency (counted before the
password is checked), an attacker cannot lock the owner out or a legitimate client out, and the
request budgets answer 429 with RateLimit fields. Several client addresses through a trusted
proxy's X-Forwarded-For (AUTHSERVER_TRUSTED_PROXIES=1, ProxyFix in app.py)."""

from __future__ import annotations

import json
import re
import secrets
import threading

import requests

from tests.conftest import PASSWORD
from tests.server_process import ServerProcess

ATTACKER, OWNER, ELSEWHERE, DEVICE = "198.51.100.7", "203.0.113.10", "192.0.2.44", "192.0.2.80"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CONCURRENT = 20


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


class Browser:
    """A browser at one address, behind the trusted proxy."""

    def __init__(self, server: ServerProcess, address: str) -> None:
        self.base, self.session = server.issuer, requests.Session()
        self.session.headers["X-Forwarded-For"] = address

    def form(self) -> str:
        return _csrf(self.session.get(self.base + "/login", timeout=30).text)

    def sign_in(self, password: str, token: str | None = None) -> requests.Response:
        data = {"email": "ada@example.com", "password": password,
                "csrf_token": token or self.form()}  # fmt: skip
        return self.session.post(self.base + "/login", data=data, allow_redirects=False,
                                 timeout=60)  # fmt: skip


def _token(server, client, secret, address):
    return requests.post(
        server.issuer + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client, secret),
        headers={"X-Forwarded-For": address},
        timeout=30,
    )


def test_budgets_hold_across_workers_and_cannot_be_turned_against_anyone(tmp_path):
    server = ServerProcess(
        tmp_path,
        AUTHSERVER_TRUSTED_PROXIES="1",
        AUTHSERVER_RATE_LIMIT_SIGN_IN_ACCOUNT="5/minute",
        AUTHSERVER_RATE_LIMIT_SIGN_IN_IP="100/15minutes",
        AUTHSERVER_RATE_LIMIT_CLIENT_AUTH="5/minute",
        AUTHSERVER_RATE_LIMIT_DEVICE_AUTHORIZATION_IP="3/minute",
    )
    server.cli("init")
    server.cli("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    svc = json.loads(server.cli("clients", "create", "--name", "svc", "--token-quota",
                                "4/minute", "--json"))  # fmt: skip
    legit = json.loads(server.cli("clients", "create", "--name", "legit", "--json"))
    tv = json.loads(server.cli("clients", "create", "--name", "tv", "--public", "--grant-type",
                               DEVICE_GRANT, "--json"))  # fmt: skip
    with server.running(workers=2):
        # The owner signs in once from home: the browser gets its device cookie.
        owner = Browser(server, OWNER)
        assert owner.sign_in(PASSWORD).status_code == 303
        assert owner.session.cookies.get("authserver_device")
        owner.session.cookies.pop("authserver_session")

        # 20 wrong passwords at once from one address, across both workers: of a budget of 5
        # a minute, at most 5 are checked; the rest are refused before any password check.
        browsers = [Browser(server, ATTACKER) for _ in range(CONCURRENT)]
        tokens = [b.form() for b in browsers]
        barrier, statuses = threading.Barrier(CONCURRENT), []

        def guess(browser: Browser, token: str) -> None:
            barrier.wait(timeout=60)
            statuses.append(browser.sign_in(f"guess {secrets.token_hex(4)}", token).status_code)

        pairs = zip(browsers, tokens, strict=True)
        threads = [threading.Thread(target=guess, args=pair) for pair in pairs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        checked = statuses.count(401)
        assert len(statuses) == CONCURRENT and set(statuses) <= {401, 429}, statuses
        assert 1 <= checked <= 5, statuses

        # The attacker's right guess is refused too; the owner is not, from its own device
        # even at the attacker's address (a shared NAT), nor from a new device elsewhere.
        assert browsers[0].sign_in(PASSWORD).status_code == 429
        owner.session.headers["X-Forwarded-For"] = ATTACKER
        assert owner.sign_in(PASSWORD).status_code == 303
        assert Browser(server, ELSEWHERE).sign_in(PASSWORD).status_code == 303

        # The attacker sprays client secrets from its address until it is refused.
        sprayed = [_token(server, f"guess-{n}", "wrong", ATTACKER).status_code for n in range(6)]
        assert sprayed == [401] * 5 + [429]
        assert _token(server, svc["client_id"], "wrong", ATTACKER).status_code == 429
        # A legitimate client at the same address, and svc itself, still authenticate.
        assert _token(server, legit["client_id"], legit["client_secret"], ATTACKER).ok
        first = _token(server, svc["client_id"], svc["client_secret"], ATTACKER)
        assert first.ok and first.headers["RateLimit-Policy"] == '"token-quota";q=4;w=60'

        # svc's quota of 4 a minute, one budget for both workers.
        quota = [_token(server, svc["client_id"], svc["client_secret"], OWNER) for _ in range(4)]
        assert [r.status_code for r in quota] == [200, 200, 200, 429]
        assert quota[-1].json()["error"] == "too_many_requests"
        assert int(quota[-1].headers["Retry-After"]) > 0
        assert quota[-1].headers["RateLimit"].startswith('"token-quota";r=0;t=')

        # Device authorization for a public client: 3 a minute per address.
        def authorize():
            return requests.post(server.issuer + "/oauth/device_authorization",
                                 data={"client_id": tv["client_id"]},
                                 headers={"X-Forwarded-For": DEVICE}, timeout=30)  # fmt: skip

        answers = [authorize() for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert '"device-authorization-ip";r=0;t=' in answers[-1].headers["RateLimit"]
        assert answers[-1].headers["Retry-After"] == "20"
        assert '"device-authorization-ip";r=0;t=' in answers[2].headers["RateLimit"]
    log = server.log()
    assert "Traceback" not in log
    # The records as a reader sees them: the account's own address is sealed in the log line.
    audit = [json.loads(line) for line in server.cli("audit", "tail", "-n", "5000").splitlines()]
    # Every password checked is audited as a failure: exactly the 401s, no more.
    failed = [e for e in audit
              if e["event"] == "account:sign-in:failed" and e.get("ip") == ATTACKER]  # fmt: skip
    assert len(failed) == checked
    lockouts = {(e["budget"], e["effect"]) for e in audit
                if e["event"] == "ratelimit:lockout:started"}  # fmt: skip
    assert lockouts >= {("sign-in-account-ip", "refused"), ("client-auth-ip", "refused")}
