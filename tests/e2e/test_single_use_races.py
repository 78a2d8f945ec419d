"""Single use under concurrency, against `authserver serve` with two worker processes: N
requests released at once by a barrier redeem one artefact (a refresh token, an access token to
revoke, an authorization code, a device code and the decision on it, a PAR request URI, a TOTP
enrolment code, a recovery code, the second-factor step of one sign-in), and exactly one of them
succeeds. On SQLite the workers share one file; with AUTHSERVER_TEST_BACKEND=postgresql they
share PostgreSQL (READ COMMITTED) and Redis."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from authserver.mfa import totp
from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD
from tests.server_process import ServerProcess

N = 10
REDIRECT = "https://rp.example/callback"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT = 60


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    # No back-off for the second-factor race's losers: each must answer for itself (401).
    server = ServerProcess(tmp_path_factory.mktemp("races"), AUTHSERVER_MFA_MAX_FAILURES="100")
    server.cli("init")
    for email in ("ada@example.com", "rec@example.com"):
        server.cli("users", "create", email, "--password-stdin", input=PASSWORD + "\n")
    server.rp = json.loads(server.cli(
        "clients", "create", "--name", "Shop", "--grant-type", "authorization_code refresh_token",
        "--redirect-uri", REDIRECT, "--scope", "openid offline_access", "--skip-consent", "--json",
    ))  # fmt: skip
    server.tv = json.loads(server.cli(
        "clients", "create", "--name", "TV", "--public", "--grant-type", DEVICE_GRANT,
        "--scope", "openid", "--json",
    ))  # fmt: skip
    with server.running(workers=2):
        yield server


def at_once(server: ServerProcess, sends: list[Callable[[requests.Session], requests.Response]],
            sessions: list[requests.Session] | None = None,
            cookies: dict | None = None) -> list[requests.Response]:  # fmt: skip
    """Each send on its own session (the browsers given, else new ones carrying ``cookies``,
    their connections opened beforehand), all released together by a barrier."""
    own = sessions is None
    if own:
        sessions = [requests.Session() for _ in sends]
        for session in sessions:
            session.cookies.update(cookies or {})
            session.get(server.issuer + "/healthz", timeout=TIMEOUT)  # connect before the race
    barrier = threading.Barrier(len(sends))

    def go(pair: tuple) -> requests.Response:
        session, send = pair
        barrier.wait(timeout=TIMEOUT)
        return send(session)

    try:
        with ThreadPoolExecutor(len(sends)) as pool:
            return list(pool.map(go, zip(sessions, sends, strict=True)))
    finally:
        if own:
            for session in sessions:
                session.close()


def sign_in(server: ServerProcess, email: str = "ada@example.com") -> requests.Session:
    """A browser that signed in with its password (and, with a second factor, waits for it)."""
    browser = requests.Session()
    page = browser.get(server.issuer + "/login", timeout=TIMEOUT).text
    response = browser.post(server.issuer + "/login", allow_redirects=False, timeout=TIMEOUT,
                            data={"email": email, "password": PASSWORD, "next": "/account",
                                  "csrf_token": csrf_of(page)})  # fmt: skip
    assert response.status_code == 303, response.text
    return browser


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def code(server: ServerProcess, browser: requests.Session, challenge: str) -> str:
    query = urlencode({"response_type": "code", "client_id": server.rp["client_id"],
                       "redirect_uri": REDIRECT, "scope": "openid offline_access",
                       "code_challenge": challenge, "code_challenge_method": "S256"})  # fmt: skip
    response = browser.get(f"{server.issuer}/oauth/authorize?{query}", allow_redirects=False,
                           timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def token(server: ServerProcess, session: requests.Session | None = None, **form):
    post = (session or requests).post
    return post(server.issuer + "/oauth/token", data=form, timeout=TIMEOUT,
                auth=(server.rp["client_id"], server.rp["client_secret"]))  # fmt: skip


def exchange(server: ServerProcess, session, the_code: str, verifier: str):
    return token(server, session, grant_type="authorization_code", code=the_code,
                 redirect_uri=REDIRECT, code_verifier=verifier)  # fmt: skip


def refresh(server: ServerProcess, session, refresh_token: str):
    return token(server, session, grant_type="refresh_token", refresh_token=refresh_token)


def audit_events(server: ServerProcess, event: str, after: int = 0) -> list[dict]:
    lines = server.cli("audit", "tail", "-n", "500").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if r["event"] == event and r["id"] > after]


def last_audit_id(server: ServerProcess) -> int:
    lines = server.cli("audit", "tail", "-n", "1").splitlines()
    return max((json.loads(line)["id"] for line in lines if line.startswith("{")), default=0)


def statuses(responses: list[requests.Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


def test_one_refresh_token_refreshed_at_once_wins_once_and_revokes_its_family(server):
    verifier, challenge = pkce()
    tokens = exchange(server, None, code(server, sign_in(server), challenge), verifier).json()
    before = last_audit_id(server)
    responses = at_once(server, [lambda s: refresh(server, s, tokens["refresh_token"])] * N)
    assert statuses(responses) == [200] + [400] * (N - 1), [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    # The losers presented a rotated token: reuse (RFC 9700 §4.14.2), the family is revoked,
    # the winner's new refresh token with it.
    winner = next(r for r in responses if r.status_code == 200).json()
    assert refresh(server, None, winner["refresh_token"]).json()["error"] == "invalid_grant"
    reused = audit_events(server, "oauth:refresh-token:reused", after=before)
    assert len(reused) == 1 and reused[0]["actor"] == f"client:{server.rp['client_id']}"


def test_one_access_token_revoked_at_once_is_revoked_once(server):
    verifier, challenge = pkce()
    tokens = exchange(server, None, code(server, sign_in(server), challenge), verifier).json()
    before = last_audit_id(server)
    auth = (server.rp["client_id"], server.rp["client_secret"])

    def revoke(session: requests.Session) -> requests.Response:
        return session.post(server.issuer + "/oauth/revoke", auth=auth, timeout=TIMEOUT,
                            data={"token": tokens["access_token"]})  # fmt: skip

    # RFC 7009 §2.2: every request answers 200; one of them revoked it, the rest found it so.
    assert statuses(at_once(server, [revoke] * N)) == [200] * N
    assert len(audit_events(server, "oauth:token:revoked", after=before)) == 1
    answer = requests.post(server.issuer + "/oauth/introspect", auth=auth, timeout=TIMEOUT,
                           data={"token": tokens["access_token"]})  # fmt: skip
    assert answer.json() == {"active": False}


def test_one_code_redeemed_at_once_wins_once_and_its_replays_revoke_what_it_issued(server):
    verifier, challenge = pkce()
    the_code = code(server, sign_in(server), challenge)
    before = last_audit_id(server)
    responses = at_once(server, [lambda s: exchange(server, s, the_code, verifier)] * N)
    assert statuses(responses) == [200] + [400] * (N - 1), [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    # Every replay waited for the winner's outcome, so it found what the code issued and
    # revoked it (RFC 6749 §4.1.2).
    winner = next(r for r in responses if r.status_code == 200).json()
    assert refresh(server, None, winner["refresh_token"]).json()["error"] == "invalid_grant"
    rp_auth = (server.rp["client_id"], server.rp["client_secret"])
    introspected = requests.post(server.issuer + "/oauth/introspect", auth=rp_auth,
                                 data={"token": winner["access_token"]},
                                 timeout=TIMEOUT)  # fmt: skip
    assert introspected.json() == {"active": False}
    assert len(audit_events(server, "oauth:code:replayed", after=before)) == N - 1


def _device_codes(server: ServerProcess) -> dict:
    form = {"client_id": server.tv["client_id"], "scope": "openid"}
    response = requests.post(server.issuer + "/oauth/device_authorization", data=form,
                             timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def _consent_page(server: ServerProcess, browser: requests.Session, user_code: str):
    url = f"{server.issuer}/device/confirm?{urlencode({'user_code': user_code})}"
    page = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200 and "TV wants to" in page.text, page.text[:300]
    return url, csrf_of(page.text)


def _poll(server: ServerProcess, session, device_code: str):
    post = (session or requests).post
    return post(server.issuer + "/oauth/token", timeout=TIMEOUT, data={
        "grant_type": DEVICE_GRANT, "device_code": device_code,
        "client_id": server.tv["client_id"]})  # fmt: skip


def test_a_device_is_answered_once_and_its_code_exchanged_once(server):
    browser = sign_in(server)
    # Allow and Deny sent at once: one answer stands, and the device sees that one.
    codes = _device_codes(server)
    url, csrf = _consent_page(server, browser, codes["user_code"])
    answers = [{"csrf_token": csrf, "allow": "Allow"}, {"csrf_token": csrf, "deny": "Deny"}]
    decided = at_once(server, [
        lambda s, a=answers[i % 2]: s.post(url, data=a, timeout=TIMEOUT) for i in range(N)
    ], cookies=browser.cookies.get_dict())  # fmt: skip
    assert statuses(decided) == [200] + [400] * (N - 1), [r.status_code for r in decided]
    approved = "Device connected" in next(r for r in decided if r.status_code == 200).text
    polled = _poll(server, None, codes["device_code"])
    if approved:
        assert polled.status_code == 200, polled.text
    else:
        assert polled.json()["error"] == "access_denied"

    # An approved device code polled N times at once: one poll gets the tokens (RFC 8628 §3.5).
    codes = _device_codes(server)
    url, csrf = _consent_page(server, browser, codes["user_code"])
    allowed = browser.post(url, data={"csrf_token": csrf, "allow": "Allow"}, timeout=TIMEOUT)
    assert "Device connected" in allowed.text
    polls = at_once(server, [lambda s: _poll(server, s, codes["device_code"])] * N)
    assert statuses(polls) == [200] + [400] * (N - 1), [r.text for r in polls]
    assert {r.json()["error"] for r in polls if r.status_code == 400} == {"invalid_grant"}


def test_a_pushed_request_uri_leads_to_one_code(server):
    verifier, challenge = pkce()
    pushed = requests.post(server.issuer + "/oauth/par", timeout=TIMEOUT,
                           auth=(server.rp["client_id"], server.rp["client_secret"]),
                           data={"response_type": "code", "client_id": server.rp["client_id"],
                                 "redirect_uri": REDIRECT, "scope": "openid",
                                 "code_challenge": challenge,
                                 "code_challenge_method": "S256"})  # fmt: skip
    assert pushed.status_code == 201, pushed.text
    query = urlencode({"client_id": server.rp["client_id"],
                       "request_uri": pushed.json()["request_uri"]})  # fmt: skip
    url = f"{server.issuer}/oauth/authorize?{query}"
    browser = sign_in(server)
    authorize = [lambda s: s.get(url, allow_redirects=False, timeout=TIMEOUT)] * N
    responses = at_once(server, authorize, cookies=browser.cookies.get_dict())
    assert statuses(responses) == [302] + [400] * (N - 1), [r.status_code for r in responses]
    location = next(r for r in responses if r.status_code == 302).headers["Location"]
    the_code = parse_qs(urlsplit(location).query)["code"][0]
    assert exchange(server, None, the_code, verifier).status_code == 200


def _totp_secret(page: str) -> bytes:
    text = re.search(r'id="totp-secret" class="secret">([A-Z2-7 ]+)<', page).group(1)
    raw = text.replace(" ", "")
    return base64.b32decode(raw + "=" * (-len(raw) % 8))


def test_an_enrolment_code_and_a_recovery_code_each_work_once(server):
    email = "rec@example.com"
    browsers = [sign_in(server, email) for _ in range(N)]
    forms = [csrf_of(b.get(server.issuer + "/account/security", timeout=TIMEOUT).text)
             for b in browsers]  # fmt: skip
    started = browsers[0].post(server.issuer + "/account/security/totp?next=", timeout=TIMEOUT,
                               data={"csrf_token": forms[0]})  # fmt: skip
    secret = _totp_secret(started.text)
    enrolment = totp.code_at(secret, totp.step_at(dt.datetime.now(dt.UTC)))
    verify = server.issuer + "/account/security/totp/verify?next="
    # The same code confirming the app N times at once: one enrolment, one set of codes.
    confirmed = at_once(server, [
        lambda s, f=f: s.post(verify, data={"code": enrolment, "csrf_token": f},
                              allow_redirects=False, timeout=TIMEOUT)
        for f in forms], sessions=browsers)  # fmt: skip
    shown = [r for r in confirmed if r.status_code == 200]
    assert len(shown) == 1, [r.status_code for r in confirmed]
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", shown[0].text)
    assert len(codes) == 10

    # One recovery code, N sign-ins waiting for their second factor, all at once.
    waiting = [sign_in(server, email) for _ in range(N)]
    pages = [csrf_of(b.get(server.issuer + "/login/mfa", timeout=TIMEOUT).text) for b in waiting]
    spent = at_once(server, [
        lambda s, f=f: s.post(server.issuer + "/login/mfa", allow_redirects=False,
                              data={"recovery_code": codes[0], "csrf_token": f}, timeout=TIMEOUT)
        for f in pages], sessions=waiting)  # fmt: skip
    outcomes = [r.status_code for r in spent]
    assert sorted(outcomes) == [303] + [401] * (N - 1), outcomes
    winner = waiting[outcomes.index(303)]
    account = winner.get(server.issuer + "/account", allow_redirects=False, timeout=TIMEOUT)
    assert account.status_code == 200 and "9 of 10 left" in account.text

    # One password step answered at once with the other nine codes: one sign-in, and the
    # codes of the requests that lost the step stay unspent.
    browser = sign_in(server, email)
    csrf = csrf_of(browser.get(server.issuer + "/login/mfa", timeout=TIMEOUT).text)
    answered = at_once(server, [
        lambda s, c=c: s.post(server.issuer + "/login/mfa", allow_redirects=False,
                              data={"recovery_code": c, "csrf_token": csrf}, timeout=TIMEOUT)
        for c in codes[1:]], cookies=browser.cookies.get_dict())  # fmt: skip
    assert sorted(r.headers.get("Location", "") for r in answered) == (
        ["/account"] + ["/login"] * (len(codes) - 2)
    ), [(r.status_code, r.headers.get("Location")) for r in answered]
    signed_in = answered[[r.headers["Location"] for r in answered].index("/account")]
    security = requests.get(server.issuer + "/account/security", cookies=signed_in.cookies,
                            timeout=TIMEOUT)  # fmt: skip
    assert "8 of 10 recovery codes left" in security.text
