"""AUTHSERVER_IP_ADDRESSES=truncated: what is written down of a client's address is its network
only (audit records, sessions, the access log, an API key's last use), while decisions (rate
limits) still see the whole address."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from authserver.accounts.service import find_user
from authserver.audit.reading import readable
from authserver.models import AuditEvent, UserSession
from authserver.platform.extensions import db
from authserver.platform.ip_privacy import minimised_ip, use_ip_addresses
from tests.accounts.conftest import csrf_of
from tests.conftest import PASSWORD, init_app, make_app


@pytest.fixture
def truncating(tmp_path, _initialised):
    _initialised.copy_to(tmp_path)
    app = make_app(tmp_path, ip_addresses="truncated")
    init_app(app)
    with app.app_context():
        yield app
    use_ip_addresses("full")


@pytest.mark.parametrize(("address", "kept"), [
    ("198.51.100.77", "198.51.100.0"),
    ("2001:db8:1234:5678::1", "2001:db8:1234::"),
    ("::ffff:198.51.100.77", "::"),  # an IPv6 form: its /48
    ("not an address", ""),
    (None, None),
])  # fmt: skip
def test_truncation_keeps_the_network(address, kept):
    use_ip_addresses("truncated")
    try:
        assert minimised_ip(address) == kept
    finally:
        use_ip_addresses("full")
    assert minimised_ip(address) == address


def test_a_truncating_server_writes_down_networks_only(truncating, caplog):
    runner = truncating.test_cli_runner()
    from authserver.cli import cli

    created = runner.invoke(cli, ["users", "create", "ada@example.com", "--password-stdin"],
                            input=PASSWORD + "\n")  # fmt: skip
    assert created.exit_code == 0, created.output
    http = truncating.test_client()
    http.environ_base.update(REMOTE_ADDR="198.51.100.77", HTTP_USER_AGENT="Probe/1")
    page = http.get("/login").get_data(as_text=True)
    with caplog.at_level("INFO", logger="authserver.access"):
        signed_in = http.post("/login", data={"email": "ada@example.com", "password": PASSWORD,
                                              "csrf_token": csrf_of(page)})  # fmt: skip
    assert signed_in.status_code == 303
    (session,) = db.session.scalars(select(UserSession))
    assert session.ip == "198.51.100.0"
    events = readable(db.session.scalars(select(AuditEvent).where(
        AuditEvent.actor == find_user("ada@example.com").actor)))  # fmt: skip
    assert {e.data["ip"] for e in events if "ip" in e.data} == {"198.51.100.0"}
    lines = [r for r in caplog.records if r.name == "authserver.access"]
    assert lines and {r.client for r in lines} == {"198.51.100.0"}
