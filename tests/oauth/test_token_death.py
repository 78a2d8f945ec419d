"""Tokens die with what they were issued on: a password change kills every token of the user
(refresh tokens revoked, access tokens issued before it inactive), a disable kills them for
good (enabling the user or client again brings none back), and tokens issued after the change
work. (Found by an attacker's review: a refresh token outlived a password reset, and enabling
a disabled user revived all of its tokens.)"""

from __future__ import annotations

import json

from authserver.platform import clock
from tests.oauth.test_code_flow import Browser, rp  # noqa: F401 (fixture)

NEW_PASSWORD = "a new and long passphrase"


def _signed_in_tokens(http, rp, password: str | None = None) -> dict:  # noqa: F811
    browser = Browser(http, rp)
    if password is not None:
        browser.password = password
    return browser.exchange(browser.code()["code"]).get_json()


def _refreshes(http, rp, refresh_token: str) -> int:  # noqa: F811
    return http.post("/oauth/token", data={"grant_type": "refresh_token",
                                           "refresh_token": refresh_token},
                     auth=(rp["client_id"], rp["client_secret"])).status_code  # fmt: skip


def _userinfo(http, access_token: str) -> int:
    return http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
                    ).status_code  # fmt: skip


def test_a_password_change_kills_every_token_of_the_user(http, rp, user, runner):  # noqa: F811
    clock.freeze()
    before = _signed_in_tokens(http, rp)
    assert _userinfo(http, before["access_token"]) == 200
    clock.advance(2)  # iat is in whole seconds: the change comes in a later second
    changed = runner("users", "set-password", "ada@example.com", "--password-stdin", "--json",
                     input=NEW_PASSWORD + "\n")  # fmt: skip
    assert changed.exit_code == 0, changed.output
    assert _refreshes(http, rp, before["refresh_token"]) == 400
    assert _userinfo(http, before["access_token"]) == 401
    after = _signed_in_tokens(http, rp, password=NEW_PASSWORD)  # the same second as the change
    assert _userinfo(http, after["access_token"]) == 200
    assert _refreshes(http, rp, after["refresh_token"]) == 200


def test_enabling_a_disabled_user_brings_back_none_of_its_tokens(http, rp, user, runner):  # noqa: F811
    clock.freeze()
    before = _signed_in_tokens(http, rp)
    clock.advance(2)
    assert runner("users", "disable", "ada@example.com").exit_code == 0
    assert runner("users", "enable", "ada@example.com").exit_code == 0
    assert _refreshes(http, rp, before["refresh_token"]) == 400
    assert _userinfo(http, before["access_token"]) == 401
    assert _userinfo(http, _signed_in_tokens(http, rp)["access_token"]) == 200


def test_enabling_a_disabled_client_brings_back_none_of_its_tokens(http, runner, make_client):
    clock.freeze()
    client = make_client("orders:read")
    issued = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                       headers=client.basic()).get_json()["access_token"]  # fmt: skip

    def active(token: str) -> bool:
        return http.post("/oauth/introspect", data={"token": token},
                         headers=client.basic()).get_json()["active"]  # fmt: skip

    assert active(issued)
    clock.advance(2)
    assert runner("clients", "disable", client.client_id).exit_code == 0
    assert json.loads(runner("clients", "enable", client.client_id, "--json").stdout)["active"]
    assert not active(issued)
    fresh = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                      headers=client.basic()).get_json()["access_token"]  # fmt: skip
    assert active(fresh)
