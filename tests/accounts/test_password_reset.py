"""Forgot password, with a real SMTP server (aiosmtpd, started here): the same answer for an
unknown email, one mail with a single-use, short-lived link for a known one, a new password
through it (every session ends), the link dead afterwards and after its time; and, against a
served process, many requests spending one link at once: exactly one sets the password."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes

import pytest
import requests

from authserver.accounts.service import authenticate, find_user
from authserver.accounts.sessions import find_session, start_session
from authserver.pages.reset import MAIL
from authserver.platform import clock
from authserver.platform.extensions import db
from authserver.platform.runtime import current_runtime
from tests.accounts.conftest import PASSWORD, csrf_of
from tests.conftest import make_app
from tests.server_process import ServerProcess, free_port

NEW = "a brand new passphrase"
LINK = re.compile(r"(https?://\S+/account/reset/\S+)")


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
        with self.arrived:
            self.messages.append(message_from_bytes(envelope.content))
            self.arrived.notify_all()
        return "250 OK"

    def link(self, timeout: float = 30) -> str:
        with self.arrived:
            assert self.arrived.wait_for(lambda: self.messages, timeout), "no mail arrived"
            body = self.messages.pop().get_payload(decode=True).decode()
        return LINK.search(body).group(1)


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"smtp://127.0.0.1:{controller.port}", inbox
    controller.stop()


@pytest.fixture
def mailing_app(tmp_path, smtp):
    from tests.conftest import init_app

    app = make_app(tmp_path, smtp_url=smtp[0])
    init_app(app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _ask(http, email: str):
    page = http.get("/account/reset").get_data(as_text=True)
    return http.post("/account/reset", data={"email": email, "csrf_token": csrf_of(page)})


def _choose(http, path: str, password: str, confirm: str | None = None):
    page = http.get(path)
    if page.status_code != 200:
        return page
    return http.post(path, data={"new_password": password, "confirm": confirm or password,
                                 "csrf_token": csrf_of(page.get_data(as_text=True))})  # fmt: skip


def test_a_forgotten_password_is_set_again_through_a_link_that_works_once(mailing_app, smtp,
                                                                         runner):  # fmt: skip
    _, inbox = smtp
    http = mailing_app.test_client()
    runner("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    assert "Forgot your password?" in http.get("/login").get_data(as_text=True)
    cookie, _ = start_session(current_runtime().settings, find_user("ada@example.com"),
                              amr=["pwd"], ip="", user_agent="")  # fmt: skip
    db.session.commit()

    unknown = _ask(http, "nobody@example.com")
    known = _ask(http, "ada@example.com")
    assert unknown.status_code == known.status_code == 200
    assert unknown.get_data(as_text=True) == known.get_data(as_text=True)  # the same answer
    assert "If an account uses that email" in known.get_data(as_text=True)
    assert MAIL.wait_idle(30)
    link = inbox.link()
    assert inbox.messages == []  # one mail, for the known address only
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]

    assert _choose(http, path, "1qaz2wsx3edc").status_code == 400  # common: the link stays
    assert _choose(http, path, NEW, confirm=NEW + "x").status_code == 400
    done = _choose(http, path, NEW)
    assert done.status_code == 200 and "Your password is set" in done.get_data(as_text=True)
    db.session.expire_all()
    assert authenticate("ada@example.com", NEW) and not authenticate("ada@example.com", PASSWORD)
    assert find_session(cookie) is None  # every session ended
    db.session.rollback()  # authenticate wrote audit records: let the requests below write
    again = _choose(http, path, "another long passphrase")
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)

    clock.freeze()
    clock.advance(61)  # one mail a minute per account at most
    _ask(http, "ada@example.com")
    assert MAIL.wait_idle(30)
    late = "/" + inbox.link().split("://", 1)[1].split("/", 1)[1]
    _ask(http, "ada@example.com")  # again at once: the same answer, but no second mail
    assert MAIL.wait_idle(30) and inbox.messages == []
    clock.advance(current_runtime().settings.password_reset_ttl_seconds + 1)
    assert _choose(http, late, "another long passphrase").status_code == 400  # expired


def test_a_link_is_never_logged_and_dies_with_a_disable(mailing_app, smtp, runner, caplog):
    _, inbox = smtp
    http = mailing_app.test_client()
    runner("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    _ask(http, "ada@example.com")
    assert MAIL.wait_idle(30)
    link = inbox.link()
    token = link.rsplit("/", 1)[1]
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    with caplog.at_level("INFO", logger="authserver.access"):
        assert http.get(path).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "authserver.access"]
    assert lines and not any(token in line for line in lines)
    assert any("/account/reset/…" in line for line in lines)
    assert runner("users", "disable", "ada@example.com").exit_code == 0
    assert runner("users", "enable", "ada@example.com").exit_code == 0
    assert _choose(http, path, NEW).status_code == 400  # spent by the disable


def test_without_a_mail_relay_there_is_no_forgotten_password(http):
    assert http.get("/account/reset").status_code == 404
    assert "Forgot your password?" not in http.get("/login").get_data(as_text=True)


def test_one_link_spent_by_many_requests_at_once_sets_one_password(tmp_path, smtp):
    url, inbox = smtp
    server = ServerProcess(tmp_path, AUTHSERVER_SMTP_URL=url)
    server.cli("init")
    server.cli("users", "create", "ada@example.com", "--password-stdin", input=PASSWORD + "\n")
    with server.running(workers=2):
        session = requests.Session()
        page = session.get(server.issuer + "/account/reset", timeout=10).text
        session.post(server.issuer + "/account/reset", timeout=10,
                     data={"email": "ada@example.com", "csrf_token": csrf_of(page)})  # fmt: skip
        link = inbox.link()
        forms = []
        for _ in range(8):  # each with its own browser session and form token
            browser = requests.Session()
            forms.append((browser, csrf_of(browser.get(link, timeout=10).text)))

        def spend(n: int) -> int:
            browser, token = forms[n]
            password = f"racing passphrase number {n}"
            return browser.post(link, timeout=30, data={
                "new_password": password, "confirm": password, "csrf_token": token,
            }).status_code  # fmt: skip

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(spend, range(8)))
    assert sorted(statuses) == [200] + [400] * 7, statuses
    winner = statuses.index(200)
    # The server's database and KEK (a sign-in is audited: the chain's head is signed).
    app = make_app(tmp_path / "check", database_url=server.env["AUTHSERVER_DATABASE_URL"],
                   keys_dir=server.env["AUTHSERVER_KEYS_DIR"])  # fmt: skip
    with app.app_context():
        assert authenticate("ada@example.com", f"racing passphrase number {winner}")
        others = [n for n in range(8) if n != winner]
        assert not any(authenticate("ada@example.com", f"racing passphrase number {n}")
                       for n in others)  # fmt: skip
        db.session.remove()
        db.engine.dispose()
